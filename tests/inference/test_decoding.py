"""Tests for snippets/inference/decoding.py: transformers' logits processors, hand-computed
distributions, and exhaustive search over all continuations of a tiny random model."""
import collections
import itertools
import math

import pytest
import torch
from transformers import (MinPLogitsWarper, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                          TopKLogitsWarper, TopPLogitsWarper)

from snippets import load

dec = load("inference/decoding")


def _random_case(seed: int):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 50, generator=g) * 3
    prev = torch.randint(0, 50, (4, 12), generator=g)
    return logits, prev


@pytest.mark.parametrize("seed", range(5))
def test_warpers_match_transformers(seed):
    logits, prev = _random_case(seed)
    torch.testing.assert_close(dec.apply_temperature(logits, 0.7), TemperatureLogitsWarper(0.7)(prev, logits))
    for k in (1, 5, 20, 50, 80):     # k >= the vocabulary (50) keeps every token, as in transformers
        torch.testing.assert_close(dec.top_k_filter(logits, k), TopKLogitsWarper(k)(prev, logits.clone()))
    for p in (0.1, 0.5, 0.9, 0.99):
        torch.testing.assert_close(dec.top_p_filter(logits, p), TopPLogitsWarper(p)(prev, logits.clone()))
    for mp in (0.05, 0.2, 0.5):
        torch.testing.assert_close(dec.min_p_filter(logits, mp), MinPLogitsWarper(mp)(prev, logits.clone()))
    for pen in (1.1, 1.3, 2.0):
        torch.testing.assert_close(dec.repetition_penalty(logits, prev, pen),
                                   RepetitionPenaltyLogitsProcessor(pen)(prev, logits.clone()))


def _kept_probs(logits):
    return torch.softmax(logits, -1)[0]


def test_hand_computed_distributions():
    p = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    logits = p.log().unsqueeze(0)
    # Temperature 0.5 squares the probabilities before renormalising: p^2 / sum p^2.
    expected_t = p**2 / (p**2).sum()
    torch.testing.assert_close(_kept_probs(dec.apply_temperature(logits, 0.5)), expected_t)
    # top-p 0.8: 0.5 + 0.3 = 0.8 reaches p, so only tokens 0 and 1 survive: [0.625, 0.375, 0, 0].
    torch.testing.assert_close(_kept_probs(dec.top_p_filter(logits, 0.79)),
                               torch.tensor([0.625, 0.375, 0.0, 0.0], dtype=torch.float64))
    # top-p 0.81 needs the third token too: [0.5, 0.3, 0.15] / 0.95.
    torch.testing.assert_close(_kept_probs(dec.top_p_filter(logits, 0.81)),
                               torch.tensor([0.5, 0.3, 0.15, 0.0], dtype=torch.float64) / 0.95)
    # min-p 0.2: threshold 0.2 * 0.5 = 0.1 removes only the 0.05 token.
    torch.testing.assert_close(_kept_probs(dec.min_p_filter(logits, 0.2)),
                               torch.tensor([0.5, 0.3, 0.15, 0.0], dtype=torch.float64) / 0.95)
    # top-k 1 is greedy.
    torch.testing.assert_close(_kept_probs(dec.top_k_filter(logits, 1)),
                               torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64))


def test_min_p_threshold_scales_with_confidence():
    # A flat distribution keeps everything; a confident one prunes the tail.
    flat = torch.zeros(1, 10)
    assert torch.isfinite(dec.min_p_filter(flat, 0.1)).all()
    peaky = torch.tensor([[5.0] + [0.0] * 9])            # top prob ~0.94, others ~0.006 < 0.094
    assert torch.isfinite(dec.min_p_filter(peaky, 0.1)).sum() == 1


def test_frequency_presence_penalty_by_hand():
    logits = torch.tensor([[1.0, 1.0, 1.0]])
    prev = torch.tensor([[0, 0, 1]])                     # token 0 twice, token 1 once
    out = dec.frequency_presence_penalty(logits, prev, frequency=0.5, presence=0.25)
    torch.testing.assert_close(out, torch.tensor([[1 - 1.0 - 0.25, 1 - 0.5 - 0.25, 1.0]]))


