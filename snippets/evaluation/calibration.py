"""Calibration: expected calibration error, Brier score, temperature scaling.

Pages: docs/evaluation/calibration.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:ece]
def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10) -> float:
    """ECE with equal-width bins (Naeini et al., 2015; Guo et al., 2017).

    confidence: (N,) predicted probability of the chosen answer, in [0, 1];
    correct: (N,) 1 if that answer was right. ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)|.
    Bin b holds confidences in (b/n_bins, (b+1)/n_bins]; confidence 0 goes into the first bin.
    """
    correct = correct.float()
    bins = torch.clamp(torch.ceil(confidence * n_bins).long() - 1, min=0)   # (N,) bin index
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gap = (correct[in_bin].mean() - confidence[in_bin].mean()).abs()
            ece += in_bin.float().mean().item() * gap.item()
    return ece


def brier_score(confidence: torch.Tensor, correct: torch.Tensor) -> float:
    """Mean squared error between confidence and the 0/1 outcome (binary form)."""
    return (confidence - correct.float()).pow(2).mean().item()
# --8<-- [end:ece]


# --8<-- [start:temperature]
def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, steps: int = 100) -> float:
    """Temperature scaling (Guo et al., 2017): one scalar T > 0 minimising validation NLL of
    softmax(logits / T). logits: (N, C); labels: (N,). Accuracy is unchanged (argmax is the same)."""
    log_t = torch.zeros((), requires_grad=True)                # optimise log T so T stays positive
    opt = torch.optim.LBFGS([log_t], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return log_t.exp().item()
# --8<-- [end:temperature]


# --8<-- [start:report]
def auroc(confidence: torch.Tensor, correct: torch.Tensor) -> float:
    """Probability that a random right answer has higher confidence than a random wrong one
    (ties count one half): how well confidence separates right from wrong (discrimination)."""
    pos, neg = confidence[correct.bool()], confidence[~correct.bool()]
    greater = (pos[:, None] > neg[None, :]).float().sum()
    ties = (pos[:, None] == neg[None, :]).float().sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def calibration_report(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10) -> dict[str, float]:
    """The three numbers to report together: ECE (calibration), Brier (both), AUROC (discrimination)."""
    return {"ece": expected_calibration_error(confidence, correct, n_bins),
            "brier": brier_score(confidence, correct), "auroc": auroc(confidence, correct)}
# --8<-- [end:report]


# --8<-- [start:confidence_target]
def confidence_target_score(n_correct: int, n_wrong: int, n_abstain: int, t: float) -> float:
    """Mean score under an explicit confidence target t (Kalai et al., 2025): +1 right, 0 abstain,
    -t / (1 - t) wrong. t = 0 is plain accuracy; t = 0.75 makes a wrong answer cost 3 points."""
    n = n_correct + n_wrong + n_abstain
    return (n_correct - t / (1 - t) * n_wrong) / n


def expected_score_if_answering(p: float, t: float) -> float:
    """Expected score of answering with probability p of being right: p - (1 - p) t / (1 - t).
    It is >= 0 (better than abstaining) exactly when p >= t."""
    return p - (1 - p) * t / (1 - t)
# --8<-- [end:confidence_target]


if __name__ == "__main__":
    torch.manual_seed(0)
    n, c = 5000, 4
    true_logits = torch.randn(n, c) * 2
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    overconfident = true_logits * 2.5                            # a model that is too sure of itself
    conf, pred = torch.softmax(overconfident, -1).max(-1)
    print(f"overconfident model: ECE {expected_calibration_error(conf, pred == labels):.3f}")
    t = fit_temperature(overconfident, labels)
    conf_t, _ = torch.softmax(overconfident / t, -1).max(-1)
    print(f"fitted T = {t:.2f} (true 2.5), ECE after scaling {expected_calibration_error(conf_t, pred == labels):.3f}")
    print("report after scaling:", {k: round(v, 3) for k, v in calibration_report(conf_t, pred == labels).items()})
    for t in (0.0, 0.75):
        a, b = confidence_target_score(60, 40, 0, t), confidence_target_score(50, 10, 40, t)
        print(f"t = {t}: always-answers model {a:+.2f}, abstaining model {b:+.2f}")
