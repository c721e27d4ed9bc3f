"""Tests for snippets/agents/tool_use.py: the calculator against Python arithmetic, the ReAct
trace of a scripted fake model, and the tool-call validator against the jsonschema library."""
import math
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
    # unary signs, division and powers, with Python as the oracle again
    for expr in ["+3 - -2", "-(+4) * -(-5)", "+(2 - 7) ** 2", "-2 ** 2", "7 / -2 + +1.5", "(-3) ** 3 / +9"]:
        assert tu.calculator(expr) == str(eval(expr)), expr


def test_search_tool_is_case_insensitive_and_takes_the_first_matching_entry():
    search = tu.make_search({"acme": "Acme has 1234 employees.", "Acme Corp": "Acme Corp, founded 1990.",
                             "Globex": "Globex has 50 employees."})
    assert search("ACME CORP head count") == "Acme has 1234 employees."   # both keys occur: the first wins
    assert search("globex staff") == "Globex has 50 employees."
    assert search("Initech") == "no result"


@pytest.mark.parametrize("bad", ["__import__('os').system('ls')", "x + 1", "abs(-3)", "'a' * 3"])
def test_calculator_rejects_code(bad):
    with pytest.raises(ValueError, match="^unsupported expression: ") as info:
        tu.calculator(bad)
    # the message goes back into the model's context: it names the node, kept to 40 characters
    node = str(info.value).removeprefix("unsupported expression: ")
    import ast
    dumps = [ast.dump(n) for n in ast.walk(ast.parse(bad, mode="eval"))]
    assert any(d.startswith(node) for d in dumps) and len(node) == min(40, max(len(d) for d in dumps if d.startswith(node)))


class ScriptedModel:
    """A fake LLM: returns canned steps in order and records every prompt it saw."""

    def __init__(self, steps):
        self.steps, self.prompts = list(steps), []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        self.steps_seen = getattr(self, "steps_seen", []) + [self.steps[0]]
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
    # the first prompt lists the tools by name and asks the question
    assert "Tools: search, calculator." in model.prompts[0]
    assert "Question: How many notebooks?\n" in model.prompts[0]
    # every prompt extends the previous one: the model's step, on its own line, then the observation
    for before, after, step in zip(model.prompts, model.prompts[1:], model.steps_seen):
        assert after.startswith(before + step + "\nObservation: ")


def test_react_default_cap_is_five_steps():
    model = ScriptedModel(["Action: calculator[1+1]"] * 10)
    answer, trace = tu.react(model, {"calculator": tu.calculator}, "q")
    assert answer is None and trace == [("calculator", "1+1", "2")] * 5 and len(model.prompts) == 5


