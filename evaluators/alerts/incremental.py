"""Alert rules judged as spans and scores land, from in-memory windows.

The streaming scorer (evaluators/worker/stream.py) hands every micro-batch of
freshly stored spans (scalar columns only) and every batch of fresh scores
here; each rule that has an incremental form keeps its window per group in a
`RuleWindow` and is judged right after the batch (and at least every tick,
so a window that empties resolves).  Transitions go through the same
`AlertEngine.apply` as the SQL check, so cooldowns, resolve messages and the
one-notification-per-transition outbox are the same.

Which rules: span metrics grouped by nothing, model, service, provider or
operation, filtered by service, model or span type (what the writer's batch
carries); evaluator metrics (`pii_rate`, `eval_score`, `eval_fail_rate`) of
an evaluator the stream scores.  Anything else (attribute filters or groups,
user or session groups, judge scores, drift) stays with the periodic SQL
check, which skips the rules owned here.

In-memory windows start empty when the server starts: a rule reaches its
full window after `window_seconds`, and until then a firing group is not
resolved for lack of data.  Each server replica sees the batches it stored:
behind a load balancer, set LLMOBS_ALERT_STREAMING=false to judge every rule
over all replicas' data in SQL instead.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evaluators.alerts.engine import AlertEngine
from evaluators.alerts.windows import KINDS, RuleWindow
from storage.metadata.alert_repo import SPAN_METRICS, AlertRule, AlertStateRecord

log = logging.getLogger(__name__)
NS = 10**9
SPAN_GROUPS = {None: None, "model": "model", "service": "service_name", "provider": "provider",
               "operation": "operation"}  # fmt: skip
EVAL_GROUPS = {None: None, "model": "model", "service": "service_name"}
SPAN_FILTERS = {"service": "service_name", "model": "model", "span_type": "span_type"}
EVAL_FILTERS = {"service": "service_name", "model": "model"}
_STATUS_ERROR = 2


@dataclass(frozen=True, slots=True)
class ScoredSpan:
    """What the windows need from one fresh score (never its text)."""

    project_id: str
    evaluator: str
    metric: str
    score: float | None
    finding_types: frozenset[str]  # entity types (PII) or check names found in the span
    service_name: str
    model: str
    start_ns: int


def evaluator_of(rule: AlertRule) -> str:
    return str(rule.params.get("evaluator") or {"pii_rate": "pii"}.get(rule.metric, ""))


def incremental_form(rule: AlertRule, streamed: frozenset[str]) -> bool:
    """Whether `rule` can be judged from the stream's batches alone."""
    if rule.metric not in KINDS:
        return False
    filters = rule.params.get("filters") or {}
    if filters.get("attributes"):
        return False
    if rule.metric in SPAN_METRICS:
        return rule.group_by in SPAN_GROUPS
    return evaluator_of(rule) in streamed and rule.group_by in EVAL_GROUPS


@dataclass
class _Tracked:
    rule: AlertRule
    window: RuleWindow
    since_ns: int  # when this process began to fill the window
    states: dict[str, AlertStateRecord] = field(default_factory=dict)


class _SpanColumns:
    """Column views of one batch, each computed once whatever the rule count."""

    def __init__(self, batch: pa.Table) -> None:
        self.b = batch
        self.n = batch.num_rows
        self._cache: dict[str, np.ndarray] = {}

    def text(self, name: str) -> np.ndarray:
        if name not in self._cache:
            col = self.b[name] if name in self.b.column_names else pa.nulls(self.n, pa.string())
            self._cache[name] = np.asarray(pc.fill_null(col.cast(pa.string()), "").to_pylist(), dtype=object)
        return self._cache[name]

    def num(self, name: str, null: float = 0.0) -> np.ndarray:
        key = f"{name}:{null}"
        if key not in self._cache:
            if name not in self.b.column_names:
                self._cache[key] = np.full(self.n, null)
            else:
                col = pc.cast(self.b[name], pa.float64())
                self._cache[key] = pc.fill_null(col, null).to_numpy(zero_copy_only=False).astype(np.float64)
        return self._cache[key]

    def times(self) -> np.ndarray:
        if "start_time" not in self._cache:
            self._cache["start_time"] = pc.cast(self.b["start_time"], pa.int64()).to_numpy(zero_copy_only=False)
        return self._cache["start_time"]

    def values(self, kind: str) -> np.ndarray:
        """The per-span sample a metric aggregates (NaN = no sample)."""
        nan = float("nan")
        if kind in ("cost",):
            return self.num("cost_total")
        if kind == "cost_per_request":
            return self.num("cost_total", nan)
        if kind == "requests":
            return np.ones(self.n)
        if kind in ("errors", "error_rate"):
            return (self.num("status_code") == _STATUS_ERROR).astype(np.float64)
        inp = self.num("uncached_input_tokens") + self.num("cache_read_tokens") + self.num("cache_write_tokens")
        out = self.num("output_text_tokens") + self.num("reasoning_tokens")
        if kind == "tokens":
            return inp + out
        if kind == "input_tokens":
            return inp
        if kind == "output_tokens":
            return out
        if kind.startswith("latency_"):
            return self.num("duration_ns") / 1e6
        if kind.startswith("ttft_"):
            return self.num("ttft_ns", nan) / 1e6
        raise ValueError(kind)


