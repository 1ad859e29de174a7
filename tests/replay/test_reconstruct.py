"""Rebuilding requests from stored records: an OpenAI request goes through the
collector's real message normaliser (what ingest stores), and replay must
turn the stored parts back into the same request."""

from __future__ import annotations

import orjson

from collector.normalize.messages import inputs
from replay.config import RunOptions, Variant
from replay.request import Unreplayable, reconstruct
from replay.runner import request_body

OPENAI_MESSAGES = [
    {"role": "system", "content": "You route weather questions."},
    {"role": "user", "content": "Weather in Paris and Oslo?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": "4C, rain"},
    {"role": "user", "content": "Which is warmer?"},
]  # fmt: skip
TOOLS = [{"type": "function", "name": "get_weather", "description": "Current weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]  # fmt: skip


def stored_row(messages=OPENAI_MESSAGES, **over):  # type: ignore[no-untyped-def]
    system, msgs = inputs(messages)
    row = {
        "trace_id": "ab" * 16, "span_id": "cd" * 8, "start_ns": 1, "operation": "chat", "request_model": "gpt-4o",
        "model": "gpt-4o", "temperature": 0.3, "max_tokens": 200, "top_p": 0.9, "seed": 42, "stream": 1,
        "input_messages": orjson.dumps(msgs).decode(), "system_instructions": orjson.dumps(system).decode(),
        "tool_definitions": orjson.dumps(TOOLS).decode(),
    }  # fmt: skip
    row.update(over)
    return row


def test_round_trip_with_tool_calls_and_results():
    req = reconstruct(stored_row())
    assert not isinstance(req, Unreplayable)
    expected = [dict(m) for m in OPENAI_MESSAGES]
    # The stored shape keeps arguments as objects; they are sent back as JSON text.
    for call in expected[2]["tool_calls"]:
        call["function"]["arguments"] = orjson.dumps(orjson.loads(call["function"]["arguments"])).decode()
    assert req.messages == expected
    assert req.tools == [{"type": "function", "function": {k: TOOLS[0][k] for k in ("name", "description", "parameters")}}]
    assert req.params == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 200, "seed": 42}
    assert req.stream is True and req.model == "gpt-4o"


def test_variant_overrides_and_run_options():
    req = reconstruct(stored_row())
    v = Variant(name="cand", base_urls=["http://h/v1"], model="llama", params={"top_p": 1.0},
                system_prompt="Be brief.")  # fmt: skip
    body = request_body(req, v, RunOptions(temperature_zero=True, seed=3, max_tokens=50))
    assert body["model"] == "llama"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in body["messages"]].count("system") == 1
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.0, 1.0, 3, 50)
    assert body["tools"] == req.tools


def test_unreplayable_reasons():
    assert reconstruct(stored_row(input_messages="")) == Unreplayable("cd" * 8, "content_not_captured")
    assert reconstruct(stored_row(operation="embeddings")) == Unreplayable("cd" * 8, "unsupported_operation")
    image = [{"role": "user", "parts": [{"type": "blob", "modality": "image", "content": "AAAA"}]}]
    assert reconstruct(stored_row(input_messages=orjson.dumps(image).decode())).reason == "unsupported_part"
    assert reconstruct(stored_row(input_messages="[{broken")).reason == "malformed_record"
    only_system = reconstruct(stored_row(messages=[{"role": "system", "content": "x"}]))
    assert only_system == Unreplayable("cd" * 8, "content_not_captured")


def test_send_schedule_fixed_qps_and_original_timing():
    from replay.runner import _delay

    reqs = [reconstruct(stored_row(start_ns=t)) for t in (5 * 10**9, 6 * 10**9, 9 * 10**9)]
    first = reqs[0].start_ns
    assert [_delay(i, r, first, RunOptions()) for i, r in enumerate(reqs)] == [0, 0, 0]
    assert [_delay(i, r, first, RunOptions(timing="qps", qps=4)) for i, r in enumerate(reqs)] == [0, 0.25, 0.5]
    scaled = RunOptions(timing="original", time_scale=2.0)
    assert [_delay(i, r, first, scaled) for i, r in enumerate(reqs)] == [0, 0.5, 2.0]
