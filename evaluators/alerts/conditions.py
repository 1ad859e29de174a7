"""Conditions judged outside the rule engine (a shadow replay's verdict, ...)
announced through the same machinery as rules: state row, firing history,
outbox, hooks, cooldown and one notification per transition.

The caller decides whether its condition holds; this module only turns a
change of that answer into a transition, so every part that sends or lists
alerts treats it like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.metadata.alert_repo import AlertEvent, AlertRepo


def report_condition(
    repo: AlertRepo, *, project_id: str, key: str, firing: bool, kind: str, title: str, value: float | None,
    threshold: float | None, hook_ids: Sequence[int], details: dict[str, Any] | None = None, link: str = "",
    cooldown_seconds: float = 0, notify_resolve: bool = True,
) -> AlertEvent | None:  # fmt: skip
    """Record that condition `key` (unique in the project, e.g.
    ``replay:<run id>``) is now firing or not.  Returns the event of a move
    ok <-> firing, None when the state did not change (or a concurrent caller
    recorded the same move first)."""
    states = repo.states(project_id, key)
    was = states[key].state if key in states else "ok"
    if firing == (was == "firing"):
        if key in states:
            repo.touch_state(key, value)
        return None
    status = "firing" if firing else "resolved"
    payload = {
        "version": 1, "kind": kind, "status": status, "project": project_id, "title": title, "group": key,
        "value": value, "threshold": threshold, "details": details or {}, "link": link,
    }  # fmt: skip
    return repo.transition(
        project_id, key, expect=was, new="firing" if firing else "ok", value=value, event_status=status,
        group_key=key, threshold=threshold, hook_ids=hook_ids,
        payload=payload if firing or notify_resolve else None, cooldown_seconds=cooldown_seconds,
    )  # fmt: skip
