"""Reasoning RL beyond GRPO: GSPO's sequence ratio, DAPO's parts, entropy dynamics, on-policy distillation.

Pages: docs/alignment/reasoning_rl.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# --8<-- [start:gspo]
def gspo_ratio(logp_new: torch.Tensor, logp_old: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GSPO importance ratio per response: (pi_new(y|x) / pi_old(y|x)) ** (1 / |y|).

    logp_*: (G, T) per-token log-probs, mask: (G, T) with 1 on response tokens.
    Equal to exp(mean over the response of the token log-ratios), i.e. the geometric
    mean of GRPO's token ratios exp(logp_new - logp_old).
    """
    log_ratio = (logp_new - logp_old.detach()) * mask
    return torch.exp(log_ratio.sum(-1) / mask.sum(-1))


def gspo_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, eps_low: float = 3e-4, eps_high: float = 4e-4) -> torch.Tensor:
    """GSPO loss (to minimise): one clipped term per response, averaged over the group.

    advantages: (G,) group-normalised rewards, as in GRPO. Clipping acts on the whole
    response, so an off-policy response is dropped from the gradient as a unit.
    """
    s = gspo_ratio(logp_new, logp_old, mask)
    adv = advantages.detach()
    surrogate = torch.min(s * adv, torch.clamp(s, 1 - eps_low, 1 + eps_high) * adv)
    return -surrogate.mean()
# --8<-- [end:gspo]


# --8<-- [start:dapo_parts]
def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, eps_low: float = 0.2,
                      eps_high: float = 0.28) -> torch.Tensor:
    """PPO/GRPO per-token surrogate with DAPO's decoupled clip range [1-eps_low, 1+eps_high]."""
    return torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)


def aggregate_loss(per_token: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean") -> torch.Tensor:
    """Reduce a (G, T) per-token loss to a scalar.

    token-mean:          sum over all tokens / number of tokens in the batch (DAPO);
                         every token weighs the same, long responses weigh more in total.
    seq-mean-token-mean: mean within each response, then over responses (GRPO);
                         every response weighs the same, its tokens share the weight.
    """
    if mode == "token-mean":
        return (per_token * mask).sum() / mask.sum()
    if mode == "seq-mean-token-mean":
        return ((per_token * mask).sum(-1) / mask.sum(-1)).mean()
    raise ValueError(f"unknown mode {mode!r}")


def keep_informative_groups(rewards: torch.Tensor) -> torch.Tensor:
    """Dynamic sampling filter: keep a group (row of (P, G) rewards) only if its rewards differ.

    All-correct and all-wrong groups have zero advantage for every response and give no
    gradient; DAPO drops them and samples more prompts until the batch is full.
    """
    return (rewards.max(dim=-1).values - rewards.min(dim=-1).values) > 0


def overlong_penalty(length: int, max_len: int, cache_len: int) -> float:
    """DAPO soft overlong punishment, added to the correctness reward.

    0 up to max_len - cache_len, then falls linearly to -1 at max_len, -1 beyond.
    """
    start = max_len - cache_len
    if length <= start:
        return 0.0
    if length <= max_len:
        return (start - length) / cache_len
    return -1.0
# --8<-- [end:dapo_parts]


# --8<-- [start:entropy]
def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution, logits (..., V) -> (...). Monitor its mean over
    the response tokens of each batch: a fast monotone fall is entropy collapse."""
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def entropy_change_first_order(logits: torch.Tensor, delta_logits: torch.Tensor) -> torch.Tensor:
    """First-order change of softmax entropy when logits move by delta_logits:

    dH ~= -Cov_{a ~ pi}(log pi(a), delta z(a))   (Cui et al., 2025, for a softmax policy).
    A policy-gradient step raises the logits of sampled tokens by about lr * pi(a) * A(a),
    so confident tokens with positive advantage (positive covariance) drive entropy down.
    """
    logp = F.log_softmax(logits, dim=-1)
    p = logp.exp()
    cov = (p * logp * delta_logits).sum(-1) - (p * logp).sum(-1) * (p * delta_logits).sum(-1)
    return -cov
# --8<-- [end:entropy]


# --8<-- [start:on_policy_distill]
def reverse_kl_per_token(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(student || teacher) at each position, logits (..., V) -> (...).

    On-policy distillation evaluates this on sequences the student sampled itself; the
    expectation is under the student, hence mode-seeking.
    """
    logq = F.log_softmax(student_logits, dim=-1)
    logp = F.log_softmax(teacher_logits, dim=-1)
    return (logq.exp() * (logq - logp)).sum(-1)


def sampled_token_advantage(student_logp_tok: torch.Tensor, teacher_logp_tok: torch.Tensor) -> torch.Tensor:
    """Per-token reward when only the sampled tokens' log-probs are available:
    -(log q(x_t) - log p(x_t)). Its expectation over x_t ~ q is -KL(q || p); used as the
    advantage of token t with no discounting (a dense reward, unlike RLVR's single 0/1)."""
    return -(student_logp_tok - teacher_logp_tok).detach()
# --8<-- [end:on_policy_distill]


if __name__ == "__main__":
    lp_old = torch.tensor([[-1.0, -2.0, -0.5, 0.0], [-1.0, -1.0, 0.0, 0.0]])
    lp_new = torch.tensor([[-0.8, -2.3, -0.4, 0.0], [-1.2, -0.7, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    print("GRPO token ratios:", (torch.exp(lp_new - lp_old) * mask).numpy().round(3))
    print("GSPO sequence ratios:", gspo_ratio(lp_new, lp_old, mask).numpy().round(4))

    per_tok = torch.tensor([[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    print("token-mean:", aggregate_loss(per_tok, m).item(), " seq-mean:", aggregate_loss(per_tok, m, "seq-mean-token-mean").item())
    print("keep groups:", keep_informative_groups(torch.tensor([[1.0, 1, 1, 1], [0.0, 1, 0, 0], [0.0, 0, 0, 0]])).tolist())
    print("overlong penalty, L_max=20480, L_cache=4096:",
          [overlong_penalty(n, 20480, 4096) for n in (16000, 16384, 18432, 20480, 21000)])
    logits = torch.tensor([3.0, 1.0, 0.0, -1.0])
    print("entropy:", round(token_entropy(logits).item(), 4),
          " dH if the top token's logit rises by 0.1:",
          round(entropy_change_first_order(logits, torch.tensor([0.1, 0.0, 0.0, 0.0])).item(), 5))
    print("reverse KL student||teacher:",
          round(reverse_kl_per_token(torch.tensor([2.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.0])).item(), 4))
