"""Metadata of the replay feature (saved variants, runs), beside `repo.py`
rather than inside it so the two grow independently.  Same rules: one short
transaction per call, plain records out, `InvalidInput`/`NotFound` for bad
requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
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
