"""Repository API of the metadata store.

Every method runs in its own short transaction and returns the plain records
of `types.py`, never ORM objects, so callers (collector, API, jobs) can't
trigger lazy loads or hold sessions open.  Inputs are validated here, once,
raising `InvalidInput` (a ValueError) with a message fit for an API response.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models as m
from . import validate as v
from .db import Repo
from .types import ApiKeyInfo, Job, JobStatus, PriceOverride, Project, SamplingRules
from .validate import Conflict, InvalidInput, NotFound

__all__ = ["Conflict", "InvalidInput", "MetadataRepo", "NotFound", "hash_api_key"]

KEY_PREFIX = "llmobs_"
KEY_RANDOM_CHARS = 32  # secrets.token_urlsafe(24) -> 32 chars, 192 bits
KEY_SHOWN_RANDOM_CHARS = 8  # random chars kept in `prefix` so users can tell keys apart
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_KEY_LEN = len(KEY_PREFIX) + m.SLUG_LEN + 1 + KEY_RANDOM_CHARS
_FINAL_STATUSES: tuple[JobStatus, ...] = ("succeeded", "failed")


def hash_api_key(plaintext: str) -> str:
    """sha256 hex: keys carry 192 random bits, so a fast unsalted hash is safe
    and lets `resolve_api_key` find the row with one indexed lookup."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ mapping


def _project(row: m.Project) -> Project:
    return Project(
        id=row.id, name=row.name, created_at=row.created_at, retention_days=row.retention_days,
        sampling=SamplingRules(**row.sampling) if row.sampling else SamplingRules(),
    )


