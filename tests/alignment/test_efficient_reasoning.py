"""Tests for snippets/alignment/efficient_reasoning.py: closed forms and scripted token sequences."""
import math

from snippets import load

er = load("alignment/efficient_reasoning")


def test_early_exit_first_confident_point():
    assert er.early_exit_index([0.41, 0.62, 0.97, 0.99], threshold=0.95) == 2
    assert er.early_exit_index([0.41, 0.95], threshold=0.95) == 1          # threshold is inclusive
    assert er.early_exit_index([0.5, 0.6], threshold=0.95) is None
    assert er.early_exit_index([0.94, 0.949, 0.95, 0.99]) == 2                 # default threshold 0.95


def test_kimi_length_reward_closed_form():
    lengths, correct = [200, 400, 600, 1000], [True, True, False, True]
    # lambda = 0.5 - (len - 200) / 800 = 0.5, 0.25, 0.0, -0.5 ; wrong -> min(0, lambda)
    assert er.kimi_length_reward(lengths, correct) == [0.5, 0.25, 0.0, -0.5]
    # a wrong answer is never rewarded for being short
    assert er.kimi_length_reward([100, 300], [False, True]) == [0.0, -0.5]
    # ...and a wrong LONG answer keeps its negative lambda: lambda = 0.5, 0.0, -0.5 -> min(0, .) for wrong
    assert er.kimi_length_reward([100, 300, 500], [True, False, False]) == [0.5, 0.0, -0.5]
    # all the same length: no length signal
    assert er.kimi_length_reward([50, 50, 50], [True, False, True]) == [0.0, 0.0, 0.0]
    # shortest correct gets +0.5, longest gets -0.5 whatever the absolute lengths
    r = er.kimi_length_reward([10_000, 12_000], [True, True])
    assert r == [0.5, -0.5]


def test_l1_exact_reward_closed_form():
    assert math.isclose(er.l1_exact_reward(True, 1000, 1300, 3e-4), 1 - 0.09)
    assert math.isclose(er.l1_exact_reward(False, 1000, 700, 3e-4), -0.09)
    assert er.l1_exact_reward(True, 512, 512, 3e-4) == 1.0


def scripted(context):
    """Fake model: thinks 't' and tries to stop after 2 thinking tokens since the last 'Wait';
    after </think> it answers '42' then '<eos>'. Every test's output is far shorter than 200 tokens:
    a controller that loops (a budget counter that never grows) fails here instead of hanging."""
    assert len(context) < 200, "runaway generation: the controller never stopped"
    if "</think>" not in context:
        last_wait = max((i for i, t in enumerate(context) if t == "Wait"), default=-1)
        return "</think>" if len(context) - (last_wait + 1) >= 2 else "t"
    return "42" if context[-1] == "</think>" else "<eos>"


def test_budget_forcing_no_intervention():
    assert er.budget_forcing(scripted, min_think=0, max_think=100) == ["t", "t", "</think>", "42", "<eos>"]


def test_budget_forcing_appends_wait_until_min_budget():
    out = er.budget_forcing(scripted, min_think=5, max_think=100)
    assert out == ["t", "t", "Wait", "t", "t", "</think>", "42", "<eos>"]
    out = er.budget_forcing(scripted, min_think=6, max_think=100)
    assert out == ["t", "t", "Wait", "t", "t", "Wait", "t", "t", "</think>", "42", "<eos>"]


def test_budget_forcing_cuts_at_max_budget():
    assert er.budget_forcing(scripted, min_think=0, max_think=1) == ["t", "</think>", "42", "<eos>"]
    out = er.budget_forcing(scripted, min_think=0, max_think=0)
    assert out == ["</think>", "42", "<eos>"]                      # thinking off


def test_budget_forcing_answer_length_cap():
    always_t = lambda ctx: "</think>" if not ctx else "x"          # noqa: E731
    out = er.budget_forcing(always_t, 0, 10, max_answer=3)
    assert out == ["</think>", "x", "x", "x"]


def test_budget_forcing_min_budget_boundary_is_exact():
    # the model wants to stop after exactly 2 thinking tokens: min_think=2 must let it stop,
    # min_think=3 must force one "Wait" (an off-by-one in the comparison flips one of these)
    assert er.budget_forcing(scripted, min_think=2, max_think=100) == ["t", "t", "</think>", "42", "<eos>"]
    assert er.budget_forcing(scripted, min_think=3, max_think=100)[:3] == ["t", "t", "Wait"]
    # max_think=2 equals the natural length: the controller appends </think> itself, same output
    assert er.budget_forcing(scripted, min_think=0, max_think=2) == ["t", "t", "</think>", "42", "<eos>"]


def test_budget_forcing_default_answer_cap_and_markers():
    # a model that ends thinking at once and then never writes <eos>: the default cap is 64 answer tokens
    babbler = lambda ctx: "</think>" if not ctx else "y"              # noqa: E731
    out = er.budget_forcing(babbler, 0, 10)
    assert out == ["</think>"] + ["y"] * 64
    # the default markers are "</think>", "Wait" and "<eos>": the forced Wait and the eos stop use them
    assert er.budget_forcing(scripted, 3, 100) == ["t", "t", "Wait", "t", "t", "</think>", "42", "<eos>"]
    # custom markers: the model tries to stop after one thinking token, gets "W", then stops at 2
    custom = lambda ctx: {0: "a", 1: "END", 2: "END", 3: "ans"}.get(len(ctx), "STOP")   # noqa: E731
    out = er.budget_forcing(custom, 2, 100, end_think="END", wait="W", eos="STOP")
    assert out == ["a", "W", "END", "ans", "STOP"]
