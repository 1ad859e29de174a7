from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from storage.metadata import models as m
from storage.metadata.repo import Conflict, InvalidInput, MetadataRepo, NotFound, hash_api_key
from storage.metadata.types import ApiKeyInfo

KEY_RE = re.compile(r"llmobs_([a-z0-9-]+)_[A-Za-z0-9_-]{32}")


def test_projects_crud(repo: MetadataRepo) -> None:
    p = repo.create_project("acme", "Acme Inc", retention_days=7)
    assert (p.id, p.name, p.retention_days) == ("acme", "Acme Inc", 7)
    assert p.created_at.tzinfo is not None and p.created_at.utcoffset() == timedelta(0)
    assert repo.get_project("acme") == p
    assert repo.get_project("nope") is None
    repo.create_project("beta")
    assert [x.id for x in repo.list_projects()] == ["acme", "beta"]
    assert repo.get_project("beta").name == "beta"  # name defaults to the slug
    assert repo.get_project("beta").retention_days == 30
    with pytest.raises(Conflict, match="already exists"):
        repo.create_project("acme")


@pytest.mark.parametrize("slug", ["", "Acme", "a_b", "-a", "a-", "a" * 64, "a b", 3])
def test_project_slug_validation(repo: MetadataRepo, slug: object) -> None:
    with pytest.raises(InvalidInput, match="project id"):
        repo.create_project(slug)  # type: ignore[arg-type]


@pytest.mark.parametrize("days", [0, -1, 36501, 1.5, True])
def test_retention_validation(repo: MetadataRepo, days: object) -> None:
    with pytest.raises(InvalidInput, match="retention_days"):
        repo.create_project("x", retention_days=days)  # type: ignore[arg-type]


def test_ensure_default_project_creates_key_once(repo: MetadataRepo) -> None:
    project, key = repo.ensure_default_project()
    assert project.id == "default"
    assert key is not None and KEY_RE.fullmatch(key)
    assert repo.resolve_api_key(key) == "default"
    assert repo.ensure_default_project() == (project, None)
    # All keys revoked is a deliberate state: don't mint a new one behind the user's back.
    (info,) = repo.list_api_keys("default")
    assert repo.revoke_api_key("default", info.id)
    assert repo.ensure_default_project()[1] is None


def test_ensure_default_project_keeps_existing_project(repo: MetadataRepo) -> None:
    repo.create_project("default", "Mine")
    project, key = repo.ensure_default_project()
    assert project.name == "Mine" and key is not None


def test_api_key_format_and_listing(repo: MetadataRepo) -> None:
    repo.create_project("acme")
    info, key = repo.create_api_key("acme", "ci")
    match = KEY_RE.fullmatch(key)
    assert match and match.group(1) == "acme"
    assert isinstance(info, ApiKeyInfo)
    assert key.startswith(info.prefix) and info.prefix == key[: len("llmobs_acme_") + 8]
    assert info.active and info.last_used_at is None
    listed = repo.list_api_keys("acme")
    assert listed == [info]
    assert not hasattr(listed[0], "key_hash")
    _, key2 = repo.create_api_key("acme", "ci-2")
    assert key2 != key
    with pytest.raises(NotFound):
        repo.create_api_key("missing", "x")
    with pytest.raises(InvalidInput, match="name"):
        repo.create_api_key("acme", "  ")


def _all_db_text(repo_engine) -> str:
    chunks = []
    with repo_engine.connect() as conn:
        for table in [*m.Base.metadata.sorted_tables]:
            for row in conn.execute(select(table)):
                chunks.extend(str(v) for v in row)
        chunks.extend(str(v) for v in conn.execute(text("SELECT * FROM alembic_version")))
    return "\n".join(chunks)


