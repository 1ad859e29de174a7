"""Chat messages (the canonical parts shape the API returns: text,
tool_call, tool_call_response, reasoning, blobs/uris) drawn as a
conversation: system instructions, user, assistant, tool calls and results."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

AVATARS = {"system": ":material/settings:", "user": ":material/person:", "assistant": ":material/smart_toy:",
           "tool": ":material/build:"}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _part(part: dict[str, Any]) -> None:
    kind = part.get("type")
    if kind == "text":
        st.markdown(_escape(str(part.get("content", ""))))
    elif kind == "tool_call":
        st.markdown(f"**Tool call** `{part.get('name', '?')}`" + (f" · id `{part['id']}`" if part.get("id") else ""))
        st.code(_as_text(part.get("arguments", {})), language="json")
    elif kind == "tool_call_response":
        st.markdown("**Tool result**" + (f" · id `{part['id']}`" if part.get("id") else ""))
        st.code(_as_text(part.get("response", part.get("result", ""))), language="json")
    elif kind == "reasoning":
        with st.expander("Reasoning"):
            st.markdown(_escape(str(part.get("content", ""))))
    else:
        st.code(_as_text(part), language="json")


def _escape(text: str) -> str:
    """Model output is text, not markup: keep it from being rendered as HTML
    or turning `$...$` into math."""
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("<", "&lt;")


def message(role: str, parts: list[dict[str, Any]], note: str | None = None) -> None:
    role = role or "user"
    with st.chat_message(role if role in ("user", "assistant") else role, avatar=AVATARS.get(role, ":material/chat:")):
        st.caption(role + (f" · {note}" if note else ""))
        for p in parts:
            _part(p if isinstance(p, dict) else {"type": "text", "content": str(p)})


def conversation(span: dict[str, Any]) -> bool:
    """Draw a span's system instructions, inputs and outputs; False when it has none."""
    shown = False
    system = span.get("system_instructions") or []
    if system:
        message("system", system)
        shown = True
    for m in span.get("input_messages") or []:
        message(m.get("role", "user"), m.get("parts", []))
        shown = True
    for m in span.get("output_messages") or []:
        reason = m.get("finish_reason")
        message(m.get("role", "assistant"), m.get("parts", []), f"finish: {reason}" if reason else "output")
        shown = True
    docs = span.get("documents") or []
    if docs:
        st.markdown("**Retrieved documents**")
        for d in docs:
            score = d.get("score")
            label = f"{d.get('id', 'document')}" + (f" · score {score}" if score is not None else "")
            with st.container(border=True):
                st.caption(label)
                st.markdown(_escape(str(d.get("content", ""))))
        shown = True
    return shown
