"""Incremental rules in process, on real SQLite and PostgreSQL metadata:
span batches (the writer's scalar columns only) fill the windows, a rule
fires once, holds its resolve for `resolve_after_seconds` while the value
hovers, resolves once, honours `match`; and the SQL check leaves the rules
it owns to the incremental side."""

from __future__ import annotations

import time


import pyarrow as pa
import pytest

from evaluators.alerts.engine import AlertEngine
from evaluators.alerts.incremental import IncrementalAlerts, ScoredSpan
from evaluators.worker.stream import CONTRACT
from storage.clickhouse.tables import Tables
from storage.metadata.alert_repo import AlertRepo
from storage.metadata.repo import MetadataRepo

NS = 10**9


def batch(now_ns: int, errors: list[int], model: str = "gpt-4o", service: str = "svc") -> pa.Table:
    """A stored batch as the writer hands it over: the contract's columns only."""
    n = len(errors)
    cols = {
        "project_id": ["acme"] * n, "trace_id": [f"{i:032x}" for i in range(n)],
        "span_id": [f"{i:016x}" for i in range(n)], "parent_span_id": [""] * n,
        "start_time": pa.array([now_ns - NS] * n, pa.timestamp("ns", tz="UTC")),
        "duration_ns": pa.array([10**8] * n, pa.uint64()), "service_name": [service] * n, "provider": ["openai"] * n,
        "model": [model] * n, "span_type": ["llm"] * n, "operation": ["chat"] * n,
        "counts_usage": pa.array([1] * n, pa.uint8()), "status_code": pa.array([2 if e else 0 for e in errors], pa.uint8()),
        "error_type": [""] * n, "ttft_ns": pa.array([None] * n, pa.uint64()),
        "cost_total": pa.array([None] * n, pa.decimal128(18, 12)),
        **{c: pa.array([10] * n, pa.uint64()) for c in ("uncached_input_tokens", "cache_read_tokens",
                                                         "cache_write_tokens", "output_text_tokens", "reasoning_tokens")},
        "content_kept": pa.array([1] * n, pa.uint8()),
    }  # fmt: skip
    assert set(cols) == set(CONTRACT)
    return pa.table(cols)


@pytest.fixture
def alerts(repo: MetadataRepo, engine) -> AlertRepo:  # type: ignore[no-untyped-def]
    repo.create_project("acme")
    return AlertRepo(engine)


def no_clickhouse():  # type: ignore[no-untyped-def]
    raise AssertionError("incremental rules must not read ClickHouse")


def test_fire_hold_resolve_once(alerts: AlertRepo):
    hook, _ = alerts.create_hook("acme", name="h", kind="webhook", url="http://127.0.0.1:9/x")
    rule = alerts.create_rule("acme", name="errors", metric="error_rate", threshold=0.5, window_seconds=60,
                              group_by="model", hook_ids=[hook.id],
                              params={"min_samples": 4, "resolve_after_seconds": 1, "match": "^gpt-"})  # fmt: skip
    engine = AlertEngine(no_clickhouse, Tables(), alerts)
    inc = IncrementalAlerts(engine, frozenset({"pii"}))
    created = alerts.get_rule("acme", rule.id)
    assert not engine.owned_elsewhere(created)  # not watched yet: the SQL check judges it over stored spans
    now = time.time_ns()
    inc.refresh(now - 61 * NS, force=True)  # as if this process had watched it for a whole window
    assert engine.owned_elsewhere(created)  # from then on the SQL check leaves it alone
    inc.observe_spans(batch(now, [1, 1, 1]), now)
    assert inc.evaluate(now) == 0  # three calls: fewer than min_samples
    inc.observe_spans(batch(now, [1]) , now)
    inc.observe_spans(batch(now, [1, 1, 1, 1], model="claude-3"), now)  # not matched by ^gpt-
    assert inc.evaluate(now) == 1
    events = alerts.list_events("acme", rule_id=rule.id)
    assert [(e.status, e.group_key, e.value) for e in events] == [("firing", "gpt-4o", 1.0)]
    inc.observe_spans(batch(now, [0] * 6), now)  # 4 of 10 now: below the threshold ...
    assert inc.evaluate(now) == 0  # ... but not calm for resolve_after_seconds yet
    inc.observe_spans(batch(now, [1] * 4), now)  # back above: the calm period starts over
    assert inc.evaluate(now) == 0
    inc.observe_spans(batch(now, [0] * 20), now)
    assert inc.evaluate(now) == 0
    time.sleep(1.1)
    assert inc.evaluate(now) == 1
    assert inc.evaluate(now) == 0
    statuses = [e.status for e in alerts.list_events("acme", rule_id=rule.id)]
    assert statuses == ["resolved", "firing"]
    outbox = alerts.list_deliveries("acme")
    assert [d.payload["status"] for d in outbox] == ["resolved", "firing"]
    assert outbox[1].payload["samples"] == 4 and outbox[1].payload["group"] == "gpt-4o"


