"""Format validators vs independent JSON Schemas (jsonschema) on good and bad records,
hand-labelled semantic cases, and the C(K, 2) pair count of a ranking."""
import math

import jsonschema
import pytest

from snippets import load

df = load("pretraining/dataset_formats")

MSG = {"type": "object", "required": ["role", "content"], "additionalProperties": False,
       "properties": {"role": {"enum": ["system", "user", "assistant", "tool"]},
                      "content": {"type": "string", "pattern": r"\S"},
                      "name": {"type": "string"}, "tool_calls": {"type": "array"}}}
SFT_SCHEMA = {"oneOf": [
    {"type": "object", "required": ["messages"], "additionalProperties": False,
     "properties": {"messages": {"type": "array", "minItems": 1, "items": MSG,
                                 "contains": {"properties": {"role": {"const": "user"}}}},
                    "id": {}, "source": {}}},
    {"type": "object", "required": ["prompt", "completion"],
     "properties": {"prompt": {"type": "string", "pattern": r"\S"},
                    "completion": {"type": "string", "pattern": r"\S"}}},
]}
PREF_SCHEMA = {"type": "object", "required": ["prompt", "chosen", "rejected"],
               "properties": {k: {"type": "string", "pattern": r"\S"} for k in ("prompt", "chosen", "rejected")}}

U = {"role": "user", "content": "What is 2+2?"}
A = {"role": "assistant", "content": "4"}

