"""Traces: a filterable list, then one trace as a waterfall, then one span's
conversation, numbers and raw attributes.  `?trace=<id>&span=<id>` in the
URL opens a trace and a span directly (deep links)."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, fmt, messages, ui
from dashboard.api import Call

PAGE_SIZE = 50
ORDERS = {"start": "Newest first", "duration": "Slowest first", "cost": "Most expensive first", "errors": "Most errors first"}
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def render() -> None:
    f = ui.filters_sidebar()
    trace_id = st.query_params.get("trace", "")
    if trace_id:
        if not _HEX32.match(trace_id):
            st.title("Traces")
            st.error(f"Trace id {trace_id!r} is not valid: a trace id is 32 lowercase hex characters.")
            _back_button()
            return
        trace_view(trace_id)
        return
    trace_list(f)


def _back_button() -> None:
    if st.button("← All traces"):
        for k in ("trace", "span"):
            st.query_params.pop(k, None)
        st.rerun()


def list_calls(f: Any, order: str = "start", page: int = 1) -> list[Call]:
    """The API reads the list makes (bench/dashboard.py times the same list)."""
    path = "/traces" if order == "start" else "/ranked-traces"
    extra = {} if order == "start" else {"order_by": order}
    return [Call(path, f.api(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **extra))]


def trace_calls(trace_id: str) -> list[Call]:
    return [Call(f"/traces/{trace_id}")]


def trace_list(f: Any) -> None:
    st.title("Traces")
    top = st.columns([2, 2, 1])
    order = top[0].selectbox("Order", list(ORDERS), format_func=ORDERS.get, key="trace_order")
    page = int(top[2].number_input("Page", min_value=1, value=1, step=1, key="trace_page"))
    with top[1]:
        wanted = st.text_input("Open trace by id", placeholder="32 hex characters", key="trace_goto")
    if wanted:
        if _HEX32.match(wanted.strip().lower()):
            st.query_params["trace"] = wanted.strip().lower()
            st.session_state["trace_goto"] = ""
            st.rerun()
        st.error("A trace id is 32 hex characters, e.g. 4bf92f3577b34da6a3ce929d0e0e4736.")
    (res,) = ui.fetch(*list_calls(f, order, page))
    items = res["items"]
    if not items:
        if page > 1:
            st.info("No more traces: go back a page.")
        else:
            ui.empty_state(f)
        return
    st.caption(f"Traces {(page - 1) * PAGE_SIZE + 1}–{(page - 1) * PAGE_SIZE + len(items)} in {f.label()}. "
               "Click a row to open its waterfall.")  # fmt: skip
    df = pd.DataFrame([{
        "Time (UTC)": fmt.when(t["start_ns"])[:-4],
        "Trace": t["root_name"] or "(no root span)",
        "Service": t["service_name"],
        "Duration (ms)": t["duration_ns"] / 1e6,
        "Spans": t["span_count"],
        "LLM calls": t["llm_calls"],
        "Errors": t["error_count"],
        "Tokens in": t["input_tokens"],
        "Tokens out": t["output_tokens"],
        "Cost": ("unpriced" if t["cost_total"] is None else fmt.usd(t["cost_total"])) if t["llm_calls"] else "",
        "Models": ", ".join(t["models"]),
        "User": t["user_id"],
        "Session": t["session_id"],
        "Trace id": t["trace_id"],
    } for t in items])  # fmt: skip
    event = st.dataframe(
        df, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        key=f"trace_table_{order}_{page}", height=min(38 + 35 * len(df), 640),
        column_config={"Duration (ms)": st.column_config.NumberColumn(format="%.0f")},
    )  # fmt: skip
    rows = event.selection.rows if event is not None else []
    if rows:
        st.query_params["trace"] = items[rows[0]]["trace_id"]
        st.query_params.pop("span", None)
        st.rerun()


def _flatten(nodes: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    out = []
    for n in sorted(nodes, key=lambda x: x["start_ns"]):
        out.append({**n, "depth": depth})
        out.extend(_flatten(n.get("children", []), depth + 1))
    return out


def trace_view(trace_id: str) -> None:
    (trace,) = ui.fetch(*trace_calls(trace_id))
    spans = _flatten(trace["roots"])
    _back_button()
    root = spans[0]
    st.title(root["name"] or "Trace")
    st.caption(f"trace `{trace_id}` · {root['service_name']} · {fmt.when(root['start_ns'])}")
    llm = [s for s in spans if s["span_type"] in ("llm", "embedding") and s["counts_usage"]]
    start = min(s["start_ns"] for s in spans)
    end = max(s["start_ns"] + s["duration_ns"] for s in spans)
    cost = sum((fmt.dec(s["cost_total"]) for s in llm if s["cost_total"] is not None), fmt.dec(0))
    cols = st.columns(7)
    cols[0].metric("Duration", fmt.ms((end - start) / 1e6))
    cols[1].metric("Spans", fmt.count(len(spans)))
    cols[2].metric("LLM calls", fmt.count(len(llm)))
    cols[3].metric("Input tokens", fmt.count(sum(s["input_tokens"] for s in llm)))
    cols[4].metric("Output tokens", fmt.count(sum(s["output_tokens"] for s in llm)))
    cols[5].metric("Cost", fmt.usd(cost) if llm else "—")
    cols[6].metric("Errors", fmt.count(sum(1 for s in spans if s["status_code"] == 2)))

    by_id = {s["span_id"]: s for s in spans}
    selected = st.query_params.get("span", "")
    if selected not in by_id:
        selected = next((s["span_id"] for s in spans if s["span_type"] == "llm"), spans[0]["span_id"])
    st.subheader("Waterfall")
    st.altair_chart(charts.waterfall(spans, selected), width="stretch")
    table = pd.DataFrame([{
        "Span": ("· " * s["depth"]) + s["name"],
        "Type": s["span_type"],
        "Model": s["model"],
        "Start (ms)": (s["start_ns"] - start) / 1e6,
        "Duration (ms)": s["duration_ns"] / 1e6,
        "Tokens in": s["input_tokens"],
        "Tokens out": s["output_tokens"],
        "Cost": fmt.usd(s["cost_total"]) if s["cost_total"] is not None else "",
        "Status": "error" if s["status_code"] == 2 else "ok",
    } for s in spans])  # fmt: skip
    st.caption("Click a span to see its messages.")
    event = st.dataframe(
        table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        key=f"span_table_{trace_id}", height=38 + 35 * len(table),
        column_config={"Start (ms)": st.column_config.NumberColumn(format="%.1f"),
                       "Duration (ms)": st.column_config.NumberColumn(format="%.1f")},
    )  # fmt: skip
    rows = event.selection.rows if event is not None else []
    if rows and spans[rows[0]]["span_id"] != selected:
        st.query_params["span"] = spans[rows[0]]["span_id"]
        st.rerun()
    span_detail(by_id[selected])


def span_detail(s: dict[str, Any]) -> None:
    st.divider()
    st.subheader(f"Span: {s['name']}")
    st.caption(f"span `{s['span_id']}` · {s['span_type']} · {s.get('dialect') or 'generic'} · "
               f"{s.get('provider') or ''} {s.get('model') or ''}")  # fmt: skip
    if s["status_code"] == 2:
        st.error(f"Error: {s.get('error_type') or ''} {s.get('status_message') or ''}".strip())
    cols = st.columns(6)
    cols[0].metric("Latency", fmt.ms(s["duration_ns"] / 1e6))
    cols[1].metric("TTFT", fmt.ms(s["ttft_ns"] / 1e6) if s.get("ttft_ns") is not None else "—")
    cols[2].metric("Input tokens", fmt.count(s["input_tokens"]))
    cols[3].metric("Output tokens", fmt.count(s["output_tokens"]))
    cols[4].metric("Cached tokens", fmt.count(s["cache_read_tokens"]))
    if s["span_type"] in ("llm", "embedding"):
        cost = fmt.usd(s["cost_total"]) if s["cost_total"] is not None else "unpriced"
    else:
        cost = "—"
    cols[5].metric("Cost", cost)
    if s.get("cost_total") is not None and s["span_type"] in ("llm", "embedding"):
        parts = [f"{k.removeprefix('cost_')} {fmt.usd(s[k])}" for k in
                 ("cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_reasoning")
                 if fmt.dec(s.get(k))]  # fmt: skip
        st.caption("Cost: " + " + ".join(parts) + f" · priced by {s.get('price_source') or '?'}"
                   + (f" · provider reported {fmt.usd(s['provider_cost'])}" if s.get("provider_cost") else ""))  # fmt: skip
    if not s["counts_usage"] and s["span_type"] in ("llm", "embedding"):
        st.info("This span wraps a call another span already counts: its tokens and cost are not added again.")
    st.markdown("#### Messages")
    if not messages.conversation(s):
        st.caption("This span carries no messages (content capture off, or not an LLM span).")
    with st.expander("Raw attributes"):
        st.json({"span": s.get("span_attributes", {}), "resource": s.get("resource_attributes", {})}, expanded=True)
        if s.get("genai_events"):
            st.json({"genai_events": s["genai_events"]}, expanded=False)
