"""The engine-side span insert (storage/clickhouse/ingest_format.py,
collector/frames.py) against the Arrow rows the server stores today.

Differential: every export goes through both paths into the real embedded
engine, under two projects, and every stored column of every span must be
equal.  Exports: each captured fixture of every dialect, the benchmark's
traffic under each content profile, and the awkward cases (rejected spans,
floats, arrays, kvlists, bytes, repeated keys, empty values, sampled-out
spans, several resources, 10,000 attributes).
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from collector import sampling
from collector.frames import build_frame
from collector.normalize.layers import resolve_layers
from collector.normalize.spans import normalize_traces
from collector.otlp import decode
from collector.pricing import Pricer
from collector.rows import spans_to_batch
from storage.clickhouse.client import connect
from storage.clickhouse.ingest_format import NULL_TABLE, insert_settings
from storage.clickhouse.migrate import SchemaOptions, upgrade
from storage.metadata.types import SamplingRules
from tests import otlp_builders as B

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "otlp").glob("*/traces-*.json"))
DB = "engine_ingest"


@pytest.fixture(scope="module")
def client(local_chdb):
    c = connect(local_chdb)
    upgrade(c, SchemaOptions(database=DB))
    yield c
    c.close()


def _both(client, payload: bytes, mtype: str, case: str, rules: SamplingRules | None = None) -> tuple[int, int]:
    """Store one export through both paths; returns (spans stored, rejected)."""
    pricer = Pricer(lambda project: ())
    version = time.time_ns()
    stored = rejected = 0
    for project, path in ((f"{case}-arrow", "arrow"), (f"{case}-engine", "engine")):
        req, _ = decode.decode_traces(payload, mtype)
        res = normalize_traces(req, project)
        resolve_layers(res.spans)
        if rules is not None:
            sampling.apply(res.spans, rules)
        costs = {id(s): pricer.price(s.genai, project_id=project, start_ns=s.start_ns) for s in res.spans}
        if path == "arrow":
            table = spans_to_batch(res.spans, [costs[id(s)] for s in res.spans], 30)
            table = table.set_column(table.schema.get_field_index("version"), "version",
                                     pa.array([version] * table.num_rows, pa.uint64()))
            if table.num_rows:
                client.insert_arrow(f"{DB}.spans", table)
        else:
            otlp = payload if mtype == decode.PROTOBUF else req.SerializeToString()
            frame = build_frame(otlp, res.wire, res.resources, costs, project_id=project, retention_days=30,
                                version=version)
            assert frame.num_rows == len(res.spans)
            client.raw_insert(f"{DB}.{NULL_TABLE}", None, frame.data, fmt="Protobuf", settings=insert_settings())
        stored, rejected = len(res.spans), res.rejected
    return stored, rejected


def _differences(client, case: str) -> dict[str, int]:
    """Column -> rows that differ between the two paths (one hash comparison
    first; the per-column diagnosis only runs on a mismatch)."""
    cols = [
        r[0]
        for r in client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'spans' "
            "AND default_kind != 'ALIAS' AND name NOT IN ('project_id', 'ingested_at')",
            parameters={"db": DB},
        ).result_rows
    ]
    assert len(cols) > 60
    params = {"a": f"{case}-arrow", "b": f"{case}-engine"}

    def mismatches(expr: str) -> int:
        return client.query(
            f"SELECT count() FROM (SELECT trace_id, span_id, {expr} AS v FROM {DB}.spans WHERE project_id = {{a:String}}) x "
            f"FULL JOIN (SELECT trace_id, span_id, {expr} AS v FROM {DB}.spans WHERE project_id = {{b:String}}) y "
            "USING (trace_id, span_id) WHERE NOT (x.v <=> y.v)",
            parameters=params,
        ).result_rows[0][0]

    if mismatches(f"sipHash128(toString(tuple({', '.join(cols)})))") == 0:
        return {}
    return {c: n for c in cols if (n := mismatches(c))}


def _count(client, project: str) -> int:
    return client.query(f"SELECT count() FROM {DB}.spans WHERE project_id = {{p:String}}",
                        parameters={"p": project}).result_rows[0][0]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_captured_exports_store_identical_rows(client, path: Path) -> None:
    case = f"{path.parent.name}-{path.stem}"
    stored, _ = _both(client, path.read_bytes(), decode.JSON, case)
    assert stored and _count(client, f"{case}-engine") == stored
    assert _differences(client, case) == {}


@pytest.mark.parametrize("profile", ["light", "mixed", "heavy"])
def test_benchmark_traffic_stores_identical_rows(client, profile: str) -> None:
    from bench.traffic import build_batches

    batches, _ = build_batches(11, 2, 256, time.time_ns(), profile=profile)
    for i, b in enumerate(batches):
        _both(client, b, decode.PROTOBUF, f"bench-{profile}-{i}")
        assert _differences(client, f"bench-{profile}-{i}") == {}


def test_awkward_values_rejected_spans_and_resources(client) -> None:
    tid = B.new_trace_id()
    spans = [
        B.span("floats and arrays", B.genai_chat(temperature_note=0.7, **{
            "gen_ai.request.temperature": 0.25, "gen_ai.request.top_p": 1e-05,
            "gen_ai.response.finish_reasons": ["stop", "length"], "blob": b"\x00\xffraw",
            "nested": {"a": [1, 2.5, {"b": True}]}, "empty": "", "flag": False, "big": 2**62,
        }), trace_id=tid),
        B.span("plain", {"k": "v", "n": -3, "t": True}, trace_id=tid),
        B.span("no attributes", {}, trace_id=tid, error=True),
        B.span("bad id", {"x": "y"}, trace_id=b"\x01\x02"),
        B.span("ten thousand", {f"attr.{i}": (i if i % 3 else f"v{i}") for i in range(10_000)}),
    ]
    dup = B.span("repeated key", {"k": "first"}, trace_id=tid)
    dup.attributes.extend(B.kvs({"k": "second"}))
    spans.append(dup)
    req = B.request(spans, resource={"deployment.environment": "test", "weight": 0.5})
    second = req.resource_spans.add()  # a second resource with plain values only, two scopes
    second.resource.attributes.extend(B.kvs({"service.name": "other", "n": 7}))
    for scope in ("s1", "s2"):
        ss = second.scope_spans.add()
        ss.scope.name, ss.scope.version = scope, "1.0"
        ss.spans.extend([B.span(f"in {scope}", B.genai_chat(model="claude-3-5-sonnet", provider="anthropic"))])
    third = req.resource_spans.add()  # a resource with no spans at all
    third.resource.attributes.extend(B.kvs({"service.name": "idle"}))
    stored, rejected = _both(client, req.SerializeToString(), decode.PROTOBUF, "awkward")
    assert (stored, rejected) == (7, 1)
    assert _count(client, "awkward-engine") == 7
    assert _differences(client, "awkward") == {}


def test_sampled_out_spans_are_thinned_identically(client) -> None:
    spans = [
        B.span("chat", B.genai_chat(**{
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
            "long.value": "x" * 300,
        }))
        for _ in range(40)
    ]  # fmt: skip
    payload = B.request(spans).SerializeToString()
    _both(client, payload, decode.PROTOBUF, "sampled", SamplingRules(keep_share=0.3))
    assert _differences(client, "sampled") == {}
    kept = client.query(f"SELECT countIf(content_kept = 0) FROM {DB}.spans WHERE project_id = 'sampled-engine'")
    assert 0 < kept.result_rows[0][0] < 40
