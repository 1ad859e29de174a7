"""Versioned ClickHouse migrations: numbered `.sql` files applied in order.

Why not Alembic: ClickHouse DDL is not transactional and mutations finish in
the background, so each file is a list of idempotent statements (IF NOT
EXISTS) and a `schema_migrations` table records what ran.  Placeholders let
one file serve the embedded engine, a single server and a cluster:
`{db}` (database prefix), `{on_cluster}`, `{replacing_engine}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    up: str
    down: str


CLUSTER_VERSION_BASE = 1000  # cluster-only migrations are numbered 1000+


def load_migrations(cluster: bool = False) -> list[Migration]:
    """The numbered files; with `cluster`, also `migrations/cluster/` (the
    Distributed tables), which run after every shared migration."""
    base = resources.files("storage.clickhouse") / "migrations"
    found: list[Migration] = []
    dirs = [(base, 0)] + ([(base / "cluster", CLUSTER_VERSION_BASE)] if cluster else [])
    for root, offset in dirs:
        for entry in root.iterdir():
            m = _FILE.match(entry.name)
            if not m:
                continue
            down_file = root / f"{m.group(1)}_{m.group(2)}.down.sql"
            down = down_file.read_text() if down_file.is_file() else ""
            found.append(Migration(offset + int(m.group(1)), m.group(2), entry.read_text(), down))
    return sorted(found, key=lambda x: x.version)


@dataclass(frozen=True, slots=True)
class SchemaOptions:
    database: str | None = None
    cluster: str | None = None

    def render(self, sql: str) -> str:
        db = f"`{self.database}`." if self.database else ""
        on_cluster = f"ON CLUSTER `{self.cluster}`" if self.cluster else ""
        out = (
            sql.replace("{db}", db)
            .replace("{on_cluster}", on_cluster)
            .replace("{llmobs_cluster}", self.cluster or "")
            .replace("{llmobs_database}", self.database or "default")
        )
        if "{spans_ingest_" in out:  # the engine-side span insert (storage/clickhouse/ingest_format.py)
            from storage.clickhouse import ingest_format

            out = out.replace("{spans_ingest_columns}", ingest_format.null_table_columns()).replace(
                "{spans_ingest_select}", ingest_format.view_select(db)
            )
        for placeholder, engine in (("{replacing_engine}(", "ReplacingMergeTree("),
                                    ("{aggregating_engine}(", "AggregatingMergeTree(")):  # fmt: skip
            if self.cluster:
                path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
                engine = f"Replicated{engine}{path}, "
            out = out.replace(placeholder, engine)
        return out.replace(", )", ")")


def statements(sql: str) -> list[str]:
    """Split a file on semicolons that end a line (none appear inside our DDL)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def _ensure_status_table(client: Client, opts: SchemaOptions) -> None:
    if opts.database:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{opts.database}` {opts.render('{on_cluster}')}")
    client.command(
        opts.render(
            "CREATE TABLE IF NOT EXISTS {db}schema_migrations {on_cluster} "
            "(version UInt32, name String, applied_at DateTime DEFAULT now()) "
            "ENGINE = {replacing_engine}(applied_at) ORDER BY version"
        )
    )


def applied_versions(client: Client, opts: SchemaOptions) -> set[int]:
    _ensure_status_table(client, opts)
    rows = client.query(opts.render("SELECT version FROM {db}schema_migrations FINAL")).result_rows
    return {int(r[0]) for r in rows}


def upgrade(client: Client, opts: SchemaOptions = SchemaOptions(), *, dry_run: bool = False) -> list[str]:
    """Apply every pending migration; return the SQL that ran (or would run)."""
    done = applied_versions(client, opts)
    ran: list[str] = []
    for mig in load_migrations(bool(opts.cluster)):
        if mig.version in done:
            continue
        for stmt in statements(opts.render(mig.up)):
            ran.append(stmt)
            if not dry_run:
                client.command(stmt)
        if not dry_run:
            client.insert(
                opts.render("{db}schema_migrations").replace("`", ""),
                [[mig.version, mig.name]],
                column_names=["version", "name"],
            )
    return ran


def downgrade(client: Client, opts: SchemaOptions = SchemaOptions(), *, to_version: int = 0) -> list[str]:
    """Undo applied migrations above `to_version`, newest first."""
    done = applied_versions(client, opts)
    ran: list[str] = []
    for mig in reversed(load_migrations(bool(opts.cluster))):
        if mig.version <= to_version or mig.version not in done:
            continue
        for stmt in statements(opts.render(mig.down)):
            ran.append(stmt)
            client.command(stmt)
        client.command(opts.render("DELETE FROM {db}schema_migrations WHERE version = ") + str(mig.version))
    return ran
