"""Stretching RoPE to longer contexts: position interpolation (PI), NTK-aware base scaling,
YaRN, and Llama 3.1's frequency-dependent scaling. Each returns the new inverse frequencies.

Pages: docs/position-encoding/extrapolation.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


def base_inv_freq(head_dim: int, base: float) -> torch.Tensor:
    """theta_i = base^(-2i/d), i = 0 .. d/2 - 1 (float64)."""
    return base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)


# --8<-- [start:pi]
def pi_inv_freq(head_dim: int, base: float, scale: float) -> torch.Tensor:
    """Position interpolation (Chen et al., 2023): position m -> m / s, i.e. every theta_i / s.

    All frequencies shrink by the same factor, so the rotation angles at s * L stay inside
    the range seen in training, but neighboring tokens are s times closer in angle.
    """
    return base_inv_freq(head_dim, base) / scale
# --8<-- [end:pi]


# --8<-- [start:ntk]
def ntk_aware_inv_freq(head_dim: int, base: float, scale: float) -> torch.Tensor:
    """NTK-aware scaling (bloc97, 2023): keep the formula, enlarge the base to base * s^(d / (d - 2)).

    theta_0 = 1 is untouched (high frequencies extrapolate, local order stays sharp);
    the lowest frequency theta_{d/2-1} is divided by exactly s (interpolated like PI).
    """
    return base_inv_freq(head_dim, base * scale ** (head_dim / (head_dim - 2)))
# --8<-- [end:ntk]


# --8<-- [start:yarn]
def yarn_inv_freq(head_dim: int, base: float, scale: float, original_max: int,
                  beta_fast: float = 32.0, beta_slow: float = 1.0, truncate: bool = True) -> torch.Tensor:
    """YaRN's "NTK-by-parts" frequencies (Peng et al., 2023).

    r_i = L / lambda_i = number of full turns pair i makes over the original context L.
    r_i > beta_fast (fast pairs): keep theta_i (extrapolate);  r_i < beta_slow (slow pairs): theta_i / s
    (interpolate); in between a linear ramp over the dimension index, as in the authors' code.
    """
    theta = base_inv_freq(head_dim, base)

    def dim_with_turns(turns: float) -> float:       # solve L * theta_i / (2 pi) = turns for i
        return head_dim * math.log(original_max / (turns * 2 * math.pi)) / (2 * math.log(base))

    low, high = dim_with_turns(beta_fast), dim_with_turns(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, head_dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(head_dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp                                   # 1 for fast pairs, 0 for slow pairs
    return theta / scale * (1 - keep) + theta * keep


def yarn_attention_factor(scale: float) -> float:
    """YaRN multiplies cos / sin by 0.1 ln(s) + 1 (so q.k by its square): sharper softmax at long range."""
    return 1.0 if scale <= 1 else 0.1 * math.log(scale) + 1.0
# --8<-- [end:yarn]


# --8<-- [start:llama3]
def llama3_inv_freq(head_dim: int, base: float = 500000.0, factor: float = 8.0, low_freq_factor: float = 1.0,
                    high_freq_factor: float = 4.0, original_max: int = 8192) -> torch.Tensor:
    """Llama 3.1's rope_scaling: wavelength < L/high_freq_factor keep, > L/low_freq_factor divide by factor,
    and a smooth blend in between (the same three-band idea as YaRN, without the attention factor)."""
    theta = base_inv_freq(head_dim, base)
    wavelen = 2 * math.pi / theta
    smooth = (original_max / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * theta / factor + smooth * theta
    out = torch.where(wavelen > original_max / low_freq_factor, theta / factor, blended)
    return torch.where(wavelen < original_max / high_freq_factor, theta, out)
# --8<-- [end:llama3]


# --8<-- [start:overshoot]
def angle_overshoot(head_dim: int, base: float, new_inv_freq: torch.Tensor, train_len: int,
                    scale: float) -> torch.Tensor:
    """Largest rotation angle reached at scale * train_len with the new frequencies, divided by
    the largest angle seen in training (train_len * theta_i), for every frequency pair.

    Only pairs whose wavelength 2 pi / theta_i exceeds train_len matter: the others completed a
    full turn in training, so every angle is familiar. Values > 1 on those pairs are angles the
    model never saw ("out of bound"); PI gives exactly 1, NTK-aware gives s^(1 - 2i/(d - 2))."""
    theta = base_inv_freq(head_dim, base)
    ratio = scale * new_inv_freq / theta
    partial_turn = 2 * math.pi / theta > train_len
    return torch.where(partial_turn, ratio, torch.ones_like(ratio))
# --8<-- [end:overshoot]


if __name__ == "__main__":
    d, base, s, L = 128, 10000.0, 8.0, 4096
    theta = base_inv_freq(d, base)
    for name, f in (("PI", pi_inv_freq(d, base, s)), ("NTK-aware", ntk_aware_inv_freq(d, base, s)),
                    ("YaRN", yarn_inv_freq(d, base, s, L))):
        ratio = (theta / f)[[0, 16, 32, 48, 63]]
        print(f"{name:9s} theta / theta' at pairs 0, 16, 32, 48, 63:", [round(float(r), 2) for r in ratio])
    print(f"YaRN attention factor for s={s}: {yarn_attention_factor(s):.4f}")
    # NTK-aware at s = 4 for a 4K-trained model with d = 128, base 10,000
    over = angle_overshoot(d, base, ntk_aware_inv_freq(d, base, 4.0), L, 4.0)
    bad = (over > 1.0001).nonzero().flatten().tolist()
    print(f"NTK s=4: new base {base * 4 ** (d / (d - 2)):,.0f}; pairs {bad[0]}..{bad[-1]} overshoot, "
          f"worst {float(over.max()):.2f}x the trained angle")
