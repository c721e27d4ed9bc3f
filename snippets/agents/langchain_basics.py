"""LangChain's core abstractions with the real library (langchain-core), run against its fake
chat models so nothing is downloaded: prompt templates, LCEL chains, output parsers, tools,
an embeddings class wrapping a local MiniLM model, a vector store and a retriever.

Pages: docs/agents/langchain_basics.{zh,en}.md
"""
from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore

from snippets import load

retrieval = load("rag/retrieval")


# --8<-- [start:chain]
def qa_chain(model: Runnable) -> Runnable:
    """prompt | model | parser, composed with LCEL's pipe operator. Every piece is a Runnable
    with the same invoke / batch / stream interface; the history slot is optional."""
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are a concise assistant for {domain}."),
        MessagesPlaceholder("history", optional=True),
        ("human", "{question}"),
    ])
    return prompt | model | StrOutputParser()
# --8<-- [end:chain]


# --8<-- [start:json_chain]
def extraction_chain(model: Runnable) -> Runnable:
    """Structured output by prompting + parsing: the parser's format instructions go into the
    prompt, and JsonOutputParser turns the reply (even inside a ```json fence) into a dict.
    With a tool-calling model, model.with_structured_output(schema) is the sturdier route."""
    parser = JsonOutputParser()
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Extract the person's name and age. {format_instructions}"),
        ("human", "{text}"),
    ]).partial(format_instructions=parser.get_format_instructions())
    return prompt | model | parser
# --8<-- [end:json_chain]


# --8<-- [start:tool]
@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b
# --8<-- [end:tool]


# --8<-- [start:rag_chain]
class MiniLMEmbeddings(Embeddings):
    """LangChain Embeddings interface over the local all-MiniLM-L6-v2 (mean pooling + L2 norm)."""

    def __init__(self) -> None:
        self.tokenizer, self.model = retrieval.load_encoder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return retrieval.embed(texts, self.tokenizer, self.model).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def rag_chain(texts: list[str], embeddings: Embeddings, model: Runnable, k: int = 2) -> Runnable:
    """Index texts in a vector store, expose it as a retriever, and wire retriever -> prompt ->
    model -> parser. The dict is coerced to RunnableParallel: both branches get the question."""
    store = InMemoryVectorStore.from_documents([Document(page_content=t) for t in texts], embeddings)
    retriever = store.as_retriever(search_kwargs={"k": k})
    prompt = ChatPromptTemplate.from_template(
        "Answer from the context only.\nContext:\n{context}\n\nQuestion: {question}")

    def format_docs(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    return ({"context": retriever | format_docs, "question": RunnablePassthrough()}
            | prompt | model | StrOutputParser())
# --8<-- [end:rag_chain]


if __name__ == "__main__":
    from langchain_core.language_models import FakeListChatModel, ParrotFakeChatModel

    chain = qa_chain(FakeListChatModel(responses=["RAG = retrieve, then generate."]))
    print(chain.invoke({"domain": "search", "question": "What is RAG?"}))
    extract = extraction_chain(FakeListChatModel(responses=['```json\n{"name": "Lin", "age": 30}\n```']))
    print(extract.invoke({"text": "Lin turned 30 last week."}))
    print("tool schema:", multiply.args_schema.model_json_schema()["properties"])
    texts = ["Passwords expire every 90 days.", "The cafeteria opens at 8 am.",
             "Use the VPN client to work from home."]
    # ParrotFakeChatModel echoes the prompt back, so we can see what the retriever put in it.
    rag = rag_chain(texts, MiniLMEmbeddings(), ParrotFakeChatModel(), k=1)
    print(rag.invoke("How long is a password valid?"))
