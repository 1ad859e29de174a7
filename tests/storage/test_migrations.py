"""ClickHouse migrations on the real embedded engine."""

from __future__ import annotations

from storage.clickhouse import migrate
from storage.clickhouse.client import connect


def test_upgrade_is_idempotent_and_reversible(local_chdb):
    c = connect(local_chdb)
    try:
        opts = migrate.SchemaOptions(database="mig_test")
        ran = migrate.upgrade(c, opts)
        assert any("CREATE TABLE IF NOT EXISTS `mig_test`.spans" in s for s in ran)
        assert migrate.upgrade(c, opts) == []
        tables = {r[0] for r in c.query("SHOW TABLES FROM mig_test").result_rows}
        assert {"spans", "genai_events", "genai_metrics", "schema_migrations"} <= tables
        migrate.downgrade(c, opts)
        tables = {r[0] for r in c.query("SHOW TABLES FROM mig_test").result_rows}
        assert "spans" not in tables
        assert migrate.upgrade(c, opts)  # and back up again
    finally:
        c.close()


def test_cluster_rendering_uses_replicated_engines_on_cluster():
    sql = migrate.SchemaOptions(database="llmobs", cluster="prod").render(migrate.load_migrations()[0].up)
    assert "ON CLUSTER `prod`" in sql
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)" in sql
    assert "`llmobs`.spans" in sql


def test_cluster_schema_parses_on_the_real_engine(local_chdb):
    """No cluster runs here, so the clustered DDL is checked by the engine's own
    parser (formatQuery) rather than executed."""
    opts = migrate.SchemaOptions(database="llmobs", cluster="prod")
    migs = migrate.load_migrations(cluster=True)
    assert any(m.version >= migrate.CLUSTER_VERSION_BASE for m in migs)
    c = connect(local_chdb)
    try:
        rendered = [s for m in migs for s in migrate.statements(opts.render(m.up))]
        for stmt in rendered:
            c.query("SELECT formatQuery({q:String})", parameters={"q": stmt})
        text = "\n".join(rendered)
        assert "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in text
        assert "Distributed('prod', 'llmobs', 'spans', cityHash64(trace_id))" in text
        assert text.count("ON CLUSTER `prod`") >= 8
    finally:
        c.close()
