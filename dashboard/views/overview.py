"""Overview: the range's totals with their trend against the previous period
of the same length, cost and requests over time, top models and services."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, fmt, ui
from dashboard.api import Call
from dashboard.filters import Filters


def bucket_for(start: int, end: int) -> str:
    span = end - start
    return "minute" if span <= 3 * 3600 else "hour" if span <= 3 * 86400 else "day"


def calls(f: Filters) -> list[Call]:
    """The API reads this page makes (bench/dashboard.py times the same list)."""
    start, end = f.window()
    return [
        Call("/summary", f.api()),
        Call("/usage", f.api(bucket=bucket_for(start, end))),
        Call("/breakdown", f.api(group_by="model", limit=10)),
        Call("/breakdown", f.api(group_by="service", limit=10)),
    ]


def render() -> None:
    f = ui.filters_sidebar()
    st.title("Overview")
    start, end = f.window()
    bucket = bucket_for(start, end)
    summary, usage, models, services = ui.fetch(*calls(f))
    cur, prev = summary["current"], summary["previous"]
    st.caption(f"{fmt.when(start * 10**9)} → {fmt.when(end * 10**9)}; trends compare with the {f.label()} before it.")
    if not cur["requests"]:
        ui.empty_state(f)
        return
    row = st.columns(4)
    row[0].metric("Requests", fmt.count(cur["requests"]), fmt.change(cur["requests"], prev["requests"]), border=True)
    row[1].metric("Cost", fmt.usd(cur["cost_total"]), fmt.change(cur["cost_total"], prev["cost_total"]),
                  delta_color="inverse", border=True)  # fmt: skip
    row[2].metric("Error rate", fmt.pct(cur["error_rate"]), fmt.point_change(cur["error_rate"], prev["error_rate"]) if prev["requests"] else None,
                  delta_color="inverse", border=True)  # fmt: skip
    row[3].metric("Users", fmt.count(cur["users"]), fmt.change(cur["users"], prev["users"]), border=True)
    row = st.columns(4)
    row[0].metric("Input tokens", fmt.count(cur["input_tokens"]), fmt.change(cur["input_tokens"], prev["input_tokens"]), border=True)
    row[1].metric("Output tokens", fmt.count(cur["output_tokens"]), fmt.change(cur["output_tokens"], prev["output_tokens"]), border=True)
    row[2].metric("Traces", fmt.count(cur["traces"]), fmt.change(cur["traces"], prev["traces"]), border=True)
    row[3].metric("Sessions", fmt.count(cur["sessions"]), fmt.change(cur["sessions"], prev["sessions"]), border=True)
    if cur["unpriced"]:
        st.warning(f"{fmt.count(cur['unpriced'])} calls have no price and are not in the cost. Add a price on the Costs page.")

    st.subheader("Latency")
    lat, pl = cur["latency_ms"] or {}, prev["latency_ms"] or {}
    ttft, pt = cur["ttft_ms"] or {}, prev["ttft_ms"] or {}
    row = st.columns(6)
    for i, p in enumerate(("p50", "p95", "p99")):
        row[i].metric(f"Latency {p}", fmt.ms(lat.get(p)), fmt.change(lat.get(p), pl.get(p)), delta_color="inverse", border=True)
        row[3 + i].metric(f"TTFT {p}", fmt.ms(ttft.get(p)), fmt.change(ttft.get(p), pt.get(p)), delta_color="inverse", border=True)
    st.caption(f"TTFT (time to first token) from {fmt.count(cur['ttft_samples'])} streamed calls.")

    st.subheader("Over time")
    df = pd.DataFrame(usage["items"])
    left, right = st.columns(2)
    with left:
        st.altair_chart(charts.time_bars(df, "cost_total", "Cost (USD)", bucket, money=True), width="stretch")
    with right:
        st.altair_chart(charts.time_bars(df, "requests", "Requests", bucket), width="stretch")

    left, right = st.columns(2)
    for col, res, title in ((left, models, "Top models"), (right, services, "Top services")):
        with col:
            st.subheader(title)
            st.dataframe(charts.breakdown_table(res["items"], "Model" if res is models else "Service"),
                         hide_index=True, width="stretch")  # fmt: skip

