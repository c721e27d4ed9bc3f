"""CircularEval vs hand-computed scores on constructed models; paired accuracy difference vs hand
numbers, a paired bootstrap and SciPy's exact binomial (McNemar) test."""
import math
import string

import pytest
import torch

from snippets import load

ev = load("multimodal/evaluation")

QS = [
    ("q1", ["cat", "dog", "bird", "fish"], 0),   # answer A in the original order
    ("q2", ["1", "2", "3", "4"], 1),             # B
    ("q3", ["red", "green", "blue"], 2),          # C, only three options
    ("q4", ["yes", "no"], 0),                     # A, two options
]


def test_variants_by_hand():
    v = ev.circular_variants(["w", "x", "y", "z"], 1)      # answer "x"
    assert v == [(["w", "x", "y", "z"], "B"), (["x", "y", "z", "w"], "A"),
                 (["y", "z", "w", "x"], "D"), (["z", "w", "x", "y"], "C")]
    # the answer lands on every letter exactly once
    assert sorted(letter for _, letter in v) == ["A", "B", "C", "D"]


def test_position_biased_model_loses_everything():
    # Always "A": right on q1 and q4 in the original order (2/4), never right in all shifts.
    assert ev.circular_eval(QS, lambda q, opts: "A") == (0.5, 0.0)


def test_model_that_knows_the_content_keeps_its_score():
    truth = {q: opts[a] for q, opts, a in QS}
    model = lambda q, opts: string.ascii_uppercase[opts.index(truth[q])]
    assert ev.circular_eval(QS, model) == (1.0, 1.0)


def test_partly_lucky_model_by_hand():
    # Knows q1 and q2; on q3 answers "C" always (right only in the original order);
    # on q4 answers by content except when "no" is first, then picks "A" (wrong once).
    truth = {q: opts[a] for q, opts, a in QS}

    def model(q, opts):
        if q == "q3":
            return "C"
        if q == "q4" and opts[0] == "no":
            return "A"
        return string.ascii_uppercase[opts.index(truth[q])]

    vanilla, circular = ev.circular_eval(QS, model)
    assert vanilla == 1.0          # every original-order answer is right
    assert circular == 0.5         # only q1 and q2 survive all shifts


def _pairs(n, b, c, both):
    """Outcome lists with b questions only A right, c only B right, `both` right for both."""
    a = [True] * b + [False] * c + [True] * both + [False] * (n - b - c - both)
    o = [False] * b + [True] * c + [True] * both + [False] * (n - b - c - both)
    return a, o


def test_paired_diff_worked_numbers_by_hand():
    a, o = _pairs(3000, 150, 100, 1950)
    diff, se, z = ev.paired_accuracy_diff(a, o)
    assert diff == pytest.approx(50 / 3000)
    assert se == pytest.approx(math.sqrt(250 - 50 ** 2 / 3000) / 3000)      # 0.526 points
    assert se * 100 == pytest.approx(0.526, abs=1e-3) and z == pytest.approx(3.17, abs=0.01)
    # the unpaired standard error of the same gap is more than twice as large
    pa, pb = sum(a) / 3000, sum(o) / 3000
    assert math.sqrt(pa * (1 - pa) / 3000 + pb * (1 - pb) / 3000) > 2 * se
    # swapping the models flips the sign only; identical models give diff = se = z = 0
    d2, s2, z2 = ev.paired_accuracy_diff(o, a)
    assert (d2, s2, z2) == pytest.approx((-diff, se, -z))
    assert ev.paired_accuracy_diff(a, a) == (0.0, 0.0, 0.0)


def test_paired_diff_needs_the_same_questions():
    # results on different question sets cannot be paired: an error, not a silently truncated zip
    with pytest.raises(ValueError):
        ev.paired_accuracy_diff([True, False, True], [True, False])
    with pytest.raises(ValueError):
        ev.paired_accuracy_diff([True], [False, True])


def test_paired_se_matches_a_paired_bootstrap():
    g = torch.Generator().manual_seed(0)
    n = 1000
    a = (torch.rand(n, generator=g) < 0.7).tolist()
    o = [x if torch.rand(1, generator=g).item() < 0.85 else not x for x in a]   # correlated model
    diff, se, _ = ev.paired_accuracy_diff(a, o)
    ta, to = torch.tensor(a, dtype=torch.float64), torch.tensor(o, dtype=torch.float64)
    idx = torch.randint(0, n, (4000, n), generator=g)                          # resample questions
    boot = (ta[idx] - to[idx]).mean(dim=1)
    assert abs(boot.std().item() - se) < 0.06 * se
    assert abs(boot.mean().item() - diff) < 0.2 * se


def test_paired_z_agrees_with_exact_mcnemar():
    from scipy.stats import binomtest, norm

    for b, c, expect_significant in [(150, 100, True), (60, 45, False), (30, 10, True)]:
        a, o = _pairs(2000, b, c, 1000)
        _, _, z = ev.paired_accuracy_diff(a, o)
        p_exact = binomtest(b, b + c, 0.5).pvalue        # exact McNemar on the discordant pairs
        p_normal = 2 * norm.sf(abs(z))
        assert (p_exact < 0.05) == (p_normal < 0.05) == expect_significant
        assert 0.5 < p_normal / p_exact < 2.0
