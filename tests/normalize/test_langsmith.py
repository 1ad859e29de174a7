"""LangSmith OTel export (`langsmith`)."""

from __future__ import annotations

import json

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text


def _lc(cls: str, **kw):
    return {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", cls], "kwargs": kw}


def test_llm_run_langchain_payloads():
    s = span(
        {
            "langsmith.span.kind": "llm",
            "langsmith.trace.name": "ChatAnthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "langsmith.metadata.session_id": "thread-1",
            "langsmith.metadata.user_id": "user-1",
            "gen_ai.prompt": json.dumps({"messages": [[_lc("SystemMessage", content="sys"), _lc("HumanMessage", content="hi")]]}),
            "gen_ai.completion": json.dumps(
                {
                    "generations": [
                        [
                            {
                                "text": "",
                                "generation_info": {"finish_reason": "tool_use"},
                                "message": _lc("AIMessage", content="", tool_calls=[{"id": "t", "name": "f", "args": {"a": 1}}]),
                            }
                        ]
                    ]
                }
            ),
            "gen_ai.usage.input_tokens": 1100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.total_tokens": 1120,
            "gen_ai.usage.input_token_details": json.dumps({"cache_read": 1000}),
        },
        scope="langsmith",
    )
    f = run(s, "langsmith")
    assert f.span_type is SpanType.LLM and f.provider == "anthropic"
    assert split(f) == (100, 1000, 0, 20, 0)  # LangChain usage is inclusive
    assert f.system_instructions == [text("sys")]
    assert f.input_messages == [{"role": "user", "parts": [text("hi")]}]
    assert f.output_messages == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "t", "name": "f", "arguments": {"a": 1}}], "finish_reason": "tool_call"}
    ]
    assert f.finish_reasons == ["tool_call"]
    assert (f.session_id, f.user_id) == ("thread-1", "user-1")


def test_chain_and_tool_runs():
    c = run(span({"langsmith.span.kind": "chain", "gen_ai.system": "langchain", "gen_ai.prompt": '{"q": 1}', "gen_ai.completion": '{"output": "x"}'}), "langsmith")
    assert c.span_type is SpanType.CHAIN and c.provider is None and c.counts_usage is False
    t = run(span({"langsmith.span.kind": "tool", "langsmith.trace.name": "search", "gen_ai.prompt": '{"q": "a"}', "gen_ai.completion": '{"output": "r"}'}), "langsmith")
    assert t.span_type is SpanType.TOOL and t.tool_name == "search"
    assert t.input_messages[0]["parts"][0]["arguments"] == {"q": "a"}
    assert t.output_messages[0]["parts"][0]["response"] == "r"
