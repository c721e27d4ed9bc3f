"""Agentic (multi-turn, tool-using) RL and RL infrastructure: the loss mask for tool output,
a masked clipped policy-gradient loss, truncated importance sampling for stale or mismatched
rollouts, a bounded-staleness filter, and the trainer -> inference-engine weight-sync estimate.

Pages: docs/alignment/agentic_rl.{zh,en}.md
"""
from __future__ import annotations

import math

import torch

# A rollout is a list of segments (role, number_of_tokens). Roles:
#   "prompt"  system prompt + question (given, not generated)
#   "policy"  tokens the policy sampled (reasoning, tool calls, final answer)
#   "tool"    tokens the environment inserted (search results, interpreter output, error messages)
Segment = tuple[str, int]


# --8<-- [start:loss_mask]
def loss_mask(segments: list[Segment]) -> list[int]:
    """1 for tokens the policy generated, 0 for prompt and tool/environment tokens.

    Only sampled tokens have a log-probability under the behaviour policy, so only they may
    carry a policy-gradient term; tool output still sits in the context (the model attends to
    it) but is never a training target.
    """
    allowed = {"prompt", "policy", "tool"}
    mask: list[int] = []
    for role, n in segments:
        if role not in allowed or n < 0:
            raise ValueError(f"bad segment {(role, n)!r}")
        mask += [1 if role == "policy" else 0] * n
    return mask
# --8<-- [end:loss_mask]


# --8<-- [start:masked_pg_loss]
def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log pi(token_t | prefix). logits: (batch, seq, vocab) already aligned with tokens: (batch, seq).
    Computed in float32 at least: bf16 keeps about 3 significant digits, too few for exp(logp - old_logp)
    and for a token-count denominator (301 is 300 in bf16)."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def masked_pg_loss(logits: torch.Tensor, tokens: torch.Tensor, old_logp: torch.Tensor,
                   advantages: torch.Tensor, mask: torch.Tensor, clip_eps: float = 0.2) -> torch.Tensor:
    """PPO/GRPO clipped surrogate averaged over policy tokens only (token-level mean over the batch).

    logits: (batch, seq, vocab); tokens, old_logp, mask: (batch, seq); advantages: (batch,),
    one outcome advantage per trajectory broadcast to its tokens. Tool tokens (mask 0) get no
    gradient at all and do not count in the denominator. The engine has no log-prob for tokens
    it did not sample, so old_logp there may be garbage (0, -inf, NaN); it is replaced before
    use, because NaN * 0 is still NaN and would poison the loss.
    """
    logp = token_logprobs(logits, tokens)
    keep = mask.bool()
    old_logp = torch.where(keep, old_logp, logp.detach())       # ratio 1 where mask = 0
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(-1)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    m = mask.to(logp.dtype)
    return -torch.where(keep, surrogate, 0.0).sum() / m.sum().clamp(min=1)
# --8<-- [end:masked_pg_loss]


# --8<-- [start:truncated_is]
def truncated_is_weights(logp_train: torch.Tensor, logp_rollout: torch.Tensor, cap: float = 2.0) -> torch.Tensor:
    """Per-token truncated importance weights w = min(pi_train / pi_rollout, cap), no gradient.

    pi_rollout is the distribution that actually sampled the token (an older policy version in
    async RL, or the inference engine's numerics); pi_train is the trainer's current policy.
    Truncating at `cap` bounds the variance at the price of a small bias.
    """
    return torch.exp(logp_train - logp_rollout).clamp(max=cap).detach()


def tis_pg_loss(logp_train: torch.Tensor, logp_rollout: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, cap: float = 2.0) -> torch.Tensor:
    """REINFORCE-style loss corrected by truncated IS: -mean_t[w_t * A * log pi_train(a_t)].
    Log-probs in float32 or wider, as token_logprobs returns them."""
    w = truncated_is_weights(logp_train, logp_rollout, cap)
    m = mask.to(logp_train.dtype)
    return -(w * advantages.unsqueeze(-1) * logp_train * m).sum() / m.sum().clamp(min=1)


def fresh_enough(sample_versions: list[int], current_version: int, max_staleness: int) -> list[bool]:
    """Bounded staleness: keep a sample only if it was generated at most `max_staleness`
    policy versions ago (0 = fully synchronous, on-policy)."""
    return [0 <= current_version - v <= max_staleness for v in sample_versions]
# --8<-- [end:truncated_is]


# --8<-- [start:weight_sync]
def weight_sync_seconds(n_params: float, bytes_per_param: float, link_gbytes_per_s: float,
                        n_parallel_links: int = 1, efficiency: float = 1.0) -> float:
    """Lower bound on the time to ship a full set of weights from trainer to inference engine.

    bytes = n_params * bytes_per_param, spread over `n_parallel_links` links of
    `link_gbytes_per_s` GB/s each (1 GB = 1e9 bytes), at `efficiency` of peak.
    Ignores resharding compute, engine pauses and KV-cache invalidation.
    """
    total_bytes = n_params * bytes_per_param
    return total_bytes / (link_gbytes_per_s * 1e9 * n_parallel_links * efficiency)
# --8<-- [end:weight_sync]


if __name__ == "__main__":
    segs = [("prompt", 3), ("policy", 4), ("tool", 5), ("policy", 2)]
    print("mask:", loss_mask(segs))
    torch.manual_seed(0)
    T, V = len(loss_mask(segs)), 11
    logits = torch.randn(1, T, V, requires_grad=True)
    tokens = torch.randint(0, V, (1, T))
    old = token_logprobs(logits, tokens).detach()
    mask = torch.tensor([loss_mask(segs)])
    loss = masked_pg_loss(logits, tokens, old, torch.tensor([1.0]), mask)
    loss.backward()
    print("grad norm per position:", [round(g, 4) for g in logits.grad[0].norm(dim=-1).tolist()])
    w = truncated_is_weights(torch.log(torch.tensor([0.6, 0.3])), torch.log(torch.tensor([0.2, 0.6])))
    print("TIS weights (cap 2):", w.tolist())
    print("fresh_enough:", fresh_enough([10, 9, 7, 11], 10, 2))
    for name, n in [("7B", 7e9), ("32B", 32e9), ("671B", 671e9)]:
        print(f"{name} bf16 over one 50 GB/s link: {weight_sync_seconds(n, 2, 50):.2f} s;"
              f" over 8 links: {weight_sync_seconds(n, 2, 50, 8):.2f} s")
    print(math.isclose(weight_sync_seconds(7e9, 2, 50), 0.28))
