"""Every message shape we meet, converted to the OTel GenAI semconv v1.37
"parts" shape documented in canonical.py.

Accepted inputs (per message): semconv parts messages; OpenAI chat messages
(string or list content, ``tool_calls``, ``tool_call_id``, legacy
``function_call``); Anthropic content blocks (text, tool_use, tool_result,
thinking); Vercel AI SDK messages (text, tool-call, tool-result, reasoning);
Gemini contents (``parts`` without ``type``: text, functionCall,
functionResponse, thought); LangChain messages (serialized ``lc`` constructors,
``{"type": "human", ...}`` dicts); and bare strings.

Rules (decided once, here, for every dialect):

* System-role content ALWAYS goes to ``system_instructions`` (a list of parts)
  and never stays in ``input_messages``.  Sources disagree (OpenLIT and OpenAI
  put the system prompt inline, Anthropic and semconv keep it apart), and a
  single place makes prompt diffing and replay independent of the dialect.
* Tool-call arguments are objects when they parse as JSON, otherwise the
  original string.
* Nothing here raises: unknown shapes become a text part with their JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

# Above this size a JSON string is not parsed: it is kept as text so one
# pathological attribute cannot stall the pipeline.
MAX_JSON_CHARS = 8_000_000
# Upper bound for indexed flattened attributes (gen_ai.prompt.N..., llm.input_messages.N...).
MAX_INDEX = 2_000


def as_str(v: Any) -> str | None:
    """A non-empty string; numbers are stringified, containers are not."""
    if isinstance(v, str):
        return v if v else None
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return str(v)
    return None


def loads(v: Any) -> Any:
    """Parse a JSON string; structured values pass through; failure -> None."""
    if isinstance(v, (list, dict)):
        return v
    if isinstance(v, bytes):
        try:
            v = v.decode()
        except UnicodeDecodeError:
            return None
    if isinstance(v, str):
        s = v.strip()
        if not s or len(s) > MAX_JSON_CHARS or s[0] not in "[{\"":
            return None
        try:
            return orjson.loads(s)
        except (orjson.JSONDecodeError, RecursionError, ValueError):
            return None
    return None


def dumps(v: Any) -> str:
    if isinstance(v, str):
        return v
    try:
        return orjson.dumps(v, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        try:
            return str(v)
        except RecursionError:
            return "<unserializable>"


_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "complete": "stop",
    "finish_reason_stop": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_call",
    "tool_call": "tool_call",
    "tool-calls": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "content-filter": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "refusal": "content_filter",
    "guardrail_intervened": "content_filter",
    "error": "error",
    "malformed_function_call": "error",
}


def finish_reason(v: Any) -> str | None:
    """Map a provider finish reason to the semconv well-known values
    (stop, length, content_filter, tool_call, error); unknown values are kept
    lower-cased so nothing is lost."""
    s = as_str(v)
    if not s:
        return None
    low = s.strip().lower()
    return _FINISH.get(low, low)



Message = dict[str, Any]
Part = dict[str, Any]

_ROLES = {
    "user": "user",
    "human": "user",
    "humanmessage": "user",
    "humanmessagechunk": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "aimessage": "assistant",
    "aimessagechunk": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatbot": "assistant",
    "system": "system",
    "developer": "system",
    "systemmessage": "system",
    "tool": "tool",
    "toolmessage": "tool",
    "function": "tool",
    "functionmessage": "tool",
    "ipython": "tool",
}


def role(v: Any) -> str:
    s = as_str(v)
    if not s:
        return "user"
    low = s.lower()
    return _ROLES.get(low, low)


def _args(v: Any) -> Any:
    if isinstance(v, str):
        parsed = loads(v)
        return parsed if parsed is not None else v
    return v if v is not None else {}


def text_part(s: Any) -> Part:
    return {"type": "text", "content": s if isinstance(s, str) else dumps(s)}


def tool_call_part(id_: Any, name: Any, arguments: Any) -> Part:
    return {"type": "tool_call", "id": as_str(id_), "name": as_str(name) or "", "arguments": _args(arguments)}


def tool_response_part(id_: Any, response: Any) -> Part:
    return {"type": "tool_call_response", "id": as_str(id_), "response": response}


def part(p: Any) -> Part | None:
    """One content element in any known shape -> one semconv part."""
    if p is None:
        return None
    if isinstance(p, str):
        return text_part(p)
    if not isinstance(p, dict):
        return text_part(dumps(p))
    t = p.get("type")
    if isinstance(t, str):
        t = t.lower()
        if t in ("text", "input_text", "output_text"):
            c = p.get("content", p.get("text"))
            return text_part(c if c is not None else "")
        if t in ("tool_call", "tool_use", "tool-call", "function_call", "server_tool_use"):
            return tool_call_part(
                p.get("id", p.get("toolCallId", p.get("call_id"))),
                p.get("name", p.get("toolName")),
                p.get("arguments", p.get("input", p.get("args"))),
            )
        if t in ("tool_call_response", "tool_result", "tool-result", "function_call_output"):
            resp = p.get("response", p.get("result", p.get("output", p.get("content"))))
            # AI SDK v5+ wraps tool output: {"type": "json"|"text", "value": ...}
            if isinstance(resp, dict) and resp.get("type") in ("json", "text", "error-text", "error-json") and "value" in resp:
                resp = resp["value"]
            return tool_response_part(
                p.get("id", p.get("tool_use_id", p.get("toolCallId", p.get("call_id")))), resp
            )
        if t in ("reasoning", "thinking", "redacted_thinking"):
            c = p.get("content", p.get("text", p.get("thinking", p.get("data"))))
            return {"type": "reasoning", "content": c if isinstance(c, str) else dumps(c)}
        if t in ("image_url", "input_image"):
            iu = p.get("image_url")
            url = iu.get("url") if isinstance(iu, dict) else iu
            return {"type": "uri", "modality": "image", "uri": as_str(url) or ""}
        if t in ("blob", "uri", "file", "image", "audio", "video", "input_audio"):
            return dict(p)
        return dict(p)
    # Gemini part (no "type").
    if "text" in p:
        if p.get("thought") is True:
            return {"type": "reasoning", "content": as_str(p.get("text")) or ""}
        return text_part(p.get("text"))
    fc = p.get("functionCall", p.get("function_call"))
    if isinstance(fc, dict):
        return tool_call_part(fc.get("id"), fc.get("name"), fc.get("args", fc.get("arguments")))
    fr = p.get("functionResponse", p.get("function_response"))
    if isinstance(fr, dict):
        return tool_response_part(fr.get("id") or fr.get("name"), fr.get("response"))
    if "content" in p and len(p) <= 2:
        return text_part(p.get("content"))
    return text_part(dumps(p))


def _parts_from_content(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content)] if content != "" else []
    if isinstance(content, list):
        out = []
        for c in content[:MAX_INDEX]:
            pp = part(c)
            if pp is not None:
                out.append(pp)
        return out
    if isinstance(content, dict):
        pp = part(content)
        return [pp] if pp is not None else []
    return [text_part(dumps(content))]


def _unwrap_langchain(m: dict[str, Any]) -> dict[str, Any]:
    """LangChain serialized message {"lc":1,"type":"constructor","id":[...,"HumanMessage"],"kwargs":{...}}."""
    if m.get("lc") is not None and isinstance(m.get("kwargs"), dict):
        kw = dict(m["kwargs"])
        ids = m.get("id")
        if "role" not in kw:
            if isinstance(ids, list) and ids and isinstance(ids[-1], str):
                kw["role"] = ids[-1]
            elif "type" in kw:
                kw["role"] = kw["type"]
        return kw
    if "role" not in m and isinstance(m.get("type"), str) and isinstance(m.get("data"), dict):
        d = dict(m["data"])
        d.setdefault("role", m["type"])
        return d
    if "role" not in m and isinstance(m.get("type"), str) and m["type"].lower() in _ROLES:
        d = dict(m)
        d["role"] = d.pop("type")
        return d
    return m


def message(m: Any, default_role: str = "user") -> Message | None:
    """One message in any known shape -> one semconv message."""
    if m is None:
        return None
    if isinstance(m, str):
        return {"role": default_role, "parts": [text_part(m)]} if m else None
    if not isinstance(m, dict):
        return {"role": default_role, "parts": [text_part(dumps(m))]}
    m = _unwrap_langchain(m)
    r = role(m.get("role", m.get("author", default_role)))
    parts: list[Part]
    raw_parts = m.get("parts")
    if isinstance(raw_parts, list):
        parts = _parts_from_content(raw_parts)
    else:
        content = m.get("content")
        if content is None and "text" in m:
            content = m.get("text")
        if r == "tool" and m.get("tool_call_id", m.get("toolCallId")) is not None and not (
            isinstance(content, list) and any(isinstance(c, dict) and c.get("type") in ("tool_result", "tool-result", "tool_call_response") for c in content)
        ):
            resp = content
            if isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict):
                resp = content[0].get("text", content[0].get("content", content[0]))
            parts = [tool_response_part(m.get("tool_call_id", m.get("toolCallId")), resp)]
        else:
            parts = _parts_from_content(content)
    tcs = m.get("tool_calls")
    if isinstance(tcs, str):
        tcs = loads(tcs)
    if isinstance(tcs, list):
        for tc in tcs[:MAX_INDEX]:
            if not isinstance(tc, dict):
                continue
            fn = tc.get("function")
            if isinstance(fn, dict):
                parts.append(tool_call_part(tc.get("id"), fn.get("name"), fn.get("arguments")))
            else:
                parts.append(tool_call_part(tc.get("id"), tc.get("name"), tc.get("arguments", tc.get("args", tc.get("input")))))
    fc = m.get("function_call")
    if isinstance(fc, dict):
        parts.append(tool_call_part(None, fc.get("name"), fc.get("arguments")))
    out: Message = {"role": r, "parts": parts}
    fr = m.get("finish_reason", m.get("finishReason"))
    if fr is not None:
        f = finish_reason(fr)
        if f:
            out["finish_reason"] = f
    if r == "tool" and isinstance(m.get("name"), str) and parts and parts[0].get("type") == "tool_call_response":
        parts[0].setdefault("name", m["name"])
    return out


def messages(value: Any, default_role: str = "user", _depth: int = 0) -> list[Message]:
    """A list of messages from a JSON string, a list, a dict wrapping
    ``messages`` (LangChain nests them one level: [[...]]) or a plain string."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        parsed = loads(value)
        if parsed is None:
            s = value.decode(errors="replace") if isinstance(value, bytes) else value
            return [{"role": default_role, "parts": [text_part(s)]}] if s else []
        value = parsed
        if isinstance(value, str):
            return [{"role": default_role, "parts": [text_part(value)]}] if value else []
    if isinstance(value, dict):
        for key in ("messages", "contents"):
            inner = value.get(key)
            if isinstance(inner, list):
                return messages(inner, default_role, _depth + 1)
        m = message(value, default_role)
        return [m] if m else []
    if isinstance(value, list):
        out: list[Message] = []
        for item in value[:MAX_INDEX]:
            if isinstance(item, list) and _depth < 2:  # LangChain batches: [[msg, msg]]
                out.extend(messages(item, default_role, _depth + 1))
                continue
            m = message(item, default_role)
            if m is not None:
                out.append(m)
        return out
    return [{"role": default_role, "parts": [text_part(dumps(value))]}]


