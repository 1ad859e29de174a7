"""Fixtures for the metadata store, against real SQLite and real PostgreSQL.

Reusable elsewhere: `pg_url` (a throwaway Postgres database for the whole
session, dropped afterwards), `pg_schema_url` (a fresh, empty schema in it per
test) and `sqlite_url`.  Point LLMOBS_TEST_PG_URL at another server if needed;
Postgres tests are skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, make_url

from storage.metadata.db import make_engine, upgrade
from storage.metadata.repo import MetadataRepo

PG_ADMIN_URL = os.environ.get(
    "LLMOBS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _libpq(url: str) -> str:
    """SQLAlchemy URL -> libpq URL understood by psycopg.connect."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh database `llmobs_test_<random>`, dropped at session end."""
    admin = _libpq(PG_ADMIN_URL)
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    name = f"llmobs_test_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """`pg_url` with search_path set to a new empty schema: per-test isolation
    at the cost of a CREATE SCHEMA rather than a CREATE DATABASE."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield (
            make_url(pg_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    # A sub-folder that doesn't exist yet: make_engine must create it.
    return f"sqlite:///{tmp_path}/data/metadata.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend (no schema yet)."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_schema_url"
    return request.getfixturevalue(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def repo(engine: Engine) -> MetadataRepo:
    return MetadataRepo(engine)
