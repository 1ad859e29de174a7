"""Quality: what the evaluators found.  Scores over time per evaluator and
metric, grounding and hallucination scores, PII findings by entity type,
drift p-values against the baseline window, the newest failing spans (each
opens its trace), and the evaluator configs with their run history.

Everything comes from the evaluations API; only the sidebar's time range
applies here, because scores are stored per span without the span filters.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, fmt, ui
from dashboard.api import Call, params
from dashboard.filters import Filters
from dashboard.nav import pages
from dashboard.views.overview import bucket_for

HALLUCINATION = ("grounding", "faithfulness_ragas", "hallucination_deepeval")
FLAGGED = {"fail", "ungrounded", "unfaithful", "hallucinated", "leak", "drift"}


def calls(f: Filters, evaluator: str = "") -> list[Call]:
    """The API reads this page makes (bench/dashboard.py times the same list)."""
    start, end = f.window()
    window = params(start=start, end=end)
    return [
        Call("/evaluators/configs"),
        Call("/evaluators"),
        Call("/evaluations/scores", window + params(bucket=bucket_for(start, end))),
        Call("/evaluations/findings", window + params(evaluator="pii")),
        Call("/evaluations/drift", window),
        Call("/evaluations/failing", window + params(evaluator=evaluator, limit=20)),
        Call("/evaluators/runs", params(limit=50)),
    ]


def summarize(items: list[dict[str, Any]]) -> pd.DataFrame:
    """Per evaluator and metric over the range: results, mean score (weighted
    by each bucket's count), min, max, flagged."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for i in items:
        r = rows.setdefault((i["evaluator"], i["metric"]), {"n": 0, "sum": 0.0, "min": None, "max": None, "flagged": 0})
        if i["mean"] is not None:
            r["sum"] += i["mean"] * i["n"]
            r["n"] += i["n"]
        r["flagged"] += i["flagged"]
        for k, pick in (("min", min), ("max", max)):
            if i[k] is not None:
                r[k] = i[k] if r[k] is None else pick(r[k], i[k])
    return pd.DataFrame([{
        "Evaluator": ev, "Metric": m, "Results": r["n"], "Mean score": mean_score(r),
        "Min": r["min"], "Max": r["max"], "Flagged": r["flagged"],
    } for (ev, m), r in sorted(rows.items())])  # fmt: skip


def mean_score(r: dict[str, Any]) -> float | None:
    return round(r["sum"] / r["n"], 4) if r["n"] else None


def render() -> None:
    f = ui.filters_sidebar()
    st.title("Quality")
    ui.show_done()
    start, end = f.window()
    bucket = bucket_for(start, end)
    top = st.columns([2, 3])
    configs, evaluators, scores, pii, drift, failing, runs = ui.fetch(*calls(f, st.session_state.get("q_eval", "")))
    names = sorted({i["evaluator"] for i in scores["items"]} | {c["evaluator"] for c in configs["items"]})
    chosen = top[0].selectbox("Evaluator", [""] + names, key="q_eval", format_func=lambda v: v or "all evaluators")
    top[1].caption(f"{fmt.when(start * 10**9)} → {fmt.when(end * 10**9)}. Only the time range applies on this page; "
                   "scores come from the evaluators below and from apps' gen_ai.evaluation.result events.")  # fmt: skip
    if not configs["items"] and not scores["items"]:
        st.info("No evaluator has scored anything yet. Turn one on below (heuristics needs no model; pii, grounding "
                "and drift run offline), or send gen_ai.evaluation.result events from your app.")  # fmt: skip
    shown = [i for i in scores["items"] if not chosen or i["evaluator"] == chosen]

    st.subheader("Scores over time")
    table = summarize(shown)
    if table.empty:
        st.caption("No scores in this range" + (f" from {chosen}." if chosen else "."))
    else:
        totals = st.columns(3)
        totals[0].metric("Results", fmt.count(int(table["Results"].sum())), border=True)
        totals[1].metric("Flagged", fmt.count(int(table["Flagged"].sum())), border=True)
        totals[2].metric("Metrics", fmt.count(len(table)), border=True)
        st.altair_chart(charts.score_lines(shown, bucket), width="stretch")
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={"Mean score": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip

    left, right = st.columns(2)
    with left:
        st.subheader("Grounding and hallucination")
        hall = [i for i in scores["items"] if i["evaluator"] in HALLUCINATION]
        if hall:
            st.altair_chart(charts.score_lines(hall, bucket, "Mean grounding / faithfulness"), width="stretch")
            st.dataframe(summarize(hall), hide_index=True, width="stretch")
        else:
            st.caption("No grounding or judge scores in this range (evaluators grounding, faithfulness_ragas, "
                       "hallucination_deepeval).")  # fmt: skip
    with right:
        st.subheader("PII findings by entity type")
        if pii["items"]:
            st.altair_chart(charts.bars(pii["items"], "type", "findings", "entity type", "findings"), width="stretch")
            st.table(pd.DataFrame([{"Entity type": i["type"], "Findings": i["findings"], "Spans": i["spans"]}
                                   for i in pii["items"]]).set_index("Entity type"))  # fmt: skip
        else:
            st.caption("No PII found in this range (or the pii evaluator is off). Matched text is never stored: "
                       "only the entity type, position and score.")  # fmt: skip

    drift_section(drift["items"])
    failing_section(failing["items"], chosen)
    configs_section(configs["items"], evaluators["items"])
    runs_section(runs["items"], configs["items"])


def _details(row: dict[str, Any]) -> dict[str, Any]:
    try:
        d = json.loads(row.get("details") or "{}")
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def drift_section(items: list[dict[str, Any]]) -> None:
    st.subheader("Drift against the baseline window")
    if not items:
        st.caption("No drift comparisons in this range. The drift evaluator compares each window of spans with "
                   "the window before it (params.window_seconds).")  # fmt: skip
        return
    rows = []
    for i in items:
        d = _details(i)
        rows.append({**i, "series": f"{i['feature']} ({i['model'] or 'all models'})", "effect_size": d.get("effect_size"),
                     "baseline_n": d.get("baseline_n"), "current_n": d.get("current_n"), "test": d.get("test", "")})  # fmt: skip
    st.altair_chart(charts.pvalue_lines(rows), width="stretch")
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest[r["series"]] = r  # rows come oldest first
    st.dataframe(pd.DataFrame([{
        "Feature": r["feature"], "Model": r["model"] or "all", "Test": r["test"], "p-value": r["p_value"],
        "Effect size": r["effect_size"], "Baseline n": r["baseline_n"], "Current n": r["current_n"],
        "Verdict": "drift" if r["label"] == "drift" else "stable", "Window end": str(r["time"])[:16],
    } for r in latest.values()]), hide_index=True, width="stretch",
        column_config={"p-value": st.column_config.NumberColumn(format="%.4g"),
                       "Effect size": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip
    st.caption("Latest window per feature. Below the red line (p < 0.05, Holm-corrected per run) the current window "
               "differs from its baseline window; the effect size says by how much.")  # fmt: skip


def failing_section(items: list[dict[str, Any]], chosen: str) -> None:
    st.subheader("Recent failing spans")
    if not items:
        st.caption("No failing span in this range" + (f" for {chosen}." if chosen else "."))
        return
    st.caption("Newest first: a failing label, or findings such as PII. Each link opens the span in its trace.")
    trace_page = pages()["traces"]
    for (trace_id, span_id), results in failing_by_span(items).items():
        first = results[0]
        checks = ", ".join(f"{i['evaluator']}/{i['metric']} {i['label'] or 'flagged'}"
                           + ("" if i["score"] is None else f" ({i['score']:.3f})") for i in results)  # fmt: skip
        label = f"{fmt.when(first['time_ns'])[5:-4]} · {first['service_name'] or '?'} {first['model'] or ''} · {checks}"
        st.page_link(trace_page, label=label, query_params={"trace": trace_id, "span": span_id})
        notes = "; ".join(i["explanation"] for i in results if i.get("explanation"))
        if notes:
            st.caption(notes[:300])


def failing_by_span(items: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """One entry per span (a span can fail several checks), newest first."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i in items:
        out.setdefault((i["trace_id"], i["span_id"]), []).append(i)
    return out


def configs_section(configs: list[dict[str, Any]], evaluators: list[dict[str, Any]]) -> None:
    st.subheader("Evaluators")
    if configs:
        st.dataframe(pd.DataFrame([{
            "Id": c["id"], "Name": c["name"], "Evaluator": c["evaluator"], "Enabled": c["enabled"],
            "Schedule": c["schedule"], "Sampling": fmt.pct(c["sampling_rate"]),
            "Filters": json.dumps(c["filters"]) if c["filters"] else "all spans",
            "Params": json.dumps(c["params"]) if c["params"] else "",
            "Next run (UTC)": (c.get("next_run_at") or "")[:19].replace("T", " "),
        } for c in configs]), hide_index=True, width="stretch")  # fmt: skip
    else:
        st.caption("No evaluator configured in this project.")
    installed = [e["name"] for e in evaluators if e["installed"]]
    a, b = st.columns(2)
    with a.form("new_eval", clear_on_submit=False):
        st.markdown("**Turn on an evaluator**")
        ev = st.selectbox("Evaluator", installed, key="ne_evaluator")
        name = st.text_input("Name (unique; default: the evaluator's)", key="ne_name")
        c1, c2 = st.columns(2)
        schedule = c1.text_input("Schedule", value="1m", key="ne_schedule", help="30s, 5m, 1h, or a 5-field cron (UTC)")
        rate = c2.number_input("Sampling rate", min_value=0.0, max_value=1.0, value=1.0, step=0.05, key="ne_rate")
        c3, c4 = st.columns(2)
        service = c3.text_input("Only service", key="ne_service")
        span_type = c4.text_input("Only span type", key="ne_span_type", placeholder="llm")
        raw = st.text_area("Params (JSON)", value="{}", key="ne_params", height=68,
                           help='e.g. {"window_seconds": 3600, "features": ["input_tokens"]} for drift')  # fmt: skip
        if st.form_submit_button("Create"):
            try:
                p = json.loads(raw or "{}")
            except ValueError as exc:
                st.error(f"Params are not JSON: {exc}. Example: {{\"window_seconds\": 3600}}")
            else:
                filt = {k: v for k, v in (("service", service.strip()), ("span_type", span_type.strip())) if v}
                body = {"evaluator": ev, "schedule": schedule.strip(), "sampling_rate": rate, "filters": filt, "params": p}
                if name.strip():
                    body["name"] = name.strip()
                if ui.act("POST", "/evaluators/configs", body) is not None:
                    ui.done(f"Evaluator {body.get('name', ev)} created; it runs on its schedule.")
    if not configs:
        return
    by_id = {c["id"]: c for c in configs}
    b.markdown("**Change an evaluator**")
    # Outside the form: the fields below follow the chosen config at once.
    cid = b.selectbox("Config", list(by_id), format_func=lambda i: f"{by_id[i]['name']} ({by_id[i]['evaluator']})",
                      key="ee_id")  # fmt: skip
    cur = by_id[cid]
    with b.form("edit_eval"):
        c1, c2 = st.columns(2)
        schedule = c1.text_input("Schedule", value=cur["schedule"], key=f"ee_schedule_{cid}")
        rate = c2.number_input("Sampling rate", min_value=0.0, max_value=1.0, value=float(cur["sampling_rate"]),
                               step=0.05, key=f"ee_rate_{cid}")  # fmt: skip
        enabled = st.checkbox("Enabled", value=cur["enabled"], key=f"ee_enabled_{cid}")
        save, delete = st.columns(2)
        if save.form_submit_button("Save"):
            if ui.act("PATCH", f"/evaluators/configs/{cid}",
                      {"schedule": schedule.strip(), "sampling_rate": rate, "enabled": enabled}) is not None:  # fmt: skip
                ui.done(f"Saved {cur['name']}.")
        if delete.form_submit_button("Delete"):
            if ui.act("DELETE", f"/evaluators/configs/{cid}") is not None:
                ui.done(f"Deleted {cur['name']}; its scores stay.")


def runs_section(runs: list[dict[str, Any]], configs: list[dict[str, Any]]) -> None:
    st.subheader("Run history")
    if not runs:
        st.caption("No runs yet.")
        return
    names = {c["id"]: c["name"] for c in configs}
    st.dataframe(pd.DataFrame([{
        "Started (UTC)": (r["started_at"] or "")[:19].replace("T", " "), "Evaluator": names.get(r["config_id"], r["config_id"]),
        "Kind": r["kind"], "Status": r["status"], "Spans read": r["spans_read"], "Scored": r["spans_scored"],
        "Results": r["results_written"], "Attempts": r["attempts"], "Duration": fmt.ms(r["duration_ms"]),
        "Error": r.get("error") or "",
    } for r in runs]), hide_index=True, width="stretch")  # fmt: skip
