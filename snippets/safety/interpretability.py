"""Interpretability tools: integrated gradients, a linear probe, sparse-autoencoder (SAE) cost and
quality metrics, and the acceptance numbers of a per-group fairness evaluation.

Pages: docs/safety/interpretability.{zh,en}.md
"""
from __future__ import annotations

import math
from typing import Callable

import torch


# --8<-- [start:integrated_gradients]
def integrated_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         baseline: torch.Tensor | None = None, steps: int = 64) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al., 2017) of a scalar output f for input x: (d,)
    (for an LLM, x is a token-embedding matrix and f the log-prob of the answer token).

    IG_i = (x_i - x'_i) * integral_0^1 df/dx_i (x' + a (x - x')) da, with the integral
    approximated by the trapezoid rule on `steps` intervals. Completeness: sum_i IG_i = f(x) - f(x').
    """
    if baseline is None:
        baseline = torch.zeros_like(x)
    alphas = torch.linspace(0, 1, steps + 1).view(-1, *([1] * x.dim()))
    path = (baseline + alphas * (x - baseline)).requires_grad_(True)          # (steps+1, *x.shape)
    grads, = torch.autograd.grad(f(path).sum(), path)
    avg_grad = (grads[:-1] + grads[1:]).mean(0) / 2                           # trapezoid rule
    return (x - baseline) * avg_grad
# --8<-- [end:integrated_gradients]


# --8<-- [start:probe]
def train_linear_probe(h: torch.Tensor, y: torch.Tensor, steps: int = 200, l2: float = 1e-3) -> torch.nn.Linear:
    """Logistic-regression probe on frozen hidden states h: (N, d) for binary labels y: (N,).

    High probe accuracy shows the information is linearly decodable from the layer,
    not that the model uses it: compare against a control task or a random-init model.
    """
    probe = torch.nn.Linear(h.shape[1], 1)
    opt = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(probe(h).squeeze(-1), y.float())
        loss = loss + l2 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return probe
# --8<-- [end:probe]


# --8<-- [start:sae_budget]
def sae_budget(d_model: int, expansion: int, tokens: float, lm_params: float,
               peak_flops: float = 989e12, utilization: float = 0.4) -> dict[str, float]:
    """Cost of one SAE on one layer. m = expansion * d latents; encoder and decoder are d x m each.
    Training: forward (encoder + dense decoder) 4 d m FLOPs per token, backward twice that -> 12 d m.
    Harvesting activations: a forward pass of the LM, 2 * lm_params FLOPs per token (upper bound:
    you can stop at the layer). Storing activations: d bf16 values (2 bytes) per token."""
    m = d_model * expansion
    params = 2 * d_model * m + m + d_model
    gpu_h = lambda flops: flops / (peak_flops * utilization) / 3600
    return {"latents": m, "params": params,
            "train_state_gb": params * 16 / 1e9,          # fp32 weights, grads, Adam m and v
            "activation_tb": tokens * d_model * 2 / 1e12,
            "train_gpu_h": gpu_h(12 * d_model * m * tokens),
            "harvest_gpu_h": gpu_h(2 * lm_params * tokens)}
# --8<-- [end:sae_budget]


# --8<-- [start:sae_metrics]
def encode_topk(pre: torch.Tensor, k: int) -> torch.Tensor:
    """TopK SAE (Gao et al., 2024): keep the k largest pre-activations per token, zero the rest."""
    vals, idx = pre.relu().topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, idx, vals)


def encode_jumprelu(pre: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """JumpReLU SAE (Rajamanoharan et al., 2024): pass a value unchanged if it exceeds its threshold."""
    return pre * (pre > theta)


def encode_l1_relu(pre: torch.Tensor, lam: float) -> torch.Tensor:
    """Optimal non-negative code for 0.5 * ||h - W_d f||^2 + lam * ||f||_1 when W_d is orthonormal
    and pre = W_d^T h: soft thresholding, every surviving value shrunk by lam (by lam / 2 if the
    loss has no 0.5); the source of L1 SAEs' systematic underestimation."""
    return (pre - lam).relu()


def sae_quality(x: torch.Tensor, f: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    """x, x_hat: (tokens, d); f: (tokens, m) latent activations.
    l0: mean active latents per token. fve: 1 - ||x - x_hat||^2 / ||x - mean(x)||^2.
    dead: share of latents that never fire on these tokens."""
    fve = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    return {"l0": (f != 0).float().sum(-1).mean().item(), "fve": fve.item(),
            "dead": (f.abs().sum(0) == 0).float().mean().item()}


def loss_recovered(ce_clean: float, ce_spliced: float, ce_ablated: float) -> float:
    """Share of the LM loss gap the SAE closes when its reconstruction is spliced in:
    1 at ce_spliced = ce_clean, 0 at ce_spliced = ce_ablated (activation zeroed or mean-ablated)."""
    return (ce_ablated - ce_spliced) / (ce_ablated - ce_clean)
# --8<-- [end:sae_metrics]


# --8<-- [start:fairness_acceptance]
def selection_rate_ratio(rates: dict[str, float]) -> float:
    """Lowest group selection rate over the highest; the four-fifths rule flags < 0.8."""
    return min(rates.values()) / max(rates.values())


def n_for_halfwidth(p: float, halfwidth: float, confidence: float = 0.95) -> int:
    """Items per group so a rate near p is measured to +/- halfwidth (normal approximation)."""
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + confidence / 2)).item()
    return math.ceil(z ** 2 * p * (1 - p) / halfwidth ** 2)


def n_per_pair(p: float, margin: float, pairs: int, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items per group so that one pair of groups, truly equal at accuracy p, passes the gate
    |gap| + z * SE < margin with probability `power`; z = z_{1 - alpha / pairs} (Bonferroni over the
    pairs; each side of the two one-sided tests uses alpha / pairs). SE^2 = 2 p (1 - p) / n, and
    the estimated gap must stay within margin - z SE, a two-sided event: z_{(1 + power) / 2}."""
    n01 = torch.distributions.Normal(0.0, 1.0)
    z = n01.icdf(torch.tensor(1 - alpha / pairs)).item() + n01.icdf(torch.tensor((1 + power) / 2)).item()
    return math.ceil(z ** 2 * 2 * p * (1 - p) / margin ** 2)


def range_quantile(groups: int, q: float, draws: int = 400_000, seed: int = 0) -> float:
    """q-quantile of the range (max - min) of `groups` independent standard normals (Monte Carlo)."""
    x = torch.randn(draws, groups, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.quantile(x.max(1).values - x.min(1).values, q).item()


def n_for_gate(p: float, margin: float, groups: int, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items per group so that the whole gate (every pair passes) passes with probability `power`
    when all groups are truly equal at p. The largest pairwise gap is the range of the group
    estimates, sd s = sqrt(p (1 - p) / n) each; pass needs range < margin - z sqrt(2) s."""
    pairs = groups * (groups - 1) // 2
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha / pairs)).item()
    s = margin / (range_quantile(groups, power) + z * math.sqrt(2))
    return math.ceil(p * (1 - p) / s ** 2)


def gap_gate(acc: dict[str, float], n: dict[str, int], margin: float, alpha: float = 0.05) -> tuple[bool, float]:
    """The release gate: for every pair of groups, the Bonferroni-corrected upper confidence bound
    of the absolute accuracy gap, |a_i - a_j| + z_{1 - alpha / pairs} * SE_ij, must be below the margin.
    Returns (passed, worst upper bound). A noisy small group widens its bounds and fails the gate."""
    g = list(acc)
    pairs = len(g) * (len(g) - 1) // 2
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha / pairs)).item()
    worst = max(abs(acc[a] - acc[b]) + z * math.sqrt(acc[a] * (1 - acc[a]) / n[a] + acc[b] * (1 - acc[b]) / n[b])
                for i, a in enumerate(g) for b in g[i + 1:])
    return worst < margin, worst


