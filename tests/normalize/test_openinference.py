"""OpenInference (`openinference`)."""

from __future__ import annotations

import json
from decimal import Decimal

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text


def test_llm_span_messages_tools_tokens_cost():
    s = span(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.model_name": "claude-sonnet-4-20250514",
            "llm.invocation_parameters": json.dumps({"model": "claude-sonnet-4-0", "max_tokens": 512, "temperature": 0.1, "top_p": 0.8}),
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "Describe this",
            "llm.input_messages.1.message.contents.1.message_content.type": "image",
            "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://x/cat.png",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "A cat.",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "tu_1",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "zoom",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"x": 2}',
            "llm.token_count.prompt": 1500,
            "llm.token_count.prompt_details.cache_read": 1000,
            "llm.token_count.prompt_details.cache_write": 200,
            "llm.token_count.completion": 60,
            "llm.token_count.completion_details.reasoning": 20,
            "llm.token_count.total": 1560,
            "llm.cost.total": 0.0123,
            "llm.tools.0.tool.json_schema": json.dumps({"name": "zoom", "input_schema": {}}),
            "llm.finish_reason": "tool_use",
            "session.id": "sess-a",
            "user.id": "user-a",
        },
        name="Messages",
        scope="openinference.instrumentation.anthropic",
    )
    f = run(s, "openinference")
    assert f.span_type is SpanType.LLM and f.operation == "chat"
    assert f.provider == "anthropic"
    assert (f.request_model, f.response_model) == ("claude-sonnet-4-0", "claude-sonnet-4-20250514")
    assert (f.max_tokens, f.temperature, f.top_p) == (512, 0.1, 0.8)
    assert f.usage.input_includes_cache is True
    assert split(f) == (300, 1000, 200, 40, 20)
    assert f.provider_cost_usd == Decimal("0.0123")
    assert f.system_instructions == [text("Be brief.")]
    assert f.input_messages == [
        {"role": "user", "parts": [text("Describe this"), {"type": "uri", "modality": "image", "uri": "https://x/cat.png"}]}
    ]
    assert f.output_messages == [
        {
            "role": "assistant",
            "parts": [text("A cat."), {"type": "tool_call", "id": "tu_1", "name": "zoom", "arguments": {"x": 2}}],
            "finish_reason": "tool_call",
        }
    ]
    assert f.finish_reasons == ["tool_call"]
    assert f.tool_definitions == [{"name": "zoom", "input_schema": {}}]
    assert (f.session_id, f.user_id) == ("sess-a", "user-a")


def test_retriever_documents():
    s = span(
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "what is llmobs?",
            "retrieval.documents.0.document.id": "doc-1",
            "retrieval.documents.0.document.content": "llmobs is ...",
            "retrieval.documents.0.document.score": 0.87,
            "retrieval.documents.0.document.metadata": '{"source": "readme"}',
            "retrieval.documents.1.document.id": "doc-2",
            "retrieval.documents.1.document.content": "other",
        }
    )
    f = run(s, "openinference")
    assert f.span_type is SpanType.RETRIEVER and f.operation == "retrieval"
    assert f.documents == [
        {"id": "doc-1", "content": "llmobs is ...", "score": 0.87, "metadata": {"source": "readme"}},
        {"id": "doc-2", "content": "other", "score": None, "metadata": {}},
    ]
    assert f.input_messages == [{"role": "user", "parts": [text("what is llmobs?")]}]


def test_reranker_chain_tool_agent_guardrail():
    rr = run(
        span(
            {
                "openinference.span.kind": "RERANKER",
                "reranker.query": "q",
                "reranker.model_name": "rerank-v3.5",
                "reranker.output_documents.0.document.id": "a",
                "reranker.output_documents.0.document.score": 0.5,
            }
        ),
        "openinference",
    )
    assert rr.span_type is SpanType.RETRIEVER and rr.operation == "rerank" and rr.documents[0]["id"] == "a"
    ch = run(span({"openinference.span.kind": "CHAIN", "input.value": "in", "output.value": "out"}), "openinference")
    assert ch.span_type is SpanType.CHAIN and ch.output_messages == [{"role": "assistant", "parts": [text("out")]}]
    tl = run(
        span({"openinference.span.kind": "TOOL", "tool.name": "calc", "input.value": '{"x": 1}', "output.value": "2"}, name="calc"),
        "openinference",
    )
    assert tl.span_type is SpanType.TOOL and tl.tool_name == "calc"
    assert tl.input_messages[0]["parts"][0]["arguments"] == {"x": 1}
    ag = run(span({"openinference.span.kind": "AGENT", "input.value": "go"}, name="Researcher"), "openinference")
    assert ag.span_type is SpanType.AGENT and ag.agent_name == "Researcher"
    gr = run(span({"openinference.span.kind": "GUARDRAIL"}), "openinference")
    assert gr.span_type is SpanType.CHAIN
    ev = run(span({"openinference.span.kind": "EVALUATOR"}), "openinference")
    assert ev.span_type is SpanType.CHAIN


def test_embedding_span():
    f = run(
        span(
            {
                "openinference.span.kind": "EMBEDDING",
                "embedding.model_name": "text-embedding-3-small",
                "embedding.embeddings.0.embedding.text": "hello",
                "llm.token_count.prompt": 2,
                "llm.token_count.total": 2,
            }
        ),
        "openinference",
    )
    assert f.span_type is SpanType.EMBEDDING and f.request_model == "text-embedding-3-small" and f.provider == "openai"
    assert f.input_messages == [{"role": "user", "parts": [text("hello")]}]