def _api_key(row: m.ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _override(row: m.ModelPrice) -> PriceOverride:
    return PriceOverride(
        id=row.id,
        project_id=row.project_id,
        model_pattern=row.model_pattern,
        provider=row.provider,
        valid_from=row.valid_from,
        input_per_mtok=row.input_per_mtok,
        output_per_mtok=row.output_per_mtok,
        cache_read_per_mtok=row.cache_read_per_mtok,
        cache_write_per_mtok=row.cache_write_per_mtok,
        reasoning_per_mtok=row.reasoning_per_mtok,
        gpu_hour_usd=row.gpu_hour_usd,
        tokens_per_second=row.tokens_per_second,
        created_at=row.created_at,
    )


def _job(row: m.Job) -> Job:
    return Job(
        id=row.id,
        project_id=row.project_id,
        kind=row.kind,
        params=dict(row.params),
        status=row.status,  # type: ignore[arg-type]  # guarded by a CHECK constraint
        progress=row.progress,
        created_at=row.created_at,
        result=row.result,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


# --------------------------------------------------------------- repository


class MetadataRepo(Repo):
    """Projects, API keys, price overrides and jobs.  Thread-safe (one session
    per call); share one instance per process."""

    @staticmethod
    def _require_project(session: Session, project_id: str) -> None:
        if session.get(m.Project, project_id) is None:
            raise NotFound(f"project {project_id!r} does not exist")

    # ---- projects

    @staticmethod
    def _retention(retention_days: object) -> int:
        if isinstance(retention_days, bool) or not isinstance(retention_days, int):
            raise InvalidInput("retention_days must be an integer")
        if not 1 <= retention_days <= 36500:
            raise InvalidInput("retention_days must be between 1 and 36500")
        return retention_days

    def create_project(
        self, project_id: str, name: str | None = None, *, retention_days: int = 30
    ) -> Project:
        v.project_slug(project_id)
        name = v.text_field("name", project_id if name is None else name, 200)
        self._retention(retention_days)
        try:
            with self._tx() as s:
                row = m.Project(id=project_id, name=name, retention_days=retention_days)
                s.add(row)
                s.flush()
                return _project(row)
        except IntegrityError:
            raise Conflict(f"project {project_id!r} already exists") from None

    def update_project(
        self, project_id: str, *, name: str | None = None, retention_days: int | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> Project:
        """Rename a project, change how long its new spans are kept, or set its
        ingest sampling rules (`SamplingRules` fields; all checked first)."""
        with self._tx() as s:
            row = s.get(m.Project, project_id)
            if row is None:
                raise NotFound(f"project {project_id!r} does not exist")
            if name is not None:
                row.name = v.text_field("name", name, 200)
            if retention_days is not None:
                row.retention_days = self._retention(retention_days)
            if sampling is not None:
                row.sampling = v.sampling_rules(sampling)
            s.flush()
            return _project(row)

    def get_project(self, project_id: str) -> Project | None:
        with self._tx() as s:
            row = s.get(m.Project, project_id)
            return None if row is None else _project(row)

    def list_projects(self) -> list[Project]:
        with self._tx() as s:
            rows = s.scalars(select(m.Project).order_by(m.Project.created_at, m.Project.id))
            return [_project(r) for r in rows]

    def ensure_default_project(self, name: str = "default") -> tuple[Project, str | None]:
        """Create project `name` and its first API key if missing.

        Returns the plaintext key only when it was created now (show it once).
        A project whose keys were all revoked gets no new key.  Safe when several
        processes start together: exactly one of them creates the key.
        """
        with contextlib.suppress(Conflict):
            self.create_project(name)
        with self._tx() as s:
            # A no-op UPDATE takes the row lock on Postgres and the write lock on
            # SQLite, so the "has no key yet" check below can't race.
            s.execute(update(m.Project).where(m.Project.id == name).values(name=m.Project.name))
            project = s.get(m.Project, name)
            assert project is not None
            has_key = s.scalar(select(func.count()).where(m.ApiKey.project_id == name))
            plaintext = None
            if not has_key:
                _, plaintext = self._insert_api_key(s, name, "default")
            return _project(project), plaintext

    # ---- API keys

    @staticmethod
    def _insert_api_key(s: Session, project_id: str, name: str) -> tuple[ApiKeyInfo, str]:
        plaintext = f"{KEY_PREFIX}{project_id}_{secrets.token_urlsafe(24)}"
        shown = len(KEY_PREFIX) + len(project_id) + 1 + KEY_SHOWN_RANDOM_CHARS
        row = m.ApiKey(
            project_id=project_id,
            name=name,
            prefix=plaintext[:shown],
            key_hash=hash_api_key(plaintext),
        )
        s.add(row)
        s.flush()
        return _api_key(row), plaintext

    def create_api_key(self, project_id: str, name: str) -> tuple[ApiKeyInfo, str]:
        """Returns the key's info and its plaintext; the plaintext can't be recovered later."""
        name = v.text_field("name", name, 200)
        with self._tx() as s:
            self._require_project(s, project_id)
            return self._insert_api_key(s, project_id, name)

    def list_api_keys(self, project_id: str, *, include_revoked: bool = True) -> list[ApiKeyInfo]:
        query = select(m.ApiKey).where(m.ApiKey.project_id == project_id)
        if not include_revoked:
            query = query.where(m.ApiKey.revoked_at.is_(None))
        with self._tx() as s:
            return [_api_key(r) for r in s.scalars(query.order_by(m.ApiKey.id))]

    def revoke_api_key(self, project_id: str, key_id: int) -> bool:
        """Revoke a key of `project_id`.  False if there is no such key in that
        project; revoking twice keeps the first revocation time."""
        with self._tx() as s:
            row = s.get(m.ApiKey, key_id)
            if row is None or row.project_id != project_id:
                return False
            if row.revoked_at is None:
                row.revoked_at = _now()
            return True

    def resolve_api_key(self, plaintext: str) -> str | None:
        """The project of an active key, else None.  One indexed read; a write
        only when last_used_at is over a minute old."""
        if (
            not isinstance(plaintext, str)
            or not plaintext.startswith(KEY_PREFIX)
            or len(plaintext) > _MAX_KEY_LEN
        ):
            return None
        digest = hash_api_key(plaintext)
        with self._tx() as s:
            row = s.execute(
                select(
                    m.ApiKey.id,
                    m.ApiKey.project_id,
                    m.ApiKey.key_hash,
                    m.ApiKey.revoked_at,
                    m.ApiKey.last_used_at,
                ).where(m.ApiKey.key_hash == digest)
            ).one_or_none()
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.key_hash, digest):  # pragma: no cover
                return None
            now = _now()
            stale = now - LAST_USED_RESOLUTION
            if row.last_used_at is None or row.last_used_at < stale:
                s.execute(
                    update(m.ApiKey)
                    .where(m.ApiKey.id == row.id)
                    .where(or_(m.ApiKey.last_used_at.is_(None), m.ApiKey.last_used_at < stale))
                    .values(last_used_at=now)
                )
            project_id: str = row.project_id
            return project_id

    # ---- price overrides

    def add_price_override(
        self,
        project_id: str,
        model_pattern: str,
        *,
        provider: str | None = None,
        valid_from: datetime | None = None,
        input_per_mtok: Decimal | int | float | str | None = None,
        output_per_mtok: Decimal | int | float | str | None = None,
        cache_read_per_mtok: Decimal | int | float | str | None = None,
        cache_write_per_mtok: Decimal | int | float | str | None = None,
        reasoning_per_mtok: Decimal | int | float | str | None = None,
        gpu_hour_usd: Decimal | int | float | str | None = None,
        tokens_per_second: Decimal | int | float | str | None = None,
    ) -> PriceOverride:
        """Add a price for models matching `model_pattern` (a full-match regex).

        Give token prices (USD per million tokens) or, for a self-hosted model,
        `gpu_hour_usd` with `tokens_per_second`.
        """
        pattern = v.model_pattern(model_pattern)
        if provider is not None:
            provider = v.text_field("provider", provider, 100)
        valid = v.utc("valid_from", valid_from)
        prices = v.price_values(
            {
                "input_per_mtok": input_per_mtok,
                "output_per_mtok": output_per_mtok,
                "cache_read_per_mtok": cache_read_per_mtok,
                "cache_write_per_mtok": cache_write_per_mtok,
                "reasoning_per_mtok": reasoning_per_mtok,
                "gpu_hour_usd": gpu_hour_usd,
                "tokens_per_second": tokens_per_second,
            }
        )
        with self._tx() as s:
            self._require_project(s, project_id)
            row = m.ModelPrice(
                project_id=project_id,
                model_pattern=pattern,
                provider=provider,
                valid_from=valid,
                **prices,
            )
            s.add(row)
            s.flush()
            s.refresh(row)  # read prices back as stored (quantized) on every backend
            return _override(row)

    def list_price_overrides(self, project_id: str) -> list[PriceOverride]:
        """Newest `valid_from` first; overrides without one (always valid) last,
        newest added first within equal `valid_from`."""
        query = (
            select(m.ModelPrice)
            .where(m.ModelPrice.project_id == project_id)
            .order_by(
                m.ModelPrice.valid_from.is_(None),
                m.ModelPrice.valid_from.desc(),
                m.ModelPrice.id.desc(),
            )
        )
        with self._tx() as s:
            return [_override(r) for r in s.scalars(query)]

    def delete_price_override(self, project_id: str, override_id: int) -> bool:
        with self._tx() as s:
            row = s.get(m.ModelPrice, override_id)
            if row is None or row.project_id != project_id:
                return False
            s.delete(row)
            return True

    # ---- jobs

    def create_job(self, project_id: str, kind: str, params: dict[str, Any] | None = None) -> Job:
        kind = v.text_field("kind", kind, 64)
        checked = v.json_object("params", {} if params is None else params) or {}
        with self._tx() as s:
            self._require_project(s, project_id)
            row = m.Job(
                id=str(uuid.uuid4()),
                project_id=project_id,
                kind=kind,
                params=checked,
                status="queued",
                progress=0.0,
            )
            s.add(row)
            s.flush()
            return _job(row)

    def _running_job(self, s: Session, job_id: str) -> m.Job:
        row = s.get(m.Job, job_id, with_for_update=True)
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist")
        if row.status in _FINAL_STATUSES:
            raise InvalidInput(f"job {job_id!r} already finished ({row.status})")
        if row.status == "queued":
            row.status, row.started_at = "running", _now()
        return row

    def update_job_progress(self, job_id: str, progress: float) -> Job:
        """Record progress (0..1); the first call moves a queued job to running."""
        value = v.progress(progress)
        with self._tx() as s:
            row = self._running_job(s, job_id)
            row.progress = value
            return _job(row)

    def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Job:
        if status not in _FINAL_STATUSES:
            raise InvalidInput(f"a job finishes as 'succeeded' or 'failed', not {status!r}")
        checked = v.json_object("result", result)
        if error is not None and not isinstance(error, str):
            raise InvalidInput("error must be a string")
        with self._tx() as s:
            row = self._running_job(s, job_id)
            row.status, row.finished_at = status, _now()
            row.result, row.error = checked, error
            if status == "succeeded":
                row.progress = 1.0
            return _job(row)

    def get_job(self, job_id: str) -> Job | None:
        with self._tx() as s:
            row = s.get(m.Job, job_id)
            return None if row is None else _job(row)

    def list_jobs(
        self, project_id: str, *, status: JobStatus | None = None, limit: int = 100
    ) -> list[Job]:
        """Newest first."""
        if status is not None and status not in get_args(JobStatus):
            raise InvalidInput(f"unknown job status {status!r}")
        query = select(m.Job).where(m.Job.project_id == project_id)
        if status is not None:
            query = query.where(m.Job.status == status)
        query = query.order_by(m.Job.created_at.desc(), m.Job.id.desc()).limit(limit)
        with self._tx() as s:
            return [_job(r) for r in s.scalars(query)]