def test_react_errors_become_observations_and_steps_are_capped():
    model = ScriptedModel(["Action: browse[x]", "I think...", "Action: calculator[1/0]",
                           "Action: calculator[1+1]"])
    answer, trace = tu.react(model, {"calculator": tu.calculator}, "q", max_steps=3)
    assert answer is None and len(trace) == 3
    assert trace[0][2].startswith("Error: unknown tool")
    assert trace[1] == ("", "", "Error: no Action or Final Answer found")      # no tool, no input
    assert trace[2][2].startswith("Error:") and "division" in trace[2][2]


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["C", "F"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "detailed": {"type": "boolean"},
        "temp": {"type": "number"},
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
    {"city": "Paris", "temp": 21.5},               # a float is a number
    {"city": "Paris", "temp": 21},                 # so is an integer
    {"city": "Paris", "temp": True},               # a bool is not a number in JSON Schema
    {"city": "Paris", "temp": "21"},               # nor is a numeric string
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
    ('{"tool": "weather"}', "^expected an object with 'name' and 'arguments'$"),
    ('{"name": "weather"}', "^expected an object with 'name' and 'arguments'$"),
    ('{"arguments": {"city": "Paris"}}', "^expected an object with 'name' and 'arguments'$"),
    ('["weather", {"city": "Paris"}]', "^expected an object with 'name' and 'arguments'$"),
    ('{"name": "weather", "arguments": {"city": 42}}', r"^arguments\.city: expected string, got int$"),
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


def _random_logits(seed):
    table = {}
    rnd = random.Random(seed)

    def logits(prefix):
        if prefix not in table:
            table[prefix] = [rnd.gauss(0, 2) for _ in range(8)]
        return table[prefix]
    return logits


def test_constrained_decoding_only_emits_valid_outputs():
    vocab = ['{"', 'label', '": "', "pos", "neg", '"}', "Sure! ", "{"]
    language = {'{"label": "pos"}', '{"label": "neg"}'}
    rng = random.Random(1)
    for seed in range(50):
        out, prob = tu.constrained_decode(_random_logits(seed), vocab, language, rng)
        assert out in language and 0 < prob <= 1


def test_masked_sampler_is_local_renormalisation_not_the_global_conditional():
    # Model: step 1 prefers "a" (logit 2) over "c" (0) and "x" (1); after "a" it prefers the
    # invalid "x" (logit 3) over "b" (0); after "c" only "d" is plausible.
    vocab = ["a", "b", "c", "d", "x"]
    language = {"ab", "cd"}
    table = {"": [2.0, -9.0, 0.0, -9.0, 1.0], "a": [-9.0, 0.0, -9.0, -9.0, 3.0],
             "c": [-9.0, -9.0, -9.0, 0.0, -9.0]}
    logits = table.__getitem__
    e = math.exp
    # masked sampler: step 1 renormalises over {a, c}; step 2 has a single allowed token
    p_ab_masked = e(2) / (e(2) + e(0))
    # what the model itself assigns to the valid strings, renormalised globally
    def p(prefix, tok):
        z = table[prefix]
        return e(z[vocab.index(tok)]) / sum(e(v) for v in z)
    joint_ab, joint_cd = p("", "a") * p("a", "b"), p("", "c") * p("c", "d")
    p_ab_global = joint_ab / (joint_ab + joint_cd)
    rng = random.Random(0)
    runs = [tu.constrained_decode(logits, vocab, language, rng) for _ in range(4000)]
    assert {o for o, _ in runs} == language
    assert dict(runs)["ab"] == pytest.approx(p_ab_masked)
    share_ab = sum(o == "ab" for o, _ in runs) / len(runs)
    assert share_ab == pytest.approx(p_ab_masked, abs=0.03)           # 0.881
    assert p_ab_global < 0.5 < p_ab_masked                              # masking flips the preference


def test_masked_sampler_matches_softmax_over_three_allowed_tokens():
    # three allowed single-token outputs and one disallowed token with the largest logit
    vocab, language = ["a", "b", "c", "z"], {"a", "b", "c"}
    z = [0.0, 1.0, 2.0, 5.0]
    soft = [math.exp(v) / sum(math.exp(u) for u in z[:3]) for v in z[:3]]
    rng = random.Random(3)
    runs = [tu.constrained_decode(lambda prefix: z, vocab, language, rng) for _ in range(6000)]
    for tok, p in zip("abc", soft):
        assert dict(runs)[tok] == pytest.approx(p)
        assert sum(o == tok for o, _ in runs) / len(runs) == pytest.approx(p, abs=0.02)   # .09 .24 .67


def test_masked_sampler_is_stable_for_large_logits():
    # logits in the hundreds overflow exp() unless the max is subtracted first
    out, prob = tu.constrained_decode(lambda prefix: [800.0, 799.0], ["a", "b"], {"a", "b"},
                                      random.Random(0))
    assert prob == pytest.approx(1 / (1 + math.exp(-1)) if out == "a" else 1 / (1 + math.exp(1)))


class FixedRandom(random.Random):
    def __init__(self, u):
        super().__init__(0)
        self.u = u

    def random(self):
        return self.u


@pytest.mark.parametrize("u, weights, expected", [
    (0.5, [0.0, 0.0], "b"),            # equal weights, u = 0.5: [0, .5) -> a, [.5, 1) -> b
    (0.0, [-1e9, 0.0], "b"),           # a token whose weight underflows to 0 is never drawn
    (0.0, [0.0, 0.0], "a"),
])
def test_masked_sampler_inverts_the_cdf_like_random_choices(u, weights, expected):
    out, _ = tu.constrained_decode(lambda prefix: weights, ["a", "b"], {"a", "b"}, FixedRandom(u))
    w = [math.exp(v - max(weights)) for v in weights]
    assert out == expected == FixedRandom(u).choices(["a", "b"], weights=w)[0]


def test_retry_budget_against_simulation():
    residual, calls = tu.retry_budget(0.05, 2)
    assert residual == pytest.approx(0.05 ** 3)
    assert calls == pytest.approx(1 + 0.05 + 0.05 ** 2)
    rnd = random.Random(0)
    total_calls, failures, n = 0, 0, 200_000
    for _ in range(n):
        for attempt in range(3):
            total_calls += 1
            if rnd.random() >= 0.05:
                break
        else:
            failures += 1
    assert total_calls / n == pytest.approx(calls, abs=0.005)
    assert failures / n == pytest.approx(residual, abs=1e-4)


def test_repair_policy_hand_computed_and_simulated():
    # Hand-computed: 5% invalid, repairs fail 30%, 2 repairs, 1.5 s per call.
    out = tu.repair_policy(0.05, 0.3, 2, 1.5)
    assert out["fallback_rate"] == pytest.approx(0.05 * 0.3 * 0.3)          # 0.0045
    assert out["expected_calls"] == pytest.approx(1 + 0.05 + 0.05 * 0.3)   # 1.065
    assert out["expected_latency_s"] == pytest.approx(1.065 * 1.5)
    assert out["worst_latency_s"] == pytest.approx(4.5)
    # Zero retries: every invalid first attempt falls back, one call each.
    assert tu.repair_policy(0.05, 0.3, 0, 1.0)["fallback_rate"] == pytest.approx(0.05)
    assert tu.repair_policy(0.05, 0.3, 0, 1.0)["expected_calls"] == pytest.approx(1.0)
    # Simulation with different first-attempt and repair failure rates (a formula that
    # reused p_invalid for repairs, or counted retries off by one, would miss).
    rnd = random.Random(1)
    n, calls, fallbacks = 200_000, 0, 0
    for _ in range(n):
        calls += 1
        if rnd.random() >= 0.2:
            continue
        for _ in range(3):
            calls += 1
            if rnd.random() >= 0.5:
                break
        else:
            fallbacks += 1
    sim = tu.repair_policy(0.2, 0.5, 3, 1.0)
    assert calls / n == pytest.approx(sim["expected_calls"], abs=0.005)        # 1.35
    assert fallbacks / n == pytest.approx(sim["fallback_rate"], abs=0.002)    # 0.025


def test_idempotent_executor_runs_side_effect_once_per_key():
    charged = []

    def charge(amount, user):
        charged.append((user, amount))
        return f"receipt-{len(charged)}"

    ex = tu.IdempotentExecutor()
    k1 = tu.idempotency_key("c1", "t1", "charge", {"amount": 30, "user": "u1"})
    k1_reordered = tu.idempotency_key("c1", "t1", "charge", {"user": "u1", "amount": 30})
    k2 = tu.idempotency_key("c1", "t1", "charge", {"amount": 31, "user": "u1"})
    assert k1 == k1_reordered and k1 != k2
    results = [ex.run(k1, charge, amount=30, user="u1") for _ in range(3)]
    results.append(ex.run(k1_reordered, charge, amount=30, user="u1"))
    assert charged == [("u1", 30)] and set(results) == {"receipt-1"}
    assert ex.run(k2, charge, amount=31, user="u1") == "receipt-2"
    assert charged == [("u1", 30), ("u1", 31)]
    # a deliberate repeat in a later user turn ("charge me another $30") is a new action
    k3 = tu.idempotency_key("c1", "t2", "charge", {"amount": 30, "user": "u1"})
    assert k3 != k1
    assert ex.run(k3, charge, amount=30, user="u1") == "receipt-3"
    assert ex.run(k3, charge, amount=30, user="u1") == "receipt-3"     # its own retries still merge
    assert charged == [("u1", 30), ("u1", 31), ("u1", 30)]


def test_allowed_tokens_by_hand_and_by_brute_force():
    import itertools
    vocab = ['{"a":', '1', '2', '}', '{"', 'a":', '12']
    language = {'{"a":1}', '{"a":12}'}
    # after '{"a":' the digits "1" and "12" can lead to a valid object; "2" and "}" cannot
    assert tu.allowed_tokens('{"a":', vocab, language) == [1, 6]
    assert tu.allowed_tokens('{"a":1', vocab, language) == [2, 3]         # "2" → {"a":12 ; "}" closes
    assert tu.allowed_tokens("", vocab, language) == [0, 4]

    def brute(prefix):                  # every token sequence of length ≤ 4 that spells a string of the language
        ok = set()
        for n in range(1, 5):
            for seq in itertools.product(range(len(vocab)), repeat=n):
                if prefix + "".join(vocab[i] for i in seq) in language:
                    ok.add(seq[0])
        return sorted(ok)
    for prefix in ["", '{"', '{"a":', '{"a":1']:
        assert tu.allowed_tokens(prefix, vocab, language) == brute(prefix), prefix


@pytest.mark.parametrize("schema, value", [
    ({"type": "object"}, {"anything": 1}),                                   # no properties, no required
    ({"type": "object", "properties": {"a": {"type": "integer"}}}, {}),      # nothing required
    ({"type": "object", "required": ["a"]}, {"a": None}),                   # required without properties
    ({"type": "object", "required": ["a"]}, {"b": 1}),
    ({"type": "string", "items": {"type": "integer"}}, "ab"),               # items applies to arrays only
    ({"type": "array", "items": {"type": "integer"}}, [1, "2"]),
])
def test_check_defaults_agree_with_jsonschema(schema, value):
    valid = jsonschema.Draft202012Validator(schema).is_valid(value)
    if valid:
        assert tu._check(value, schema, "$") is None
    else:
        with pytest.raises(tu.ToolCallError):
            tu._check(value, schema, "$")


def test_check_agrees_with_jsonschema_and_names_the_path():
    schema = {"type": "object", "required": ["city", "days"], "additionalProperties": False,
              "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                             "units": {"type": "string", "enum": ["C", "F"]},
                             "tags": {"type": "array", "items": {"type": "string"}}}}
    cases = [({"city": "Oslo", "days": 3}, None),
             ({"city": "Oslo", "days": True}, "$.days: expected integer, got bool"),
             ({"city": "Oslo"}, "$: missing required field 'days'"),
             ({"city": "Oslo", "days": 1, "units": "K"}, "$.units: 'K' is not one of ['C', 'F']"),
             ({"city": "Oslo", "days": 1, "x": 1}, "$: unexpected fields ['x']"),
             ({"city": "Oslo", "days": 1, "tags": ["a", 2]}, "$.tags[1]: expected string, got int")]
    for value, error in cases:
        valid = jsonschema.Draft202012Validator(schema).is_valid(value)
        if error is None:
            assert tu._check(value, schema, "$") is None and valid
        else:
            with pytest.raises(tu.ToolCallError) as info:
                tu._check(value, schema, "$")
            assert str(info.value) == error and not valid
