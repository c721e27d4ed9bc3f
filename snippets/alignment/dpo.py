"""DPO and its relatives: sequence log-probs, DPO / IPO / SimPO / ORPO / KTO losses,
and the closed-form optimum of the KL-regularised objective that DPO is derived from.

Pages: docs/alignment/dpo.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# --8<-- [start:seq_logprob]
def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Sum of log pi(y_t | x, y_<t) over response tokens.

    logits: (batch, seq, vocab) already aligned with labels (logits[:, t] predicts labels[:, t]);
    labels: (batch, seq); loss_mask: (batch, seq), 1 on response tokens, 0 on prompt and padding.
    Returns (batch,).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    token_logp = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)   # (batch, seq)
    return (token_logp * loss_mask).sum(-1)
# --8<-- [end:seq_logprob]


# --8<-- [start:dpo]
def dpo_loss(pi_w: torch.Tensor, pi_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO loss. All inputs: (batch,) sequence log-probs of chosen (w) / rejected (l)
    responses under the policy (pi_*) and the frozen reference model (ref_*).

    Implicit reward r_hat(x, y) = beta * (log pi(y|x) - log ref(y|x)).
    loss = -log sigmoid(r_hat_w - r_hat_l). Returns (loss, r_hat_w, r_hat_l).
    """
    r_w = beta * (pi_w - ref_w)
    r_l = beta * (pi_l - ref_l)
    loss = -F.logsigmoid(r_w - r_l).mean()
    return loss, r_w.detach(), r_l.detach()
# --8<-- [end:dpo]


# --8<-- [start:variants]
def ipo_loss(pi_w, pi_l, ref_w, ref_l, tau: float = 0.1) -> torch.Tensor:
    """IPO (Azar et al., 2023): regress the log-ratio margin h onto 1/(2 tau) instead of
    pushing it to infinity. h = (log pi_w - log ref_w) - (log pi_l - log ref_l)."""
    h = (pi_w - ref_w) - (pi_l - ref_l)
    return ((h - 1.0 / (2.0 * tau)) ** 2).mean()


def simpo_loss(pi_w, pi_l, len_w, len_l, beta: float = 2.0, gamma: float = 1.0) -> torch.Tensor:
    """SimPO (Meng et al., 2024): reference-free, length-normalised reward beta/|y| * log pi(y|x),
    with a target margin gamma. pi_*: summed log-probs; len_*: response lengths in tokens."""
    margin = beta * pi_w / len_w - beta * pi_l / len_l - gamma
    return -F.logsigmoid(margin).mean()


def orpo_loss(nll_w_mean, avg_logp_w, avg_logp_l, lam: float = 0.1) -> torch.Tensor:
    """ORPO (Hong et al., 2024): SFT loss on the chosen response plus an odds-ratio term.
    avg_logp_*: per-token average log-probs; odds(y) = p / (1 - p) with p = exp(avg_logp).
    log odds = avg_logp - log(1 - exp(avg_logp)), computed with log1p for stability."""
    log_odds_w = avg_logp_w - torch.log1p(-torch.exp(avg_logp_w))
    log_odds_l = avg_logp_l - torch.log1p(-torch.exp(avg_logp_l))
    return nll_w_mean + lam * (-F.logsigmoid(log_odds_w - log_odds_l)).mean()


def kto_loss(pi: torch.Tensor, ref: torch.Tensor, desirable: torch.Tensor, z0: float,
             beta: float = 0.1, lam_d: float = 1.0, lam_u: float = 1.0) -> torch.Tensor:
    """KTO (Ethayarajh et al., 2024) on unpaired examples. pi, ref: (batch,) sequence log-probs;
    desirable: (batch,) bool label. z0: reference point (a detached, non-negative estimate of
    KL(pi || ref) over the batch). value = lam * sigmoid(+-beta * (r - z0)); loss = lam - value."""
    r = pi - ref
    lam = torch.where(desirable, torch.full_like(r, lam_d), torch.full_like(r, lam_u))
    v = torch.where(desirable, lam_d * torch.sigmoid(beta * (r - z0)), lam_u * torch.sigmoid(beta * (z0 - r)))
    return (lam - v).mean()
# --8<-- [end:variants]


# --8<-- [start:optimal_policy]
def kl_regularised_optimum(ref_probs: torch.Tensor, reward: torch.Tensor, beta: float) -> torch.Tensor:
    """argmax_pi E_pi[r] - beta * KL(pi || ref) over one prompt's (finite) response set.

    Closed form: pi*(y) = ref(y) * exp(r(y) / beta) / Z. ref_probs, reward: (num_responses,)."""
    return torch.softmax(torch.log(ref_probs) + reward / beta, dim=-1)
# --8<-- [end:optimal_policy]


if __name__ == "__main__":
    torch.manual_seed(0)
    pi_w, pi_l = torch.tensor([-12.0, -30.0]), torch.tensor([-15.0, -28.0])
    ref_w, ref_l = torch.tensor([-13.0, -29.0]), torch.tensor([-14.0, -29.0])
    loss, rw, rl = dpo_loss(pi_w, pi_l, ref_w, ref_l, beta=0.1)
    print(f"DPO loss {loss.item():.4f}; implicit reward margins {(rw - rl).numpy().round(3)}")
    print(f"at init (pi == ref) the loss is log 2 = {dpo_loss(ref_w, ref_l, ref_w, ref_l)[0].item():.4f}")
    ref = torch.tensor([0.5, 0.3, 0.2])
    r = torch.tensor([1.0, 0.0, 2.0])
    for beta in (10.0, 1.0, 0.1):
        print(f"beta={beta:>4}: optimal policy {kl_regularised_optimum(ref, r, beta).numpy().round(3)}")
