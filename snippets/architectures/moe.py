"""A mixture-of-experts (MoE) FFN layer: top-k routing, expert capacity, the Switch
Transformer load-balancing loss, shared experts, and DeepSeek-V3's bias-based
auxiliary-loss-free balancing.

Pages: docs/architectures/moe.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLUExpert(nn.Module):
    """One expert: a small SwiGLU FFN, d -> d_ff -> d."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (tokens, d) -> (tokens, d)
        return self.down(F.silu(self.gate(x)) * self.up(x))


# --8<-- [start:router]
def top_k_route(
    logits: torch.Tensor, k: int, bias: torch.Tensor | None = None, renormalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick k experts per token.

    logits: (tokens, n_experts). bias (optional, (n_experts,)) is added only to
    *choose* experts (DeepSeek-V3 style); the gate weights come from the unbiased
    softmax. Returns (expert_idx (tokens, k), gate_weights (tokens, k), probs (tokens, n_experts)).
    """
    probs = logits.softmax(dim=-1)
    scores = probs if bias is None else probs + bias
    expert_idx = scores.topk(k, dim=-1).indices                 # (tokens, k)
    weights = probs.gather(-1, expert_idx)                      # (tokens, k)
    if renormalize:                                             # Mixtral / DeepSeek: weights sum to 1
        weights = weights / weights.sum(-1, keepdim=True)
    return expert_idx, weights, probs


def expert_capacity(n_tokens: int, n_experts: int, k: int, capacity_factor: float) -> int:
    """Slots per expert: capacity_factor * (tokens * k / n_experts), rounded up."""
    return math.ceil(capacity_factor * n_tokens * k / n_experts)
# --8<-- [end:router]


# --8<-- [start:balance_loss]
def switch_balance_loss(probs: torch.Tensor, expert_idx: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Switch Transformer auxiliary loss  N * sum_i f_i * P_i.

    f_i: fraction of routed (token, slot) assignments that went to expert i (no gradient),
    P_i: mean router probability of expert i over the tokens (differentiable).
    Equals 1.0 under perfectly uniform routing; larger when load is skewed.
    """
    one_hot = F.one_hot(expert_idx, n_experts).float()          # (tokens, k, N)
    f = one_hot.sum(dim=(0, 1)) / expert_idx.numel()            # (N,)
    p = probs.mean(dim=0)                                       # (N,)
    return n_experts * torch.sum(f * p)
# --8<-- [end:balance_loss]


# --8<-- [start:aux_free]
@torch.no_grad()
def update_routing_bias(bias: torch.Tensor, expert_idx: torch.Tensor, gamma: float) -> torch.Tensor:
    """DeepSeek-V3 auxiliary-loss-free balancing: after each step, lower the bias of
    overloaded experts by gamma and raise it for underloaded ones. No gradient flows
    through the bias; it only changes which experts are selected."""
    load = torch.bincount(expert_idx.flatten(), minlength=bias.numel()).float()
    return bias - gamma * torch.sign(load - load.mean())
# --8<-- [end:aux_free]


# --8<-- [start:moe_layer]
class MoELayer(nn.Module):
    """Top-k MoE FFN with optional shared experts and a per-expert capacity.

    Tokens that overflow an expert's capacity lose that expert's contribution
    (in a Transformer block the residual connection still carries them).
    """

    def __init__(self, d_model: int, d_ff: int, n_experts: int, k: int = 2, n_shared: int = 0,
                 capacity_factor: float | None = None) -> None:
        super().__init__()
        self.router = nn.Linear(d_model, n_experts, bias=False)       # W_r: (d, N)
        self.experts = nn.ModuleList(SwiGLUExpert(d_model, d_ff) for _ in range(n_experts))
        self.shared = nn.ModuleList(SwiGLUExpert(d_model, d_ff) for _ in range(n_shared))
        self.k, self.n_experts, self.capacity_factor = k, n_experts, capacity_factor
        self.register_buffer("bias", torch.zeros(n_experts))          # used by aux-loss-free balancing

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (batch, seq, d). Returns (y (batch, seq, d), balance loss, expert_idx (tokens, k))."""
        shape = x.shape
        x = x.reshape(-1, shape[-1])                                    # (tokens, d)
        idx, w, probs = top_k_route(self.router(x), self.k, self.bias)
        cap = (expert_capacity(x.shape[0], self.n_experts, self.k, self.capacity_factor)
               if self.capacity_factor is not None else x.shape[0])
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            tok, slot = (idx == e).nonzero(as_tuple=True)             # assignments to expert e, token order
            tok, slot = tok[:cap], slot[:cap]                          # drop overflow beyond capacity
            if tok.numel():
                y.index_add_(0, tok, w[tok, slot, None] * expert(x[tok]))
        for expert in self.shared:                                     # shared experts see every token
            y = y + expert(x)
        aux = switch_balance_loss(probs, idx, self.n_experts)
        return y.reshape(shape), aux, idx
# --8<-- [end:moe_layer]


if __name__ == "__main__":
    torch.manual_seed(0)
    layer = MoELayer(d_model=16, d_ff=32, n_experts=8, k=2, n_shared=1, capacity_factor=1.25)
    x = torch.randn(4, 32, 16)                                          # (batch, seq, d)
    y, aux, idx = layer(x)
    print("output", tuple(y.shape), "balance loss", round(aux.item(), 3), "(1.0 = uniform)")
    print("tokens per expert:", torch.bincount(idx.flatten(), minlength=8).tolist(),
          "capacity:", expert_capacity(128, 8, 2, 1.25))
    # Aux-loss-free balancing on a router that prefers expert 0: the bias evens the load out.
    logits = torch.randn(512, 8) + torch.tensor([2.0, 0, 0, 0, 0, 0, 0, 0])
    bias = torch.zeros(8)
    for step in range(300):
        i, _, _ = top_k_route(logits, 2, bias)
        bias = update_routing_bias(bias, i, gamma=0.01)
    print("load before:", torch.bincount(top_k_route(logits, 2)[0].flatten(), minlength=8).tolist())
    print("load after :", torch.bincount(top_k_route(logits, 2, bias)[0].flatten(), minlength=8).tolist())