def test_a_rule_younger_than_its_window_fires_but_does_not_resolve(alerts: AlertRepo):
    """A window filled for less than its length lacks the spans stored before:
    it may show a breach, never the absence of one, and the SQL check keeps
    judging the rule over the stored spans until the window is whole."""
    rule = alerts.create_rule("acme", name="young", metric="error_rate", threshold=0.5, window_seconds=60,
                              params={"min_samples": 2})  # fmt: skip
    engine = AlertEngine(no_clickhouse, Tables(), alerts)
    inc = IncrementalAlerts(engine, frozenset({"pii"}))
    now = time.time_ns()
    inc.refresh(now, force=True)
    assert not engine.owned_elsewhere(alerts.get_rule("acme", rule.id))
    inc.observe_spans(batch(now, [1, 1]), now)
    assert inc.evaluate(now) == 1
    inc.observe_spans(batch(now, [0] * 10), now)
    assert inc.evaluate(now) == 0
    assert [e.status for e in alerts.list_events("acme", rule_id=rule.id)] == ["firing"]


def test_scores_feed_pii_rules_by_entity_type(alerts: AlertRepo):
    rule = alerts.create_rule("acme", name="ssn", metric="pii_rate", threshold=0, window_seconds=60,
                              group_by="service", params={"entity_types": ["US_SSN"]})  # fmt: skip
    engine = AlertEngine(no_clickhouse, Tables(), alerts)
    inc = IncrementalAlerts(engine, frozenset({"pii"}))
    now = time.time_ns()
    inc.refresh(now, force=True)

    def score(kinds: set[str], service: str = "bot") -> ScoredSpan:
        return ScoredSpan("acme", "pii", "pii_detected", float(bool(kinds)), frozenset(kinds), service, "m", now - NS)

    inc.observe_scores([score(set()), score({"PERSON"}), score(set())], now)
    assert inc.evaluate(now) == 0  # a name is not what this rule pages for
    inc.observe_scores([score({"US_SSN", "PERSON"})], now)
    assert inc.evaluate(now) == 1
    ev = alerts.list_events("acme", rule_id=rule.id)[0]
    assert ev.group_key == "bot" and ev.value == pytest.approx(0.25)


def test_a_rule_without_an_incremental_form_stays_in_sql(alerts: AlertRepo):
    by_user = alerts.create_rule("acme", name="u", metric="cost", threshold=1, group_by="user")
    judge = alerts.create_rule("acme", name="j", metric="eval_score", threshold=1, comparison="<",
                               params={"evaluator": "faithfulness_ragas"})  # fmt: skip
    engine = AlertEngine(no_clickhouse, Tables(), alerts)
    inc = IncrementalAlerts(engine, frozenset({"pii", "heuristics"}))
    inc.refresh(time.time_ns(), force=True)
    assert inc.rule_ids == []
    assert not engine.owned_elsewhere(by_user) and not engine.owned_elsewhere(judge)
    off = IncrementalAlerts(AlertEngine(no_clickhouse, Tables(), alerts), frozenset({"pii"}), enabled=False)
    assert not off.owns(alerts.create_rule("acme", name="e", metric="error_rate", threshold=0.1))



