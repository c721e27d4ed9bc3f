"""Reward models for RLHF: Bradley-Terry pairwise loss, K-way ranking loss, last-token reward head.

Pages: docs/alignment/rlhf.{zh,en}.md
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


# --8<-- [start:bradley_terry]
def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Pairwise reward-model loss. r_chosen, r_rejected: (batch,) scalar rewards.

    Bradley-Terry: P(chosen > rejected) = sigmoid(r_chosen - r_rejected);
    the loss is the mean negative log-likelihood of the human label.
    logsigmoid is used instead of log(sigmoid(.)) for numerical stability.
    """
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def ranking_loss(rewards: torch.Tensor) -> torch.Tensor:
    """InstructGPT-style loss for one prompt with K responses ranked best to worst.

    rewards: (K,) rewards of the responses in rank order (rewards[0] = best).
    Every one of the C(K, 2) pairs is a Bradley-Terry comparison; the pairs of one
    prompt are averaged together (one batch element), which avoids overfitting
    that comes from treating them as independent samples.
    """
    k = rewards.shape[0]
    i, j = torch.triu_indices(k, k, offset=1)      # all pairs with i ranked above j
    return -F.logsigmoid(rewards[i] - rewards[j]).mean()
# --8<-- [end:bradley_terry]


# --8<-- [start:reward_head]
class LastTokenRewardHead(torch.nn.Module):
    """Scalar reward read from the hidden state of the last non-padding token.

    This is how a reward model is usually built from an LM: drop the unembedding,
    add a Linear(hidden, 1) and read it at the final token of prompt + response.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.score = torch.nn.Linear(hidden, 1)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """hidden_states: (batch, seq, hidden); attention_mask: (batch, seq) with right padding.
        Returns rewards: (batch,)."""
        last = attention_mask.long().sum(dim=1) - 1                      # index of last real token
        h_last = hidden_states[torch.arange(hidden_states.shape[0]), last]  # (batch, hidden)
        return self.score(h_last).squeeze(-1)
# --8<-- [end:reward_head]


def pairwise_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> float:
    """Fraction of pairs the reward model orders like the human label."""
    return (r_chosen > r_rejected).float().mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    rc, rr = torch.tensor([2.0, 0.3, -1.0]), torch.tensor([0.5, 0.4, -3.0])
    print(f"BT loss {bradley_terry_loss(rc, rr).item():.4f}, pairwise accuracy {pairwise_accuracy(rc, rr):.2f}")
    print("P(chosen > rejected) for reward gap 1.5:", round(torch.sigmoid(torch.tensor(1.5)).item(), 4))
    ranked = torch.tensor([3.0, 1.0, 0.0, -2.0])          # K = 4 -> 6 pairs
    print(f"K=4 ranking loss over {len(list(itertools.combinations(range(4), 2)))} pairs:",
          round(ranking_loss(ranked).item(), 4))
    head = LastTokenRewardHead(8)
    h = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    print("rewards from last-token head:", head(h, mask).detach().numpy().round(3))
