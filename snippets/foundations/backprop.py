"""Backpropagation by hand: ReLU derivative, 2-layer MLP, softmax Jacobian, embedding gradient, PCA.

Pages: docs/foundations/backprop.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:relu]
def relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp_min(0)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """d ReLU / dx: 1 where x > 0, else 0 (PyTorch also uses 0 at exactly x = 0)."""
    return (x > 0).to(x.dtype)
# --8<-- [end:relu]


# --8<-- [start:mlp_backward]
def mlp_forward_backward(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor,
                         W2: torch.Tensor, b2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and gradients of mean cross-entropy for logits = ReLU(x W1 + b1) W2 + b2.

    x: (n, d_in), y: (n,) class ids, W1: (d_in, h), b1: (h,), W2: (h, C), b2: (C,).
    """
    n = x.shape[0]
    z1 = x @ W1 + b1                       # (n, h) pre-activation
    a1 = relu(z1)                          # (n, h)
    logits = a1 @ W2 + b2                  # (n, C)
    logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    loss = -logp[torch.arange(n), y].mean()

    # Backward: dL/dlogits = (softmax - onehot) / n  (softmax + CE collapse to this).
    g_logits = logp.exp()
    g_logits[torch.arange(n), y] -= 1
    g_logits /= n                          # (n, C)
    g_W2 = a1.T @ g_logits                 # (h, C)
    g_b2 = g_logits.sum(0)                 # (C,)
    g_a1 = g_logits @ W2.T                 # (n, h)
    g_z1 = g_a1 * relu_grad(z1)            # (n, h) element-wise: ReLU's Jacobian is diagonal
    g_W1 = x.T @ g_z1                      # (d_in, h)
    g_b1 = g_z1.sum(0)                     # (h,)
    g_x = g_z1 @ W1.T                      # (n, d_in)
    return loss, {"W1": g_W1, "b1": g_b1, "W2": g_W2, "b2": g_b2, "x": g_x}
# --8<-- [end:mlp_backward]


# --8<-- [start:softmax_jacobian]
def softmax_jacobian(x: torch.Tensor) -> torch.Tensor:
    """Jacobian of softmax for one vector x: (V,) -> (V, V), J = diag(p) - p p^T."""
    p = torch.softmax(x, dim=-1)
    return torch.diag(p) - torch.outer(p, p)


def softmax_vjp(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Vector-Jacobian product g^T J without building J: p * (g - <g, p>). p, g: (..., V)."""
    return p * (g - (g * p).sum(-1, keepdim=True))
# --8<-- [end:softmax_jacobian]


# --8<-- [start:embedding_grad]
def embedding_grad(token_ids: torch.Tensor, grad_out: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Gradient of an embedding table: scatter-add each position's output gradient into its row.

    token_ids: (batch, seq); grad_out: (batch, seq, d) = dL/d(embedded tokens).
    Rows of tokens absent from the batch get exactly zero gradient.
    """
    d = grad_out.shape[-1]
    grad = torch.zeros(vocab_size, d, dtype=grad_out.dtype)
    grad.index_add_(0, token_ids.reshape(-1), grad_out.reshape(-1, d))
    return grad
# --8<-- [end:embedding_grad]


# --8<-- [start:pca]
def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA via eigen-decomposition of the covariance. x: (n, d). Returns (components (k, d), variances (k,)).

    Eigenvectors of the covariance with the largest eigenvalues are the directions of largest
    variance; projecting onto the top k keeps the most variance any k-dim linear map can keep.
    """
    xc = x - x.mean(0)
    cov = xc.T @ xc / (x.shape[0] - 1)                  # (d, d), symmetric PSD
    evals, evecs = torch.linalg.eigh(cov)               # ascending order
    order = evals.argsort(descending=True)[:k]
    return evecs[:, order].T, evals[order]
# --8<-- [end:pca]


if __name__ == "__main__":
    torch.manual_seed(0)
    n, d_in, h, C = 8, 5, 16, 3
    x, y = torch.randn(n, d_in), torch.randint(0, C, (n,))
    W1, b1, W2, b2 = torch.randn(d_in, h) * 0.5, torch.zeros(h), torch.randn(h, C) * 0.5, torch.zeros(C)
    loss, g = mlp_forward_backward(x, y, W1, b1, W2, b2)
    print(f"loss {loss:.4f}; |dL/dW1| {g['W1'].norm():.4f}; |dL/dW2| {g['W2'].norm():.4f}")
    print("ReLU'([-1, 0, 2]) =", relu_grad(torch.tensor([-1.0, 0.0, 2.0])).tolist())
    print("softmax Jacobian rows sum to 0:", softmax_jacobian(torch.randn(4)).sum(1).abs().max().item() < 1e-6)
    ids = torch.tensor([[1, 3, 1]])
    print("embedding grad rows touched:", embedding_grad(ids, torch.ones(1, 3, 2), 5).sum(1).tolist())
    comps, var = pca(torch.randn(200, 3) * torch.tensor([5.0, 1.0, 0.1]), k=2)
    print("PCA variances (expect ~25, ~1):", [round(v, 2) for v in var.tolist()])
