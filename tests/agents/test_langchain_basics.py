"""Tests for snippets/agents/langchain_basics.py: real langchain-core objects driven by its fake
chat models; expected prompts, parses and tool schemas are written by hand, and the retriever
is checked against a brute-force cosine search with sentence-transformers."""
import os

import numpy as np
import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import FakeListChatModel, ParrotFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from snippets import load

lb = load("agents/langchain_basics")


def test_prompt_template_fills_variables_and_history():
    chain = lb.qa_chain(FakeListChatModel(responses=["ok"]))
    prompt = chain.first
    msgs = prompt.invoke({"domain": "law", "question": "Q2",
                          "history": [HumanMessage("Q1"), AIMessage("A1")]}).to_messages()
    assert [(m.type, m.content) for m in msgs] == [
        ("system", "You are a concise assistant for law."),
        ("human", "Q1"), ("ai", "A1"), ("human", "Q2")]
    # history is optional
    assert len(prompt.invoke({"domain": "law", "question": "Q"}).to_messages()) == 2


def test_chain_returns_model_text_as_string():
    chain = lb.qa_chain(FakeListChatModel(responses=["first", "second"]))
    assert chain.invoke({"domain": "x", "question": "a"}) == "first"
    assert chain.batch([{"domain": "x", "question": "b"}]) == ["second"]


def test_parrot_model_sees_the_formatted_prompt():
    chain = lb.qa_chain(ParrotFakeChatModel())
    assert chain.invoke({"domain": "x", "question": "echo me"}) == "echo me"


def test_json_parser_handles_fences_and_rejects_garbage():
    ok = lb.extraction_chain(FakeListChatModel(responses=['```json\n{"name": "Lin", "age": 30}\n```']))
    assert ok.invoke({"text": "..."}) == {"name": "Lin", "age": 30}
    bad = lb.extraction_chain(FakeListChatModel(responses=["Lin is thirty."]))
    with pytest.raises(OutputParserException):
        bad.invoke({"text": "..."})


def test_extraction_prompt_carries_the_parsers_format_instructions():
    from langchain_core.output_parsers import JsonOutputParser
    chain = lb.extraction_chain(FakeListChatModel(responses=["{}"]))
    msgs = chain.first.invoke({"text": "Lin turned 30."}).to_messages()
    assert [(m.type, m.content) for m in msgs] == [
        ("system", "Extract the person's name and age. " + JsonOutputParser().get_format_instructions()),
        ("human", "Lin turned 30.")]


def test_tool_schema_and_call():
    assert lb.multiply.invoke({"a": 6, "b": 7}) == 42
    spec = convert_to_openai_tool(lb.multiply)
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "multiply"
    assert spec["function"]["description"] == "Multiply two integers."
    params = spec["function"]["parameters"]
    assert params["required"] == ["a", "b"]
    assert {k: v["type"] for k, v in params["properties"].items()} == {"a": "integer", "b": "integer"}


def test_rag_chain_retrieves_the_brute_force_nearest_text():
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer
    texts = ["Passwords expire every 90 days.", "The cafeteria opens at 8 am.",
             "Use the VPN client to work from home.", "Printers are on the third floor."]
    question = "How can I access the office network remotely?"
    st = SentenceTransformer(lb.retrieval.minilm_path(), device="cpu")
    d = st.encode(texts, normalize_embeddings=True)
    q = st.encode([question], normalize_embeddings=True)[0]
    best = texts[int(np.argmax(d @ q))]
    emb = lb.MiniLMEmbeddings()
    echoed = lb.rag_chain(texts, emb, ParrotFakeChatModel(), k=1).invoke(question)
    assert f"Context:\n{best}\n\nQuestion: {question}" in echoed
    # default k = 2: the two nearest texts, nearest first, one per line
    first, second = (texts[i] for i in np.argsort(-(d @ q))[:2])
    echoed = lb.rag_chain(texts, emb, ParrotFakeChatModel()).invoke(question)
    assert echoed == f"Answer from the context only.\nContext:\n{first}\n{second}\n\nQuestion: {question}"
    # the query embedding is the document embedding of the same text, and matches sentence-transformers
    assert emb.embed_query(question) == emb.embed_documents([question])[0]
    assert np.allclose(emb.embed_query(question), q, atol=1e-5)
