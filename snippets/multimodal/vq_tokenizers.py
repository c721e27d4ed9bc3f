"""VQ-VAE / VQGAN image tokenizers: nearest-code lookup, straight-through estimator,
the VQ-VAE loss with its stop-gradients, codebook usage, EMA updates and dead-code restart.

Pages: docs/multimodal/vq_tokenizers.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# --8<-- [start:quantize]
def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook vector (squared L2) for every row of z.

    z: (N, D) encoder outputs, codebook: (K, D). Returns (N,) long indices.
    ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, computed without an (N, K, D) tensor.
    On an exact tie the smaller index wins (torch.argmin returns the first minimum).
    """
    dist = (z.pow(2).sum(1, keepdim=True)          # (N, 1)
            - 2 * z @ codebook.t()                   # (N, K)
            + codebook.pow(2).sum(1)[None, :])       # (1, K)
    return dist.argmin(dim=1)


def vector_quantize(
    z_e: torch.Tensor, codebook: torch.Tensor, beta: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VQ-VAE bottleneck. z_e: (N, D), codebook: (K, D) (a Parameter in training).

    Returns (z_q_st, indices, vq_loss):
      z_q_st  -- forward value = nearest code e_k, backward = identity to z_e
                 (straight-through estimator: dL/dz_e := dL/dz_q);
      vq_loss -- ||sg[z_e] - e||^2 (codebook loss: moves only the codes)
                 + beta * ||z_e - sg[e]||^2 (commitment loss: moves only the encoder).
    """
    idx = nearest_code(z_e.detach(), codebook.detach())
    e = codebook[idx]                                   # (N, D), gradient flows to the codebook
    codebook_loss = F.mse_loss(e, z_e.detach())         # sg on the encoder side
    commitment_loss = F.mse_loss(z_e, e.detach())       # sg on the codebook side
    z_q_st = z_e + (e - z_e).detach()                   # value e, gradient identity to z_e
    return z_q_st, idx, codebook_loss + beta * commitment_loss
# --8<-- [end:quantize]


# --8<-- [start:usage]
def codebook_usage(indices: torch.Tensor, num_codes: int) -> tuple[float, float]:
    """Fraction of codes used at least once and the perplexity exp(H(p)) of code usage.

    Perplexity is the 'effective number of codes': num_codes for uniform use, 1 for collapse.
    """
    counts = torch.bincount(indices.flatten(), minlength=num_codes).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return (counts > 0).double().mean().item(), entropy.exp().item()
# --8<-- [end:usage]


# --8<-- [start:ema]
@torch.no_grad()
def ema_codebook_update(
    z: torch.Tensor,
    idx: torch.Tensor,
    cluster_size: torch.Tensor,
    embed_sum: torch.Tensor,
    decay: float = 0.99,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EMA (online k-means) codebook update used instead of the codebook loss.

    z: (N, D) encoder outputs, idx: (N,) their codes, cluster_size: (K,), embed_sum: (K, D).
    N_k <- decay*N_k + (1-decay)*n_k ;  m_k <- decay*m_k + (1-decay)*sum_{i: idx_i=k} z_i ;
    e_k = m_k / N_k (with Laplace smoothing of N_k so empty clusters do not divide by 0).
    Returns (new_codebook (K, D), cluster_size, embed_sum).
    """
    k = cluster_size.shape[0]
    onehot = F.one_hot(idx, k).to(z.dtype)                   # (N, K)
    cluster_size = decay * cluster_size + (1 - decay) * onehot.sum(0)
    embed_sum = decay * embed_sum + (1 - decay) * onehot.t() @ z
    n = cluster_size.sum()
    smoothed = (cluster_size + eps) / (n + k * eps) * n      # Laplace smoothing
    return embed_sum / smoothed[:, None], cluster_size, embed_sum


@torch.no_grad()
def restart_dead_codes(
    codebook: torch.Tensor, cluster_size: torch.Tensor, z: torch.Tensor,
    threshold: float = 1.0, generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace codes whose EMA usage is below threshold by random encoder outputs of the batch.

    Returns (codebook, dead_mask). Live codes are left untouched.
    """
    dead = cluster_size < threshold
    n_dead = int(dead.sum())
    if n_dead:
        pick = torch.randint(0, z.shape[0], (n_dead,), generator=generator)
        codebook = codebook.clone()
        codebook[dead] = z[pick]
    return codebook, dead
# --8<-- [end:ema]


if __name__ == "__main__":
    torch.manual_seed(0)
    K, D, N = 16, 4, 512
    codebook = torch.nn.Parameter(torch.randn(K, D) * 0.1)
    z_e = (torch.randn(N, D) + 2.0).requires_grad_()        # data far from the codebook's centre
    z_q, idx, vq_loss = vector_quantize(z_e, codebook)
    used, ppl = codebook_usage(idx, K)
    print(f"before restart: {used:.0%} of {K} codes used, perplexity {ppl:.2f}")
    (z_q.pow(2).sum() + vq_loss).backward()
    print("straight-through: dL/dz_e == dL/dz_q ?",
          torch.allclose(z_e.grad, 2 * z_q.detach() + 2 * 0.25 * (z_e - z_q).detach() / z_e.numel()))
    counts = torch.bincount(idx, minlength=K).float()
    new_cb, dead = restart_dead_codes(codebook.detach(), counts, z_e.detach(), threshold=1.0)
    _, idx2, _ = vector_quantize(z_e.detach(), new_cb)
    used2, ppl2 = codebook_usage(idx2, K)
    print(f"restarted {int(dead.sum())} dead codes -> {used2:.0%} used, perplexity {ppl2:.2f}")
