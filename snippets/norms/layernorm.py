"""LayerNorm from scratch, and how it differs from BatchNorm on a (batch, seq, d) tensor.

Pages: docs/norms/layernorm.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:layer_norm]
def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """LayerNorm over the last (feature) dimension.

    x: (..., d); weight (gain) and bias: (d,) or None.
    Each token is normalised with its own mean and *biased* variance
    (divide by d, not d - 1), exactly like ``torch.nn.LayerNorm``.
    """
    mean = x.mean(dim=-1, keepdim=True)                    # (..., 1)
    var = (x - mean).pow(2).mean(dim=-1, keepdim=True)     # (..., 1), biased
    x_hat = (x - mean) / torch.sqrt(var + eps)             # (..., d)
    if weight is not None:
        x_hat = x_hat * weight
    if bias is not None:
        x_hat = x_hat + bias
    return x_hat
# --8<-- [end:layer_norm]


# --8<-- [start:bn_vs_ln]
def batch_norm_train(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """BatchNorm in training mode on a (batch, seq, d) tensor, no affine part.

    Statistics are per feature, pooled over every token of every sequence
    in the batch: mean/var over dims (0, 1). The result for one sample
    therefore depends on the other samples in the batch.
    """
    mean = x.mean(dim=(0, 1), keepdim=True)                   # (1, 1, d)
    var = (x - mean).pow(2).mean(dim=(0, 1), keepdim=True)    # (1, 1, d)
    return (x - mean) / torch.sqrt(var + eps)


def layer_norm_tokens(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm on a (batch, seq, d) tensor, no affine part.

    Statistics are per token, over its d features: mean/var over dim -1.
    The result for one token depends on nothing else in the batch.
    """
    return layer_norm(x, eps=eps)
# --8<-- [end:bn_vs_ln]


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8) * 3 + 1                     # (batch, seq, d)
    y = layer_norm(x)
    print("LayerNorm: per-token mean ~0:", y.mean(-1).abs().max().item() < 1e-5)
    print("LayerNorm: per-token var  ~1:", y.var(-1, unbiased=False).sub(1).abs().max().item() < 1e-3)

    # Change sample 1 only and look at sample 0.
    x2 = x.clone()
    x2[1] = x2[1] * 10 + 5
    ln_change = (layer_norm_tokens(x)[0] - layer_norm_tokens(x2)[0]).abs().max().item()
    bn_change = (batch_norm_train(x)[0] - batch_norm_train(x2)[0]).abs().max().item()
    print(f"change of sample 0 after editing sample 1: LN {ln_change:.2e}, BN {bn_change:.2f}")