# Structural cases: the validator and the schema must agree.
SFT_CASES = [
    {"messages": [U, A]},
    {"messages": [{"role": "system", "content": "Be brief."}, U, A]},
    {"prompt": "Translate: chat", "completion": "cat"},
    {"messages": []},
    {"messages": [U, {"role": "bot", "content": "4"}]},
    {"messages": [U, {"role": "assistant", "content": "   "}]},
    {"messages": [A]},
    {"prompt": "Translate: chat"},
    {"text": "raw pre-training text"},
    {"messages": [U, A], "id": "ex-1", "source": "oasst"},             # bookkeeping keys are allowed
    {"messages": [U, A], "weight": 2.0},                                # anything else is a typo or a loss
    {"messages": [{"role": "user", "content": "hi", "name": "ann"}, A]},
    {"messages": [{"role": "user", "content": "hi", "weight": 0}, A]},
    {"messages": [U, {"role": "assistant", "content": "Calling.", "tool_calls": []}, A]},
    {"messages": ["What is 2+2?", A]},
    {"messages": [{"content": "hi"}, A]},
    {"prompt": "Translate: chat", "completion": "  "},
    {"prompt": 3, "completion": "cat"},
]
PREF_CASES = [
    {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
    {"prompt": "Capital of France?", "chosen": "Paris."},
    {"prompt": "", "chosen": "Paris.", "rejected": "Lyon."},
    {"chosen": "Paris.", "rejected": "Lyon."},
]


def schema_ok(schema, rec):
    try:
        jsonschema.validate(rec, schema)
        return True
    except jsonschema.ValidationError:
        return False


@pytest.mark.parametrize("rec", SFT_CASES)
def test_sft_validator_agrees_with_json_schema(rec):
    assert (df.validate_sft(rec) == []) == schema_ok(SFT_SCHEMA, rec)


@pytest.mark.parametrize("rec", PREF_CASES)
def test_preference_validator_agrees_with_json_schema(rec):
    assert (df.validate_preference(rec) == []) == schema_ok(PREF_SCHEMA, rec)


def test_semantic_rules_beyond_the_schema():
    # These pass a purely structural schema but are useless or harmful as training data.
    assert df.validate_sft({"messages": [A, U]})                       # nothing to learn at the end
    assert df.validate_sft({"messages": [U, {"role": "system", "content": "x"}, A]})
    assert df.validate_preference({"prompt": "Q", "chosen": "same", "rejected": "same"})
    assert df.validate_preference({"prompt": "Q", "chosen": "a", "rejected": [A]})
    # conversational preference pair is fine
    assert df.validate_preference({"prompt": [U], "chosen": [A], "rejected": [{"role": "assistant",
                                                                              "content": "5"}]}) == []


def test_prompt_only_and_unpaired():
    assert df.validate_prompt_only({"prompt": [U], "answer": "4"}) == []
    assert df.validate_prompt_only({"prompt": [U, A]})                 # already answered
    assert df.validate_prompt_only({"prompt": "Q", "completion": "A"})
    assert df.validate_unpaired({"prompt": "Q", "completion": "A", "label": True}) == []
    assert df.validate_unpaired({"prompt": "Q", "completion": "A", "label": "good"})


def test_every_record_kind_reports_its_defects():
    assert df.validate_sft({"messages": [U, A], "weight": 2.0, "lang": "en"}) == ["unexpected keys ['lang', 'weight']"]
    assert df.validate_sft({"prompt": "", "completion": 5}) == ["prompt must be a non-empty string",
                                                                 "completion must be a non-empty string"]
    assert df.validate_sft({"messages": [U, "4"]}) == ["turn 1: expected an object with 'role' and 'content'",
                                                       "the last turn must be the assistant's (it is what the model learns)"]
    assert df.validate_preference({"prompt": "Q"}) == ["missing ['chosen', 'rejected']"]
    assert df.validate_preference({"prompt": "Q", "chosen": 4, "rejected": "4"}) == [
        "chosen must be a string or a list of messages", "chosen and rejected must have the same format"]
    assert df.validate_unpaired({"prompt": "Q", "completion": "A"}) == ["missing prompt/completion/label"]
    assert df.validate_unpaired({"prompt": "Q", "completion": "A", "label": 1}) == ["label must be true or false"]
    assert df.validate_unpaired({"prompt": "Q", "completion": "A", "label": False}) == []
    assert df.validate_prompt_only({"question": "Q"}) == ["missing 'prompt'"]
    for key in ("completion", "chosen", "rejected"):
        assert df.validate_prompt_only({"prompt": "Q", key: "A"}) == ["a prompt-only record must not carry responses"]
    assert df.validate_prompt_only({"prompt": "Q", "answer": 4}) == ["answer must be a string"]
    assert df.validate_prompt_only({"prompt": " ", "answer": "4"}) == ["prompt is empty"]
    assert df.check_messages("hi", True) == ["messages must be a non-empty list"]
    # every bad turn is reported, not only the first
    assert df.validate_sft({"messages": ["x", {"role": "bot", "content": "y"}, U, A]}) == [
        "turn 0: expected an object with 'role' and 'content'", "turn 1: unknown role 'bot'"]
    assert df.validate_sft({"text": "raw"}) == ["expected 'messages' or 'prompt' + 'completion'"]
    # each error names the field it is about
    assert df.validate_preference({"prompt": "", "chosen": "a", "rejected": " "}) == [
        "prompt is empty", "rejected is empty"]
    assert df.validate_preference({"prompt": [U, A], "chosen": "a", "rejected": "b"}) == [
        "prompt: a prompt must not already contain the answer"]
    assert df.validate_preference({"prompt": "Q", "chosen": "a", "rejected": "a"}) == [
        "chosen and rejected are identical: the pair carries no preference"]


@pytest.mark.parametrize("k", [2, 4, 9])
def test_ranking_to_pairs(k):
    ranked = [f"r{i}" for i in range(k)]                               # r0 best
    pairs = df.ranking_to_pairs("Q", ranked)
    assert len(pairs) == math.comb(k, 2)                               # InstructGPT: K = 4..9
    assert all(int(p["chosen"][1:]) < int(p["rejected"][1:]) for p in pairs)
    assert all(df.validate_preference(p) == [] for p in pairs)


def test_check_messages_reports_each_defect():
    good = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}]
    assert df.check_messages(good, must_end_with_assistant=True) == []
    assert df.check_messages(good[:2], must_end_with_assistant=False) == []
    assert df.check_messages([], True) == ["messages must be a non-empty list"]
    assert df.check_messages(good[:2], True) == ["the last turn must be the assistant's (it is what the model learns)"]
    assert df.check_messages(good, False) == ["a prompt must not already contain the answer"]
    late_system = [good[1], good[0], good[2]]
    assert df.check_messages(late_system, True) == ["turn 1: a system message may only come first"]
    assert df.check_messages([{"role": "bot", "content": "x"}, good[2]], True) == [
        "turn 0: unknown role 'bot'", "no user turn"]
    assert df.check_messages([good[1], {"role": "assistant", "content": "  "}], True) == [
        "turn 1: content must be a non-empty string"]


def test_text_or_turns_for_prompts_and_answers():
    assert df._text_or_turns("hi", "prompt", True) == []
    assert df._text_or_turns("  ", "prompt", True) == ["prompt is empty"]
    assert df._text_or_turns([{"role": "user", "content": "q"}], "prompt", True) == []
    assert df._text_or_turns([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                             "prompt", True) == ["prompt: a prompt must not already contain the answer"]
    assert df._text_or_turns([{"role": "assistant", "content": "a"}], "chosen", False) == []
    assert df._text_or_turns([{"role": "user", "content": "a"}], "chosen", False) == [
        "chosen must be assistant turns with non-empty content"]
    assert df._text_or_turns([], "chosen", False) == ["chosen must be assistant turns with non-empty content"]
