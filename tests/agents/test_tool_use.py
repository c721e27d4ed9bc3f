"""Tests for snippets/agents/tool_use.py: the calculator against Python arithmetic, the ReAct
trace of a scripted fake model, and the tool-call validator against the jsonschema library."""
import random

import jsonschema
import pytest

from snippets import load

tu = load("agents/tool_use")


def test_calculator_matches_python_arithmetic():
    rng = random.Random(0)
    for _ in range(200):
        a, b, c = (rng.randint(-50, 50) for _ in range(3))
        op1, op2 = rng.choice("+-*"), rng.choice("+-*")
        expr = f"({a} {op1} {b}) {op2} {c}"
        assert tu.calculator(expr) == str(eval(expr))       # the oracle: Python itself
    assert tu.calculator("2 ** 10 / 4") == "256.0"


@pytest.mark.parametrize("bad", ["__import__('os').system('ls')", "x + 1", "abs(-3)", "'a' * 3"])
def test_calculator_rejects_code(bad):
    with pytest.raises(ValueError):
        tu.calculator(bad)


class ScriptedModel:
    """A fake LLM: returns canned steps in order and records every prompt it saw."""

    def __init__(self, steps):
        self.steps, self.prompts = list(steps), []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        return self.steps.pop(0)


def test_react_trace_with_search_and_calculator():
    model = ScriptedModel(["Thought: look it up\nAction: search[Acme head count]",
                           "Thought: multiply\nAction: calculator[1234 * 12]",
                           "Final Answer: 14808 notebooks"])
    tools = {"search": tu.make_search({"Acme": "Acme has 1234 employees."}),
             "calculator": tu.calculator}
    answer, trace = tu.react(model, tools, "How many notebooks?")
    assert answer == "14808 notebooks"
    assert trace == [("search", "Acme head count", "Acme has 1234 employees."),
                     ("calculator", "1234 * 12", str(1234 * 12))]
    # Each observation is fed back before the next model call.
    assert "Observation: Acme has 1234 employees." in model.prompts[1]
    assert "Observation: 14808" in model.prompts[2]


def test_react_errors_become_observations_and_steps_are_capped():
    model = ScriptedModel(["Action: browse[x]", "I think...", "Action: calculator[1/0]",
                           "Action: calculator[1+1]"])
    answer, trace = tu.react(model, {"calculator": tu.calculator}, "q", max_steps=3)
    assert answer is None and len(trace) == 3
    assert trace[0][2].startswith("Error: unknown tool")
    assert trace[1][2].startswith("Error: no Action")
    assert trace[2][2].startswith("Error:") and "division" in trace[2][2]


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["C", "F"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "detailed": {"type": "boolean"},
    },
    "required": ["city"],
    "additionalProperties": False,
}

CASES = [
    {"city": "Beijing"},
    {"city": "Beijing", "days": 3, "unit": "C", "tags": ["rain"], "detailed": True},
    {"days": 3},                                   # missing required
    {"city": 42},                                  # wrong type
    {"city": "Paris", "unit": "K"},                # not in enum
    {"city": "Paris", "days": 2.5},                # number is not an integer
    {"city": "Paris", "days": True},               # bool is not an integer in JSON Schema
    {"city": "Paris", "country": "FR"},            # additional property
    {"city": "Paris", "tags": ["ok", 1]},          # bad array item
    {"city": "Paris", "detailed": "yes"},          # wrong type
]


@pytest.mark.parametrize("args", CASES)
def test_validator_agrees_with_jsonschema(args):
    import json
    validator = jsonschema.Draft202012Validator(SCHEMA)
    expected_ok = validator.is_valid(args)
    text = json.dumps({"name": "weather", "arguments": args})
    if expected_ok:
        assert tu.parse_tool_call(text, {"weather": SCHEMA}) == ("weather", args)
    else:
        with pytest.raises(tu.ToolCallError):
            tu.parse_tool_call(text, {"weather": SCHEMA})


@pytest.mark.parametrize("text,needle", [
    ('{"name": "weather", "arguments": {"city": "Paris"', "invalid JSON"),
    ("Sure! Here is the call: {...}", "invalid JSON"),
    ('{"tool": "weather"}', "'name' and 'arguments'"),
    ('{"name": "stocks", "arguments": {}}', "unknown tool"),
    ('{"name": "weather", "arguments": {"days": 1}}', "missing required field 'city'"),
])
def test_malformed_calls_are_rejected_clearly(text, needle):
    with pytest.raises(tu.ToolCallError, match=needle):
        tu.parse_tool_call(text, {"weather": SCHEMA})


def test_tool_spec_is_a_valid_json_schema_and_accepted_by_the_parser():
    params = tu.WEATHER_TOOL["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(params)        # the schema itself is well-formed
    assert jsonschema.Draft202012Validator(params).is_valid({"city": "Beijing", "unit": "C"})
    assert tu.parse_tool_call('{"name": "get_weather", "arguments": {"city": "Beijing"}}',
                              {"get_weather": params}) == ("get_weather", {"city": "Beijing"})
