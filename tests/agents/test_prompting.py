"""Tests for snippets/agents/prompting.py against langchain-core's FewShotPromptTemplate and
hand-counted votes."""
from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate

from snippets import load

pr = load("agents/prompting")

EXAMPLES = [{"question": "2 + 3?", "answer": "5"}, {"question": "10 - 4?", "answer": "6"}]


def test_few_shot_matches_langchain():
    ref = FewShotPromptTemplate(
        examples=EXAMPLES,
        example_prompt=PromptTemplate.from_template("Q: {question}\nA: {answer}"),
        prefix="Answer with a number.",
        suffix="Q: {query}\nA:",
        input_variables=["query"],
        example_separator="\n\n",
    ).format(query="7 + 8?")
    assert pr.few_shot_prompt(EXAMPLES, "7 + 8?", prefix="Answer with a number.") == ref


def test_custom_separator_matches_langchain():
    ref = FewShotPromptTemplate(
        examples=EXAMPLES,
        example_prompt=PromptTemplate.from_template("Q: {question}\nA: {answer}"),
        prefix="Be brief.",
        suffix="Q: {query}\nA:",
        input_variables=["query"],
        example_separator="\n---\n",
    ).format(query="1 + 1?")
    assert pr.few_shot_prompt(EXAMPLES, "1 + 1?", prefix="Be brief.", sep="\n---\n") == ref


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
