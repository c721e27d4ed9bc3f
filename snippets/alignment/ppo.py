"""PPO for LLMs: per-token KL-shaped reward, GAE, clipped surrogate, KL estimators.

Pages: docs/alignment/ppo.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:kl_reward]
def kl_shaped_rewards(rm_score: float, logp: torch.Tensor, logp_ref: torch.Tensor,
                      beta: float) -> torch.Tensor:
    """Per-token reward used by InstructGPT-style PPO (one response).

    logp, logp_ref: (T,) log-probs of the sampled response tokens under the policy
    and the frozen reference (SFT) model. Every token pays -beta * (logp - logp_ref)
    (the k1 KL estimate); the reward model's scalar score is added on the last token.
    Returns (T,) rewards.
    """
    rewards = -beta * (logp - logp_ref)
    rewards[-1] = rewards[-1] + rm_score
    return rewards


def kl_estimators(logp: torch.Tensor, logp_ref: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample estimators of KL(pi || pi_ref) for samples drawn from pi (Schulman, 2020).

    With log-ratio lr = logp_ref - logp:
      k1 = -lr              unbiased, high variance, can be negative
      k2 = lr**2 / 2        biased, low variance, >= 0
      k3 = exp(lr) - 1 - lr unbiased, low variance, >= 0 (used in GRPO)
    """
    lr = logp_ref - logp
    return {"k1": -lr, "k2": 0.5 * lr.pow(2), "k3": torch.expm1(lr) - lr}
# --8<-- [end:kl_reward]


# --8<-- [start:gae]
def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation for one finished trajectory.

    rewards: (T,) per-step rewards; values: (T,) critic values V(s_t).
    The episode ends after step T-1, so V(s_T) = 0.
      delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)
      A_t     = delta_t + gamma * lam * A_{t+1}
    Returns (advantages (T,), returns (T,) = A_t + V(s_t), the critic's targets).
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    next_value, running = 0.0, 0.0
    for t in reversed(range(T)):
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
        next_value = values[t]
    return adv, adv + values
# --8<-- [end:gae]


# --8<-- [start:gae_diagnostics]
def terminal_reward_weight(T: int, t: int, gamma: float = 1.0, lam: float = 0.95) -> float:
    """dA_t / dr_{T-1}: how much of a reward given only at the last token reaches token t's advantage
    directly, (gamma * lam)^(T-1-t). The rest of A_t comes from the critic's V estimates."""
    return (gamma * lam) ** (T - 1 - t)


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns): 1 = perfect critic, 0 = no better than a constant,
    < 0 = worse than predicting the mean. Log it every PPO iteration."""
    return float(1 - (returns - values).var(unbiased=False) / returns.var(unbiased=False))


def critic_training_gb(n_params: float, bytes_per_param: float = 16.0) -> float:
    """Training state of the critic with mixed-precision Adam: bf16 weights (2) + bf16 grads (2)
    + fp32 master weights (4) + Adam m and v (8) = 16 bytes per parameter. GRPO saves all of it."""
    return n_params * bytes_per_param / 1e9
# --8<-- [end:gae_diagnostics]


# --8<-- [start:clip]
def ppo_clip_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                  clip_eps: float = 0.2) -> torch.Tensor:
    """Clipped surrogate loss (to minimise). All inputs: (N,) per token.

    ratio = pi_new / pi_old; loss = -mean(min(ratio * A, clip(ratio, 1-eps, 1+eps) * A)).
    logp_old and advantages are constants (no gradient).
    """
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv
    return -torch.min(unclipped, clipped).mean()
# --8<-- [end:clip]


if __name__ == "__main__":
    torch.manual_seed(0)
    logp = torch.tensor([-1.0, -0.5, -2.0])
    logp_ref = torch.tensor([-1.2, -0.5, -1.0])
    r = kl_shaped_rewards(rm_score=1.0, logp=logp, logp_ref=logp_ref, beta=0.1)
    print("per-token rewards (KL-shaped, RM score on last token):", r.numpy().round(3))
    adv, ret = gae(r, values=torch.tensor([0.5, 0.6, 0.7]), gamma=1.0, lam=0.95)
    print("GAE advantages:", adv.numpy().round(4), "returns:", ret.numpy().round(4))
    print("clip loss, ratio 1.5 with A=+1 (clipped at 1.2):",
          ppo_clip_loss(torch.log(torch.tensor([1.5])), torch.zeros(1), torch.ones(1)).item())
    # Monte Carlo check: k1 and k3 both average to the true KL, k3 has lower variance.
    # (small KL, the regime of RLHF, where k3 has the lowest variance)
    base = torch.randn(50)
    p = torch.distributions.Categorical(logits=base)
    q = torch.distributions.Categorical(logits=base + 0.3 * torch.randn(50))
    x = p.sample((200_000,))
    est = kl_estimators(p.log_prob(x), q.log_prob(x))
    print(f"true KL {torch.distributions.kl_divergence(p, q).item():.4f}; "
          + ", ".join(f"{k} mean {v.mean().item():.4f} std {v.std().item():.3f}" for k, v in est.items()))
    print(f"reward at the end of a 500-token answer reaches token 0 with weight "
          f"{terminal_reward_weight(500, 0):.1e} (lambda 0.95) vs {terminal_reward_weight(500, 0, lam=1.0):.0f} (lambda 1)")
    print(f"7B critic training state: {critic_training_gb(7e9):.0f} GB")
