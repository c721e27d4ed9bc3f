"""GLU and the GLU-variant FFNs (GLU, ReGLU, GEGLU, SwiGLU, Bilinear), and LLaMA's FFN hidden size.

GLU: Dauphin et al., 2017, arXiv:1612.08083. FFN variants: Shazeer, 2020, arXiv:2002.05202.
Hidden-size rule: meta-llama/llama, llama/model.py (FeedForward).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


# --8<-- [start:glu]
def glu(a: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """GLU on a pre-computed projection: split a into (value, gate), return value * sigmoid(gate).

    Same convention as torch.nn.functional.glu: the second half is the gate.
    a: (..., 2h) -> (..., h)
    """
    value, gate = a.chunk(2, dim=dim)
    return value * torch.sigmoid(gate)
# --8<-- [end:glu]


# --8<-- [start:gate_activations]
GATE_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,                                 # FFN_GLU
    "identity": lambda t: t,                                  # FFN_Bilinear
    "relu": F.relu,                                           # FFN_ReGLU
    "gelu": F.gelu,                                           # FFN_GEGLU (exact GELU)
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),     # GEGLU as in Gemma / T5 v1.1
    "silu": F.silu,                                           # FFN_SwiGLU (Swish with beta = 1)
}
# --8<-- [end:gate_activations]


# --8<-- [start:glu_ffn]
class GatedFFN(nn.Module):
    """FFN_act(x) = (act(x W) * (x V)) W2, no biases (Shazeer, 2020).

    W  = w_gate (LLaMA: w1, HF: gate_proj), V = w_up (LLaMA: w3, HF: up_proj),
    W2 = w_down (LLaMA: w2, HF: down_proj).
    """

    def __init__(self, d_model: int, hidden: int, activation: str = "silu") -> None:
        super().__init__()
        self.w_gate = nn.Linear(d_model, hidden, bias=False)  # W:  (d, h)
        self.w_up = nn.Linear(d_model, hidden, bias=False)    # V:  (d, h)
        self.w_down = nn.Linear(hidden, d_model, bias=False)  # W2: (h, d)
        if activation not in GATE_ACTIVATIONS:
            raise ValueError(f"unknown gate activation {activation!r}; choose from {sorted(GATE_ACTIVATIONS)}")
        self.act = GATE_ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, seq, d) -> gate, up: (batch, seq, h) -> out: (batch, seq, d)
        return self.w_down(self.act(self.w_gate(x)) * self.w_up(x))
# --8<-- [end:glu_ffn]


# --8<-- [start:hidden_size]
def glu_ffn_param_count(d_model: int, hidden: int) -> int:
    """Three bias-free matrices W, V (d x h) and W2 (h x d)."""
    return 3 * d_model * hidden


def llama_ffn_hidden_dim(dim: int, multiple_of: int = 256, ffn_dim_multiplier: float | None = None) -> int:
    """Hidden size of LLaMA's SwiGLU FFN: 2/3 of 4d, optionally scaled, rounded UP to a multiple."""
    hidden = int(2 * (4 * dim) / 3)                  # keep 3*d*h ~= 2*d*(4d)
    if ffn_dim_multiplier is not None:               # LLaMA-2-70B and LLaMA 3 use 1.3
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)  # ceil to a hardware-friendly size
# --8<-- [end:hidden_size]


if __name__ == "__main__":
    torch.manual_seed(0)
    d = 48
    h = 8 * d // 3  # 128
    x = torch.randn(2, 5, d)  # (batch, seq, d)
    for name in ("sigmoid", "relu", "gelu", "silu"):
        out = GatedFFN(d, h, name)(x)
        print(f"{name:8s} gated FFN output shape {tuple(out.shape)}")
    dense = 2 * d * (4 * d)
    print(f"d={d}: GLU FFN with h=8d/3={h} has {glu_ffn_param_count(d, h)} params; dense 4d FFN has {dense}")
    configs = [
        ("LLaMA-7B", 4096, 256, None),
        ("LLaMA-2-13B", 5120, 256, None),
        ("LLaMA-65B", 8192, 256, None),
        ("LLaMA-2-70B", 8192, 4096, 1.3),
        ("LLaMA-3-8B", 4096, 1024, 1.3),
    ]
    for name, dim, mult, k in configs:
        hid = llama_ffn_hidden_dim(dim, mult, k)
        ratio = glu_ffn_param_count(dim, hid) / (8 * dim * dim)
        print(f"{name:12s} d={dim:5d} -> hidden {hid:6d} ({hid / dim:.3f} d), FFN params / dense-4d = {ratio:.4f}")
