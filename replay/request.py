"""Rebuild an OpenAI chat-completions request from a stored canonical record.

The collector stores every dialect's messages in one shape (OTel GenAI
semconv v1.37 parts, system prompt apart, see collector/normalize/messages.py),
so replay needs exactly one converter: parts -> OpenAI chat messages.  A
record that cannot be turned into a faithful request is not guessed at: it
becomes an `Unreplayable` with the reason, and the run reports the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

# Operations that are a chat completion on an OpenAI-compatible server.
CHAT_OPERATIONS = {"chat", "generate_content", ""}
# Input part types the chat API has no field for; they are history the
# model produced for itself, and providers do not take them back.
DROPPED_PARTS = {"reasoning"}


@dataclass(slots=True)
class ReplayRequest:
    """One captured call, ready to send: the body minus model and stream
    settings (those belong to the variant and the runner)."""

    source_trace_id: str
    source_span_id: str
    start_ns: int
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, top_p, seed
    stream: bool | None = None  # the original call's choice; replays always stream to time tokens
    stratum: str = ""

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": self.messages, **self.params}
        if self.tools:
            out["tools"] = self.tools
        return out


@dataclass(slots=True, frozen=True)
class Unreplayable:
    source_span_id: str
    reason: str  # content_not_captured | unsupported_operation | unsupported_part | malformed_record


class ReconstructionError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ReconstructionError("malformed_record", f"stored JSON does not parse: {exc}") from None


def _text(parts: list[dict[str, Any]]) -> str:
    return "".join(str(p.get("content") or "") for p in parts if p.get("type") == "text")


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _content(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def chat_messages(system: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parts messages -> OpenAI chat messages.  Tool results become one `tool`
    message each (the chat API wants one per call id)."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": _text(system)})
    for msg in inputs:
        role = msg.get("role") or "user"
        parts = msg.get("parts") or []
        if not isinstance(parts, list):
            raise ReconstructionError("malformed_record", "message parts are not a list")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for p in parts:
            kind = p.get("type")
            if kind == "text":
                texts.append(str(p.get("content") or ""))
            elif kind == "tool_call":
                calls.append({"id": p.get("id") or "", "type": "function",
                              "function": {"name": p.get("name") or "", "arguments": _arguments(p.get("arguments", {}))}})  # fmt: skip
            elif kind == "tool_call_response":
                results.append({"role": "tool", "tool_call_id": p.get("id") or "",
                                "content": _content(p.get("response"))})  # fmt: skip
            elif kind in DROPPED_PARTS:
                continue
            else:
                raise ReconstructionError("unsupported_part", f"message part of type {kind!r}")
        if role == "system":
            out.insert(0, {"role": "system", "content": "".join(texts)})
            continue
        if role == "tool" or (results and not texts and not calls):
            out.extend(results)
            continue
        m: dict[str, Any] = {"role": role, "content": "".join(texts) if texts or not calls else None}
        if calls:
            m["tool_calls"] = calls
        out.append(m)
        out.extend(results)
    return out


def openai_tools(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Semconv tool definitions ({type, name, description, parameters}) or
    OpenAI ones ({type, function: {...}}) -> OpenAI `tools`."""
    out = []
    for d in definitions:
        if isinstance(d.get("function"), dict):
            out.append({"type": "function", "function": d["function"]})
            continue
        fn = {k: d[k] for k in ("name", "description", "parameters", "strict") if d.get(k) is not None}
        if "name" not in fn:
            raise ReconstructionError("malformed_record", "a tool definition has no name")
        out.append({"type": "function", "function": fn})
    return out


def reconstruct(row: dict[str, Any]) -> ReplayRequest | Unreplayable:
    """A stored span row (storage.clickhouse.replay_queries.SOURCE_COLUMNS) -> request."""
    span_id = row["span_id"]
    if row.get("operation", "") not in CHAT_OPERATIONS or row.get("span_type") == "embedding":
        return Unreplayable(span_id, "unsupported_operation")
    if not row.get("input_messages"):
        return Unreplayable(span_id, "content_not_captured")
    try:
        inputs = _json(row["input_messages"]) or []
        system = _json(row.get("system_instructions")) or []
        tools = _json(row.get("tool_definitions")) or []
        if not isinstance(inputs, list) or not isinstance(system, list) or not isinstance(tools, list):
            raise ReconstructionError("malformed_record", "messages are not lists")
        messages = chat_messages(system, inputs)
        if not any(m["role"] != "system" for m in messages):
            return Unreplayable(span_id, "content_not_captured")
        params: dict[str, Any] = {}
        for key in ("temperature", "top_p"):
            if row.get(key) is not None:
                params[key] = float(row[key])
        for key in ("max_tokens", "seed"):
            if row.get(key) is not None:
                params[key] = int(row[key])
        return ReplayRequest(
            source_trace_id=row["trace_id"], source_span_id=span_id, start_ns=int(row["start_ns"]),
            model=row.get("request_model") or row.get("model") or "", messages=messages, tools=openai_tools(tools),
            params=params, stream=None if row.get("stream") is None else bool(row["stream"]),
            stratum=str(row.get("stratum") or ""),
        )  # fmt: skip
    except ReconstructionError as exc:
        return Unreplayable(span_id, exc.reason)


def output_text(stored_output_messages: str | None) -> str:
    """The text of a stored production answer (parts shape), for agreement."""
    try:
        msgs = orjson.loads(stored_output_messages) if stored_output_messages else []
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(msgs, list):
        return ""
    return "".join(_text(m.get("parts") or []) for m in msgs if isinstance(m, dict))
