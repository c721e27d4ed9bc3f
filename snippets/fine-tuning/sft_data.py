"""SFT data utilities: multi-task mixing rates (T5 style) and normalized exact dedup.

Pages: docs/fine-tuning/sft_data.{zh,en}.md
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata


# --8<-- [start:mixing]
def mixing_rates(sizes: dict[str, int], cap: int | None = None,
                 temperature: float = 1.0) -> dict[str, float]:
    """Sampling probability of each task in a multi-task mixture.

    Examples-proportional mixing with an artificial size limit `cap` (K in T5),
    then temperature scaling r_i^(1/T) renormalized. T=1: proportional; T->inf: uniform.
    """
    eff = {t: min(n, cap) if cap is not None else n for t, n in sizes.items()}
    total = sum(eff.values())
    rates = {t: (n / total) ** (1.0 / temperature) for t, n in eff.items()}
    z = sum(rates.values())
    return {t: r / z for t, r in rates.items()}
# --8<-- [end:mixing]


# --8<-- [start:mixing_budget]
def epochs_per_task(sizes: dict[str, int], rates: dict[str, float], total_examples: int) -> dict[str, float]:
    """How many times each task is seen when `total_examples` are drawn with `rates`:
    rate * total / size. Above roughly 4 epochs repeated data starts to cost quality."""
    return {t: rates[t] * total_examples / sizes[t] for t in sizes}


def doremi_update(weights: list[float], excess_loss: list[float], lr: float = 1.0,
                  smoothing: float = 1e-3) -> list[float]:
    """One DoReMi domain-weight step (Xie et al. 2023): exponentiated-gradient ascent on the
    per-domain excess loss of the proxy over the reference model, clipped at 0, then mixed with
    the uniform distribution. The final mixture is the average of the weights over training."""
    raw = [w * math.exp(lr * max(e, 0.0)) for w, e in zip(weights, excess_loss)]
    z, k = sum(raw), len(raw)
    return [(1 - smoothing) * r / z + smoothing / k for r in raw]
# --8<-- [end:mixing_budget]


# --8<-- [start:dedup]
def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), lower-case, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def dedup_exact(samples: list[dict[str, str]], key: str = "prompt") -> list[dict[str, str]]:
    """Keep the first sample of each normalized `key` (e.g. the instruction)."""
    seen: set[str] = set()
    kept = []
    for s in samples:
        h = hashlib.sha1(normalize(s[key]).encode("utf-8")).hexdigest()
        if h not in seen:
            seen.add(h)
            kept.append(s)
    return kept
# --8<-- [end:dedup]


if __name__ == "__main__":
    sizes = {"math": 1_000_000, "code": 200_000, "chat": 50_000, "safety": 5_000}
    for T in (1.0, 2.0, 5.0):
        r = mixing_rates(sizes, cap=300_000, temperature=T)
        print(f"T={T}:", {k: round(v, 3) for k, v in r.items()})
    for T in (1.0, 3.0):
        r = mixing_rates(sizes, temperature=T)
        e = epochs_per_task(sizes, r, 500_000)
        print(f"T={T}: epochs over 500k draws:", {k: round(v, 2) for k, v in e.items()})
    print("DoReMi step, excess loss (0.4, 0.0, -0.2):",
          [round(w, 3) for w in doremi_update([1 / 3] * 3, [0.4, 0.0, -0.2])])
    data = [{"prompt": "写一首诗"}, {"prompt": "写一首诗 "}, {"prompt": "Hello  World"},
            {"prompt": "hello world"}, {"prompt": "Ｈｅｌｌｏ world"}]
    print("kept after dedup:", [s["prompt"] for s in dedup_exact(data)])
