"""Metadata store: projects, API keys, price overrides and jobs in SQL.

SQLite by default, PostgreSQL in production; see `db.py` (engine, migrations)
and `repo.py` (the API the rest of llmobs uses).  Kept import-light on
purpose: `storage.metadata.types` must not pull in SQLAlchemy.
"""
