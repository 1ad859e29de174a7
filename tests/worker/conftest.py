"""The metadata fixtures (real SQLite, real PostgreSQL) for worker tests."""

from tests.metadata.conftest import db_url, engine, pg_schema_url, pg_url, repo, sqlite_url  # noqa: F401
