"""One run of one evaluator config: read the spans it has not seen, score
them, store the scores, move the watermark.

The watermark moves only after the scores of a page are written, so a crash
or a failed insert means the page is scored again next time, and the
evaluations table's dedup key turns that second copy into a replacement.
A page that keeps failing (after `retries` attempts with backoff) fails the
run; the watermark stays, the next scheduled run tries again, and the run
history shows the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from evaluators import registry
from evaluators.base import EvalResult, SpanEvaluator, SpanRecord, WindowEvaluator
from storage.clickhouse.evaluation_queries import EvaluationQueries, SpanSelection, result_row
from storage.clickhouse.evaluation_queries import Watermark as QueryWatermark
from storage.metadata.evaluation_repo import EvaluationRepo, EvaluatorConfig, RunCounts, Watermark

log = logging.getLogger(__name__)
NS = 10**9
# Told about every batch of scores written: (project, results, the scored span rows by (trace id, span id)).
OnResults = Callable[[str, list[EvalResult], dict[tuple[str, str], dict[str, Any]]], object]


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    batch_spans: int = 500
    max_pages: int = 20
    settle_seconds: float = 2.0
    lookback_seconds: float = 86400.0
    retries: int = 3
    retry_backoff_seconds: float = 0.5
    # Evaluators the streaming scorer runs on fresh spans (evaluators/worker/stream.py):
    # scheduled runs of these skip spans that already have a score of the same
    # version and wait `stream_settle_seconds`, so they only catch up what the
    # stream missed (a full queue, a restart) instead of scoring twice.
    streamed: frozenset[str] = frozenset()
    stream_settle_seconds: float = 15.0


def selection(config: EvaluatorConfig) -> SpanSelection:
    f = config.filters
    return SpanSelection(
        project_id=config.project_id, service=f.get("service"), model=f.get("model"), span_type=f.get("span_type"),
        attributes=dict(f.get("attributes") or {}), sampling_rate=config.sampling_rate,
    )  # fmt: skip


def _json(text: str) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def span_record(project_id: str, row: dict[str, Any], context: list[str]) -> SpanRecord:
    attrs = dict(row.get("span_attributes") or {})
    own_context = [attrs[k] for k in ("llmobs.context", "gen_ai.context") if attrs.get(k)]
    ttft = row.get("ttft_ns")
    return SpanRecord(
        project_id=project_id, trace_id=row["trace_id"], span_id=row["span_id"], start_time_ns=int(row["start_ns"]),
        service_name=row.get("service_name", ""), span_type=row.get("span_type", ""),
        operation=row.get("operation", ""), provider=row.get("provider", ""), model=row.get("model", ""),
        input_messages=_json(row.get("input_messages", "")), output_messages=_json(row.get("output_messages", "")),
        system_instructions=_json(row.get("system_instructions", "")), context=own_context + context,
        input_tokens=int(row.get("input_tokens") or 0), output_tokens=int(row.get("output_tokens") or 0),
        duration_ms=(row.get("duration_ns") or 0) / 1e6, ttft_ms=None if ttft is None else ttft / 1e6,
        cost_total=row.get("cost_total"), finish_reasons=list(row.get("finish_reasons") or []),
        error_type=row.get("error_type", ""), status_code=int(row.get("status_code") or 0),
        tool_names=[row["tool_name"]] if row.get("tool_name") else [], attributes=attrs,
    )  # fmt: skip


class ConfigRunner:
    """Runs configs against one ClickHouse client (not thread-safe: one per task)."""

    def __init__(self, queries: EvaluationQueries, repo: EvaluationRepo, options: RunnerOptions,
                 scorers: Callable[[EvaluatorConfig], SpanEvaluator | WindowEvaluator],
                 on_results: OnResults | None = None,
                 stream_since: Callable[[int], int | None] | None = None) -> None:  # fmt: skip
        self.q = queries
        self.repo = repo
        self.opt = options
        self._scorer = scorers
        self._on_results = on_results
        # config id -> when (unix us) this process's stream began to score that config, if it has
        self._stream_since = stream_since

    # ---- scoring one page

    def score_rows(self, scorer: SpanEvaluator, config: EvaluatorConfig, rows: list[dict[str, Any]], counts: RunCounts) -> int:
        """Score stored span rows (SPAN_FIELDS) and write the results; the
        scheduled runs, backfills and the streaming scorer all come here."""
        lo = min(int(r["start_ns"]) for r in rows) - 3600 * NS
        hi = max(int(r["start_ns"]) for r in rows) + 3600 * NS
        # Scorers that never read `context` (an optional `needs_context = False`) skip the lookup.
        context = (
            self.q.trace_context(config.project_id, sorted({r["trace_id"] for r in rows}), lo, hi)
            if getattr(scorer, "needs_context", True) else {}
        )  # fmt: skip
        records = [span_record(config.project_id, r, context.get(r["trace_id"], [])) for r in rows]
        wanted = [s for s in records if scorer.wants(s)]
        by_id = {(r["trace_id"], r["span_id"]): r for r in rows}
        results: list[EvalResult] = scorer.evaluate(wanted) if wanted else []
        counts.spans_scored += len(wanted)
        out = [
            result_row(config.project_id, by_id[(res.trace_id, res.span_id)], res.evaluator, res.version, res.metric,
                       res.score, res.label, res.explanation, res.details)
            for res in results if (res.trace_id, res.span_id) in by_id
        ]  # fmt: skip
        written = self.q.insert_results(out)
        if self._on_results is not None and results:
            self._on_results(config.project_id, results, by_id)
        return written

    def _with_retries(self, fn: Callable[[], int], counts: RunCounts) -> int:
        delay = self.opt.retry_backoff_seconds
        for attempt in range(1, self.opt.retries + 1):
            try:
                return fn()
            except Exception:
                counts.attempts = max(counts.attempts, attempt)
                if attempt == self.opt.retries:
                    raise
                log.warning("evaluation page failed (attempt %d/%d); retrying", attempt, self.opt.retries, exc_info=True)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # ---- scheduled (incremental) runs

    def run_incremental(self, config: EvaluatorConfig, counts: RunCounts, *, on_page: Callable[[], object] = lambda: None) -> bool:
        """Score what arrived since the watermark.  True when caught up."""
        scorer = self._scorer(config)
        if registry.is_window(scorer):
            counts.results_written += self._with_retries(lambda: self._compare_windows(scorer, config), counts)  # type: ignore[arg-type]
            return True
        assert isinstance(scorer, SpanEvaluator)
        sel = selection(config)
        now_ns = time.time_ns()
        streamed = config.evaluator in self.opt.streamed
        cutoff_us = int((now_ns - self.opt.settle_seconds * NS) // 1000)
        if streamed:
            # Spans stored before the stream knew this config were never streamed: they
            # keep the plain settle delay; later ones are left to the stream for longer.
            stream_cutoff = int((now_ns - max(self.opt.settle_seconds, self.opt.stream_settle_seconds) * NS) // 1000)
            if self._stream_since is None:  # a separate worker: the servers' streams score fresh spans
                cutoff_us = stream_cutoff
            elif (since_us := self._stream_since(config.id)) is not None:
                cutoff_us = max(min(cutoff_us, since_us), stream_cutoff)
        since_ns = int(now_ns - self.opt.lookback_seconds * NS)
        unscored_by = (scorer.name, scorer.version) if streamed else None
        wm = self.repo.watermark(config.id, scorer.version)
        for _ in range(self.opt.max_pages):
            rows = self.q.spans_after(sel, QueryWatermark(wm.ingested_us, wm.trace_id, wm.span_id),
                                      cutoff_us=cutoff_us, since_ns=since_ns, limit=self.opt.batch_spans,
                                      unscored_by=unscored_by)  # fmt: skip
            counts.spans_read += len(rows)
            if rows:
                counts.results_written += self._with_retries(lambda: self.score_rows(scorer, config, rows, counts), counts)
            if len(rows) < self.opt.batch_spans:
                # Everything before the cutoff is done: later scans start there.
                self.repo.set_watermark(config.id, scorer.version, Watermark(cutoff_us, "", ""))
                return True
            last = rows[-1]
            wm = Watermark(int(last["ingested_us"]), last["trace_id"], last["span_id"])
            self.repo.set_watermark(config.id, scorer.version, wm)
            on_page()
        return False

    def _compare_windows(self, scorer: WindowEvaluator, config: EvaluatorConfig) -> int:
        window_s = float(config.params.get("window_seconds", 3600))
        now_ns = time.time_ns()
        sel = selection(config)
        current = self.q.window_spans(sel, since_ns=int(now_ns - window_s * NS), until_ns=now_ns)
        baseline = self.q.window_spans(sel, since_ns=int(now_ns - 2 * window_s * NS), until_ns=int(now_ns - window_s * NS))
        if not current or not baseline:
            return 0
        recs = lambda rows: [span_record(config.project_id, r, []) for r in rows]  # noqa: E731
        anchor = {"start_ns": now_ns, "trace_id": "", "span_id": "", "model": config.filters.get("model", ""),
                  "service_name": config.filters.get("service", "")}  # fmt: skip
        rows = [
            result_row(config.project_id, anchor, scorer.name, scorer.version, d.feature, d.p_value,
                       "drift" if d.drifted else "ok", f"{d.test} statistic {d.statistic:.4g}",
                       {"kind": d.kind, "test": d.test, "statistic": d.statistic, "effect_size": d.effect_size,
                        "drifted": d.drifted, "baseline_n": d.baseline_n, "current_n": d.current_n, **d.details})
            for d in scorer.compare(recs(baseline), recs(current))
        ]  # fmt: skip
        return self.q.insert_results(rows)

    # ---- backfills

    def run_backfill(self, config: EvaluatorConfig, since_ns: int, until_ns: int, counts: RunCounts,
                     progress: Callable[[float], object]) -> None:  # fmt: skip
        """Score every sampled span that started in [since, until), whatever the
        watermark says (results replace earlier scores of the same version)."""
        scorer = self._scorer(config)
        if not isinstance(scorer, SpanEvaluator):
            raise ValueError(f"evaluator {config.evaluator!r} compares windows; it cannot be backfilled span by span")
        sel = selection(config)
        total = max(self.q.count_spans(sel, since_ns=since_ns, until_ns=until_ns), 1)
        wm = QueryWatermark()
        cutoff_us = time.time_ns() // 1000 + 1
        while True:
            rows = self.q.spans_after(sel, wm, cutoff_us=cutoff_us, since_ns=since_ns, until_ns=until_ns,
                                      limit=self.opt.batch_spans)  # fmt: skip
            if not rows:
                break
            counts.spans_read += len(rows)
            counts.results_written += self._with_retries(lambda: self.score_rows(scorer, config, rows, counts), counts)
            last = rows[-1]
            wm = QueryWatermark(int(last["ingested_us"]), last["trace_id"], last["span_id"])
            progress(min(counts.spans_read / total, 0.99))
