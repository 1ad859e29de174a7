"""Costs: spend over time stacked by any dimension, top-N tables, cost per
request and per user, cached-token savings, provider-reported against
computed cost, unpriced calls (add a price, then reprice), CSV export."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pandas as pd
import streamlit as st

from dashboard import charts, fmt, ui
from dashboard.api import ApiError, Call
from dashboard.filters import Filters
from dashboard.views.overview import bucket_for

DIMENSIONS = {"model": "Model", "provider": "Provider", "service": "Service", "user": "User", "session": "Session",
              "attr": "Attribute…"}  # fmt: skip
_ATTR_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}$")
STACK_LIMIT = 10
# Few values (a rollup answers them): the whole series, folded here.  Every
# other dimension (users, sessions, attribute values) can have 100k values:
# the API ranks and folds them (/usage/top-series), so the answer stays small.
LOW_CARDINALITY = ("model", "provider", "service")


def _stack_top(df: pd.DataFrame, keep: int) -> pd.DataFrame:
    """Keep the `keep` costliest groups; fold the rest into "(other)" so the
    stacked totals still add up to the API's."""
    if df.empty:
        return df
    df = df.copy()
    df["_cost"] = pd.to_numeric(df["cost_total"], errors="coerce").fillna(0.0)
    top = df.groupby("group")["_cost"].sum().sort_values(ascending=False).head(keep).index
    df.loc[~df["group"].isin(top), "group"] = "(other)"
    return df


def calls(f: Filters, group_by: str = "model", top_n: int = 10) -> list[Call]:
    """The API reads this page makes (bench/dashboard.py times the same list)."""
    start, end = f.window()
    bucket = bucket_for(start, end)
    if group_by in LOW_CARDINALITY:
        series = Call("/usage", f.api(bucket=bucket, group_by=group_by))
    else:
        series = Call("/usage/top-series", f.api(bucket=bucket, group_by=group_by, limit=STACK_LIMIT))
    return [
        Call("/summary", f.api()),
        series,
        Call("/breakdown", f.api(group_by=group_by, limit=top_n)),
        Call("/costs/provider-comparison", f.api(group_by="model")),
        Call("/costs/cache-savings", f.api(group_by="model")),
        Call("/unpriced", f.api()),
    ]


