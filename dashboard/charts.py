"""Charts and tables built the same way on every page: altair (interactive:
tooltips, zoom on time axes), money as exact decimal strings turned into
floats only for drawing, columns labelled with their unit."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from dashboard import fmt

TYPE_COLORS = {"agent": "#4c78a8", "llm": "#54a24b", "embedding": "#88d27a", "tool": "#f58518",
               "retriever": "#b279a2", "chain": "#72b7b2", "other": "#9d9d9d"}
TIME_UNITS = {"minute": "yearmonthdatehoursminutes", "hour": "yearmonthdatehours", "day": "yearmonthdate"}


def _time(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["time"] = pd.to_datetime(df["bucket_start"], unit="s", utc=True)
    return df


def time_bars(df: pd.DataFrame, column: str, title: str, bucket: str, *, money: bool = False,
              group: str | None = None) -> alt.Chart:  # fmt: skip
    """Bars per time bucket, stacked by `group` when given."""
    if df.empty:
        df = pd.DataFrame({"bucket_start": [], column: [], "group": []})
    df = _time(df)
    df["value"] = pd.to_numeric(df[column], errors="coerce").fillna(0.0)
    df["shown"] = [fmt.usd(v) if money else fmt.count(v) for v in df[column].fillna(0)]
    tooltip = [alt.Tooltip("time:T", title="time (UTC)", format="%Y-%m-%d %H:%M"), alt.Tooltip("shown:N", title=title)]
    enc: dict[str, Any] = {
        "x": alt.X(f"{TIME_UNITS[bucket]}(time):T", title=None, axis=alt.Axis(format="%b %d %H:%M")),
        "y": alt.Y("sum(value):Q", title=title, axis=alt.Axis(format="$,.4f" if money else ",d")),
    }
    if group:
        df["group"] = df["group"].replace("", "(none)")
        enc["color"] = alt.Color("group:N", title=group, legend=alt.Legend(orient="bottom", columns=4, labelLimit=220))
        tooltip.insert(1, alt.Tooltip("group:N", title=group))
    return (
        alt.Chart(df, height=300)
        .mark_bar()
        .encode(**enc, tooltip=tooltip)
        .interactive(bind_y=False)
    )


def breakdown_table(items: list[dict[str, Any]], label: str) -> pd.DataFrame:
    rows = []
    for i in items:
        lat = i.get("latency_ms") or {}
        rows.append({
            label: i["group"] or "(none)",
            "Requests": fmt.count(i["requests"]),
            "Cost": fmt.usd(i["cost_total"]),
            "Cost / request": fmt.usd(i.get("cost_per_request")),
            "Error rate": fmt.pct(i["error_rate"]),
            "Latency p50": fmt.ms(lat.get("p50")),
            "Latency p95": fmt.ms(lat.get("p95")),
            "Input tokens": fmt.count(i["input_tokens"]),
            "Output tokens": fmt.count(i["output_tokens"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def waterfall(spans: list[dict[str, Any]], selected: str | None) -> alt.Chart:
    """One bar per span from its start to its end, relative to the trace's
    start, in tree order; the selected span solid, errors outlined red."""
    t0 = min(s["start_ns"] for s in spans)
    rows = []
    for i, s in enumerate(spans):
        start = (s["start_ns"] - t0) / 1e6
        rows.append({
            "order": i, "label": f"{i + 1}. {'· ' * s['depth']}{s['name']}", "span_id": s["span_id"],
            "start_ms": start, "end_ms": start + max(s["duration_ns"], 1) / 1e6,
            "duration": fmt.ms(s["duration_ns"] / 1e6), "type": s.get("span_type") or "other",
            "status": "error" if s.get("status_code") == 2 else "ok", "model": s.get("model") or "",
            "cost": fmt.usd(s.get("cost_total")) if s.get("cost_total") is not None else "",
            "selected": s["span_id"] == selected,
        })  # fmt: skip
    df = pd.DataFrame(rows)
    present = [t for t in TYPE_COLORS if t in set(df["type"])] + sorted(set(df["type"]) - set(TYPE_COLORS))
    TYPE_COLORS_ALL = {**{t: "#9d9d9d" for t in present}, **TYPE_COLORS}
    # Labels are unique (numbered in tree order), so sorting by them as a list keeps the tree order.
    y = alt.Y("label:N", sort=list(df["label"]), title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False))
    bars = alt.Chart(df).mark_bar(cornerRadius=2, height={"band": 0.7}).encode(
        x=alt.X("start_ms:Q", title="ms since trace start"),
        x2="end_ms:Q",
        y=y,
        color=alt.Color("type:N", title="span type", scale=alt.Scale(domain=present, range=[TYPE_COLORS_ALL[t] for t in present])),
        stroke=alt.condition("datum.status == 'error'", alt.value("#d62728"), alt.value(None)),
        opacity=alt.condition("datum.selected", alt.value(1.0), alt.value(0.55)),
        tooltip=["label:N", "type:N", "model:N", "duration:N", "cost:N", "status:N"],
    )
    return bars.properties(height=alt.Step(28))


def score_lines(items: list[dict[str, Any]], bucket: str, title: str = "Mean score") -> alt.Chart:
    """Mean score per time bucket, one line per evaluator/metric, with the
    count and flagged results in the tooltip."""
    df = pd.DataFrame(items or [], columns=["bucket", "evaluator", "metric", "source", "n", "mean", "min", "max", "flagged"])
    df["time"] = pd.to_datetime(df["bucket"], utc=True)
    df["series"] = df["evaluator"] + " · " + df["metric"]
    return (
        alt.Chart(df, height=280)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{TIME_UNITS[bucket]}(time):T", title=None, axis=alt.Axis(format="%b %d %H:%M")),
            y=alt.Y("mean:Q", title=title),
            color=alt.Color("series:N", title="evaluator · metric", legend=alt.Legend(orient="bottom", columns=3, labelLimit=260)),
            tooltip=[alt.Tooltip("time:T", title="time (UTC)", format="%Y-%m-%d %H:%M"), "series:N",
                     alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("min:Q", format=".3f"), "n:Q", "flagged:Q"],
        )  # fmt: skip
        .interactive(bind_y=False)
    )


def pvalue_lines(rows: list[dict[str, Any]], alpha: float = 0.05) -> alt.Chart:
    """Drift p-value per feature over time on a log axis, with the alpha line:
    points below it are windows that differ from their baseline window."""
    df = pd.DataFrame(rows)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    df["p"] = df["p_value"].clip(lower=1e-6)
    lines = alt.Chart(df, height=280).mark_line(point=True).encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%b %d %H:%M")),
        y=alt.Y("p:Q", title="p-value (log)", scale=alt.Scale(type="log", domain=[1e-6, 1]),
                axis=alt.Axis(values=[1e-6, 1e-4, 1e-2, 1], format=".0e", grid=True)),
        color=alt.Color("series:N", title="feature (model)", legend=alt.Legend(orient="bottom", columns=3, labelLimit=260)),
        tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "series:N", alt.Tooltip("p_value:Q", format=".4g"),
                 alt.Tooltip("effect_size:Q", format=".3f"), "baseline_n:Q", "current_n:Q", "label:N"],
    )  # fmt: skip
    rule = alt.Chart(pd.DataFrame({"alpha": [alpha]})).mark_rule(color="#d62728", strokeDash=[4, 4]).encode(y="alpha:Q")
    return (lines + rule).interactive(bind_y=False)


def bars(rows: list[dict[str, Any]], x: str, y: str, x_title: str, y_title: str, height: int = 260) -> alt.Chart:
    """Horizontal bars, largest first (findings by type, latency per variant)."""
    df = pd.DataFrame(rows)
    return alt.Chart(df, height=height).mark_bar().encode(
        y=alt.Y(f"{x}:N", sort="-x", title=x_title, axis=alt.Axis(labelLimit=260)),
        x=alt.X(f"{y}:Q", title=y_title, axis=alt.Axis(format=",d", tickMinStep=1)),
        tooltip=[f"{x}:N", alt.Tooltip(f"{y}:Q", format=",")],
    )
