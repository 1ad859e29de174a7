"""Metadata of the replay feature (saved variants, runs), beside `repo.py`
rather than inside it so the two grow independently.  Same rules: one short
transaction per call, plain records out, `InvalidInput`/`NotFound` for bad
requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from . import models as m
from . import validate as v
from .db import Repo
from .validate import NotFound


@dataclass(slots=True, frozen=True)
class ReplayRunRecord:
    id: str
    project_id: str
    kind: str
    selection: dict[str, Any]
    variants: dict[str, Any]
    options: dict[str, Any]
    job_id: str | None
    summary: dict[str, Any] | None
    created_at: datetime


@dataclass(slots=True, frozen=True)
class SavedVariant:
    name: str
    config: dict[str, Any]
    created_at: datetime


@dataclass(slots=True, frozen=True)
class ShadowState:
    """A shadow loop's persisted state (its configuration is its run's)."""

    run_id: str
    project_id: str
    active: bool
    after_ns: int
    window_start_ns: int
    stats: dict[str, Any]
    lease_owner: str | None
    lease_until: datetime | None


def _shadow(row: m.ReplayShadow) -> ShadowState:
    return ShadowState(row.run_id, row.project_id, row.active, row.after_ns, row.window_start_ns, dict(row.stats or {}),
                       row.lease_owner, row.lease_until)  # fmt: skip


_SHADOWS = m.ReplayShadow.__table__  # conditional UPDATEs (claims, leases) go to the table


def _now() -> datetime:
    return datetime.now(UTC)


def _run(row: m.ReplayRun) -> ReplayRunRecord:
    return ReplayRunRecord(
        id=row.id, project_id=row.project_id, kind=row.kind, selection=row.selection, variants=row.variants,
        options=row.options, job_id=row.job_id, summary=row.summary, created_at=row.created_at,
    )  # fmt: skip


class ReplayRepo(Repo):
    # ---- variants

    def save_variant(self, project_id: str, name: str, config: dict[str, Any]) -> SavedVariant:
        name = v.text_field("name", name, 100)
        checked = v.json_object("config", config) or {}
        with self._tx() as s:
            if s.get(m.Project, project_id) is None:
                raise NotFound(f"project {project_id!r} does not exist")
            row = s.scalar(
                select(m.ReplayVariant).where(m.ReplayVariant.project_id == project_id, m.ReplayVariant.name == name)
            )
            if row is None:
                row = m.ReplayVariant(project_id=project_id, name=name, config=checked)
                s.add(row)
            else:
                row.config = checked
            s.flush()
            return SavedVariant(row.name, row.config, row.created_at)

    def list_variants(self, project_id: str) -> list[SavedVariant]:
        with self._tx() as s:
            rows = s.scalars(
                select(m.ReplayVariant).where(m.ReplayVariant.project_id == project_id).order_by(m.ReplayVariant.name)
            )
            return [SavedVariant(r.name, r.config, r.created_at) for r in rows]

    def delete_variant(self, project_id: str, name: str) -> bool:
        with self._tx() as s:
            row = s.scalar(
                select(m.ReplayVariant).where(m.ReplayVariant.project_id == project_id, m.ReplayVariant.name == name)
            )
            if row is None:
                return False
            s.delete(row)
            return True

    # ---- runs

    def create_run(
        self, project_id: str, kind: str, selection: dict[str, Any], variants: dict[str, Any], options: dict[str, Any]
    ) -> ReplayRunRecord:
        with self._tx() as s:
            if s.get(m.Project, project_id) is None:
                raise NotFound(f"project {project_id!r} does not exist")
            row = m.ReplayRun(
                id=str(uuid.uuid4()), project_id=project_id, kind=v.text_field("kind", kind, 16),
                selection=v.json_object("selection", selection) or {},
                variants=v.json_object("variants", variants) or {},
                options=v.json_object("options", options) or {},
            )  # fmt: skip
            s.add(row)
            s.flush()
            return _run(row)

    def attach_job(self, run_id: str, job_id: str) -> None:
        with self._tx() as s:
            row = s.get(m.ReplayRun, run_id)
            if row is None:
                raise NotFound(f"replay run {run_id!r} does not exist")
            row.job_id = job_id

    def set_summary(self, run_id: str, summary: dict[str, Any]) -> None:
        with self._tx() as s:
            row = s.get(m.ReplayRun, run_id)
            if row is None:
                raise NotFound(f"replay run {run_id!r} does not exist")
            row.summary = v.json_object("summary", summary)

    def get_run(self, project_id: str, run_id: str) -> ReplayRunRecord | None:
        with self._tx() as s:
            row = s.get(m.ReplayRun, run_id)
            return None if row is None or row.project_id != project_id else _run(row)

    def list_runs(self, project_id: str, limit: int = 100) -> list[ReplayRunRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(m.ReplayRun).where(m.ReplayRun.project_id == project_id)
                .order_by(m.ReplayRun.created_at.desc()).limit(limit)
            )  # fmt: skip
            return [_run(r) for r in rows]

    # ---- shadow loops: persisted state and leases

    def create_shadow(self, run_id: str, owner: str, now_ns: int, lease_seconds: float) -> ShadowState:
        """The state of a new shadow run, leased to the server starting it."""
        with self._tx() as s:
            run = s.get(m.ReplayRun, run_id)
            if run is None:
                raise NotFound(f"replay run {run_id!r} does not exist")
            row = m.ReplayShadow(run_id=run_id, project_id=run.project_id, active=True, after_ns=now_ns,
                                 window_start_ns=now_ns, stats={}, lease_owner=owner,
                                 lease_until=_now() + timedelta(seconds=lease_seconds), updated_at=_now())  # fmt: skip
            s.add(row)
            s.flush()
            return _shadow(row)

    def claim_shadows(self, owner: str, lease_seconds: float, limit: int = 16) -> list[ShadowState]:
        """Lease active shadow loops nobody holds (never started here, their
        server stopped, or its lease lapsed after a crash)."""
        now = _now()
        lapsed = m.ReplayShadow.lease_until.is_(None) | (m.ReplayShadow.lease_until < now)
        claimed = []
        with self._tx() as s:
            q = (select(m.ReplayShadow.run_id).where(m.ReplayShadow.active.is_(True), lapsed)
                 .limit(limit).with_for_update(skip_locked=True))  # fmt: skip
            for run_id in list(s.scalars(q)):
                res = s.execute(
                    _SHADOWS.update().where(m.ReplayShadow.run_id == run_id, m.ReplayShadow.active.is_(True), lapsed)
                    .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
                )  # fmt: skip
                if res.rowcount == 1:
                    row = s.get(m.ReplayShadow, run_id)
                    assert row is not None
                    claimed.append(_shadow(row))
        return claimed

    def save_shadow(self, run_id: str, owner: str, *, after_ns: int, window_start_ns: int, stats: dict[str, Any],
                    lease_seconds: float) -> bool:  # fmt: skip
        """Store progress and extend the lease; False when this server no
        longer holds it or the loop was stopped (the caller then stops)."""
        now = _now()
        with self._tx() as s:
            res = s.execute(
                _SHADOWS.update()
                .where(m.ReplayShadow.run_id == run_id, m.ReplayShadow.lease_owner == owner,
                       m.ReplayShadow.active.is_(True))
                .values(after_ns=after_ns, window_start_ns=window_start_ns, stats=v.json_object("stats", stats) or {},
                        lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )  # fmt: skip
            return res.rowcount == 1

    def renew_shadows(self, owner: str, run_ids: list[str], lease_seconds: float) -> set[str]:
        """Extend this server's leases on `run_ids`; the ids it still holds
        (a loop stopped elsewhere or taken over is missing)."""
        if not run_ids:
            return set()
        now = _now()
        with self._tx() as s:
            s.execute(
                _SHADOWS.update()
                .where(m.ReplayShadow.run_id.in_(run_ids), m.ReplayShadow.lease_owner == owner,
                       m.ReplayShadow.active.is_(True))
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )  # fmt: skip
            held = s.scalars(select(m.ReplayShadow.run_id).where(
                m.ReplayShadow.run_id.in_(run_ids), m.ReplayShadow.lease_owner == owner,
                m.ReplayShadow.active.is_(True)))  # fmt: skip
            return set(held)

    def release_shadow(self, run_id: str, owner: str) -> None:
        """Give the lease back (clean shutdown): the next server claims it at once."""
        with self._tx() as s:
            s.execute(
                _SHADOWS.update().where(m.ReplayShadow.run_id == run_id, m.ReplayShadow.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, updated_at=_now())
            )  # fmt: skip

    def stop_shadow(self, project_id: str, run_id: str) -> ShadowState | None:
        """Mark the loop stopped (whichever server runs it stops at its next
        save); None when the project has no such shadow loop."""
        with self._tx() as s:
            row = s.get(m.ReplayShadow, run_id)
            if row is None or row.project_id != project_id:
                return None
            row.active, row.lease_owner, row.lease_until, row.updated_at = False, None, None, _now()
            s.flush()
            return _shadow(row)

    def get_shadow(self, project_id: str, run_id: str) -> ShadowState | None:
        with self._tx() as s:
            row = s.get(m.ReplayShadow, run_id)
            return None if row is None or row.project_id != project_id else _shadow(row)
