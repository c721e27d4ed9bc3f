"""Numerically stable softmax / log-sum-exp, cross-entropy, perplexity, KL divergence, and the
maximum-likelihood view of language modelling (chain rule, MLE from counts, bits per byte).

Pages: docs/foundations/softmax_loss.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:softmax]
def logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log(sum(exp(x))) without overflow: factor out the max m, log sum exp(x - m) + m."""
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))      # all -inf row -> stays -inf
    return (x - m).exp().sum(dim=dim).log() + m.squeeze(dim)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Stable softmax: subtracting the row max changes nothing mathematically but keeps exp() <= 1."""
    z = (x - x.amax(dim=dim, keepdim=True)).exp()
    return z / z.sum(dim=dim, keepdim=True)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log p_i = (x_i - m) - log sum_j exp(x_j - m): never takes log of an underflowed 0.

    Subtract the max first: x_i - logsumexp(x) would cancel two large numbers
    (e.g. 1e4 - (1e4 + log 2) in float32 loses about 3 digits).
    """
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def naive_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Textbook exp(x) / sum exp(x): overflows to inf/inf = nan for large logits."""
    return x.exp() / x.exp().sum(dim=dim, keepdim=True)
# --8<-- [end:softmax]


# --8<-- [start:cross_entropy]
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean next-token NLL. logits: (batch, seq, vocab); targets: (batch, seq) token ids.

    CE = -(1/T) sum_t log softmax(logits_t)[y_t], averaged over non-ignored positions.
    """
    logp = log_softmax(logits.float(), dim=-1)                      # (b, s, V)
    mask = targets != ignore_index
    safe = targets.masked_fill(~mask, 0)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)          # (b, s)
    return nll.masked_fill(~mask, 0.0).sum() / mask.sum()          # not nll * mask: inf * 0 = nan


def perplexity(mean_nll: torch.Tensor) -> torch.Tensor:
    """PPL = exp(mean NLL in nats): the effective number of equally likely next tokens."""
    return mean_nll.exp()
# --8<-- [end:cross_entropy]


