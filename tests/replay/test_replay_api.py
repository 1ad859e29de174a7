"""The replay API on a real llmobs server: validation answers 4xx with a
message and leaves the server up; saved variants; a run whose pool is down
finishes with every failure counted; runs are scoped to their project."""

from __future__ import annotations

import time

from tests.conftest import free_port
from tests.otlp_builders import request, span
from tests.replay.test_replay_vllm import chat_attrs, wait_job
from tests.server.test_otlp_http import PB, post

DEAD = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
VARIANT = {"name": "dead", "base_urls": [DEAD], "model": "m"}


def test_bad_requests_are_rejected_clearly(server):
    with server.client() as c:
        cases = [
            ({"variants": []}, "variants"),
            ({"variants": [{**VARIANT, "base_urls": ["ftp://x"]}]}, "http://"),
            ({"variants": [VARIANT], "baseline": "nope"}, "baseline"),
            ({"variants": [VARIANT, VARIANT]}, "unique"),
            ({"variants": [VARIANT], "selection": {"stratify_by": "colour"}}, "stratify_by"),
            ({"variants": [VARIANT], "selection": {"attributes": {"bad key!": "x"}, "stratify_by": "attr:bad key!"}}, "invalid"),
            ({"variants": [VARIANT], "options": {"timing": "qps"}}, "qps"),
            ({"variants": [VARIANT], "selection": {"start": "yesterday"}}, "start"),
        ]  # fmt: skip
        for body, word in cases:
            r = c.post("/replay/runs", json=body)
            assert r.status_code == 422, (body, r.text)
            assert word in r.text, (word, r.text)
        r = c.post("/replay/runs", json={"variant_names": ["never-saved"]})
        assert r.status_code == 404 and "never-saved" in r.text
        assert c.get("/replay/runs/00000000-0000-0000-0000-000000000000").status_code == 404
        assert c.post("/replay/runs/00000000-0000-0000-0000-000000000000/resume").status_code == 404
        assert c.get("/replay/shadow/00000000-0000-0000-0000-000000000000").status_code == 404
    assert server.alive()


def test_saved_variants_and_a_run_against_a_dead_pool(server):
    with server.client() as c:
        assert c.put("/replay/variants/dead", json={**VARIANT, "name": "other"}).status_code == 422
        saved = c.put("/replay/variants/dead", json=VARIANT)
        assert saved.status_code == 200, saved.text
        assert c.put("/replay/variants/dead", json={**VARIANT, "model": "m2"}).json()["config"]["model"] == "m2"
        assert [v["name"] for v in c.get("/replay/variants").json()["items"]] == ["dead"]
        service = f"dead-pool-{time.time_ns()}"
        spans = [span("chat", chat_attrs(f"question {i}", "answer"), start_ns=time.time_ns() - 10**9) for i in range(3)]
        assert post(server, request(spans, service=service).SerializeToString(), PB).status_code == 200
        for _ in range(100):
            if len(c.get("/spans", params={"service": service}).json()["items"]) == 3:
                break
            time.sleep(0.1)
        sub = c.post("/replay/runs", json={
            "variant_names": ["dead"], "selection": {"service": service},
            "options": {"retries": 1, "backoff_seconds": 0.01, "timeout_seconds": 2}})  # fmt: skip
        assert sub.status_code == 202, sub.text
        job = wait_job(c, sub.json()["job"]["id"], timeout=120)
        assert job["status"] == "succeeded", job["error"]
        run_id = sub.json()["run_id"]
        report = c.get(f"/replay/runs/{run_id}/report").json()
        dead = report["variants"]["dead"]
        assert (dead["requests"], dead["ok"], dead["errors"]) == (3, 0, 3)
        assert report["verdict"] == "no_data"
        results = c.get(f"/replay/runs/{run_id}/results").json()["items"]
        assert all(r["status"] == "error" and r["attempts"] == 2 and "no healthy member" in r["error"] for r in results)
        assert c.get(f"/replay/runs/{run_id}").json()["summary"]["variants"]["dead"]["errors"] == 3
        # Runs belong to their project.
        other = c.post("/projects", json={"id": f"other-{time.time_ns() % 10**9}"}).json()["api_key"]
    with server.client(other) as o:
        assert o.get(f"/replay/runs/{run_id}").status_code == 404
        assert o.get("/replay/variants").json()["items"] == []
    with server.client() as c:
        assert c.delete("/replay/variants/dead").status_code == 200
        assert c.delete("/replay/variants/dead").status_code == 404
    assert server.alive()
