"""CircularEval vs hand-computed scores on constructed models."""
import string

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