# --8<-- [start:kl]
def kl_divergence(logp: torch.Tensor, logq: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """KL(P || Q) = sum_i p_i (log p_i - log q_i), from log-probabilities (0 log 0 = 0)."""
    p = logp.exp()
    return torch.where(p > 0, p * (logp - logq), torch.zeros_like(p)).sum(dim)


def fit_gaussian_to_mixture(direction: str, grid: torch.Tensor) -> tuple[float, float]:
    """Fit q = N(mu, sigma^2) to the bimodal p = 0.5 N(-3, 1) + 0.5 N(3, 1) on a grid.

    direction="forward" minimizes KL(p || q) (mode-covering);
    direction="reverse" minimizes KL(q || p) (mode-seeking). Brute-force search over (mu, sigma).
    """
    def log_normal(x, mu, s):
        return -0.5 * ((x - mu) / s) ** 2 - torch.log(torch.as_tensor(s) * math.sqrt(2 * math.pi))
    logp = torch.logaddexp(log_normal(grid, -3.0, 1.0), log_normal(grid, 3.0, 1.0)) + math.log(0.5)
    dx = float(grid[1] - grid[0])
    mus = torch.arange(-4.0, 4.01, 0.1, dtype=grid.dtype)[:, None, None]       # (M, 1, 1)
    sigmas = torch.arange(0.5, 4.51, 0.05, dtype=grid.dtype)[None, :, None]    # (1, S, 1)
    logq = log_normal(grid, mus, sigmas)                                       # (M, S, G)
    a, b = (logp, logq) if direction == "forward" else (logq, logp)
    kl = (a.exp() * (a - b)).sum(-1) * dx                                      # (M, S)
    i, j = divmod(int(kl.argmin()), kl.shape[1])
    return float(mus[i, 0, 0]), float(sigmas[0, j, 0])
# --8<-- [end:kl]


# --8<-- [start:mle]
def sequence_log_prob(next_token_logprobs, seq: list[int]) -> torch.Tensor:
    """Chain rule: log p(x_1..x_T) = sum_t log p(x_t | x_<t).
    next_token_logprobs(prefix) returns log-probabilities (vocab,) of the next token."""
    return sum(next_token_logprobs(tuple(seq[:t]))[x] for t, x in enumerate(seq))


def mle_categorical(counts: torch.Tensor) -> torch.Tensor:
    """Maximum-likelihood categorical distribution: relative frequencies n_i / N."""
    return counts / counts.sum()


def empirical_nll(q: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean NLL (nats per token) of data with symbol counts `counts` under a model q:
    -(1/N) sum_i n_i log q_i, i.e. the cross-entropy H(p_hat, q)."""
    return -(counts * q.log()).sum() / counts.sum()


def entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) = -sum p log p in nats (0 log 0 = 0)."""
    return -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum()


def bits_per_byte(total_nll_nats: float, text: str) -> float:
    """Tokenizer-independent loss: total NLL of `text` (nats, summed over all its tokens)
    converted to bits, per UTF-8 byte of the text (not per character: a CJK character is 3 bytes)."""
    return total_nll_nats / (math.log(2) * len(text.encode("utf-8")))
# --8<-- [end:mle]


# --8<-- [start:adaptive_cost]
def zipf_cluster_mass(vocab: int, cutoffs: list[int], s: float = 1.0) -> list[float]:
    """Share of token occurrences falling in [0, c0), [c0, c1), ..., [c_last, vocab) when the
    frequency of the rank-r token is proportional to r^(-s) (Zipf)."""
    w = torch.arange(1, vocab + 1, dtype=torch.float64) ** (-s)
    edges = [0, *cutoffs, vocab]
    return [float(w[a:b].sum() / w.sum()) for a, b in zip(edges[:-1], edges[1:])]


def adaptive_softmax_flops(d: int, vocab: int, cutoffs: list[int], div_value: float = 4.0,
                           mass: list[float] | None = None) -> tuple[float, float, float]:
    """Forward matmul FLOPs per token of the output layer: (full softmax, adaptive softmax
    expected over targets, adaptive softmax when every cluster is needed, i.e. the full
    distribution at inference). Head: d -> cutoffs[0] + n_clusters; tail cluster i: d -> h_i ->
    |V_i| with h_i = d // div_value^(i + 1), as in torch.nn.AdaptiveLogSoftmaxWithLoss."""
    edges = [*cutoffs, vocab]
    head = 2 * d * (cutoffs[0] + len(cutoffs))
    tails = []
    for i in range(len(cutoffs)):
        h = int(d // (div_value ** (i + 1)))
        tails.append(2 * d * h + 2 * h * (edges[i + 1] - edges[i]))
    mass = mass if mass is not None else zipf_cluster_mass(vocab, cutoffs)
    expected = head + sum(m * t for m, t in zip(mass[1:], tails))
    return 2 * d * vocab, expected, head + sum(tails)
# --8<-- [end:adaptive_cost]


if __name__ == "__main__":
    x = torch.tensor([1e4, 1e4 - 1.0, -1e4])
    print("naive softmax  :", naive_softmax(x).tolist())
    print("stable softmax :", [round(v, 4) for v in softmax(x).tolist()])
    torch.manual_seed(0)
    V = 50
    logits, y = torch.randn(2, 8, V), torch.randint(0, V, (2, 8))
    ce = cross_entropy(logits, y)
    print(f"CE {ce:.3f} nats, PPL {perplexity(ce):.1f} (uniform guess would be PPL {V})")
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    print("forward KL fit (mu, sigma):", fit_gaussian_to_mixture("forward", grid))
    print("reverse KL fit (mu, sigma):", fit_gaussian_to_mixture("reverse", grid))

    counts = torch.tensor([6.0, 3.0, 1.0])
    p_hat, q = mle_categorical(counts), torch.tensor([0.5, 0.25, 0.25])
    print(f"MLE {[round(v, 2) for v in p_hat.tolist()]}: NLL {empirical_nll(p_hat, counts):.4f} = H(p_hat); "
          f"q: NLL {empirical_nll(q, counts):.4f} = H + KL")
    text, total_nll = "hello world!", 6.0                      # 12 bytes
    print(f"same text, 3 vs 6 tokens: PPL {math.exp(total_nll / 3):.2f} vs {math.exp(total_nll / 6):.2f}, "
          f"bits per byte {bits_per_byte(total_nll, text):.4f} for both")
    zh = "语言模型就是压缩"                                          # 8 characters, 24 UTF-8 bytes
    print(f"{zh!r} with total NLL 6 nats: {bits_per_byte(6.0, zh):.4f} bits/byte = "
          f"{6.0 / math.log(2) / len(zh):.4f} bits/character")
    # adaptive softmax on a 152K vocabulary, d = 1024, cutoffs 20K / 60K, Zipf-distributed targets
    full, exp_cost, all_cost = adaptive_softmax_flops(1024, 152_064, [20_000, 60_000])
    print(f"output layer per token: full {full / 1e6:.0f} MFLOP, adaptive {exp_cost / 1e6:.1f} "
          f"(training, {full / exp_cost:.1f}x less), {all_cost / 1e6:.1f} for the full distribution")
