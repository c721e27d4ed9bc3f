"""Interpretability tools: integrated gradients and a linear probe.

Pages: docs/safety/interpretability.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable

import torch


# --8<-- [start:integrated_gradients]
def integrated_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         baseline: torch.Tensor | None = None, steps: int = 64) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al., 2017) of a scalar output f for input x: (d,)
    (for an LLM, x is a token-embedding matrix and f the log-prob of the answer token).

    IG_i = (x_i - x'_i) * integral_0^1 df/dx_i (x' + a (x - x')) da, with the integral
    approximated by the trapezoid rule on `steps` intervals. Completeness: sum_i IG_i = f(x) - f(x').
    """
    if baseline is None:
        baseline = torch.zeros_like(x)
    alphas = torch.linspace(0, 1, steps + 1).view(-1, *([1] * x.dim()))
    path = (baseline + alphas * (x - baseline)).requires_grad_(True)          # (steps+1, *x.shape)
    grads, = torch.autograd.grad(f(path).sum(), path)
    avg_grad = (grads[:-1] + grads[1:]).mean(0) / 2                           # trapezoid rule
    return (x - baseline) * avg_grad
# --8<-- [end:integrated_gradients]


# --8<-- [start:probe]
def train_linear_probe(h: torch.Tensor, y: torch.Tensor, steps: int = 200, l2: float = 1e-3) -> torch.nn.Linear:
    """Logistic-regression probe on frozen hidden states h: (N, d) for binary labels y: (N,).

    High probe accuracy shows the information is linearly decodable from the layer,
    not that the model uses it: compare against a control task or a random-init model.
    """
    probe = torch.nn.Linear(h.shape[1], 1)
    opt = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(probe(h).squeeze(-1), y.float())
        loss = loss + l2 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return probe
# --8<-- [end:probe]


if __name__ == "__main__":
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    f = lambda z: net(z).squeeze(-1)
    x = torch.tensor([1.0, -2.0, 0.5, 3.0])
    ig = integrated_gradients(f, x)
    print("IG attributions:", ig.detach().numpy().round(3))
    print(f"completeness: sum IG = {ig.sum().item():.4f}, f(x) - f(0) = {(f(x) - f(torch.zeros(4))).item():.4f}")
    h = torch.randn(400, 16)
    direction = torch.randn(16)
    y = (h @ direction > 0).long()                     # a 'concept' that is linear in the hidden state
    probe = train_linear_probe(h[:300], y[:300])
    acc = ((probe(h[300:]).squeeze(-1) > 0).long() == y[300:]).float().mean()
    print(f"linear probe held-out accuracy: {acc.item():.2f}")
