"""Tool use: a safe calculator tool, a ReAct loop driven by any text-in/text-out model,
parsing + validating a JSON function call against the tool's JSON Schema, and a toy constrained
decoder that can only produce strings of a finite output language.

Pages: docs/agents/tool_use.{zh,en}.md
"""
from __future__ import annotations

import ast
import json
import math
import operator
import random
import re
from typing import Any, Callable


# --8<-- [start:tools]
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
        ast.UAdd: operator.pos}


def calculator(expression: str) -> str:
    """Evaluate + - * / ** and parentheses on numbers. Never eval() model output: names,
    calls and attributes are rejected."""
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError(f"unsupported expression: {ast.dump(node)[:40]}")
    return str(ev(ast.parse(expression, mode="eval").body))


def make_search(kb: dict[str, str]) -> Callable[[str], str]:
    """A stand-in search tool: the first entry whose key occurs in the query."""
    def search(query: str) -> str:
        for key, text in kb.items():
            if key.lower() in query.lower():
                return text
        return "no result"
    return search
# --8<-- [end:tools]


# --8<-- [start:react]
ACTION_RE = re.compile(r"Action:\s*(\w+)\[(.*)\]\s*$", re.MULTILINE)
FINAL_RE = re.compile(r"Final Answer:\s*(.*)", re.DOTALL)


def react(model: Callable[[str], str], tools: dict[str, Callable[[str], str]],
          question: str, max_steps: int = 5) -> tuple[str | None, list[tuple[str, str, str]]]:
    """ReAct (Yao et al., 2022): the model writes Thought / Action lines, the harness runs the
    tool and appends an Observation, until the model writes 'Final Answer:' or steps run out.
    Returns (answer or None, trace of (tool, input, observation))."""
    prompt = (f"Tools: {', '.join(tools)}. Use 'Action: tool[input]' or 'Final Answer: ...'.\n"
              f"Question: {question}\n")
    trace: list[tuple[str, str, str]] = []
    for _ in range(max_steps):
        step = model(prompt)                       # e.g. "Thought: ...\nAction: search[...]"
        prompt += step + "\n"
        if (m := FINAL_RE.search(step)):
            return m.group(1).strip(), trace
        if not (m := ACTION_RE.search(step)):
            obs = "Error: no Action or Final Answer found"   # tell the model, let it retry
            name, arg = "", ""
        else:
            name, arg = m.group(1), m.group(2)
            try:
                obs = tools[name](arg) if name in tools else f"Error: unknown tool {name!r}"
            except Exception as e:                 # a failing tool is an observation, not a crash
                obs = f"Error: {e}"
        trace.append((name, arg, obs))
        prompt += f"Observation: {obs}\n"
    return None, trace
# --8<-- [end:react]