def test_frequency_presence_penalty_keeps_the_logits_dtype():
    # float64 logits: exact to float64 rounding (0.1 is not a float32 number, so a float32 step would show);
    # oracle: the same formula in Python floats with the counts from collections.Counter
    logits = torch.tensor([[0.5, -1.25, 2.0, 0.0, 3.5]], dtype=torch.float64)
    prev = torch.tensor([[1, 1, 3, 0, 1]])
    cnt = collections.Counter(prev[0].tolist())
    expected = [x - 0.3 * cnt[i] - 0.1 * (1.0 if cnt[i] else 0.0) for i, x in enumerate(logits[0].tolist())]
    out = dec.frequency_presence_penalty(logits, prev, frequency=0.3, presence=0.1)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.tensor([expected], dtype=torch.float64), rtol=1e-15, atol=1e-15)
    # bf16 logits give bf16 logits, equal to the float64 result within bf16 rounding
    out = dec.frequency_presence_penalty(logits.bfloat16(), prev, frequency=0.3, presence=0.1)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.double(), torch.tensor([expected], dtype=torch.float64), rtol=1.6e-2, atol=1e-2)


def test_sampling_frequencies_follow_filtered_distribution():
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = p.log().repeat(20000, 1)
    ids = dec.sample_next(logits, top_p=0.79, generator=g)
    freq = torch.bincount(ids, minlength=4).float() / ids.numel()
    # 20000 draws: standard error of each frequency < 0.004; tolerance 0.02.
    torch.testing.assert_close(freq, torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.02, rtol=0)


def test_sample_next_is_transformers_generate_pipeline():
    # transformers' generate() order: repetition penalty, then temperature, top-k, top-p, min-p
    # (GenerationMixin._get_logits_processor), then softmax and torch.multinomial. Same generator
    # state -> the same draws, row by row, only if every stage and its order agree.
    from transformers import LogitsProcessorList
    logits, prev = _random_case(7)
    logits, prev = logits.repeat(300, 1), prev.repeat(300, 1)        # 1200 draws from 4 distributions
    for kw in (dict(temperature=0.6, top_k=12, top_p=0.7, min_p=0.05, rep_penalty=1.5),
               dict(temperature=1.8, top_p=0.5, rep_penalty=0.7),
               dict(temperature=0.8, top_k=20, min_p=0.3)):
        procs = LogitsProcessorList(
            ([RepetitionPenaltyLogitsProcessor(kw["rep_penalty"])] if "rep_penalty" in kw else [])
            + [TemperatureLogitsWarper(kw["temperature"])]
            + ([TopKLogitsWarper(kw["top_k"])] if "top_k" in kw else [])
            + ([TopPLogitsWarper(kw["top_p"])] if "top_p" in kw else [])
            + ([MinPLogitsWarper(kw["min_p"])] if "min_p" in kw else []))
        probs = torch.softmax(procs(prev, logits.clone()), -1)
        expected = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(1)).squeeze(-1)
        got = dec.sample_next(logits, prev, generator=torch.Generator().manual_seed(1), **kw)
        assert torch.equal(got, expected), kw
    # without prev_ids there is nothing to penalise
    g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    assert torch.equal(dec.sample_next(logits, None, rep_penalty=1.5, generator=g1),
                       torch.multinomial(torch.softmax(logits, -1), 1, generator=g2).squeeze(-1))


def test_top_p_keeps_the_smallest_set_reaching_p_exactly():
    # Four equal logits: probabilities exactly 1/4 each, cumulative 1/4, 1/2, 3/4, 1 with no rounding.
    # p = 1/2 is reached by two tokens, so exactly two survive; p just above 1/2 needs a third.
    flat = torch.zeros(1, 4, dtype=torch.float64)
    assert torch.isfinite(dec.top_p_filter(flat, 0.5)).sum() == 2
    assert torch.isfinite(dec.top_p_filter(flat, 0.5 + 1e-9)).sum() == 3
    assert torch.isfinite(dec.top_p_filter(flat, 1.0)).sum() == 4
    # top-k ties with the k-th value are kept (docstring), min-p at exactly the threshold is kept
    assert torch.isfinite(dec.top_k_filter(torch.tensor([[2.0, 1.0, 1.0, 0.0]]), 2)).sum() == 3
    assert torch.isfinite(dec.min_p_filter(flat, 1.0)).all()


def _reference_beam(fn, prompt, steps, width, vocab):
    """Beam search by its definition: expand every kept prefix by every token, keep the best `width`."""
    beams = [((), 0.0)]
    for _ in range(steps):
        cands = [(b + (t,), s + float(fn(list(prompt) + list(b))[t])) for b, s in beams for t in range(vocab)]
        beams = sorted(cands, key=lambda c: c[1], reverse=True)[:width]
    return list(beams[0][0]), beams[0][1]


def _exhaustive_best(fn, prompt, steps, vocab):
    best = max(itertools.product(range(vocab), repeat=steps),
               key=lambda seq: _sequence_logprob(fn, prompt, seq))
    return list(best), _sequence_logprob(fn, prompt, best)


def _sequence_logprob(fn, prompt, seq):
    total, ctx = 0.0, list(prompt)
    for tok in seq:
        total += float(fn(ctx)[tok])
        ctx.append(tok)
    return total


