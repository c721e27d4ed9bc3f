"""Record formats for post-training data and a validator for each:
SFT (messages or prompt/completion), reward-model / DPO preference pairs,
KTO-style unpaired labels, and prompt-only records for PPO / GRPO.

Pages: docs/pretraining/dataset_formats.{zh,en}.md
"""
from __future__ import annotations

from itertools import combinations
from typing import Any

ROLES = {"system", "user", "assistant", "tool"}


# --8<-- [start:sft]
def check_messages(msgs: Any, must_end_with_assistant: bool) -> list[str]:
    """A conversation: non-empty list of {"role", "content"}; system only first; has a user turn."""
    if not isinstance(msgs, list) or not msgs:
        return ["messages must be a non-empty list"]
    errors = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or set(m) - {"role", "content", "name", "tool_calls"} or "role" not in m:
            errors.append(f"turn {i}: expected an object with 'role' and 'content'")
            continue
        if m["role"] not in ROLES:
            errors.append(f"turn {i}: unknown role {m['role']!r}")
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            errors.append(f"turn {i}: content must be a non-empty string")
        if m["role"] == "system" and i != 0:
            errors.append(f"turn {i}: a system message may only come first")
    roles = [m.get("role") for m in msgs if isinstance(m, dict)]
    if "user" not in roles:
        errors.append("no user turn")
    if must_end_with_assistant and roles and roles[-1] != "assistant":
        errors.append("the last turn must be the assistant's (it is what the model learns)")
    if not must_end_with_assistant and roles and roles[-1] == "assistant":
        errors.append("a prompt must not already contain the answer")
    return errors


def validate_sft(rec: dict) -> list[str]:
    """SFT record: {"messages": [...]} or {"prompt": str, "completion": str}. Returns the errors."""
    if "messages" in rec:
        extra = set(rec) - {"messages", "id", "source"}
        return ([f"unexpected keys {sorted(extra)}"] if extra else []) + check_messages(rec["messages"], True)
    if {"prompt", "completion"} <= set(rec):
        return [f"{k} must be a non-empty string" for k in ("prompt", "completion")
                if not isinstance(rec[k], str) or not rec[k].strip()]
    return ["expected 'messages' or 'prompt' + 'completion'"]
# --8<-- [end:sft]


# --8<-- [start:preference]
def _text_or_turns(x: Any, name: str, is_prompt: bool) -> list[str]:
    if isinstance(x, str):
        return [] if x.strip() else [f"{name} is empty"]
    if isinstance(x, list):
        if is_prompt:
            return [f"{name}: {e}" for e in check_messages(x, must_end_with_assistant=False)]
        ok = bool(x) and all(isinstance(m, dict) and m.get("role") == "assistant"
                             and isinstance(m.get("content"), str) and m["content"].strip() for m in x)
        return [] if ok else [f"{name} must be assistant turns with non-empty content"]
    return [f"{name} must be a string or a list of messages"]


def validate_preference(rec: dict) -> list[str]:
    """Reward-model / DPO pair: {"prompt", "chosen", "rejected"}; both answers to the same prompt."""
    missing = {"prompt", "chosen", "rejected"} - set(rec)
    if missing:
        return [f"missing {sorted(missing)}"]
    errors = _text_or_turns(rec["prompt"], "prompt", True)
    errors += _text_or_turns(rec["chosen"], "chosen", False) + _text_or_turns(rec["rejected"], "rejected", False)
    if type(rec["chosen"]) is not type(rec["rejected"]):
        errors.append("chosen and rejected must have the same format")
    if rec["chosen"] == rec["rejected"]:
        errors.append("chosen and rejected are identical: the pair carries no preference")
    return errors


def validate_unpaired(rec: dict) -> list[str]:
    """KTO-style record: {"prompt", "completion", "label": bool} (thumbs up / down)."""
    errors = [] if {"prompt", "completion", "label"} <= set(rec) else ["missing prompt/completion/label"]
    if not errors and not isinstance(rec["label"], bool):
        errors.append("label must be true or false")
    return errors


def validate_prompt_only(rec: dict) -> list[str]:
    """PPO / GRPO record: only the prompt; the policy generates, a reward model or a
    verifier scores. An optional reference answer serves rule-based rewards (RLVR)."""
    if "prompt" not in rec:
        return ["missing 'prompt'"]
    if {"completion", "chosen", "rejected"} & set(rec):
        return ["a prompt-only record must not carry responses"]
    errors = _text_or_turns(rec["prompt"], "prompt", True)
    if "answer" in rec and not isinstance(rec["answer"], str):
        errors.append("answer must be a string")
    return errors
# --8<-- [end:preference]


# --8<-- [start:ranking]
def ranking_to_pairs(prompt: str, ranked: list[str]) -> list[dict]:
    """InstructGPT-style labels rank K responses best-first; the reward model trains on
    all C(K, 2) pairs (chosen = the better-ranked one)."""
    return [{"prompt": prompt, "chosen": ranked[i], "rejected": ranked[j]}
            for i, j in combinations(range(len(ranked)), 2)]
# --8<-- [end:ranking]


if __name__ == "__main__":
    sft = {"messages": [{"role": "system", "content": "You are concise."},
                        {"role": "user", "content": "Capital of France?"},
                        {"role": "assistant", "content": "Paris."}]}
    bad_sft = {"messages": [{"role": "user", "content": "Capital of France?"}]}
    pair = {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}
    print("SFT ok:", validate_sft(sft), " bad:", validate_sft(bad_sft))
    print("preference ok:", validate_preference(pair),
          " identical:", validate_preference({**pair, "rejected": "Paris."}))
    print("PPO prompt ok:", validate_prompt_only({"prompt": "2+2=?", "answer": "4"}))
    pairs = ranking_to_pairs("Q", ["best", "good", "ok", "bad"])
    print(f"ranking of 4 -> {len(pairs)} RM pairs, first {pairs[0]}")
