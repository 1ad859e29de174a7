"""The comparison report of a replay: per variant latency, throughput, tokens
and cost; agreement with the baseline and with production; paired bootstrap
confidence intervals; and a verdict against thresholds.

Paired, because every variant answered the same requests: the difference per
request removes most of the prompt-length variance that would swamp an
unpaired comparison of two latency distributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from replay.config import Thresholds
from replay.similarity import Embedder, rouge_l

__all__ = ["VariantInput", "build_report", "rouge_l"]

BOOTSTRAP_SAMPLES = 2000


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    arr = np.asarray(values, dtype=float)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(arr.mean())}


def bootstrap_ci(values: np.ndarray, stat, rng: np.random.Generator, level: float = 0.95) -> tuple[float, float] | None:  # type: ignore[no-untyped-def]
    """Percentile bootstrap over rows of `values`; `stat` maps a stack of
    resamples (axis 1 = the resampled rows) to one value per resample."""
    if len(values) < 2:
        return None
    idx = rng.integers(0, len(values), size=(BOOTSTRAP_SAMPLES, len(values)))
    stats = stat(values[idx])
    lo, hi = np.percentile(stats, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


@dataclass(slots=True)
class VariantInput:
    name: str
    results: list[dict[str, Any]]  # replay_results rows of this variant
    wall_seconds: float
    engine: list[dict[str, Any]]  # replay_engine_metrics rows of this variant
    gpu_hour_usd: float | None = None
    gpus: int = 1
    api_cost_usd: float | None = None


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6


def _engine_summary(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    drafts = sum(r["spec_drafts"] for r in rows)
    draft_tokens = sum(r["spec_draft_tokens"] for r in rows)
    accepted = sum(r["spec_accepted_tokens"] for r in rows)
    width = max((len(r["spec_accepted_per_pos"]) for r in rows), default=0)
    per_pos = [sum(r["spec_accepted_per_pos"][i] for r in rows if i < len(r["spec_accepted_per_pos"]))
               for i in range(width)]  # fmt: skip
    queue_n = sum(r["queue_time_count"] for r in rows)
    kv = [r["kv_cache_usage"] for r in rows if r["kv_cache_usage"] is not None]
    return {
        "members": len(rows),
        "spec_drafts": drafts,
        "spec_draft_tokens": draft_tokens,
        "spec_accepted_tokens": accepted,
        "spec_accepted_per_position": per_pos,
        "acceptance_per_position": [p / drafts for p in per_pos] if drafts else [],
        "acceptance_rate": accepted / draft_tokens if draft_tokens else None,
        "mean_accepted_length": 1 + accepted / drafts if drafts else None,
        "kv_cache_usage_peak": max(kv) if kv else None,
        "queue_time_mean_ms": sum(r["queue_time_seconds_sum"] for r in rows) / queue_n * 1e3 if queue_n else None,
    }


def build_report(
    variants: list[VariantInput],
    baseline: str,
    production: dict[str, str],
    thresholds: Thresholds,
    unreplayable: dict[str, int],
    selected: int,
    seed: int = 0,
    embedder: Embedder | None = None,
    scores: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`production`: source span id -> the production output text.
    `embedder`: adds embedding cosine to every agreement (None: not asked
    for).  `scores`: evaluator scores of the replayed outputs
    (`replay.scoring.score_variants`), shown per variant."""
    rng = np.random.default_rng(seed)
    if embedder is None:
        cosine_note = "not computed: not requested"
    else:
        cosine_note = "MiniLM (all-MiniLM-L6-v2) cosine" if embedder.available else embedder.reason
        embedder = embedder if embedder.available else None
    by_name = {v.name: v for v in variants}
    base_ok = {r["source_span_id"]: r for r in by_name[baseline].results if r["status"] == "ok"}
    report: dict[str, Any] = {
        "baseline": baseline,
        "selected": selected,
        "replayable": selected - sum(unreplayable.values()),
        "unreplayable": unreplayable,
        "thresholds": thresholds.model_dump(),
        "embedding_cosine": cosine_note,
        "evaluators": {k: {kk: vv for kk, vv in v.items() if kk != "variants"} for k, v in (scores or {}).items()},
        "variants": {},
    }
    for v in variants:
        ok = [r for r in v.results if r["status"] == "ok"]
        errors = len(v.results) - len(ok)
        out_tokens = sum(r["output_tokens"] for r in ok)
        itl = [x for r in ok for x in r["itl_ns"]]
        entry: dict[str, Any] = {
            "requests": len(v.results),
            "ok": len(ok),
            "errors": errors,
            "error_rate": errors / len(v.results) if v.results else 0.0,
            "ttft_ms": {k: _ms(x) for k, x in percentiles([r["ttft_ns"] for r in ok if r["ttft_ns"] is not None]).items()},
            "itl_ms": {k: _ms(x) for k, x in percentiles(itl).items()},
            "e2e_ms": {k: _ms(x) for k, x in percentiles([r["e2e_ns"] for r in ok]).items()},
            "wall_seconds": v.wall_seconds,
            "requests_per_second": len(ok) / v.wall_seconds if v.wall_seconds else None,
            "output_tokens_per_second": out_tokens / v.wall_seconds if v.wall_seconds else None,
            "input_tokens": sum(r["input_tokens"] for r in ok),
            "output_tokens": out_tokens,
            "cost_api_usd": v.api_cost_usd,
            "cost_self_hosted_usd": (v.gpu_hour_usd * v.gpus * v.wall_seconds / 3600) if v.gpu_hour_usd is not None else None,
            "engine": _engine_summary(v.engine),
        }
        prod = [(r["output_text"], production[r["source_span_id"]]) for r in ok if production.get(r["source_span_id"])]
        entry["vs_production"] = _agreement(prod, rng, embedder) if prod else None
        entry["scores"] = {name: s["variants"].get(v.name) for name, s in (scores or {}).items() if "variants" in s}
        if v.name != baseline:
            pairs = [(r, base_ok[r["source_span_id"]]) for r in ok if r["source_span_id"] in base_ok]
            entry["vs_baseline"] = _agreement([(a["output_text"], b["output_text"]) for a, b in pairs], rng, embedder)
            entry["paired"] = _paired(pairs, rng)
            entry["verdict"] = _verdict(entry, report["variants"][baseline], thresholds)
        report["variants"][v.name] = entry
    if len(variants) == 1:
        # One variant (typically a shadow candidate): judged against production.
        only = report["variants"][baseline]
        only["verdict"] = _verdict(only, None, thresholds)
    verdicts = [e["verdict"]["status"] for e in report["variants"].values() if "verdict" in e]
    answered = sum(e["ok"] for e in report["variants"].values())
    report["verdict"] = "no_data" if not answered else ("fail" if "fail" in verdicts else "pass")
    return report


