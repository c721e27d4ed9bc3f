"""Efficient reasoning: early exit, length rewards (Kimi k1.5, L1) and budget forcing (s1).

Pages: docs/alignment/efficient_reasoning.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable, Sequence


# --8<-- [start:early_exit]
def early_exit_index(trial_confidence: Sequence[float], threshold: float = 0.95) -> int | None:
    """Confidence-based early exit in the style of DEER.

    At each reasoning transition point k (e.g. where the model would write "Wait"), the
    controller makes the model write a trial answer and records its confidence (e.g. the
    mean probability of the answer tokens). Stop thinking at the first k whose confidence
    reaches the threshold; None means think to the end.
    """
    for k, c in enumerate(trial_confidence):
        if c >= threshold:
            return k
    return None
# --8<-- [end:early_exit]


# --8<-- [start:length_rewards]
def kimi_length_reward(lengths: Sequence[int], correct: Sequence[bool]) -> list[float]:
    """Kimi k1.5 length reward for the responses to one prompt.

    lambda_i = 0.5 - (len_i - min_len) / (max_len - min_len); a correct response gets
    lambda_i, an incorrect one min(0, lambda_i). All lengths equal -> 0 for everyone.
    """
    lo, hi = min(lengths), max(lengths)
    if hi == lo:
        return [0.0] * len(lengths)
    lam = [0.5 - (n - lo) / (hi - lo) for n in lengths]
    return [l if ok else min(0.0, l) for l, ok in zip(lam, correct)]


def l1_exact_reward(correct: bool, target_len: int, used_len: int, alpha: float) -> float:
    """L1 / LCPO-Exact: correctness minus alpha times the distance to the length asked for in the prompt."""
    return float(correct) - alpha * abs(target_len - used_len)
# --8<-- [end:length_rewards]


# --8<-- [start:budget_forcing]
def budget_forcing(next_token: Callable[[list[str]], str], min_think: int, max_think: int,
                   end_think: str = "</think>", wait: str = "Wait", eos: str = "<eos>",
                   max_answer: int = 64) -> list[str]:
    """s1-style budget forcing around any token generator.

    next_token(context) returns the model's next token given the generated tokens so far.
    Thinking phase: if the model tries to end thinking before min_think thinking tokens,
    drop end_think and append `wait` instead (the model continues and often re-checks);
    once max_think thinking tokens are reached, append end_think ourselves. Then let the
    model write its answer until eos (or max_answer tokens).
    """
    out: list[str] = []
    thinking = 0
    while True:
        if thinking >= max_think:
            out.append(end_think)                   # forced stop
            break
        tok = next_token(out)
        if tok == end_think:
            if thinking < min_think:
                out.append(wait)                    # suppress the stop, ask for more thinking
                thinking += 1
                continue
            out.append(tok)
            break
        out.append(tok)
        thinking += 1
    for _ in range(max_answer):
        tok = next_token(out)
        out.append(tok)
        if tok == eos:
            break
    return out
# --8<-- [end:budget_forcing]


if __name__ == "__main__":
    print("early exit at transition point:", early_exit_index([0.41, 0.62, 0.97, 0.99]))
    print("Kimi length reward:", kimi_length_reward([200, 400, 600, 1000], [True, True, False, True]))
    print("L1 exact reward:", l1_exact_reward(True, 1000, 1300, 3e-4))

    def scripted(context: list[str]) -> str:
        """A fake reasoning model: thinks 't', stops after 2 thinking tokens, then answers '42'."""
        if "</think>" not in context:
            since_wait = len(context) - (max(i for i, t in enumerate(context) if t == "Wait") + 1
                                         if "Wait" in context else 0)
            return "</think>" if since_wait >= 2 else "t"
        return "42" if context[-1] == "</think>" else "<eos>"

    print("free:        ", budget_forcing(scripted, 0, 100))
    print("min_think=5: ", budget_forcing(scripted, 5, 100))
    print("max_think=1: ", budget_forcing(scripted, 0, 1))
