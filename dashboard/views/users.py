"""Users and sessions: usage, cost and latency per user and per session;
picking one lists its traces (links open them on the Traces page)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import fmt, ui
from dashboard.api import Call
from dashboard.filters import Filters
from dashboard.nav import pages

KINDS = {"user": ("Users", "user_id"), "session": ("Sessions", "session_id")}
ORDER = {"cost_total": "Cost", "requests": "Requests", "latency_p95": "Latency p95", "errors": "Errors",
         "last_seen": "Last active"}  # fmt: skip


def _table(items: list[dict], kind: str) -> pd.DataFrame:
    return pd.DataFrame([{
        KINDS[kind][0][:-1]: i["group"],
        "Requests": i["requests"],
        "Cost": fmt.usd(i["cost_total"]),
        "Cost / request": fmt.usd(i["cost_per_request"]),
        "Tokens in": i["input_tokens"],
        "Tokens out": i["output_tokens"],
        "Errors": i["errors"],
        "Latency p50": fmt.ms((i["latency_ms"] or {}).get("p50")),
        "Latency p95": fmt.ms((i["latency_ms"] or {}).get("p95")),
        "TTFT p50": fmt.ms((i["ttft_ms"] or {}).get("p50")),
        "Traces": i["traces"],
        "Sessions" if kind == "user" else "Users": i["sessions"] if kind == "user" else i["users"],
        "Last active": fmt.when(i["last_seen_ns"]),
    } for i in items if i["group"]])  # fmt: skip


def _cost(t: dict) -> str:
    if not t["llm_calls"]:
        return "no LLM calls"
    return "unpriced" if t["cost_total"] is None else fmt.usd(t["cost_total"])


def calls(f: Filters, kind: str = "user", order: str = "cost_total", limit: int = 100) -> list[Call]:
    """The API reads this page makes (bench/dashboard.py times the same list)."""
    return [Call("/breakdown", f.api(group_by=kind, order_by=order, limit=limit))]


def render() -> None:
    f = ui.filters_sidebar()
    st.title("Users & sessions")
    a, b, c = st.columns([1, 1, 1])
    kind = a.radio("Show", list(KINDS), format_func=lambda k: KINDS[k][0], horizontal=True, key="us_kind")
    order = b.selectbox("Order by", list(ORDER), format_func=ORDER.get, key="us_order")
    limit = int(c.number_input("How many", min_value=1, max_value=5000, value=100, step=10, key="us_limit"))
    (res,) = ui.fetch(*calls(f, kind, order, limit))
    df = _table(res["items"], kind)
    if df.empty:
        ui.empty_state(f)
        return
    st.caption(f"{len(df)} {KINDS[kind][0].lower()} with LLM calls in {f.label()}. Click a row to list its traces.")
    event = st.dataframe(df, hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key=f"us_table_{kind}_{order}_{limit}")  # fmt: skip
    rows = event.selection.rows if event is not None else []
    picked = df.iloc[rows[0]][KINDS[kind][0][:-1]] if rows else st.query_params.get(kind, "")
    if not picked:
        return
    st.query_params[kind] = picked
    st.subheader(f"Traces of {kind} {picked}")
    (traces,) = ui.fetch(Call("/traces", f.api(limit=50, **{KINDS[kind][1]: picked})))
    if not traces["items"]:
        st.caption("No traces in this range.")
        return
    for t in traces["items"]:
        st.page_link(
            pages()["traces"], query_params={"trace": t["trace_id"]},
            label=f"{fmt.when(t['start_ns'])} · {t['root_name'] or 'trace'} · {fmt.ms(t['duration_ns'] / 1e6)} · "
                  f"{_cost(t)}",
        )  # fmt: skip
