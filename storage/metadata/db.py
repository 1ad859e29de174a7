"""Engine set-up and schema migrations for the metadata store.

SQLite (the embedded default) needs a few pragmas to be a decent server
database: WAL so readers don't block the writer, a busy timeout so a second
process waits instead of failing with "database is locked", and foreign keys,
which SQLite leaves off unless asked.  Alembic is configured in code (no
alembic.ini needed) so migrations run from an installed package and any cwd.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

try:  # POSIX only; elsewhere concurrent first-time SQLite migrations aren't serialized.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

SCRIPT_LOCATION = Path(__file__).with_name("alembic")
SQLITE_BUSY_TIMEOUT_S = 30
# Arbitrary constant shared by every llmobs process: pg_advisory_xact_lock key
# that serializes concurrent `upgrade()` calls against one Postgres database.
_PG_MIGRATION_LOCK_KEY = 0x6C6C6D6F6273  # "llmobs"


def _sqlite_file(url: URL) -> Path | None:
    """The on-disk SQLite file of `url`, or None for in-memory / URI databases."""
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an Engine; for SQLite also create the file's folder and set pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _set_sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            if path is not None:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (repo maps them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


class Repo:
    """Base of the metadata repositories: one short session per call, so one
    instance is safe to share between threads (and between the API and the
    background loops of one server)."""

    def __init__(self, engine_or_sessions: Engine | sessionmaker[Session]) -> None:
        if isinstance(engine_or_sessions, Engine):
            engine_or_sessions = session_factory(engine_or_sessions)
        self._sessions = engine_or_sessions

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations (for CLI-like use)."""
    cfg = Config()
    # ConfigParser interpolates '%': escape it in paths and URLs.
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if url is not None:
        rendered = make_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialize migrations of one SQLite file across processes (collector + dashboard
    starting together on a fresh install)."""
    path = _sqlite_file(engine.url)
    if path is None or fcntl is None:
        yield
        return
    with open(path.with_name(path.name + ".migrate.lock"), "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _migrate(engine_or_url: Engine | str | URL, revision: str, *, down: bool) -> None:
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    try:
        cfg = alembic_config()
        is_sqlite = engine.dialect.name == "sqlite"
        with _sqlite_file_lock(engine), engine.connect() as conn:
            if is_sqlite:
                # Batch migrations copy and drop tables: FK enforcement would
                # cascade/refuse mid-copy.  The pragma is a no-op inside a
                # transaction, so set it before the migration transaction.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    if engine.dialect.name == "postgresql":
                        # Held until commit: a second process waits, then sees head.
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:k)"),
                            {"k": _PG_MIGRATION_LOCK_KEY},
                        )
                    cfg.attributes["connection"] = conn
                    if down:
                        command.downgrade(cfg, revision)
                    else:
                        command.upgrade(cfg, revision)
            finally:
                if is_sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Bring the schema to `revision` (default head).  Idempotent; concurrent
    callers are serialized (advisory lock on Postgres, file lock on SQLite)."""
    _migrate(engine_or_url, revision, down=False)


def downgrade(engine_or_url: Engine | str | URL, revision: str = "base") -> None:
    """Roll the schema back to `revision` (default: drop everything)."""
    _migrate(engine_or_url, revision, down=True)
