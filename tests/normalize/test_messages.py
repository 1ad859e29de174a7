"""Every message shape -> semconv v1.37 parts."""

from __future__ import annotations

from collector.normalize import messages as M


def test_openai_shapes():
    sys_parts, msgs = M.inputs(
        [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://i/x.png"}}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "result"},
            {"role": "assistant", "function_call": {"name": "g", "arguments": "{}"}},
        ]
    )
    assert sys_parts == [{"type": "text", "content": "rules"}]
    assert msgs[0]["parts"][1] == {"type": "uri", "modality": "image", "uri": "https://i/x.png"}
    assert msgs[1]["parts"] == [{"type": "tool_call", "id": "1", "name": "f", "arguments": "not json"}]
    assert msgs[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "1", "response": "result"}]}
    assert msgs[3]["parts"][0]["name"] == "g"


def test_anthropic_blocks():
    _, msgs = M.inputs(
        [
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "let me see"}, {"type": "tool_use", "id": "tu", "name": "s", "input": {"q": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu", "content": "found"}]},
        ]
    )
    assert msgs[0]["parts"] == [{"type": "reasoning", "content": "let me see"}, {"type": "tool_call", "id": "tu", "name": "s", "arguments": {"q": 1}}]
    assert msgs[1]["parts"] == [{"type": "tool_call_response", "id": "tu", "response": "found"}]


def test_gemini_contents():
    msgs = M.messages(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "thinking...", "thought": True}, {"functionCall": {"name": "f", "args": {"x": 1}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": 1}}}]},
            ]
        }
    )
    assert msgs[1]["role"] == "assistant"
    assert msgs[1]["parts"][0] == {"type": "reasoning", "content": "thinking..."}
    assert msgs[1]["parts"][1]["arguments"] == {"x": 1}
    assert msgs[2]["parts"][0]["type"] == "tool_call_response"


def test_strings_and_garbage():
    assert M.messages("plain prompt") == [{"role": "user", "parts": [{"type": "text", "content": "plain prompt"}]}]
    assert M.messages("{not json") == [{"role": "user", "parts": [{"type": "text", "content": "{not json"}]}]
    assert M.messages(None) == []
    assert M.messages(12) == [{"role": "user", "parts": [{"type": "text", "content": "12"}]}]
    assert M.messages([None, 3, ["nested"]])[0]["parts"][0]["content"] == "3"
    assert M.system_parts("be nice") == [{"type": "text", "content": "be nice"}]


def test_finish_reason_canonical():
    assert [M.finish_reason(x) for x in ("end_turn", "MAX_TOKENS", "tool-calls", "SAFETY", "weird")] == [
        "stop",
        "length",
        "tool_call",
        "content_filter",
        "weird",
    ]