def render() -> None:
    f = ui.filters_sidebar()
    st.title("Costs")
    c1, c2, c3 = st.columns([1, 1, 1])
    if "cost_dim" not in st.session_state and st.query_params.get("by") in DIMENSIONS:
        st.session_state["cost_dim"] = st.query_params["by"]  # ?by=user links straight to a stacking
    dim = c1.selectbox("Stack and rank by", list(DIMENSIONS), format_func=DIMENSIONS.get, key="cost_dim")
    if st.query_params.get("by", "model") != dim:
        st.query_params["by"] = dim
    group_by = dim
    if dim == "attr":
        key = c2.text_input("Attribute key", value="app.feature", key="cost_attr_key").strip()
        if not _ATTR_KEY.match(key):
            st.error(f"Attribute key {key!r} is not valid: letters, digits and _ . - / : only, e.g. app.feature")
            return
        group_by = f"attr:{key}"
    top_n = int(c3.number_input("Top N", min_value=1, max_value=500, value=10, step=1, key="cost_top_n"))
    start, end = f.window()
    bucket = bucket_for(start, end)
    summary, usage, top, comparison, savings, unpriced = ui.fetch(*calls(f, group_by, top_n))
    cur, prev = summary["current"], summary["previous"]
    if not cur["requests"]:
        ui.empty_state(f)
        return
    per_user = (fmt.dec(cur["cost_total"]) / cur["users"]) if cur["users"] and cur["cost_total"] is not None else None
    prev_per_user = (fmt.dec(prev["cost_total"]) / prev["users"]) if prev["users"] and prev["cost_total"] is not None else None
    per_req = fmt.dec(cur["cost_total"]) / cur["requests"] if cur["cost_total"] is not None else None
    prev_req = fmt.dec(prev["cost_total"]) / prev["requests"] if prev["requests"] and prev["cost_total"] is not None else None
    row = st.columns(5)
    row[0].metric("Total cost", fmt.usd(cur["cost_total"]), fmt.change(cur["cost_total"], prev["cost_total"]),
                  delta_color="inverse", border=True)  # fmt: skip
    row[1].metric("Cost per request", fmt.usd(per_req), fmt.change(per_req, prev_req), delta_color="inverse", border=True)
    row[2].metric("Cost per user", fmt.usd(per_user), fmt.change(per_user, prev_per_user), delta_color="inverse", border=True)
    row[3].metric("Saved by cached tokens", fmt.usd(savings["total_saving"]), border=True)
    row[4].metric("Unpriced calls", fmt.count(unpriced["total_calls"]), border=True)

    label = DIMENSIONS[dim] if dim != "attr" else group_by[5:]
    st.subheader(f"Cost over time by {label.lower()}")
    df = pd.DataFrame(usage["items"])
    stacked = _stack_top(df, STACK_LIMIT) if dim in LOW_CARDINALITY else df  # the API already folded the rest
    st.altair_chart(charts.time_bars(stacked, "cost_total", "Cost (USD)", bucket, money=True,
                                     group=label), width="stretch")  # fmt: skip
    if dim not in LOW_CARDINALITY:
        st.caption(f"The {STACK_LIMIT} costliest values over the range; (other) holds all the rest.")
    if not df.empty:
        st.download_button(
            "Download CSV", df.to_csv(index=False).encode(), file_name=f"llmobs-cost-by-{dim}-{start}-{end}.csv",
            mime="text/csv", help="Every bucket and group as the API returned it (exact decimal costs).",
        )  # fmt: skip

    st.subheader(f"Top {top_n} by cost: {label.lower()}")
    st.dataframe(charts.breakdown_table(top["items"], label), hide_index=True, width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Cached-token savings")
        if savings["items"]:
            st.dataframe(pd.DataFrame([{
                "Model": i["group"], "Cached tokens": fmt.count(i["cache_read_tokens"]),
                "Calls with cache": fmt.count(i["cached_requests"]), "Cached tokens cost": fmt.usd(i["cost_cache_read"]),
                "Saved": fmt.usd(i["saving"]),
            } for i in savings["items"]]), hide_index=True, width="stretch")  # fmt: skip
            st.caption("Saved = cached tokens at the model's uncached input rate, minus what they cost.")
        else:
            st.caption("No priced call read cached input tokens in this range.")
    with right:
        st.subheader("Provider-reported vs computed")
        if comparison["items"]:
            st.dataframe(pd.DataFrame([{
                "Model": i["group"], "Calls compared": fmt.count(i["calls_compared"]),
                "Reported": fmt.usd(i["provider_cost"]), "Computed": fmt.usd(i["our_cost"]),
                "Difference": fmt.usd(i["difference"]),
                "Max rel. diff": fmt.pct(i["max_relative_difference"]) if i["calls_compared"] else "—",
            } for i in comparison["items"]]), hide_index=True, width="stretch")  # fmt: skip
            st.caption("Cost some instrumentations report themselves (OpenLIT, OpenInference, pydantic-ai) beside llmobs's.")
        else:
            st.caption("No call in this range carries a cost reported by its instrumentation.")

    unpriced_section(unpriced, f)
    reprice_section(f)


def unpriced_section(unpriced: dict, f) -> None:  # type: ignore[no-untyped-def]
    st.subheader("Unpriced calls")
    if not unpriced["items"]:
        st.caption("Every call in this range has a price.")
        return
    st.dataframe(pd.DataFrame([{
        "Model": i["model"] or "(none)", "Provider": i["provider"], "Why": i["price_status"],
        "Calls": fmt.count(i["calls"]), "Input tokens": fmt.count(i["input_tokens"]),
        "Output tokens": fmt.count(i["output_tokens"]), "Last seen": fmt.when(i["last_seen_ns"]),
    } for i in unpriced["items"]]), hide_index=True, width="stretch")  # fmt: skip
    models = [i["model"] for i in unpriced["items"] if i["model"]]
    with st.form("add_price", clear_on_submit=False):
        st.markdown("**Add a price** (USD per million tokens, or a self-hosted GPU cost)")
        a, b = st.columns(2)
        model = a.selectbox("Model", models, key="price_model") if models else a.text_input("Model", key="price_model")
        exact = b.checkbox("Match this model exactly", value=True, help="Otherwise the text is a regular expression")
        pattern = b.text_input("…or a regular expression", key="price_pattern", placeholder="acme-.*")
        c = st.columns(4)
        inp = c[0].text_input("Input $/Mtok", key="price_in", placeholder="0.50")
        out = c[1].text_input("Output $/Mtok", key="price_out", placeholder="1.50")
        gpu = c[2].text_input("GPU $/hour (self-hosted)", key="price_gpu", placeholder="2.10")
        tps = c[3].text_input("Tokens/s (self-hosted)", key="price_tps", placeholder="1500")
        submitted = st.form_submit_button("Add price")
    if submitted:
        chosen = pattern.strip() if pattern.strip() and not exact else re.escape((model or "").strip())
        body: dict[str, str] = {"model_pattern": chosen}
        errors = [] if chosen else ["name a model or a regular expression"]
        for name, value in (("input_per_mtok", inp), ("output_per_mtok", out), ("gpu_hour_usd", gpu), ("tokens_per_second", tps)):
            if value.strip():
                if fmt.dec(value.strip()) is None or fmt.dec(value.strip()) < 0:
                    errors.append(f"{name.replace('_', ' ')} {value!r} is not a number ≥ 0, e.g. 0.50")
                else:
                    body[name] = value.strip()
        if not any(k in body for k in ("input_per_mtok", "output_per_mtok", "gpu_hour_usd")):
            errors.append("give input and output prices per million tokens, or a GPU cost per hour with tokens/s")
        if ("gpu_hour_usd" in body) != ("tokens_per_second" in body):
            errors.append("a self-hosted price needs both GPU $/hour and tokens/s")
        for e in errors:
            st.error(e)
        if not errors:
            try:
                r = ui.client().request("POST", "/prices", json=body)
            except ApiError as exc:
                ui.show_error(exc)
            else:
                st.success(f"Price {r['id']} added for {r['model_pattern']!r}. New calls use it; "
                           "reprice the range below to update past calls.")  # fmt: skip


def reprice_section(f) -> None:  # type: ignore[no-untyped-def]
    st.subheader("Reprice")
    start, end = f.window()
    st.caption(f"Recompute stored costs for {fmt.when(start * 10**9)} → {fmt.when(end * 10**9)} with today's prices "
               "(after adding or changing a price).")  # fmt: skip
    if not st.button("Reprice this range", key="reprice"):
        return
    try:
        job = ui.client().request("POST", "/jobs/reprice", json={"since": str(start), "until": str(end)})
        bar = st.progress(0.0, text="repricing…")
        deadline = time.monotonic() + 600
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            bar.progress(min(float(job.get("progress") or 0.0), 1.0), text=f"repricing… {job['status']}")
            time.sleep(0.5)
            job = ui.client().get(f"/jobs/{job['id']}")
    except ApiError as exc:
        ui.show_error(exc)
        return
    if job["status"] != "succeeded":
        st.error(f"Reprice {job['status']}: {job.get('error') or 'still running; check again later'}")
        return
    bar.progress(1.0, text="done")
    r = job["result"]
    st.success(f"Repriced: {r['spans_changed']} of {r['spans_examined']} spans changed.")
    st.dataframe(pd.DataFrame([{"": k, "Calls": r[k]["calls"], "Priced": r[k]["priced"],
                                "Cost": fmt.usd(Decimal(str(r[k]["cost_total"] or 0)))} for k in ("before", "after")]),
                 hide_index=True)  # fmt: skip
    st.cache_data.clear()
