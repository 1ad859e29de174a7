"""Alert state transitions and the delivery outbox on real SQLite and
PostgreSQL: one transition is one event and one notification per hook, even
when several evaluators see it at once; retries and give-up are recorded."""

from __future__ import annotations

import threading

import pytest

from storage.metadata.alert_repo import AlertRepo
from storage.metadata.db import make_engine
from storage.metadata.evaluation_repo import immediate_sqlite_transactions
from storage.metadata.repo import InvalidInput, MetadataRepo


@pytest.fixture
def alerts(repo: MetadataRepo, engine) -> AlertRepo:
    repo.create_project("acme")
    return AlertRepo(engine)


def test_concurrent_evaluators_announce_a_transition_once(alerts: AlertRepo, db_url: str):
    hook, _ = alerts.create_hook("acme", name="h", kind="webhook", url="http://127.0.0.1:9/x")
    rule = alerts.create_rule("acme", name="r", metric="cost", threshold=1.0, hook_ids=[hook.id])
    results = []
    barrier = threading.Barrier(4)

    def evaluate() -> None:
        own = AlertRepo(immediate_sqlite_transactions(make_engine(db_url)))
        barrier.wait()
        results.append(own.transition("acme", f"rule:{rule.id}:", expect="ok", new="firing", value=2.0,
                                      event_status="firing", group_key="", threshold=1.0, rule_id=rule.id,
                                      hook_ids=[hook.id], payload={"kind": "alert"}))  # fmt: skip

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 and sum(r is not None for r in results) == 1
    assert len(alerts.list_events("acme")) == 1
    deliveries = alerts.list_deliveries("acme")
    assert len(deliveries) == 1 and deliveries[0].payload["kind"] == "alert"
    # Enqueueing the same notification again is refused by the outbox's unique key.
    assert alerts.enqueue("acme", [hook.id], deliveries[0].dedupe_key, {"again": True}) == []


def test_cooldown_and_delivery_attempts(alerts: AlertRepo):
    hook, _ = alerts.create_hook("acme", name="h", kind="slack", url="http://127.0.0.1:9/x")
    key = "rule:1:gpt-4o"
    args = dict(group_key="gpt-4o", threshold=1.0, hook_ids=[hook.id], payload={"kind": "alert"})
    assert alerts.transition("acme", key, expect="ok", new="firing", value=2.0, event_status="firing", **args)
    assert alerts.transition("acme", key, expect="firing", new="ok", value=0.5, event_status="resolved", **args)
    # Fires again within the cooldown: recorded in the history, not announced.
    assert alerts.transition("acme", key, expect="ok", new="firing", value=3.0, event_status="firing",
                             cooldown_seconds=3600, **args)  # fmt: skip
    assert [e.status for e in alerts.list_events("acme")] == ["firing", "resolved", "firing"]
    assert len(alerts.list_deliveries("acme")) == 2
    claimed = alerts.claim_deliveries(limit=10, lease_seconds=60)
    assert len(claimed) == 2 and alerts.claim_deliveries(limit=10, lease_seconds=60) == []  # leased
    first, second = claimed
    alerts.record_attempt(first.id, ok=False, status_code=503, error="HTTP 503", retry_in=0)
    alerts.record_attempt(second.id, ok=False, status_code=400, error="HTTP 400: bad", retry_in=None)
    again = alerts.claim_deliveries(limit=10, lease_seconds=60)
    assert [d.id for d in again] == [first.id] and again[0].attempts == 1
    alerts.record_attempt(first.id, ok=True, status_code=200, error=None, retry_in=None)
    log = {d.id: d for d in alerts.list_deliveries("acme")}
    assert (log[first.id].status, log[first.id].attempts, log[first.id].last_status_code) == ("delivered", 2, 200)
    assert (log[second.id].status, log[second.id].last_error) == ("failed", "HTTP 400: bad")


def test_validation_changes_nothing(alerts: AlertRepo):
    with pytest.raises(InvalidInput, match="unknown metric"):
        alerts.create_rule("acme", name="r", metric="vibes", threshold=1)
    with pytest.raises(InvalidInput, match="thresholds must be fractions"):
        alerts.create_budget("acme", name="b", limit_usd="10", thresholds=[0, 0.5])
    with pytest.raises(InvalidInput, match="scope_value"):
        alerts.create_budget("acme", name="b", limit_usd="10", scope="user")
    assert alerts.list_rules("acme") == [] and alerts.list_budgets("acme") == []
    b = alerts.create_budget("acme", name="b", limit_usd=10, scope="attr:team", scope_value="search",
                             thresholds=[1.0, 0.5])  # fmt: skip
    assert b.thresholds == [0.5, 1.0] and str(b.limit_usd).startswith("10")
