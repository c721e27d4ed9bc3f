"""Tests for snippets/agents/prompting.py against langchain-core's FewShotPromptTemplate and
hand-counted votes."""
import pytest
from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate

from snippets import load

pr = load("agents/prompting")

EXAMPLES = [{"question": "2 + 3?", "answer": "5"}, {"question": "10 - 4?", "answer": "6"}]


@pytest.mark.parametrize("query, prefix, sep", [("7 + 8?", "Answer with a number.", None),   # default separator
                                                ("1 + 1?", "Be brief.", "\n---\n")])
def test_few_shot_matches_langchain(query, prefix, sep):
    ref = FewShotPromptTemplate(
        examples=EXAMPLES,
        example_prompt=PromptTemplate.from_template("Q: {question}\nA: {answer}"),
        prefix=prefix,
        suffix="Q: {query}\nA:",
        input_variables=["query"],
        example_separator=sep or "\n\n",
    ).format(query=query)
    kwargs = {"sep": sep} if sep else {}
    assert pr.few_shot_prompt(EXAMPLES, query, prefix=prefix, **kwargs) == ref


def test_zero_shot_is_the_bare_query():
    assert pr.few_shot_prompt([], "7 + 8?") == "Q: 7 + 8?\nA:"


def test_extract_answer():
    assert pr.extract_answer("so the answer is $1,250.") == "1250"
    assert pr.extract_answer("The answer is -3.5") == "-3.5"
    assert pr.extract_answer("no idea") is None


def test_self_consistency_majority_by_hand():
    samples = ["... the answer is 18.", "... The answer is $18.", "... the answer is 26.",
               "I give up."]
    # 18 gets 2 of 4 votes (the unparsable sample counts in the denominator).
    assert pr.self_consistency(samples) == ("18", 0.5)
    # Tie: 26 appears first, so it wins.
    assert pr.self_consistency(["the answer is 26", "the answer is 18"]) == ("26", 0.5)
    assert pr.self_consistency(["hmm"]) == (None, 0.0)
