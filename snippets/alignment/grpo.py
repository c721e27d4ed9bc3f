"""GRPO (DeepSeekMath / DeepSeek-R1) and verifiable rewards (RLVR).

Pages: docs/alignment/grpo.{zh,en}.md
"""
from __future__ import annotations

import re

import torch


# --8<-- [start:group_advantages]
def group_advantages(rewards: torch.Tensor, scale_by_std: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """Outcome-supervised GRPO advantages. rewards: (..., G), e.g. (num_prompts, G) or (G,) for one
    prompt: the G sampled answers of a prompt are on the last axis.

    A_i = (r_i - mean(r)) / (std(r) + eps), shared by every token of answer i.
    std is the sample standard deviation (ddof = 1), as torch.std and TRL use.
    scale_by_std=False gives Dr. GRPO's variant (only subtract the group mean).
    A group in which all answers get the same reward yields all-zero advantages: no signal.
    """
    centred = rewards - rewards.mean(dim=-1, keepdim=True)
    if not scale_by_std:
        return centred
    return centred / (rewards.std(dim=-1, keepdim=True) + eps)
# --8<-- [end:group_advantages]


# --8<-- [start:grpo_loss]
def grpo_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, logp_ref: torch.Tensor,
              advantages: torch.Tensor, mask: torch.Tensor, clip_eps: float = 0.2,
              beta: float = 0.04) -> torch.Tensor:
    """GRPO loss for one group (to minimise).

    logp_*: (G, T) per-token log-probs of the G sampled answers (padded to T) under the
    current, behaviour (old) and reference policies; advantages: (G,); mask: (G, T).
    Per token: clipped surrogate - beta * k3(pi || ref). Tokens are averaged within each
    answer (1/|o_i|), then answers are averaged over the group (1/G), as in DeepSeekMath.
    """
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach().unsqueeze(-1)                                  # (G, 1)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    log_r = logp_ref.detach() - logp_new
    kl = torch.exp(log_r) - log_r - 1                                        # k3, >= 0
    per_token = surrogate - beta * kl
    per_answer = (per_token * mask).sum(-1) / mask.sum(-1)
    return -per_answer.mean()
# --8<-- [end:grpo_loss]


# --8<-- [start:verifiable_reward]
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def extract_answer(completion: str) -> str | None:
    """Final answer: the last \\boxed{...} if present, else the last number in the text."""
    boxed = _BOXED.findall(completion)
    if boxed:
        return boxed[-1].strip()
    numbers = _NUMBER.findall(completion.replace(",", ""))
    return numbers[-1] if numbers else None


def accuracy_reward(completion: str, gold: str) -> float:
    """Rule-based reward for math: 1.0 if the extracted answer equals the gold answer
    (numerically when both parse as numbers), else 0.0."""
    pred = extract_answer(completion)
    if pred is None:
        return 0.0
    try:
        return float(abs(float(pred) - float(gold)) < 1e-6)
    except ValueError:
        return float(pred == gold.strip())


def format_reward(completion: str) -> float:
    """1.0 if the completion is '<think>...</think>' followed by a non-empty answer, as in R1-Zero's template."""
    return float(re.fullmatch(r"\s*<think>.+?</think>\s*\S.*", completion, flags=re.S) is not None)
# --8<-- [end:verifiable_reward]


if __name__ == "__main__":
    completions = [
        "<think>3 * 4 = 12, plus 2</think> The answer is \\boxed{14}",
        "<think>3 + 4 + 2</think> \\boxed{9}",
        "14",
        "<think>guess</think> maybe 15",
    ]
    rewards = torch.tensor([[accuracy_reward(c, "14") + 0.1 * format_reward(c) for c in completions]])
    print("rewards:", rewards.numpy().round(2))
    print("GRPO advantages:", group_advantages(rewards).numpy().round(3))
    print("Dr. GRPO advantages (no std):", group_advantages(rewards, scale_by_std=False).numpy().round(3))
    print("all-correct group -> advantages:", group_advantages(torch.ones(1, 4)).numpy())