class IncrementalAlerts:
    def __init__(self, engine: AlertEngine, streamed: frozenset[str], *, enabled: bool = True,
                 refresh_seconds: float = 2.0) -> None:  # fmt: skip
        self.engine = engine
        self.repo = engine.repo
        self.streamed = streamed
        self.enabled = enabled
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()  # spans arrive on the alert thread, scores on the scoring thread
        self._rules: dict[int, _Tracked] = {}
        self._next_refresh = 0.0
        engine.owned_elsewhere = self.judges

    def owns(self, rule: AlertRule) -> bool:
        """Rules this process keeps an in-memory window for."""
        return self.enabled and incremental_form(rule, self.streamed)

    def judges(self, rule: AlertRule) -> bool:
        """Whether the SQL check may leave `rule` to this evaluator: only once
        its window has been filled for a whole window length.  Until then (a
        rule created after its traffic, or any rule after a restart) the SQL
        check also judges it over the stored spans, while this evaluator may
        fire it but not resolve it."""
        if not self.owns(rule):
            return False
        t = self._rules.get(rule.id)
        return t is not None and t.rule == rule and time.time_ns() - t.since_ns >= rule.window_seconds * NS

    @property
    def rule_ids(self) -> list[int]:
        return sorted(self._rules)

    def invalidate(self) -> None:
        """Rules changed in this process (the API): re-read them before the
        next batch is judged, so a rule created just before its first spans
        sees them."""
        self._next_refresh = 0.0

    def refresh(self, now_ns: int, *, force: bool = False) -> None:
        """Pick up created, changed and deleted rules, and re-read their states
        (another replica may have moved one)."""
        if not force and time.monotonic() < self._next_refresh:
            return
        self._next_refresh = time.monotonic() + self.refresh_seconds
        rules = [r for r in self.repo.list_rules(enabled_only=True) if self.owns(r)]
        with self._lock:
            fresh: dict[int, _Tracked] = {}
            for r in rules:
                old = self._rules.get(r.id)
                if old is not None and old.rule == r:
                    fresh[r.id] = old
                else:
                    window = RuleWindow(r.metric, r.window_seconds, int(r.params.get("baseline_seconds", 0)))
                    fresh[r.id] = _Tracked(r, window, now_ns)
            self._rules = fresh
        for t in fresh.values():
            t.states = self.repo.states(t.rule.project_id, f"rule:{t.rule.id}:")

    # ---- feeding

    def observe_spans(self, batch: pa.Table, now_ns: int) -> None:
        """A micro-batch of stored spans (the writer's scalar columns)."""
        span_rules = [t for t in self._rules.values() if t.rule.metric in SPAN_METRICS]
        if not span_rules or batch.num_rows == 0:
            return
        cols = _SpanColumns(batch)
        llm = np.isin(cols.text("span_type"), ("llm", "embedding")) & (cols.num("counts_usage") == 1)
        project = cols.text("project_id")
        for t in span_rules:
            rule = t.rule
            mask = llm & (project == rule.project_id)
            for key, col in SPAN_FILTERS.items():
                wanted = (rule.params.get("filters") or {}).get(key)
                if wanted:
                    mask &= cols.text(col) == wanted
            if not mask.any():
                continue
            group_col = SPAN_GROUPS[rule.group_by]
            groups = cols.text(group_col)[mask] if group_col else np.full(int(mask.sum()), "", dtype=object)
            with self._lock:
                t.window.add(groups, cols.times()[mask], cols.values(rule.metric)[mask], now_ns)

    def observe_scores(self, scores: list[ScoredSpan], now_ns: int) -> None:
        eval_rules = [t for t in self._rules.values() if t.rule.metric not in SPAN_METRICS]
        if not eval_rules or not scores:
            return
        for t in eval_rules:
            rule = t.rule
            evaluator, metric = evaluator_of(rule), rule.params.get("metric")
            filters = rule.params.get("filters") or {}
            picked = [
                s for s in scores
                if s.project_id == rule.project_id and s.evaluator == evaluator and s.score is not None
                and (not metric or s.metric == metric)
                and all(not filters.get(k) or getattr(s, col) == filters[k] for k, col in EVAL_FILTERS.items())
            ]  # fmt: skip
            if not picked:
                continue
            if rule.metric == "pii_rate":
                wanted = set(rule.params.get("entity_types") or ())
                values = [float(bool(s.finding_types & wanted) if wanted else bool(s.finding_types)) for s in picked]
            elif rule.metric == "eval_fail_rate":
                values = [float(s.score == 0) for s in picked]
            else:
                values = [float(s.score) for s in picked]  # type: ignore[arg-type]
            group_col = EVAL_GROUPS[rule.group_by]
            groups = np.asarray([getattr(s, group_col) if group_col else "" for s in picked], dtype=object)
            with self._lock:
                t.window.add(groups, np.asarray([s.start_ns for s in picked], dtype=np.int64),
                             np.asarray(values, dtype=np.float64), now_ns)  # fmt: skip

    # ---- judging

    def evaluate(self, now_ns: int) -> int:
        """Judge every tracked rule now; returns the number of transitions."""
        moved = 0
        for t in list(self._rules.values()):
            with self._lock:
                current, baseline = t.window.values(now_ns)
            warm = now_ns - t.since_ns >= t.rule.window_seconds * NS
            try:
                moved += self.engine.apply(t.rule, current, baseline if t.window.baseline_seconds else None, t.states,
                                           resolve_missing=warm, touch=False, allow_resolve=warm)  # fmt: skip
            except Exception:  # noqa: BLE001 - one broken rule must not stop the others
                log.exception("incremental alert rule %s failed", t.rule.id)
        return moved
