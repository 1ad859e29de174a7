"""The replay API on a real llmobs server: validation answers 4xx with a
message and leaves the server up; saved variants; a run whose pool is down
finishes with every failure counted; runs are scoped to their project."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import ROOT, free_port
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


def _cli(server, *args: str, key: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector", "replay", *args, "--api", server.api, "--api-key", key or server.key or ""],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_cli_bad_input_is_one_clear_line(server, tmp_path):
    """Invalid variants YAML, an unknown run and an unreachable API: exit
    code and a message naming the problem, never a traceback; the server
    stays up and no run was created."""
    with server.client() as c:
        before = len(c.get("/replay/runs").json()["items"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("variants: [name: x\n")
    missing = tmp_path / "missing.yaml"
    missing.write_text("variants:\n  - name: x\n    model: m\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(f"variants:\n  - {{name: x, base_urls: ['{DEAD}'], model: m}}\nreport:\n  evaluators: [toxicity]\n")
    good = tmp_path / "good.yaml"
    good.write_text(f"variants:\n  - {{name: x, base_urls: ['{DEAD}'], model: m}}\n")
    cases = [
        (("run", "--variants", str(broken)), 2, "broken.yaml"),
        (("run", "--variants", str(missing)), 2, "base_urls"),
        (("run", "--variants", str(unknown)), 2, "unknown evaluator 'toxicity'"),
        (("run", "--variants", str(tmp_path / "nope.yaml")), 2, "nope.yaml"),
        (("run", "--variants", str(good), "--from", "colour=red"), 2, "colour"),
        (("report", "00000000-0000-0000-0000-000000000000"), 1, "no such replay run"),
        (("run", "--resume", "not-a-run"), 1, "no such replay run"),
    ]
    for args, code, word in cases:
        out = _cli(server, *args)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        assert word in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    down = subprocess.run(
        [sys.executable, "-m", "collector", "replay", "report", "x", "--api", DEAD.removesuffix("/v1"), "--api-key", "k"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert down.returncode == 1 and "cannot reach the llmobs API" in down.stderr and "Traceback" not in down.stderr
    with server.client() as c:
        assert len(c.get("/replay/runs").json()["items"]) == before
        r = c.post("/replay/runs", json={"variants": [VARIANT], "report": {"evaluators": ["toxicity"]}})
        assert r.status_code == 422 and "toxicity" in r.text
        r = c.post("/replay/runs", json={"variants": [VARIANT], "report": {"embedding_cosine": False},
                                         "thresholds": {"agreement_metric": "embedding_cosine"}})  # fmt: skip
        assert r.status_code == 422 and "embedding_cosine" in r.text
        r = c.post("/replay/runs", json={"variants": [VARIANT], "thresholds": {"agreement_metric": "bleu"}})
        assert r.status_code == 422 and "agreement_metric" in r.text
        assert len(c.get("/replay/runs").json()["items"]) == before
    assert server.alive()
