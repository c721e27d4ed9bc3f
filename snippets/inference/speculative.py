"""Speculative sampling (Leviathan et al. 2023; Chen et al. 2023) with toy draft/target models.

Pages: docs/inference/speculative.{zh,en}.md
A "model" here maps a context (list of ids) to a probability vector over the vocabulary.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

ProbFn = Callable[[Sequence[int]], torch.Tensor]


# --8<-- [start:spec_step]
def speculative_step(target: ProbFn, draft: ProbFn, prefix: Sequence[int], gamma: int,
                     gen: torch.Generator) -> tuple[list[int], int]:
    """One round: the draft proposes `gamma` tokens, the target checks them in one pass.

    Returns (new tokens, number of draft tokens accepted). Always produces 1..gamma+1 tokens,
    and the output is distributed exactly as sampling from `target` token by token.
    """
    ctx, drafted, q_probs = list(prefix), [], []
    for _ in range(gamma):                                     # 1) cheap autoregressive drafting
        q = draft(ctx)
        x = int(torch.multinomial(q, 1, generator=gen))
        drafted.append(x)
        q_probs.append(q)
        ctx.append(x)
    # 2) target probabilities at all gamma + 1 positions (one batched forward in a real system)
    p_probs = [target(list(prefix) + drafted[:i]) for i in range(gamma + 1)]
    out = []
    for i, x in enumerate(drafted):                            # 3) accept / reject left to right
        p, q = p_probs[i], q_probs[i]
        if torch.rand(1, generator=gen).item() < min(1.0, (p[x] / q[x]).item()):
            out.append(x)
            continue
        residual = torch.clamp(p - q, min=0)                   # resample from norm(max(0, p - q))
        out.append(int(torch.multinomial(residual / residual.sum(), 1, generator=gen)))
        return out, i
    out.append(int(torch.multinomial(p_probs[gamma], 1, generator=gen)))   # all accepted: bonus token
    return out, gamma
# --8<-- [end:spec_step]


# --8<-- [start:expected]
def acceptance_rate(p: torch.Tensor, q: torch.Tensor) -> float:
    """alpha = E_{x~q}[min(1, p(x)/q(x))] = sum_x min(p(x), q(x)) = 1 - TV(p, q)."""
    return float(torch.minimum(p, q).sum())


def expected_tokens_per_step(alpha: float, gamma: int) -> float:
    """Expected tokens per target pass if each draft token is accepted i.i.d. with prob alpha:
    (1 - alpha^(gamma+1)) / (1 - alpha)."""
    return gamma + 1.0 if alpha == 1 else (1 - alpha ** (gamma + 1)) / (1 - alpha)
# --8<-- [end:expected]

# --8<-- [start:batch_speedup]
def step_ms(n_tokens: int, params: float, bw_tb_s: float = 3.35, tflops: float = 989.0,
            bytes_per_param: float = 2.0) -> float:
    """Roofline time of one target forward over n_tokens (whole batch, all positions): the larger of
    streaming the weights once and doing 2 * params FLOPs per token. Ignores attention/KV reads."""
    mem = params * bytes_per_param / (bw_tb_s * 1e12)
    compute = 2 * params * n_tokens / (tflops * 1e12)
    return 1e3 * max(mem, compute)


def spec_speedup(alpha: float, gamma: int, batch: int, params: float, draft_cost: float = 0.05,
                 **hw: float) -> float:
    """Speed-up of speculative decoding over plain decoding at a given batch size.
    Plain: 1 token per sequence per step(batch). Speculative: expected_tokens_per_step per round, and a
    round costs one verify pass over batch * (gamma + 1) tokens plus gamma draft steps, each
    `draft_cost` times a plain target step. At batch 1 this is Leviathan et al.'s
    (1 - alpha^(gamma+1)) / ((1 - alpha)(gamma * c + 1)); at large batch verify becomes compute-bound."""
    base = step_ms(batch, params, **hw)
    rnd = step_ms(batch * (gamma + 1), params, **hw) + gamma * draft_cost * base
    return expected_tokens_per_step(alpha, gamma) * base / rnd
# --8<-- [end:batch_speedup]


# --8<-- [start:mtp_accept]
def expected_tokens_chain(accept: Sequence[float]) -> float:
    """Expected tokens per target pass when draft token k is accepted with probability accept[k-1]
    given that all earlier drafts were accepted (MTP depth k has its own rate, usually falling with k).

    E = 1 + a1 + a1 a2 + ... + a1 ... aD: the bonus/correction token always comes, and draft k counts
    only if drafts 1..k were all accepted.
    """
    total, run = 1.0, 1.0
    for a in accept:
        run *= a
        total += run
    return total


def simulate_chain(accept: Sequence[float], rounds: int, gen: torch.Generator) -> float:
    """Monte Carlo of the same process: per round, walk the drafts until the first rejection."""
    acc = torch.tensor(list(accept), dtype=torch.float64)
    u = torch.rand(rounds, len(acc), generator=gen, dtype=torch.float64)
    ok = (u < acc).to(torch.int64).cumprod(dim=1)        # 1 while every draft so far was accepted
    return float((1 + ok.sum(dim=1)).double().mean())
# --8<-- [end:mtp_accept]


def speculative_generate(target: ProbFn, draft: ProbFn, prefix: Sequence[int], n_tokens: int,
                         gamma: int, gen: torch.Generator) -> tuple[list[int], int]:
    """Generate at least n_tokens; returns (tokens[:n_tokens], number of target passes)."""
    out, passes = [], 0
    while len(out) < n_tokens:
        new, _ = speculative_step(target, draft, list(prefix) + out, gamma, gen)
        out += new
        passes += 1
    return out[:n_tokens], passes


def bigram_model(table: torch.Tensor) -> ProbFn:
    """A toy LM: the next-token distribution depends on the last token only. table: (vocab, vocab)."""
    return lambda ctx: table[ctx[-1]]


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    V = 5
    target_table = torch.softmax(torch.randn(V, V) * 2, -1)
    draft_table = torch.softmax(torch.log(target_table) + 0.7 * torch.randn(V, V), -1)   # a close draft
    target, draft = bigram_model(target_table), bigram_model(draft_table)
    alpha = sum(acceptance_rate(target_table[i], draft_table[i]) for i in range(V)) / V
    toks, passes = speculative_generate(target, draft, [0], 400, gamma=4, gen=g)
    print(f"mean acceptance rate over rows ~ {alpha:.2f}; expected tokens/pass if i.i.d. "
          f"{expected_tokens_per_step(alpha, 4):.2f}; measured {400 / passes:.2f}")
    first = torch.tensor([speculative_step(target, draft, [0], 3, g)[0][0] for _ in range(4000)])
    fmt = lambda t: " ".join(f"{x:.3f}" for x in t.tolist())        # noqa: E731
    print("first-token frequencies:", fmt(torch.bincount(first, minlength=V) / 4000))
    print("target p(. | 0)        :", fmt(target_table[0]))
    print("draft  q(. | 0)        :", fmt(draft_table[0]))
    for acc in ([0.85], [0.9], [0.85, 0.7], [0.85, 0.7, 0.6]):
        print(f"MTP draft acceptance {acc}: {expected_tokens_chain(acc):.3f} tokens per target pass "
              f"(simulated {simulate_chain(acc, 100_000, g):.3f})")
    for b in (1, 16, 64, 256):
        print(f"8B target, alpha 0.8, gamma 4, batch {b:3d}: speed-up {spec_speedup(0.8, 4, b, 8e9):.2f}x")