@pytest.mark.parametrize("seed", [10, 18, 3])
def test_beam_search_vs_exhaustive_search(seed):
    vocab, steps = 6, 3
    raw, cache = dec.tiny_lm_logprob_fn(seed=seed, vocab=vocab), {}
    def fn(ctx):                                         # memoised model calls
        if tuple(ctx) not in cache:
            cache[tuple(ctx)] = raw(ctx)
        return cache[tuple(ctx)]
    best_seq, best_score = _exhaustive_best(fn, [0], steps, vocab)
    # With beam width >= vocab^(steps-1) nothing is ever pruned wrongly: beam search is exact.
    seq, score = dec.beam_search(fn, [0], steps, beam_width=vocab ** (steps - 1))
    assert seq == best_seq and math.isclose(score, best_score, abs_tol=1e-9)
    # Narrow beams and greedy never beat the optimum, and report the true log-prob of what they return.
    for width in (1, 2, 3):
        seq_w, score_w = dec.beam_search(fn, [0], steps, beam_width=width)
        ref_seq, ref_score = _reference_beam(fn, [0], steps, width, vocab)
        assert seq_w == ref_seq and math.isclose(score_w, ref_score, abs_tol=1e-9)
        assert score_w <= best_score + 1e-9
        assert math.isclose(score_w, _sequence_logprob(fn, [0], seq_w), abs_tol=1e-9)
    g_seq, g_score = dec.greedy_search(fn, [0], steps)
    assert dec.beam_search(fn, [0], steps, beam_width=1)[0] == g_seq
    assert g_score <= best_score + 1e-9


def test_beam_beats_greedy_on_a_known_case():
    # Seed 10: greedy commits to token 0, whose continuations are poor; beam width 2 finds better.
    fn = dec.tiny_lm_logprob_fn(seed=10)
    g_seq, g_score = dec.greedy_search(fn, [0], 4)
    _, b_score = dec.beam_search(fn, [0], 4, beam_width=2)
    assert b_score > g_score + 0.1
    # so here the width matters: width 1 is exactly greedy (one beam more would find the better one),
    # and each width returns what the definition of beam search returns
    b1_seq, b1_score = dec.beam_search(fn, [0], 4, beam_width=1)
    assert b1_seq == g_seq and math.isclose(b1_score, g_score, abs_tol=1e-9)
    for width in (1, 2, 3):
        seq, score = dec.beam_search(fn, [0], 4, beam_width=width)
        ref_seq, ref_score = _reference_beam(fn, [0], 4, width, 6)
        assert seq == ref_seq and math.isclose(score, ref_score, abs_tol=1e-9)


def test_beam_width_by_hand():
    # A table model over 3 tokens (probabilities by context; unlisted contexts uniform). Width 2 keeps
    # (1, 0) and (0, 0) after two steps and so never sees (0, 1), whose continuation is nearly certain:
    # it returns (1, 0, 1), log(0.3 * 0.9 * 0.5); width 3 keeps (0, 1) too and finds log(0.5 * 0.35 * 0.98).
    table = {(): [0.5, 0.3, 0.2], (0,): [0.4, 0.35, 0.25], (1,): [0.9, 0.05, 0.05],
             (1, 0): [0.2, 0.5, 0.3], (0, 1): [0.01, 0.98, 0.01]}
    fn = lambda ctx: torch.tensor(table.get(tuple(ctx), [1 / 3] * 3), dtype=torch.float64).log()  # noqa: E731
    seq, score = dec.beam_search(fn, [], 3, beam_width=2)
    assert seq == [1, 0, 1] and math.isclose(score, math.log(0.3 * 0.9 * 0.5))
    seq, score = dec.beam_search(fn, [], 3, beam_width=3)
    assert seq == [0, 1, 1] and math.isclose(score, math.log(0.5 * 0.35 * 0.98))
    # greedy: 0 (0.5), then 0 (0.4), then a three-way tie, which argmax breaks to the first index
    seq, score = dec.greedy_search(fn, [], 3)
    assert seq == [0, 0, 0] and math.isclose(score, math.log(0.5 * 0.4 / 3))


def test_temperature_zero_or_negative_is_a_clear_error_and_penalties_default_off():
    logits = torch.tensor([[1.0, 2.0]])
    for t in (0.0, -0.5):
        with pytest.raises(ValueError, match=r"^temperature must be > 0; use greedy decoding for T = 0$"):
            dec.apply_temperature(logits, t)
    # frequency and presence penalties default to 0: no change
    assert torch.equal(dec.frequency_presence_penalty(logits, torch.tensor([[0, 0, 1]])), logits)
