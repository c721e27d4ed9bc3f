"""Tests for snippets/system-design/assistants.py: closed forms against a turn-by-turn
simulation of the prompt, and the worked numbers by hand."""
from snippets import load

a = load("system-design/assistants")


def simulate(turns, fixed, per_turn, window=None, extra=0, every=None, summary_call=0):
    history, total = [], 0
    for t in range(turns):
        kept = history if window is None else history[-window:] if window else []
        total += fixed + extra + sum(kept)          # the prompt sent at this turn
        history.append(per_turn)                    # the turn is added afterwards
        if every and (t + 1) % every == 0:
            total += summary_call
    return total


def test_closed_forms_match_simulation():
    for turns in (1, 5, 30, 101):
        assert a.full_history_tokens(turns, 800, 300) == simulate(turns, 800, 300)
        assert a.windowed_tokens(turns, 800, 300, 6, 600, 6, 2_200) == simulate(
            turns, 800, 300, window=6, extra=600, every=6, summary_call=2_200)


def test_worked_numbers_by_hand():
    # 30 turns: 30 * 800 + 300 * 435 = 154,500
    assert a.full_history_tokens(30, 800, 300) == 154_500
    # token counts are whole numbers: int, as annotated (turns * (turns - 1) is even, so the
    # integer halving is exact; true division would return the float 154500.0)
    assert type(a.full_history_tokens(30, 800, 300)) is int
    assert type(a.windowed_tokens(30, 800, 300, 6, 600, 6, 2_200)) is int
    # 30 * 1,400 + 300 * (0+1+...+5 + 6 * 24) + 5 * 2,200 = 42,000 + 47,700 + 11,000
    assert a.windowed_tokens(30, 800, 300, 6, 600, 6, 2_200) == 100_700
    # 100 turns: 80,000 + 300 * 4,950 = 1,565,000 vs 140,000 + 300 * 579 + 16 * 2,200
    assert a.full_history_tokens(100, 800, 300) == 1_565_000
    assert a.windowed_tokens(100, 800, 300, 6, 600, 6, 2_200) == 348_900
