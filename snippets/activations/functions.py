"""GELU (exact and tanh approximation), Swish / SiLU, and their derivatives.

GELU: Hendrycks & Gimpel, 2016, arXiv:1606.08415.
Swish: Ramachandran et al., 2017, arXiv:1710.05941; SiLU: Elfwing et al., 2017, arXiv:1702.03118.
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:gelu]
def gelu_exact(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x * Phi(x), Phi = standard normal CDF = 0.5 * (1 + erf(x / sqrt(2)))."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """Tanh approximation of GELU, as in OpenAI's GPT-2 code and Gemma (HF "gelu_new", "gelu_pytorch_tanh")."""
    u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))
    return 0.5 * x * (1.0 + torch.tanh(u))
# --8<-- [end:gelu]


# --8<-- [start:swish]
def swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Swish_beta(x) = x * sigmoid(beta * x). beta = 1 is SiLU; beta -> inf tends to ReLU; beta = 0 gives x / 2."""
    return x * torch.sigmoid(beta * x)


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU(x) = x * sigmoid(x) (= Swish with beta = 1)."""
    return swish(x, 1.0)
# --8<-- [end:swish]


# --8<-- [start:derivatives]
def gelu_exact_grad(x: torch.Tensor) -> torch.Tensor:
    """d/dx [x Phi(x)] = Phi(x) + x phi(x), phi = standard normal density."""
    cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


def gelu_tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """Derivative of the tanh approximation (chain rule through u(x))."""
    c = math.sqrt(2.0 / math.pi)
    t = torch.tanh(c * (x + 0.044715 * x.pow(3)))
    du = c * (1.0 + 3 * 0.044715 * x * x)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du


def swish_grad(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """d/dx [x s(beta x)] = s(beta x) + beta x s(beta x) (1 - s(beta x)), s = sigmoid."""
    s = torch.sigmoid(beta * x)
    return s + beta * x * s * (1.0 - s)
# --8<-- [end:derivatives]


if __name__ == "__main__":
    x = torch.linspace(-10, 10, 2_000_001, dtype=torch.float64)
    err = (gelu_tanh(x) - gelu_exact(x)).abs()
    i = int(err.argmax())
    print(f"max |GELU_tanh - GELU_exact| on [-10, 10]: {err[i].item():.3e} at |x| = {abs(x[i].item()):.3f}")
    err_sig = (x * torch.sigmoid(1.702 * x) - gelu_exact(x)).abs()
    k = int(err_sig.argmax())
    print(f"max |x sigmoid(1.702x) - GELU_exact| on [-10, 10]: {err_sig[k].item():.3e} at |x| = {abs(x[k].item()):.3f}")
    for name, f in [("GELU", gelu_exact), ("SiLU", silu)]:
        y = f(x)
        j = int(y.argmin())
        print(f"{name} minimum: {y[j].item():.4f} at x = {x[j].item():.4f}")
    pts = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0], dtype=torch.float64)
    print("x        :", pts.tolist())
    print("ReLU     :", [round(v, 4) for v in torch.relu(pts).tolist()])
    print("GELU     :", [round(v, 4) for v in gelu_exact(pts).tolist()])
    print("SiLU     :", [round(v, 4) for v in silu(pts).tolist()])
    print("GELU'    :", [round(v, 4) for v in gelu_exact_grad(pts).tolist()])
    print("SiLU'    :", [round(v, 4) for v in swish_grad(pts).tolist()])
