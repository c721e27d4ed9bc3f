"""Does the model know what it knows? Labelling questions as known/unknown from k samples, and
measuring a confidence signal: calibration (ECE), discrimination (AUROC) and selective prediction
(accuracy-coverage, correct / incorrect / abstain rates).

Pages: docs/alignment/honesty.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:know_metrics]
def known_label(correct: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """correct: (questions, k) 0/1 over k sampled answers. 'Known' if the sample accuracy >= tau.
    With k samples the accuracy has standard error sqrt(p(1-p)/k): 0.16 at p = 0.5, k = 10."""
    return correct.float().mean(-1) >= tau


def ece(conf: torch.Tensor, correct: torch.Tensor, n_bins: int = 10) -> float:
    """Expected calibration error with equal-width bins: sum_b (n_b / N) |acc_b - conf_b|."""
    bins = torch.clamp((conf * n_bins).long(), max=n_bins - 1)        # conf = 1.0 goes to the top bin
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.sum().item() / conf.numel() * abs(correct[m].double().mean().item() - conf[m].double().mean().item())
    return total


def auroc(conf: torch.Tensor, correct: torch.Tensor) -> float:
    """Probability that a random correct answer gets higher confidence than a random wrong one
    (ties count 1/2): how well the signal separates known from unknown."""
    pos, neg = conf[correct.bool()], conf[~correct.bool()]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


def selective(conf: torch.Tensor, correct: torch.Tensor, threshold: float) -> dict[str, float]:
    """Answer only when conf >= threshold. Returns coverage, accuracy on answered questions, and the
    SimpleQA-style split of all questions into correct / incorrect / abstained."""
    ans = conf >= threshold
    n = conf.numel()
    right = (ans & correct.bool()).sum().item()
    return {"coverage": int(ans.sum()) / n,
            "selective_acc": right / max(int(ans.sum()), 1),
            "correct": right / n, "incorrect": (ans & ~correct.bool()).sum().item() / n,
            "abstain": (~ans).sum().item() / n}
# --8<-- [end:know_metrics]


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    p_true = torch.rand(2000, generator=g)                             # each question's true solve rate
    samples = (torch.rand(2000, 10, generator=g) < p_true[:, None]).int()
    conf = samples.float().mean(-1)                                    # self-consistency over k = 10
    final = (torch.rand(2000, generator=g) < p_true).int()             # the answer actually shown
    print(f"known (tau 0.5): {known_label(samples).float().mean():.2f} of questions; "
          f"ECE {ece(conf, final):.3f}; AUROC {auroc(conf, final):.3f}")
    for t in (0.0, 0.5, 0.8):
        r = selective(conf, final, t)
        print(f"threshold {t}: coverage {r['coverage']:.2f}, selective acc {r['selective_acc']:.2f}, "
              f"correct/incorrect/abstain {r['correct']:.2f}/{r['incorrect']:.2f}/{r['abstain']:.2f}")
