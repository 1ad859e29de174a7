"""Replay: runs of captured traffic against candidate variants, with their
status and progress, and one run's report per variant: latency p50/p95/p99
(TTFT, inter-token, end to end), throughput, tokens and cost, agreement with
the baseline and with production, speculative-decoding acceptance, and the
verdict with its reasons.  `?run=<id>` opens a run directly.

Runs are started with `llmobs replay run` or POST /replay/runs; this page
reads the replay API only.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import fmt, ui
from dashboard.api import Call, params

VERDICTS = {"pass": ":green[pass]", "fail": ":red[fail]", "no_data": ":gray[no data]"}


def calls() -> list[Call]:
    """The API reads this page makes (bench/dashboard.py times the same list):
    runs, and the jobs that carry their status and progress."""
    return [Call("/replay/runs", params(limit=50)), Call("/jobs")]


def run_rows(runs: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {j["id"]: j for j in jobs}
    out = []
    for r in runs:
        job = by_id.get(r.get("job_id") or "")
        summary = r.get("summary") or {}
        if r["kind"] == "shadow":
            status = "shadow"
        else:
            status = job["status"] if job else "unknown"
        out.append({
            "id": r["id"], "kind": r["kind"], "created": (r["created_at"] or "")[:19].replace("T", " "),
            "variants": ", ".join(v["name"] for v in (r.get("variants") or {}).get("variants", [])),
            "baseline": (r.get("variants") or {}).get("baseline") or "", "status": status,
            "progress": float(job["progress"] or 0.0) if job else 0.0, "verdict": summary.get("verdict", ""),
            "selected": summary.get("selected"), "error": (job or {}).get("error") or "",
        })  # fmt: skip
    return out


def render() -> None:
    st.title("Replay")
    runs, jobs = ui.fetch(*calls())
    rows = run_rows(runs["items"], jobs["items"])
    if not rows:
        st.info("No replay runs yet. Replay captured LLM calls against candidate models with "
                "`llmobs replay run --from '<filter>' --variants variants.yaml` (or POST /api/v1/replay/runs); "
                "runs and their reports appear here.")  # fmt: skip
        return
    running = [r for r in rows if r["status"] in ("queued", "running")]
    for r in running:
        st.progress(min(r["progress"], 1.0), text=f"run {r['id'][:8]} ({r['variants']}): {r['status']} "
                    f"{r['progress']:.0%}")  # fmt: skip
    df = pd.DataFrame([{
        "Created (UTC)": r["created"], "Run": r["id"], "Kind": r["kind"], "Variants": r["variants"],
        "Baseline": r["baseline"], "Status": r["status"], "Progress": r["progress"], "Verdict": r["verdict"] or "—",
        "Calls selected": r["selected"], "Error": r["error"],
    } for r in rows])  # fmt: skip
    st.caption("Click a run to read its report.")
    event = st.dataframe(df, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key="replay_runs",
                         column_config={"Progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})  # fmt: skip
    picked = event.selection.rows if event is not None else []
    wanted = rows[picked[0]]["id"] if picked else st.query_params.get("run", "")
    if not wanted:
        wanted = rows[0]["id"]
    if wanted not in {r["id"] for r in rows}:
        st.error(f"Run {wanted!r} is not one of this project's last {len(rows)} runs.")
        return
    if st.query_params.get("run") != wanted:
        st.query_params["run"] = wanted
    run = next(r for r in rows if r["id"] == wanted)
    if st.button("Refresh", key="replay_refresh"):
        st.cache_data.clear()
        st.rerun()
    report_section(run)


def report_section(run: dict[str, Any]) -> None:
    st.subheader(f"Run {run['id']}")
    report = ui.optional(Call(f"/replay/runs/{run['id']}/report"))
    if report is None:
        if run["status"] in ("queued", "running", "shadow"):
            st.info(f"The run is {run['status']} ({run['progress']:.0%}); its report appears when it finishes.")
        else:
            st.warning(f"This run has no report ({run['status']}). {run['error']}".strip())
        return
    variants = report["variants"]
    top = st.columns(4)
    top[0].markdown(f"**Verdict:** {VERDICTS.get(report['verdict'], report['verdict'])}")
    top[1].metric("Calls selected", fmt.count(report["selected"]), border=True)
    top[2].metric("Replayable", fmt.count(report["replayable"]), border=True)
    top[3].metric("Variants", fmt.count(len(variants)), border=True)
    if report.get("unreplayable"):
        st.caption("Not replayable: " + ", ".join(f"{n} {why}" for why, n in report["unreplayable"].items()))
    st.markdown("**Latency**")
    st.table(variant_table(report).set_index("Variant"))  # a few rows: plain HTML, every cell readable
    st.markdown("**Throughput, cost and agreement**")
    st.table(outcome_table(report).set_index("Variant"))
    st.altair_chart(latency_chart(variants), width="stretch")
    spec = spec_table(variants)
    st.markdown("**Speculative decoding** (from each pool member's /metrics before and after the run)")
    if spec.empty:
        st.caption("No engine metrics were recorded (the pool is not vLLM, or its /metrics was unreachable).")
    else:
        st.table(spec.set_index("Variant"))
    st.markdown("**Verdicts** (thresholds: " + ", ".join(f"{k} {v}" for k, v in report["thresholds"].items()) + ")")
    for name, v in variants.items():
        verdict = v.get("verdict")
        if not verdict:
            st.markdown(f"- **{name}**: baseline")
            continue
        change = verdict.get("p95_latency_change")
        extra = f"; e2e p95 {change:+.1%} against the baseline" if change is not None else ""
        reasons = "; ".join(verdict["reasons"]) or ("faster and as good" if verdict.get("wins") else "within thresholds")
        st.markdown(f"- **{name}**: {VERDICTS.get(verdict['status'], verdict['status'])}{extra}: {reasons}")


def _p(v: dict[str, Any] | None, key: str) -> str:
    return fmt.ms((v or {}).get(key))


def _rate(value: Any, unit: str) -> str:
    return "—" if value is None else f"{value:,.2f} {unit}"


def _name(name: str, report: dict[str, Any]) -> str:
    return name + (" (baseline)" if name == report["baseline"] else "")


def variant_table(report: dict[str, Any]) -> pd.DataFrame:
    """Latency per variant: end to end, time to first token, inter-token."""
    rows = []
    for name, v in report["variants"].items():
        rows.append({
            "Variant": _name(name, report), "Requests": v["requests"], "OK": v["ok"], "Errors": v["errors"],
            **{f"E2E {p}": _p(v["e2e_ms"], p) for p in ("p50", "p95", "p99")},
            **{f"TTFT {p}": _p(v["ttft_ms"], p) for p in ("p50", "p95", "p99")},
            **{f"ITL {p}": _p(v["itl_ms"], p) for p in ("p50", "p95", "p99")},
        })  # fmt: skip
    return pd.DataFrame(rows)


def outcome_table(report: dict[str, Any]) -> pd.DataFrame:
    """Throughput, tokens, cost and agreement per variant."""
    rows = []
    for name, v in report["variants"].items():
        cost = v.get("cost_api_usd") if v.get("cost_api_usd") is not None else v.get("cost_self_hosted_usd")
        base, prod = v.get("vs_baseline") or {}, v.get("vs_production") or {}
        rows.append({
            "Variant": _name(name, report),
            "Requests/s": _rate(v.get("requests_per_second"), "/s"),
            "Output tok/s": _rate(v.get("output_tokens_per_second"), "/s"),
            "Input tokens": fmt.count(v["input_tokens"]), "Output tokens": fmt.count(v["output_tokens"]),
            "Cost": fmt.usd(cost) if cost is not None else "—",
            "Exact match vs baseline": fmt.pct(base.get("exact_match")) if base else "—",
            "ROUGE-L vs baseline": f"{base['rouge_l']:.3f}" if base.get("rouge_l") is not None else "—",
            "ROUGE-L vs production": f"{prod['rouge_l']:.3f}" if prod.get("rouge_l") is not None else "—",
            "Verdict": (v.get("verdict") or {}).get("status", "baseline"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def spec_table(variants: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, v in variants.items():
        e = v.get("engine")
        if not e:
            continue
        rows.append({
            "Variant": name, "Pool members": fmt.count(e["members"]), "Drafts": fmt.count(e["spec_drafts"]),
            "Draft tokens": fmt.count(e["spec_draft_tokens"]), "Accepted tokens": fmt.count(e["spec_accepted_tokens"]),
            "Acceptance rate": fmt.pct(e["acceptance_rate"]) if e["acceptance_rate"] is not None else "no drafts",
            "Mean accepted length": f"{e['mean_accepted_length']:.2f}" if e["mean_accepted_length"] is not None else "—",
            "Acceptance by position": ", ".join(f"{x:.0%}" for x in e["acceptance_per_position"]) or "—",
            "KV cache peak": fmt.pct(e["kv_cache_usage_peak"]) if e["kv_cache_usage_peak"] is not None else "—",
            "Queue time (mean)": fmt.ms(e["queue_time_mean_ms"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def latency_chart(variants: dict[str, Any]) -> alt.Chart:
    rows = [{"variant": name, "measure": measure, "percentile": p, "ms": (v[key] or {}).get(p)}
            for name, v in variants.items()
            for measure, key in (("end to end", "e2e_ms"), ("time to first token", "ttft_ms"))
            for p in ("p50", "p95", "p99")]  # fmt: skip
    df = pd.DataFrame(rows).dropna(subset=["ms"])
    return (
        alt.Chart(df, height=200)
        .mark_bar()
        .encode(
            x=alt.X("percentile:N", title=None),
            xOffset="variant:N",
            y=alt.Y("ms:Q", title="ms"),
            color=alt.Color("variant:N", legend=alt.Legend(orient="bottom")),
            column=alt.Column("measure:N", title=None),
            tooltip=["variant:N", "measure:N", "percentile:N", alt.Tooltip("ms:Q", format=",.1f")],
        )
    )