def test_plaintext_key_is_never_stored(repo: MetadataRepo, engine, db_url: str) -> None:
    _, default_key = repo.ensure_default_project()
    repo.create_project("acme")
    _, key = repo.create_api_key("acme", "ci")
    assert repo.resolve_api_key(key) == "acme"
    dump = _all_db_text(engine)
    for plaintext in (key, default_key):
        secret_tail = plaintext[-24:]  # the part not shown in `prefix`
        assert plaintext not in dump and secret_tail not in dump
        assert hash_api_key(plaintext) in dump
    if db_url.startswith("sqlite"):
        # Raw bytes too, WAL included (nothing hides in free pages or the log).
        path = Path(engine.url.database)
        raw = b"".join(
            p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
        )
        assert key[-24:].encode() not in raw and default_key[-24:].encode() not in raw
        assert hash_api_key(key).encode() in raw


def test_resolve_and_revoke(repo: MetadataRepo) -> None:
    repo.create_project("acme")
    info, key = repo.create_api_key("acme", "ci")
    assert repo.resolve_api_key(key) == "acme"
    assert repo.resolve_api_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    for junk in ("", "Bearer " + key, "llmobs_", key + "x" * 200, None, 42):
        assert repo.resolve_api_key(junk) is None  # type: ignore[arg-type]
    assert repo.revoke_api_key("other", info.id) is False  # wrong project
    assert repo.resolve_api_key(key) == "acme"
    assert repo.revoke_api_key("acme", info.id) is True
    assert repo.resolve_api_key(key) is None
    (revoked,) = repo.list_api_keys("acme")
    assert revoked.revoked_at is not None and not revoked.active
    assert repo.revoke_api_key("acme", info.id) is True  # idempotent
    assert repo.list_api_keys("acme")[0].revoked_at == revoked.revoked_at
    assert repo.list_api_keys("acme", include_revoked=False) == []
    assert repo.revoke_api_key("acme", 999_999) is False


def test_project_isolation(repo: MetadataRepo) -> None:
    repo.create_project("a")
    repo.create_project("b")
    ka_info, ka = repo.create_api_key("a", "k")
    _, kb = repo.create_api_key("b", "k")
    assert repo.resolve_api_key(ka) == "a"
    assert repo.resolve_api_key(kb) == "b"
    assert [k.project_id for k in repo.list_api_keys("a")] == ["a"]
    assert repo.revoke_api_key("b", ka_info.id) is False
    assert repo.resolve_api_key(ka) == "a"


def test_last_used_at_written_at_most_once_a_minute(repo: MetadataRepo, engine) -> None:
    repo.create_project("acme")
    info, key = repo.create_api_key("acme", "ci")
    assert repo.resolve_api_key(key) == "acme"
    first = repo.list_api_keys("acme")[0].last_used_at
    assert first is not None and datetime.now(UTC) - first < timedelta(seconds=30)
    assert repo.resolve_api_key(key) == "acme"
    assert repo.list_api_keys("acme")[0].last_used_at == first  # not rewritten
    old = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(update(m.ApiKey).where(m.ApiKey.id == info.id).values(last_used_at=old))
    assert repo.list_api_keys("acme")[0].last_used_at == old  # UTC round trip is exact
    assert repo.resolve_api_key(key) == "acme"
    assert repo.list_api_keys("acme")[0].last_used_at > first


def test_cascade_delete_of_project_removes_keys(repo: MetadataRepo, engine) -> None:
    """Foreign keys are enforced (SQLite too, thanks to the pragma)."""
    repo.create_project("acme")
    _, key = repo.create_api_key("acme", "ci")
    with engine.begin() as conn:
        conn.execute(m.Project.__table__.delete().where(m.Project.id == "acme"))
    assert repo.resolve_api_key(key) is None
    with engine.connect() as conn:
        assert conn.execute(select(m.ApiKey)).all() == []


def test_ensure_default_project_races_mint_one_key(db_url: str, engine) -> None:
    """Collector and API starting together on a fresh install: one key, not two."""
    import threading

    from storage.metadata.db import make_engine

    results: list[str | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        eng = make_engine(db_url)
        try:
            barrier.wait()
            results.append(MetadataRepo(eng).ensure_default_project()[1])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(k is not None for k in results) == 1
    assert len(MetadataRepo(engine).list_api_keys("default")) == 1
