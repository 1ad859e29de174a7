from __future__ import annotations

import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.metadata.db import current_revision, downgrade, head_revision, make_engine, upgrade
from storage.metadata.models import Base

TABLES = {
    "projects", "api_keys", "model_prices", "jobs",
    "evaluator_configs", "eval_watermarks", "eval_runs", "hooks", "deliveries", "alert_rules", "budgets",
    "alert_states", "alert_events", "replay_variants", "replay_runs", "replay_shadows",
}


def test_upgrade_from_empty_then_idempotent(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        assert current_revision(eng) is None
        upgrade(eng)
        assert set(inspect(eng).get_table_names()) >= TABLES
        assert current_revision(eng) == head_revision() == "0007_alerting"
        upgrade(eng)  # second run is a no-op
        upgrade(db_url)  # by URL too
        assert current_revision(eng) == head_revision()
    finally:
        eng.dispose()


def test_migrations_match_models(engine) -> None:
    """The hand-written history and models.py describe the same schema."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_constraint_names_follow_convention(engine) -> None:
    insp = inspect(engine)
    fks = {fk["name"] for fk in insp.get_foreign_keys("api_keys")}
    assert fks == {"fk_api_keys_project_id_projects"}
    uqs = {uq["name"] for uq in insp.get_unique_constraints("api_keys")}
    assert "uq_api_keys_key_hash" in uqs


def test_downgrade_base_and_upgrade_again(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        upgrade(eng)
        downgrade(eng, "base")
        assert not TABLES & set(inspect(eng).get_table_names())
        assert current_revision(eng) is None
        upgrade(eng)
        assert set(inspect(eng).get_table_names()) >= TABLES
    finally:
        eng.dispose()


def test_concurrent_upgrades_are_serialized(db_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        eng = make_engine(db_url)
        try:
            barrier.wait()
            upgrade(eng)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    eng = make_engine(db_url)
    try:
        assert current_revision(eng) == head_revision()
    finally:
        eng.dispose()


def test_sqlite_engine_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "meta.db"
    eng = make_engine(f"sqlite:///{path}")
    try:
        with eng.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert path.exists()
        upgrade(eng)
        # Migrations switch FK enforcement off while running; it must come back.
        with eng.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        eng.dispose()


def test_alembic_cli_style_config(tmp_path: Path, capsys) -> None:
    """`alembic_config(url)` also drives the env.py path used without a passed
    connection (what a `llmobs db ...` command or the alembic CLI would do)."""
    from alembic import command

    from storage.metadata.db import alembic_config

    url = f"sqlite:///{tmp_path}/cli%20dir/m.db"  # '%' must survive ConfigParser
    (tmp_path / "cli dir").mkdir()  # SQLAlchemy URL-decodes the path
    command.upgrade(alembic_config(url), "head")
    eng = make_engine(url)
    try:
        assert current_revision(eng) == head_revision()
    finally:
        eng.dispose()
    command.upgrade(alembic_config("postgresql+psycopg://u:p%40ss@h/db"), "head", sql=True)
    assert "CREATE TABLE projects" in capsys.readouterr().out
