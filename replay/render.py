"""A replay report as terminal tables (rich), for `llmobs replay run/report`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_f(x, fmt) for x in v) + "]"
    return fmt.format(v)


def _agreement(a: dict[str, Any] | None) -> str:
    if not a:
        return "-"
    return f"{_f(a['rouge_l'], '{:.3f}')} / {_f(a['exact_match'], '{:.2f}')} / {_f(a.get('embedding_cosine'), '{:.3f}')}"


def _scores(report: dict[str, Any], console: Console) -> None:
    """Evaluator scores of each variant's outputs (mean score, scored/total, labels)."""
    evaluators: dict[str, Any] = report.get("evaluators") or {}
    if not evaluators:
        return
    table = Table(title="evaluator scores on the replayed outputs (mean; scored of ok; labels)")
    table.add_column("variant")
    for name, e in evaluators.items():
        table.add_column(name if e.get("status") == "ok" else f"{name} ({e.get('status')})")
    for variant, v in report["variants"].items():
        cells = []
        for name in evaluators:
            s = (v.get("scores") or {}).get(name)
            cells.append("-" if not s else f"{_f(s['mean'], '{:.3f}')}; {s['n']}/{s['n'] + s['not_applicable']}; "
                         + ", ".join(f"{k} {n}" for k, n in s["labels"].items()))  # fmt: skip
        table.add_row(variant, *cells)
    console.print(table)
    for name, e in evaluators.items():
        if e.get("status") != "ok":
            console.print(f"{name}: {e.get('status')}: {e.get('reason', '')}")


def render(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    variants: dict[str, Any] = report["variants"]
    console.print(
        f"run {report.get('run_id', '')}: {report['selected']} selected, {report['replayable']} replayable"
        + (f", not replayable: {report['unreplayable']}" if report["unreplayable"] else "")
    )
    lat = Table(title="latency (ms) and throughput")
    for col in ("variant", "ok/err", "TTFT p50", "p95", "p99", "ITL p50", "p95", "p99", "e2e p50", "p95", "p99",
                "req/s", "out tok/s", "cost USD"):  # fmt: skip
        lat.add_column(col, justify="right")
    for name, v in variants.items():
        cost = v["cost_api_usd"] if v["cost_api_usd"] is not None else v["cost_self_hosted_usd"]
        lat.add_row(
            name + (" (baseline)" if name == report["baseline"] else ""), f"{v['ok']}/{v['errors']}",
            *(_f(v[m][p]) for m in ("ttft_ms", "itl_ms", "e2e_ms") for p in ("p50", "p95", "p99")),
            _f(v["requests_per_second"], "{:.2f}"), _f(v["output_tokens_per_second"]), _f(cost, "{:.6f}"),
        )  # fmt: skip
    console.print(lat)
    agree = Table(title="agreement (ROUGE-L F1 / exact match / embedding cosine) and verdict")
    for col in ("variant", "vs baseline", "vs production", "e2e p95 ratio [95% CI]", "verdict"):
        agree.add_column(col)
    for name, v in variants.items():
        vb, vp = v.get("vs_baseline"), v.get("vs_production")
        paired = (v.get("paired") or {}).get("e2e") or {}
        verdict = v.get("verdict") or {}
        agree.add_row(
            name,
            _agreement(vb),
            _agreement(vp),
            f"{_f(paired.get('p95_ratio'), '{:.3f}')} {_f(paired.get('p95_ratio_ci95'), '{:.3f}')}" if paired else "-",
            (verdict.get("status", "-") + (" (wins)" if verdict.get("wins") else "")
             + ("".join(f"\n  {r}" for r in verdict.get("reasons", [])))),  # fmt: skip
        )
    console.print(agree)
    if report.get("embedding_cosine") and not str(report["embedding_cosine"]).startswith("MiniLM"):
        console.print(f"embedding cosine {report['embedding_cosine']}")
    _scores(report, console)
    spec = Table(title="engine (vLLM /metrics deltas)")
    for col in ("variant", "drafts", "draft tok", "accepted", "acceptance", "per position", "mean acc. len",
                "KV peak", "queue ms"):  # fmt: skip
        spec.add_column(col, justify="right")
    for name, v in variants.items():
        e = v.get("engine")
        if not e:
            spec.add_row(name, *["-"] * 8)
            continue
        spec.add_row(
            name, _f(e["spec_drafts"], "{:.0f}"), _f(e["spec_draft_tokens"], "{:.0f}"),
            _f(e["spec_accepted_tokens"], "{:.0f}"), _f(e["acceptance_rate"], "{:.3f}"),
            _f(e["acceptance_per_position"], "{:.2f}"), _f(e["mean_accepted_length"], "{:.2f}"),
            _f(e["kv_cache_usage_peak"], "{:.3f}"), _f(e["queue_time_mean_ms"]),
        )  # fmt: skip
    console.print(spec)
    console.print(f"verdict: {report['verdict']}")