# --8<-- [start:tool_spec]
# What the model is sent for one tool (OpenAI-style; other vendors use the same JSON Schema core).
WEATHER_TOOL: dict = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"},
                           "unit": {"type": "string", "enum": ["C", "F"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
# --8<-- [end:tool_spec]


# --8<-- [start:function_call]
class ToolCallError(ValueError):
    """The model's tool call could not be used; the message says why (fed back to the model)."""


_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
          "object": dict, "array": list}


def _check(value: Any, schema: dict, path: str) -> None:
    t = schema.get("type")
    if t is not None:
        ok = isinstance(value, _TYPES[t]) and not (t in ("integer", "number")
                                                   and isinstance(value, bool))
        if not ok:
            raise ToolCallError(f"{path}: expected {t}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise ToolCallError(f"{path}: {value!r} is not one of {schema['enum']}")
    if t == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                raise ToolCallError(f"{path}: missing required field {key!r}")
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(props)
            if extra:
                raise ToolCallError(f"{path}: unexpected fields {sorted(extra)}")
        for key, sub in props.items():
            if key in value:
                _check(value[key], sub, f"{path}.{key}")
    if t == "array" and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{i}]")


def parse_tool_call(text: str, tools: dict[str, dict]) -> tuple[str, dict]:
    """Parse '{"name": ..., "arguments": {...}}' and validate the arguments against the tool's
    JSON Schema (subset: type, enum, required, properties, additionalProperties, items)."""
    try:
        call = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolCallError(f"invalid JSON: {e.msg} at position {e.pos}") from None
    if not isinstance(call, dict) or "name" not in call or "arguments" not in call:
        raise ToolCallError("expected an object with 'name' and 'arguments'")
    if call["name"] not in tools:
        raise ToolCallError(f"unknown tool {call['name']!r}; available: {sorted(tools)}")
    _check(call["arguments"], tools[call["name"]], "arguments")
    return call["name"], call["arguments"]
# --8<-- [end:function_call]


# --8<-- [start:constrained]
def allowed_tokens(prefix: str, vocab: list[str], language: set[str]) -> list[int]:
    """Token ids v such that prefix + vocab[v] can still be completed, with vocabulary tokens,
    into a valid output (the grammar compiler's job; here by search over a finite,
    prefix-free language such as a set of JSON objects)."""
    def completable(p: str) -> bool:
        return p in language or any(
            any(s.startswith(p + t) for s in language) and completable(p + t) for t in vocab)
    return [i for i, tok in enumerate(vocab)
            if any(s.startswith(prefix + tok) for s in language) and completable(prefix + tok)]


def constrained_decode(logits: Callable[[str], list[float]], vocab: list[str],
                       language: set[str], rng: random.Random) -> tuple[str, float]:
    """Sample token by token with every disallowed logit masked to -inf (softmax renormalised
    over the allowed set); stop when the prefix is a complete valid output and nothing can
    extend it. Returns (output, probability of this path under the masked sampler)."""
    out, prob = "", 1.0
    while True:
        ids = allowed_tokens(out, vocab, language)
        if not ids:
            assert out in language
            return out, prob
        z = logits(out)
        m = max(z[i] for i in ids)
        w = [math.exp(z[i] - m) for i in ids]
        r, acc = rng.random() * sum(w), 0.0
        for i, wi in zip(ids, w):
            acc += wi
            if r < acc:                         # u in [0, 1): inverse CDF, as random.choices
                break
        prob *= wi / sum(w)
        out += vocab[i]


def retry_budget(fail: float, retries: int) -> tuple[float, float]:
    """Prompt-and-parse with `retries` repair attempts, failures independent with rate `fail`:
    (residual failure rate, expected number of calls)."""
    residual = fail ** (retries + 1)
    expected_calls = (1 - fail ** (retries + 1)) / (1 - fail)
    return residual, expected_calls
# --8<-- [end:constrained]


# --8<-- [start:call_policy]
def repair_policy(p_invalid: float, p_repair_fail: float, retries: int,
                  seconds_per_call: float) -> dict[str, float]:
    """Validate -> up to `retries` repair calls (the validator's error is sent back) -> fallback.

    p_invalid: share of first attempts that fail validation; p_repair_fail: share of repair
    attempts that still fail (repairs see the error, so usually p_repair_fail != p_invalid).
    Returns the fallback rate, expected model calls per tool call, expected and worst latency.
    """
    expected_calls = 1 + p_invalid * sum(p_repair_fail ** k for k in range(retries))
    return {"fallback_rate": p_invalid * p_repair_fail ** retries,
            "expected_calls": expected_calls,
            "expected_latency_s": expected_calls * seconds_per_call,
            "worst_latency_s": (1 + retries) * seconds_per_call}


class IdempotentExecutor:
    """Run side-effecting tools at most once per idempotency key, so a retried or duplicated
    call (network timeout, repair loop, model repeating itself) returns the first result
    instead of, say, charging a card twice."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def run(self, key: str, fn: Callable[..., Any], **arguments: Any) -> Any:
        if key not in self.results:
            self.results[key] = fn(**arguments)
        return self.results[key]


def idempotency_key(conversation_id: str, turn_id: str, name: str, arguments: dict) -> str:
    """One key per intended action: minted from the user turn that asked for it, reused by every
    repair and retry of that call (argument order ignored). A later turn asking for the same
    thing again ("charge me another $30") gets a new key, so a deliberate repeat is not merged."""
    return f"{conversation_id}:{turn_id}:{name}:{json.dumps(arguments, sort_keys=True)}"
# --8<-- [end:call_policy]


if __name__ == "__main__":
    # A scripted stand-in for the LLM; the knowledge base is made up.
    script = iter(["Thought: I need the head count first.\nAction: search[Acme head count]",
                   "Thought: Now multiply.\nAction: calculator[1234 * 12]",
                   "Thought: Done.\nFinal Answer: 14808"])
    tools = {"search": make_search({"Acme": "Acme Corp has 1234 employees."}),
             "calculator": calculator}
    answer, trace = react(lambda prompt: next(script), tools,
                          "Acme gives each employee 12 notebooks. How many notebooks is that?")
    for step in trace:
        print("tool call:", step)
    print("answer:", answer)
    weather = WEATHER_TOOL["function"]["parameters"]
    print(parse_tool_call('{"name": "get_weather", "arguments": {"city": "Beijing"}}',
                          {"get_weather": weather}))
    try:
        parse_tool_call('{"name": "get_weather", "arguments": {"unit": "K"}}', {"get_weather": weather})
    except ToolCallError as e:
        print("rejected:", e)
    vocab = ['{"label": "', "pos", "neg", '"}', "Sure! ", "{", "neutral"]
    language = {'{"label": "pos"}', '{"label": "neg"}'}
    rng = random.Random(0)
    outs = [constrained_decode(lambda prefix: [0.0, 1.0, 0.5, 0.0, 3.0, 2.0, 1.5], vocab, language, rng)[0]
            for _ in range(1000)]
    print("constrained outputs:", {o: outs.count(o) for o in sorted(set(outs))})
    print("prompt-only, 5%% failures, 2 retries -> residual %.4f%%, %.3f calls" %
          tuple(x * f for x, f in zip(retry_budget(0.05, 2), (100, 1))))
    cost = repair_policy(p_invalid=0.05, p_repair_fail=0.3, retries=2, seconds_per_call=1.5)
    print("validate -> 2 repairs -> fallback:", {k: round(v, 4) for k, v in cost.items()})
    charges: list[int] = []
    ex = IdempotentExecutor()
    key = idempotency_key("conv-1", "turn-4", "charge", {"amount": 30, "user": "u1"})
    for _ in range(3):                      # the same call retried three times
        ex.run(key, lambda amount, user: charges.append(amount) or "ok", amount=30, user="u1")
    print("charges after 3 retries:", charges)
    again = idempotency_key("conv-1", "turn-6", "charge", {"amount": 30, "user": "u1"})
    ex.run(again, lambda amount, user: charges.append(amount) or "ok", amount=30, user="u1")
    print("after 'charge me another $30' in a later turn:", charges)
