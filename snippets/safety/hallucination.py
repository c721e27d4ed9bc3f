"""Hallucination signals and text watermarking.

- Sampling consistency: entropy over clusters of sampled answers (a simplified semantic entropy).
- Using an uncertainty score to abstain: AUROC and the threshold that meets a target error rate.
- Green-list watermark (Kirchenbauer et al., 2023) on a toy bigram LM, and its z-test detector.

Pages: docs/safety/hallucination.{zh,en}.md
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from statistics import NormalDist

import torch


# --8<-- [start:consistency]
def answer_entropy(answers: list[str]) -> float:
    """Entropy (nats) of the distribution of sampled answers after normalisation.

    Sample the same question several times at temperature > 0: if the model knows the fact,
    answers agree (entropy near 0); if it is guessing, they scatter. Semantic entropy
    (Farquhar et al., 2024) clusters answers by meaning with an entailment model;
    here clustering is exact match after case-folding and stripping punctuation.
    """
    norm = [re.sub(r"[^\w]+", " ", a.casefold()).strip() for a in answers]   # casefold: 'Straße' = 'STRASSE'
    counts = Counter(norm)
    n = len(norm)
    return 0.0 - sum(c / n * math.log(c / n) for c in counts.values())
# --8<-- [end:consistency]


# --8<-- [start:abstain]
def auroc(scores: list[float], is_wrong: list[bool]) -> float:
    """Probability that a wrong answer gets a higher uncertainty score than a right one (ties
    count 1/2): the Mann-Whitney form of the area under the ROC curve."""
    wrong = [s for s, w in zip(scores, is_wrong) if w]
    right = [s for s, w in zip(scores, is_wrong) if not w]
    wins = sum((x > y) + 0.5 * (x == y) for x in wrong for y in right)
    return wins / (len(wrong) * len(right))


def pick_abstain_threshold(scores: list[float], is_wrong: list[bool],
                           max_risk: float) -> tuple[float, float, float]:
    """Answer when score <= tau, abstain otherwise. On a labelled dev set, return the tau with the
    largest coverage (share answered) whose risk (error rate among answered) is <= max_risk,
    as (tau, coverage, risk). tau = -inf (answer nothing) if no threshold qualifies."""
    pairs = sorted(zip(scores, is_wrong))
    n, best = len(pairs), (float("-inf"), 0.0, 0.0)
    answered = errors = 0
    for i, (s, w) in enumerate(pairs):
        answered, errors = answered + 1, errors + w
        if i + 1 < n and pairs[i + 1][0] == s:
            continue                                   # a threshold cannot split tied scores
        if errors / answered <= max_risk:
            best = (s, answered / n, errors / answered)
    return best


def expected_coverage(max_risk: float, p_wrong: float = 0.25, d: float = 1.2) -> float:
    """Population coverage at risk max_risk for the binormal model used in the demo:
    score ~ N(0, 1) for right answers, N(d, 1) for wrong ones (AUROC = Phi(d / sqrt 2)).
    Risk p Phi(t - d) / cov(t), cov(t) = p Phi(t - d) + (1 - p) Phi(t), rises with t; bisect for it.
    Phi via erfc keeps its lower tail (0.5 (1 + erf) is 2% off at -8 and 0 below -8.4); in floats Phi is
    0 below -38.5 and 1 above 8.3, so [-40, 40 + d] holds every threshold whose coverage is not 0 or 1."""
    phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))
    cov = lambda t: p_wrong * phi(t - d) + (1 - p_wrong) * phi(t)
    lo, hi = -40.0, 40.0 + d
    for _ in range(200):
        t = (lo + hi) / 2
        lo, hi = (t, hi) if p_wrong * phi(t - d) < max_risk * cov(t) else (lo, t)   # risk < max_risk
    return cov(lo)
# --8<-- [end:abstain]


# --8<-- [start:watermark]
def green_list(prev_token: int, vocab: int, gamma: float, key: int = 15485863) -> torch.Tensor:
    """Boolean mask (vocab,) of the 'green' tokens for this step, seeded by a hash of the previous token
    and a secret key. Exactly round(gamma * vocab) tokens are green."""
    digest = hashlib.sha256(f"{key}:{prev_token}".encode()).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "big"))
    perm = torch.randperm(vocab, generator=g)
    mask = torch.zeros(vocab, dtype=torch.bool)
    mask[perm[: round(gamma * vocab)]] = True
    return mask


def generate(logits_table: torch.Tensor, length: int, gamma: float = 0.25, delta: float = 2.0,
             watermark: bool = True, seed: int = 0) -> list[int]:
    """Sample from a toy bigram LM, logits_table: (vocab, vocab) = logits of next token given previous.
    With watermark=True, add delta to the green-list logits before sampling (soft watermark)."""
    g = torch.Generator().manual_seed(seed)
    vocab = logits_table.shape[0]
    if logits_table.shape != (vocab, vocab):
        raise ValueError(f"logits_table must be (vocab, vocab), got {tuple(logits_table.shape)}")
    tokens = [0]
    for _ in range(length):
        logits = logits_table[tokens[-1]].clone()
        if watermark:
            logits[green_list(tokens[-1], vocab, gamma)] += delta
        tokens.append(int(torch.multinomial(torch.softmax(logits, -1), 1, generator=g)))
    return tokens


def watermark_z_score(tokens: list[int], vocab: int, gamma: float = 0.25) -> float:
    """One-proportion z-test: z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma)),
    where |s|_G counts scored tokens that fall in their step's green list.
    Needs only the key and the tokenizer, not the model."""
    T = len(tokens) - 1
    green = sum(bool(green_list(p, vocab, gamma)[t]) for p, t in zip(tokens[:-1], tokens[1:]))
    return (green - gamma * T) / math.sqrt(T * gamma * (1 - gamma))
# --8<-- [end:watermark]


# --8<-- [start:watermark_budget]
def tokens_for_z(green_fraction: float, gamma: float = 0.25, z: float = 4.0) -> int:
    """Tokens T needed before the expected z-score reaches z when a fraction green_fraction of scored
    tokens is green: z = (g - gamma) sqrt(T) / sqrt(gamma (1 - gamma)) -> T = z^2 gamma (1 - gamma) / (g - gamma)^2."""
    return math.ceil(z * z * gamma * (1 - gamma) / (green_fraction - gamma) ** 2 - 1e-9)


def tokens_for_detection(green_fraction: float, gamma: float = 0.25, z: float = 4.0,
                         power: float = 0.95) -> int:
    """Tokens T at which a share `power` of watermarked texts clears the z threshold (normal
    approximation). At tokens_for_z the expected z only equals the threshold, so about half the texts
    are detected; here (g - gamma) sqrt(T) = z sqrt(gamma (1 - gamma)) + z_power sqrt(g (1 - g))."""
    z_power = NormalDist().inv_cdf(power)
    root_t = (z * math.sqrt(gamma * (1 - gamma)) + z_power * math.sqrt(green_fraction * (1 - green_fraction))) \
        / (green_fraction - gamma)
    return math.ceil(root_t ** 2 - 1e-9)


def one_sided_fpr(z: float) -> float:
    """False-positive rate of 'z > threshold' on unwatermarked text (z ~ N(0, 1) under the null)."""
    return 0.5 * math.erfc(z / math.sqrt(2))
# --8<-- [end:watermark_budget]


if __name__ == "__main__":
    print("entropy, consistent answers:", round(answer_entropy(["Paris", "paris.", "Paris"]), 3))
    print("entropy, scattered answers: ", round(answer_entropy(["1912", "1915", "1909", "1912"]), 3))
    covs: dict[float, list[float]] = {0.10: [], 0.05: []}
    for seed in range(200):                                              # 200 simulated dev sets
        gen = torch.Generator().manual_seed(seed)
        wrong = (torch.rand(1000, generator=gen) < 0.25).tolist()       # 25% wrong at full coverage
        score = [float(torch.randn((), generator=gen)) + 1.2 * w for w in wrong]  # AUROC ~0.80
        for target in covs:
            covs[target].append(pick_abstain_threshold(score, wrong, target)[1])
    for target, c in covs.items():
        c.sort()
        print(f"error <= {target:.0%}: expected coverage {expected_coverage(target):.1%}; 1,000-question dev "
              f"sets: median {(c[99] + c[100]) / 2:.1%}, middle 95% {c[5]:.0%}-{c[194]:.0%}")
    torch.manual_seed(0)
    V = 200
    table = torch.randn(V, V) * 2
    wm = generate(table, 200, watermark=True, seed=1)
    plain = generate(table, 200, watermark=False, seed=1)
    print(f"z-score watermarked {watermark_z_score(wm, V):.1f}, unwatermarked {watermark_z_score(plain, V):.1f} "
          "(threshold 4 in the paper)")
    for g in (0.5, 0.35):
        print(f"green fraction {g}: {tokens_for_z(g)} tokens to reach z = 4 on average, {tokens_for_detection(g)} "
              f"to detect 95% of texts (one-sided FPR {one_sided_fpr(4):.1e})")