def review_fte(decisions_per_day: float, review_share: float, minutes_each: float,
               productive_hours: float = 6.5, workdays_per_week: float = 5,
               operating_days_per_week: float = 7) -> float:
    """Reviewers needed for human review of a share of decisions: weekly review hours over the
    productive hours one reviewer gives per week (decisions arrive every operating day)."""
    weekly_hours = decisions_per_day * review_share * minutes_each / 60 * operating_days_per_week
    return weekly_hours / (productive_hours * workdays_per_week)


def pooled_and_strata_gaps(counts: dict[str, dict[str, tuple[int, int]]]) -> dict[str, float]:
    """counts[stratum][group] = (positives, total) for two groups. Returns the pooled gap
    (group order as given: first minus second) and the gap in each stratum. Opposite signs are
    Simpson's paradox: the aggregate hides, or reverses, what happens within every stratum."""
    groups = list(next(iter(counts.values())))
    a, b = groups
    rate = lambda pt: pt[0] / pt[1]
    pooled = {g: (sum(c[g][0] for c in counts.values()), sum(c[g][1] for c in counts.values()))
              for g in groups}
    out = {"pooled": rate(pooled[a]) - rate(pooled[b])}
    out.update({s: rate(c[a]) - rate(c[b]) for s, c in counts.items()})
    return out
# --8<-- [end:fairness_acceptance]


if __name__ == "__main__":
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    f = lambda z: net(z).squeeze(-1)
    x = torch.tensor([1.0, -2.0, 0.5, 3.0])
    ig = integrated_gradients(f, x)
    print("IG attributions:", ig.detach().numpy().round(3))
    print(f"completeness: sum IG = {ig.sum().item():.4f}, f(x) - f(0) = {(f(x) - f(torch.zeros(4))).item():.4f}")
    h = torch.randn(400, 16)
    direction = torch.randn(16)
    y = (h @ direction > 0).long()                     # a 'concept' that is linear in the hidden state
    probe = train_linear_probe(h[:300], y[:300])
    acc = ((probe(h[300:]).squeeze(-1) > 0).long() == y[300:]).float().mean()
    print(f"linear probe held-out accuracy: {acc.item():.2f}")
    b = sae_budget(4096, 32, 8e9, 8e9)
    print(f"SAE on an 8B model's layer (d=4096, 32x): {b['latents']:,} latents, {b['params'] / 1e9:.2f}B params, "
          f"{b['activation_tb']:.0f} TB of activations for 8B tokens, train {b['train_gpu_h']:.0f} GPU-h, "
          f"harvest {b['harvest_gpu_h']:.0f} GPU-h")
    print(f"fairness: four-fifths ratio 0.22/0.30 = {selection_rate_ratio({'a': 0.30, 'b': 0.22}):.2f}; "
          f"+/-3 pt at 85% needs {n_for_halfwidth(0.85, 0.03)} per group; gap gate (5 pt margin, 8 groups, "
          f"28 pairs): {n_per_pair(0.85, 0.05, 28)} per group for one pair, {n_for_gate(0.85, 0.05, 8)} for all pairs; "
          f"review of 5% of 20,000/day at 6 min, 7 days a week = {review_fte(20000, 0.05, 6):.1f} FTE")
