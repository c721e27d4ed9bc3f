"""Tokenizers in practice: Chinese token counts, vocabulary expansion, chat templates.

Pages: docs/tokenizer/llm_tokenizers.{zh,en}.md
"""
from __future__ import annotations

from snippets import load

bpe = load("tokenizer/bpe")

EN_CORPUS = [
    "the model reads tokens, not words, and every token costs compute",
    "a larger vocabulary means shorter sequences but a bigger embedding table",
    "byte level tokenizers never produce unknown tokens",
    "training data for the tokenizer should match the data the model will see",
] * 5
ZH_CORPUS = [
    "大语言模型按词元读取文本，每个词元都要消耗计算。",
    "词表越大，序列越短，但是嵌入矩阵也越大。",
    "中文领域模型常常需要扩充词表，再做继续预训练。",
    "分词器的训练数据应该和模型将要看到的数据一致。",
    "模型的上下文窗口按词元计算，中文文本的词元数取决于分词器。",
] * 5


# --8<-- [start:expand_vocab]
def expand_merges(base_merges: list[tuple[str, str]], new_corpus: list[str],
                  n_new: int) -> list[tuple[str, str]]:
    """Vocabulary expansion for byte-level BPE: learn merges on new-domain text
    and append the ones the base tokenizer does not have.

    Old merges keep their ranks, so text the base tokenizer already handled well
    (here: English, which shares no bytes with CJK characters) is encoded exactly
    as before; new token ids are appended after the old ones, so old embedding
    rows stay valid and only the new rows need initialising.
    """
    learned = bpe.train_bpe(new_corpus, vocab_size=256 + n_new)
    have = set(base_merges)
    return base_merges + [m for m in learned if m not in have]


def count_tokens(texts: list[str], merges: list[tuple[str, str]]) -> int:
    """Total number of tokens for a list of texts."""
    return sum(len(bpe.encode(t, merges)) for t in texts)
# --8<-- [end:expand_vocab]


# --8<-- [start:chatml]
def render_chatml(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """Render messages in the ChatML format used by Qwen (special tokens <|im_start|>, <|im_end|>).

    Each turn: <|im_start|>{role}\\n{content}<|im_end|>\\n. With add_generation_prompt the
    string ends with an open assistant turn so the model writes the reply next.
    """
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    if add_generation_prompt:
        out += "<|im_start|>assistant\n"
    return out
# --8<-- [end:chatml]


if __name__ == "__main__":
    base = bpe.train_bpe(EN_CORPUS, vocab_size=256 + 150)
    sample_zh = ["扩充词表以后，中文文本的词元数明显减少。", "模型读取的是词元，不是汉字。"]
    sample_en = ["the tokenizer never produces unknown tokens"]
    n_chars = sum(len(t) for t in sample_zh)
    print(f"Chinese sample: {n_chars} characters, {sum(len(t.encode()) for t in sample_zh)} UTF-8 bytes")
    for n_new in (0, 50, 150, 300):
        merges = expand_merges(base, ZH_CORPUS, n_new) if n_new else base
        zh = count_tokens(sample_zh, merges)
        print(f"+{n_new:3d} Chinese merges: {zh:3d} tokens ({zh / n_chars:.2f} per character), "
              f"English sample {count_tokens(sample_en, merges)} tokens")
    print(render_chatml([{"role": "system", "content": "You are helpful."},
                         {"role": "user", "content": "你好"}]))
