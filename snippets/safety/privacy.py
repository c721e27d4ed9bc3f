"""Rule-based PII redaction: e-mail addresses, phone numbers (incl. mainland-China mobiles),
mainland-China resident ID numbers (with the GB 11643-1999 check digit); span-level scoring of a
detector against labelled spans; keyed pseudonyms.

Pages: docs/safety/privacy.{zh,en}.md
"""
from __future__ import annotations

import hashlib
import math
import hmac
import re

# --8<-- [start:pii]
EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# mainland mobile: optional +86 / 0086, then 1[3-9] and 9 more digits, optionally split 3-4-4
CN_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# international E.164-style number written with a leading + (e.g. +44 20 7946 0958)
INTL_PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ -]?\d{2,4}){2,5}(?!\d)")
# 18-character resident ID: 6-digit area, YYYYMMDD birth date, 3-digit sequence, check char
CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"                    # check char for (weighted sum mod 11) = 0, 1, ..., 10


def cn_id_checksum_ok(id_number: str) -> bool:
    """ISO 7064 MOD 11-2 check digit used by GB 11643-1999 resident ID numbers."""
    total = sum(int(d) * w for d, w in zip(id_number[:17], ID_WEIGHTS))
    return ID_CHECK[total % 11] == id_number[17].upper()


def redact_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace PII with typed placeholders. Returns (redacted text, counts per type).

    Order matters: ID numbers first (an 18-digit ID contains 11-digit runs),
    then e-mails, then phone numbers. IDs with a wrong check digit are left alone,
    which cuts false positives on order numbers but also misses mistyped IDs.
    """
    counts = {"ID": 0, "EMAIL": 0, "PHONE": 0}

    def sub_id(m: re.Match) -> str:
        if not cn_id_checksum_ok(m.group()):
            return m.group()
        counts["ID"] += 1
        return "[ID]"

    def sub(kind: str):
        def f(m: re.Match) -> str:
            counts[kind] += 1
            return f"[{kind}]"
        return f

    text = CN_ID.sub(sub_id, text)
    text = EMAIL.sub(sub("EMAIL"), text)
    text = CN_MOBILE.sub(sub("PHONE"), text)
    text = INTL_PHONE.sub(sub("PHONE"), text)
    return text, counts
# --8<-- [end:pii]



# --8<-- [start:pii_eval]
Span = tuple[int, int, str]          # (start, end, type), end exclusive


def span_scores(pred: set[Span], gold: set[Span]) -> dict[str, tuple[float, float]]:
    """Per-type (precision, recall) with exact span matching. Recall is what privacy needs
    (a missed span leaks); precision is what utility needs (over-redaction breaks the text).
    A type with no predicted (or no gold) spans gets precision (or recall) 1.0."""
    scores = {}
    for kind in {t for *_, t in pred | gold}:
        p = {s for s in pred if s[2] == kind}
        g = {s for s in gold if s[2] == kind}
        hit = len(p & g)
        scores[kind] = (hit / len(p) if p else 1.0, hit / len(g) if g else 1.0)
    return scores


def pseudonym(value: str, kind: str, key: bytes) -> str:
    """Keyed, deterministic placeholder: the same value maps to the same token, so records can
    still be counted and joined, but without the key nobody can test guesses. An unkeyed hash of
    a phone number is not safe: there are only ~7e9 mainland mobile numbers to try."""
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"[{kind}_{digest[:10]}]"
# --8<-- [end:pii_eval]


# --8<-- [start:dp_cost]
def lora_param_count(d_model: int, d_ff: int, n_layers: int, r: int,
                     targets: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")) -> int:
    """Trainable LoRA parameters of a LLaMA-style decoder (no GQA): each adapted W (d_out x d_in)
    adds r (d_in + d_out). q/k/v/o are d_model x d_model; gate/up are d_ff x d_model, down the reverse."""
    shapes = {"q": (d_model, d_model), "k": (d_model, d_model), "v": (d_model, d_model),
              "o": (d_model, d_model), "gate": (d_ff, d_model), "up": (d_ff, d_model), "down": (d_model, d_ff)}
    return n_layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


def per_sample_grad_gb(trainable_params: int, batch: int, bytes_per_value: int = 4) -> float:
    """Memory for materialised per-example gradients (needed to clip each example separately in
    DP-SGD, e.g. Opacus): batch x trainable parameters x bytes. Plain SGD keeps one summed copy."""
    return trainable_params * batch * bytes_per_value / 1e9


def canary_exposure(rank: int, space_size: int) -> float:
    """Exposure of an inserted secret (Carlini et al., 2019): log2 |R| - log2 rank, where rank is the
    canary's position when all |R| candidates are sorted by model likelihood (1 = most likely).
    log2 |R| bits means the model ranks the real secret first: fully extractable."""
    return math.log2(space_size) - math.log2(rank)
# --8<-- [end:dp_cost]


if __name__ == "__main__":
    samples = [
        "请联系张三，手机 138 0013 8000，邮箱 zhang.san@example.com.cn",
        "Call +86-139-1234-5678 or +44 20 7946 0958, mail a.b+tag@mail.example.org",
        "身份证号 11010519491231002X，订单号 110105194912310021（校验位不对，不是身份证）",
        "Version 1.3.8 released; 13800138000123 is a tracking number, not a phone",
    ]
    for s in samples:
        red, counts = redact_pii(s)
        print(red, counts)
    gold = {(3, 14, "PHONE"), (20, 38, "ID"), (40, 55, "EMAIL")}
    pred = {(3, 14, "PHONE"), (20, 38, "ID"), (60, 71, "PHONE")}     # missed the e-mail, one false phone
    print("span scores (precision, recall):", span_scores(pred, gold))
    key = b"kept-in-a-kms"
    print(pseudonym("13800138000", "PHONE", key), pseudonym("13800138000", "PHONE", key),
          pseudonym("13800138000", "PHONE", b"rotated-key"))
    lora = lora_param_count(4096, 11008, 32, 16)
    print(f"LLaMA-7B LoRA r=16 on 7 projections: {lora / 1e6:.1f} M trainable; per-example grads at batch 32: "
          f"{per_sample_grad_gb(lora, 32):.1f} GB (full fine-tuning of 6.74 B: {per_sample_grad_gb(6_738_000_000, 32):.0f} GB)")
    print(f"canary in 10^9 candidates ranked 1st: exposure {canary_exposure(1, 10 ** 9):.1f} bits; "
          f"ranked 500,000,000th: {canary_exposure(500_000_000, 10 ** 9):.1f}")
