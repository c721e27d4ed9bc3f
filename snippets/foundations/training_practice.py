"""Practical training tools: class-weighted / label-smoothed loss, temperature sampling, weight averaging.

Pages: docs/foundations/training_practice.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:weighted_ce]
def weighted_label_smoothed_ce(logits: torch.Tensor, targets: torch.Tensor,
                               class_weight: torch.Tensor | None = None,
                               smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy with optional per-class weights and label smoothing. logits: (n, C), targets: (n,).

    Label smoothing: target = (1 - s) * onehot + s / C. Class weights: each example's loss is
    multiplied by w[y] and the mean is taken with the same weights (PyTorch's convention).
    """
    n, C = logits.shape
    logp = torch.log_softmax(logits, dim=-1)
    target = torch.full_like(logp, smoothing / C)
    target[torch.arange(n), targets] += 1 - smoothing
    w = torch.ones(C, dtype=logits.dtype) if class_weight is None else class_weight
    per_example = -(target * logp * w).sum(-1)          # (n,)
    return per_example.sum() / w[targets].sum()
# --8<-- [end:weighted_ce]


# --8<-- [start:temperature_sampling]
def temperature_sampling(sizes: list[float], alpha: float) -> list[float]:
    """Data-mixing probabilities p_i proportional to (n_i / sum n)^alpha.

    alpha = 1: sample by size; alpha -> 0: uniform over sources. Used to upsample
    low-resource languages or small domains (e.g. alpha = 0.3 in mT5).
    """
    total = sum(sizes)
    q = [(n / total) ** alpha for n in sizes]
    z = sum(q)
    return [x / z for x in q]
# --8<-- [end:temperature_sampling]


# --8<-- [start:weight_average]
def average_state_dicts(states: list[dict[str, torch.Tensor]],
                        weights: list[float] | None = None) -> dict[str, torch.Tensor]:
    """Weight-space ensemble ("model soup", checkpoint averaging): one model, no extra inference cost.

    Only meaningful for checkpoints fine-tuned from the same initialization.
    """
    weights = weights or [1.0 / len(states)] * len(states)
    return {k: sum(w * s[k] for w, s in zip(weights, states)) for k in states[0]}
# --8<-- [end:weight_average]


# --8<-- [start:maml]
def maml_meta_grad(theta: torch.Tensor, task_loss, alpha: float, first_order: bool = False) -> torch.Tensor:
    """Meta-gradient of one-step MAML, d/dtheta L(theta - alpha * grad L(theta)).

    Second order keeps the inner gradient in the graph (create_graph=True), so backward runs
    through it: (I - alpha H) grad L(theta'). First order (FOMAML) drops the Hessian term and
    returns grad L(theta'), which needs no graph of the inner step."""
    theta = theta.detach().requires_grad_(True)
    g = torch.autograd.grad(task_loss(theta), theta, create_graph=not first_order)[0]
    theta_prime = theta - alpha * g
    if first_order:
        tp = theta_prime.detach().requires_grad_(True)
        return torch.autograd.grad(task_loss(tp), tp)[0]
    return torch.autograd.grad(task_loss(theta_prime), theta)[0]
# --8<-- [end:maml]


if __name__ == "__main__":
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 0, 0, 0, 1, 2])
    w = torch.tensor([1 / 4, 1.0, 1.0]) * 3 / 2.25       # inverse-frequency weights
    print(f"plain CE {weighted_label_smoothed_ce(logits, y):.4f}, "
          f"weighted {weighted_label_smoothed_ce(logits, y, w):.4f}, "
          f"smoothed 0.1 {weighted_label_smoothed_ce(logits, y, smoothing=0.1):.4f}")
    sizes = [1000.0, 100.0, 10.0]
    for a in (1.0, 0.5, 0.3, 0.0):
        print(f"alpha {a}: mixing", [round(p, 3) for p in temperature_sampling(sizes, a)])
    a, b = {"w": torch.tensor([1.0, 3.0])}, {"w": torch.tensor([3.0, 5.0])}
    print("averaged weights:", average_state_dicts([a, b])["w"].tolist())
    # MAML on a quadratic task L = 0.5 (t - c)^T A (t - c): second-order vs first-order meta-gradient
    A = torch.diag(torch.tensor([1.0, 10.0]))
    c = torch.tensor([1.0, -1.0])
    loss = lambda t: 0.5 * (t - c) @ A @ (t - c)
    t0 = torch.zeros(2)
    print("MAML meta-grad:", maml_meta_grad(t0, loss, 0.05).tolist(),
          "FOMAML:", maml_meta_grad(t0, loss, 0.05, first_order=True).tolist())