def split_system(msgs: list[Message]) -> tuple[list[Part], list[Message]]:
    """Move system-role messages out: (system parts, remaining messages)."""
    system: list[Part] = []
    rest: list[Message] = []
    for m in msgs:
        if m.get("role") == "system":
            system.extend(m.get("parts") or [])
        else:
            rest.append(m)
    return system, rest


def system_parts(value: Any) -> list[Part]:
    """gen_ai.system_instructions (a parts list, JSON or structured) or a plain
    system prompt string -> parts."""
    if value is None:
        return []
    if isinstance(value, str):
        parsed = loads(value)
        if parsed is None:
            return [text_part(value)] if value else []
        value = parsed
    if isinstance(value, str):
        return [text_part(value)] if value else []
    if isinstance(value, dict):
        if "parts" in value or "role" in value:
            m = message(value, "system")
            return list(m["parts"]) if m else []
        pp = part(value)
        return [pp] if pp else []
    if isinstance(value, list):
        out: list[Part] = []
        for item in value[:MAX_INDEX]:
            if isinstance(item, dict) and ("role" in item and "type" not in item):
                m = message(item, "system")
                if m:
                    out.extend(m["parts"])
            else:
                pp = part(item)
                if pp is not None:
                    out.append(pp)
        return out
    return [text_part(dumps(value))]


def inputs(value: Any) -> tuple[list[Part], list[Message]]:
    """Input messages with system content split out."""
    return split_system(messages(value, "user"))


def outputs(value: Any) -> list[Message]:
    return messages(value, "assistant")


def assistant_text(text: Any, finish: Any = None) -> Message:
    m: Message = {"role": "assistant", "parts": [text_part(text)] if text not in (None, "") else []}
    f = finish_reason(finish)
    if f:
        m["finish_reason"] = f
    return m
