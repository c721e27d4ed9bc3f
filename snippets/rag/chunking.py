"""Chunking for RAG: fixed-size windows with overlap, and recursive splitting.

Pages: docs/rag/chunking.{zh,en}.md
"""
from __future__ import annotations


# --8<-- [start:fixed_size]
def fixed_size_chunks(text: str, size: int, overlap: int = 0) -> list[tuple[int, str]]:
    """Cut ``text`` into windows of ``size`` characters; neighbors share ``overlap`` characters.

    Returns (start offset, chunk) pairs. Window i starts at i * (size - overlap); the last
    window is shorter if the text runs out, and no window starts inside the previous one's tail
    once the text is covered.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    step = size - overlap
    chunks: list[tuple[int, str]] = []
    start = 0
    while True:
        chunks.append((start, text[start:start + size]))
        if start + size >= len(text):
            return chunks
        start += step
# --8<-- [end:fixed_size]


# --8<-- [start:recursive]
# Coarse to fine: paragraphs, lines, sentence ends (Chinese and English), clauses, words, characters.
DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ",
                                       "；", "，", ", ", " ", "")


def _split_keep(text: str, sep: str) -> list[str]:
    """Split on ``sep`` but keep it at the end of each piece, so ''.join(pieces) == text."""
    parts = text.split(sep)
    pieces = [p + sep for p in parts[:-1]] + [parts[-1]]
    return [p for p in pieces if p]


def _atoms(text: str, size: int, separators: tuple[str, ...]) -> list[str]:
    """Break ``text`` into pieces of at most ``size`` chars, using the coarsest separator that works."""
    if len(text) <= size:
        return [text]
    for i, sep in enumerate(separators):
        if sep == "":                                   # last resort: hard cut by characters
            return [text[j:j + size] for j in range(0, len(text), size)]
        if sep in text:
            out: list[str] = []
            for piece in _split_keep(text, sep):
                out.extend(_atoms(piece, size, separators[i + 1:]))
            return out
    return [text[j:j + size] for j in range(0, len(text), size)]


def recursive_split(text: str, size: int,
                    separators: tuple[str, ...] = DEFAULT_SEPARATORS) -> list[str]:
    """Recursive character splitting: split on the coarsest boundary, recurse into pieces that are
    still too long, then greedily merge neighboring pieces while the chunk stays <= ``size``.
    No overlap, so ''.join(chunks) == text.
    """
    chunks: list[str] = []
    current = ""
    for atom in _atoms(text, size, separators):
        if current and len(current) + len(atom) > size:
            chunks.append(current)
            current = ""
        current += atom
    if current:
        chunks.append(current)
    return chunks
# --8<-- [end:recursive]


if __name__ == "__main__":
    doc = ("检索增强生成先检索再生成。切分太大，噪声多；切分太小，语义不完整。"
           "所以要按段落和句子边界切分。\n\nRAG retrieves first. Then it generates an answer.")
    for start, chunk in fixed_size_chunks(doc, size=20, overlap=5):
        print(f"fixed  @{start:3d}: {chunk!r}")
    for chunk in recursive_split(doc, size=30):
        print(f"recursive ({len(chunk):2d}): {chunk!r}")
