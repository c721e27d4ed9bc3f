"""Decoding strategies: greedy, beam search, temperature, top-k, top-p, min-p, repetition penalty.

Pages: docs/inference/decoding.{zh,en}.md
Every logits transform takes and returns raw scores of shape (batch, vocab); filtered
entries are set to -inf so that a final softmax gives them probability 0.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

# A "model" for the search functions: token ids so far -> log-probs of the next token, (vocab,).
LogProbFn = Callable[[Sequence[int]], torch.Tensor]


# --8<-- [start:temperature]
def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide logits by T. logits: (batch, vocab). T < 1 sharpens, T > 1 flattens, T -> 0 is greedy."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0; use greedy decoding for T = 0")
    return logits / temperature
# --8<-- [end:temperature]


# --8<-- [start:top_k_top_p]
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k highest logits per row (ties with the k-th value are kept). (batch, vocab)."""
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]          # (batch, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of top tokens whose total probability is >= p."""
    sorted_logits, idx = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs              # mass of strictly better tokens
    remove_sorted = mass_before >= p                               # already have >= p without it
    remove_sorted[..., 0] = False                                  # always keep the top token
    remove = remove_sorted.scatter(-1, idx, remove_sorted)         # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))
# --8<-- [end:top_k_top_p]


# --8<-- [start:min_p]
def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Min-p: drop tokens whose probability is below min_p * (probability of the top token)."""
    probs = torch.softmax(logits, dim=-1)
    threshold = min_p * probs.max(dim=-1, keepdim=True).values     # (batch, 1), scales with confidence
    return logits.masked_fill(probs < threshold, float("-inf"))
# --8<-- [end:min_p]


# --8<-- [start:repetition_penalty]
def repetition_penalty(logits: torch.Tensor, prev_ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style penalty on every token already in prev_ids (batch, seq), applied once per token.

    A positive logit is divided by `penalty`, a negative one multiplied, so with penalty > 1
    a seen token always becomes less likely.
    """
    seen = torch.gather(logits, -1, prev_ids)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, prev_ids, seen)


def frequency_presence_penalty(logits: torch.Tensor, prev_ids: torch.Tensor,
                               frequency: float = 0.0, presence: float = 0.0) -> torch.Tensor:
    """OpenAI-style additive penalties: logit -= frequency * count + presence * [count > 0]."""
    counts = torch.zeros_like(logits).scatter_add(-1, prev_ids, torch.ones_like(prev_ids, dtype=logits.dtype))
    return logits - frequency * counts - presence * (counts > 0).to(logits.dtype)
# --8<-- [end:repetition_penalty]


# --8<-- [start:sample]
def sample_next(logits: torch.Tensor, prev_ids: torch.Tensor | None = None, *, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                rep_penalty: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One sampling step with the usual pipeline order: penalty -> temperature -> filters -> sample.

    logits: (batch, vocab) -> next ids (batch,).
    """
    if rep_penalty is not None and prev_ids is not None:
        logits = repetition_penalty(logits, prev_ids, rep_penalty)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    if min_p is not None:
        logits = min_p_filter(logits, min_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
# --8<-- [end:sample]


# --8<-- [start:greedy_beam]
def greedy_search(logprob_fn: LogProbFn, prompt: Sequence[int], steps: int) -> tuple[list[int], float]:
    """Pick the arg-max token at every step. Returns (generated ids, total log-prob)."""
    seq, score = list(prompt), 0.0
    for _ in range(steps):
        lp = logprob_fn(seq)
        tok = int(lp.argmax())
        seq.append(tok)
        score += float(lp[tok])
    return seq[len(prompt):], score


def beam_search(logprob_fn: LogProbFn, prompt: Sequence[int], steps: int,
                beam_width: int) -> tuple[list[int], float]:
    """Keep the `beam_width` best partial sequences by total log-prob (fixed length, no EOS,
    no length penalty). Returns the best (generated ids, total log-prob)."""
    beams: list[tuple[list[int], float]] = [([], 0.0)]
    for _ in range(steps):
        candidates = []
        for gen, score in beams:
            lp = logprob_fn(list(prompt) + gen)                   # (vocab,)
            top = torch.topk(lp, min(beam_width, lp.numel()))     # only the best few can survive
            for val, tok in zip(top.values.tolist(), top.indices.tolist()):
                candidates.append((gen + [tok], score + val))
        candidates.sort(key=lambda c: c[1], reverse=True)
        beams = candidates[:beam_width]
    return beams[0]
# --8<-- [end:greedy_beam]


def tiny_lm_logprob_fn(seed: int = 0, vocab: int = 6, scale: float = 3.0) -> LogProbFn:
    """A tiny random GPT-2 built from a config (no download) wrapped as a LogProbFn."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                     bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():                                          # make the distributions peaky
        model.lm_head.weight.mul_(scale)

    @torch.no_grad()
    def fn(seq: Sequence[int]) -> torch.Tensor:
        logits = model(torch.tensor([list(seq)])).logits[0, -1]
        return torch.log_softmax(logits.double(), dim=-1)
    return fn


if __name__ == "__main__":
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.5, -1.0]])
    for t in (0.5, 1.0, 2.0):
        print(f"T={t}: probs", [round(x, 3) for x in torch.softmax(apply_temperature(logits, t), -1)[0].tolist()])
    keep = lambda x: (x > float("-inf")).int()[0].tolist()          # noqa: E731
    print("top-k=2 keeps", keep(top_k_filter(logits, 2)), "| top-p=0.9 keeps", keep(top_p_filter(logits, 0.9)),
          "| min-p=0.1 keeps", keep(min_p_filter(logits, 0.1)))
    print("repetition penalty 1.2 on tokens 0 and 4:",
          repetition_penalty(logits, torch.tensor([[0, 4]]), 1.2)[0].tolist())
    fn = tiny_lm_logprob_fn(seed=10)                                # a seed where greedy is not optimal
    ids, score = greedy_search(fn, [0], steps=4)
    print(f"greedy      : {ids} log-prob {score:.3f}")
    for w in (2, 3):
        ids, score = beam_search(fn, [0], steps=4, beam_width=w)
        print(f"beam width {w}: {ids} log-prob {score:.3f}")
