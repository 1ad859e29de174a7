"""The replay tables' clustered schema.  No ClickHouse cluster runs here (chDB
has no `remote_servers`), so, like tests/storage/test_migrations.py, the
rendered DDL is checked by the real engine's parser (formatQuery) and the
store is checked to address the Distributed tables."""

from __future__ import annotations

from storage.clickhouse import migrate
from storage.clickhouse.client import connect
from storage.clickhouse.replay_queries import ReplayStore, ReplayTables

REPLAY = ("replay_results", "replay_engine_metrics", "replay_reports")


def _rendered(opts: migrate.SchemaOptions, down: bool = False) -> list[str]:
    return [s for m in migrate.load_migrations(cluster=True) for s in migrate.statements(opts.render(m.down if down else m.up))]


def test_replay_tables_are_replicated_with_distributed_tables(local_chdb):
    opts = migrate.SchemaOptions(database="llmobs", cluster="prod")
    up, down = _rendered(opts), _rendered(opts, down=True)
    c = connect(local_chdb)
    try:
        for stmt in up + down:
            c.query("SELECT formatQuery({q:String})", parameters={"q": stmt})
    finally:
        c.close()
    for table in REPLAY:
        local = next(s for s in up if s.startswith(f"CREATE TABLE IF NOT EXISTS `llmobs`.{table} "))
        assert "ON CLUSTER `prod`" in local
        assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)" in local
        dist = next(s for s in up if s.startswith(f"CREATE TABLE IF NOT EXISTS `llmobs`.{table}_dist "))
        assert f"AS `llmobs`.{table}" in dist and f"Distributed('prod', 'llmobs', '{table}', cityHash64(run_id" in dist
        assert f"DROP TABLE IF EXISTS `llmobs`.{table}_dist ON CLUSTER `prod`" in down
    # Single node: no Distributed replay table is created.
    single = [s for m in migrate.load_migrations() for s in migrate.statements(migrate.SchemaOptions().render(m.up))]
    assert not any("_dist" in s for s in single)


def test_store_addresses_the_distributed_tables_on_a_cluster():
    assert ReplayStore.for_cluster(None, "prod").rt == ReplayTables(*(f"{t}_dist" for t in REPLAY))  # type: ignore[arg-type]
    assert ReplayStore.for_cluster(None, "prod").tables.spans == "spans_dist"  # type: ignore[arg-type]
    assert ReplayStore.for_cluster(None, None).rt == ReplayTables(*REPLAY)  # type: ignore[arg-type]