def _mean(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1)


def _p95_ratio(samples: np.ndarray) -> np.ndarray:
    """samples[..., 0] candidate, [..., 1] baseline."""
    return np.percentile(samples[..., 0], 95, axis=1) / np.maximum(np.percentile(samples[..., 1], 95, axis=1), 1e-9)


def _agreement(pairs: list[tuple[str, str]], rng: np.random.Generator,
               embedder: Embedder | None = None) -> dict[str, Any]:  # fmt: skip
    if not pairs:
        return {"n": 0, "exact_match": None, "rouge_l": None, "embedding_cosine": None}
    measures = {
        "exact_match": np.array([a == b for a, b in pairs], dtype=float),
        "rouge_l": np.array([rouge_l(a, b) for a, b in pairs], dtype=float),
    }
    if embedder is not None:
        measures["embedding_cosine"] = embedder.cosines(pairs)
    out: dict[str, Any] = {"n": len(pairs), "embedding_cosine": None}
    for name, values in measures.items():
        out[name] = float(values.mean())
        out[f"{name}_ci95"] = bootstrap_ci(values, _mean, rng)
    return out


def _paired(pairs: list[tuple[dict[str, Any], dict[str, Any]]], rng: np.random.Generator) -> dict[str, Any]:
    """Per request, candidate minus baseline (ms), and the p95 ratio, each with
    a bootstrap CI over requests."""
    out: dict[str, Any] = {"n": len(pairs)}
    for key in ("e2e_ns", "ttft_ns"):
        both = [(a[key], b[key]) for a, b in pairs if a[key] is not None and b[key] is not None]
        if len(both) < 2:
            out[key[:-3]] = None
            continue
        arr = np.asarray(both, dtype=float) / 1e6
        diff = arr[:, 0] - arr[:, 1]

        out[key[:-3]] = {
            "mean_diff_ms": float(diff.mean()),
            "mean_diff_ms_ci95": bootstrap_ci(diff, _mean, rng),
            "p95_ratio": float(_p95_ratio(arr[None])[0]),
            "p95_ratio_ci95": bootstrap_ci(arr, _p95_ratio, rng),
        }
    return out


def _verdict(entry: dict[str, Any], base: dict[str, Any] | None, t: Thresholds) -> dict[str, Any]:
    """Against the baseline variant; with none (`base` None), the agreement
    is with production and latency is not judged."""
    reasons: list[str] = []
    change = None
    if base is not None:
        base_p95, cand_p95 = base["e2e_ms"]["p95"], entry["e2e_ms"]["p95"]
        change = (cand_p95 / base_p95 - 1) if base_p95 and cand_p95 is not None else None
    if change is not None and change > t.max_p95_latency_increase:
        reasons.append(f"e2e p95 {change:+.1%} against the baseline (limit {t.max_p95_latency_increase:+.0%})")
    against = "baseline" if base is not None else "production"
    agreement = (entry.get(f"vs_{against}") or {}).get(t.agreement_metric)
    if agreement is None or agreement < t.min_agreement:
        reasons.append(f"agreement with {against} ({t.agreement_metric}) "
                       f"{agreement if agreement is None else round(agreement, 3)} below {t.min_agreement}")  # fmt: skip
    if entry["error_rate"] > t.max_error_rate:
        reasons.append(f"error rate {entry['error_rate']:.1%} above {t.max_error_rate:.0%}")
    faster = change is not None and change < 0
    return {
        "status": "fail" if reasons else "pass",
        "reasons": reasons,
        "p95_latency_change": change,
        "wins": not reasons and faster,
    }
