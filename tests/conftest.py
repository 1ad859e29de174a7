"""Shared fixtures: a real llmobs server process on loopback ports.

The server runs as a child process (`python -m collector up`), exactly as a
user starts it: chDB allows one process per data directory, and the test
process must not hold that directory itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    data_dir: Path
    grpc_port: int
    http_port: int
    api_port: int
    key: str | None
    proc: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def headers(self, key: str | None = None) -> dict[str, str]:
        k = key or self.key
        return {"Authorization": f"Bearer {k}"} if k else {}

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.api + "/api/v1", headers=self.headers(key), timeout=30)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None, timeout: float = 240) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "LLMOBS_DATA_DIR": str(data_dir),
        "LLMOBS_HOST": "127.0.0.1",
        "LLMOBS_OTLP_GRPC_PORT": str(ports[0]),
        "LLMOBS_OTLP_HTTP_PORT": str(ports[1]),
        "LLMOBS_API_PORT": str(ports[2]),
        "PYTHONPATH": str(ROOT),
        "LLMOBS_DASHBOARD_ENABLED": "false",
        **(extra_env or {}),
    }
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{ports[2]}/readyz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llmobs exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"llmobs did not become ready:\n{log_path.read_text()}")
    key_file = data_dir / "default-api-key"
    for _ in range(50):
        if key_file.exists() or env.get("LLMOBS_AUTH_DISABLED") == "true":
            break
        time.sleep(0.1)
    key = key_file.read_text().strip() if key_file.exists() else None
    return Server(data_dir, *ports, key, proc, log_path, env)


def stop_server(server: Server) -> None:
    if server.alive():
        server.proc.terminate()
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("llmobs"))
    try:
        yield srv
    finally:
        stop_server(srv)
        assert srv.proc.returncode in (0, -15), srv.log()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway database on the machine's real PostgreSQL."""
    name = f"llmobs_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def local_chdb(tmp_path_factory: pytest.TempPathFactory):
    """The embedded engine inside the test process.  chDB allows one directory
    per process, so every in-process test shares this one (own tables/databases)."""
    from storage.clickhouse.client import ClickHouseTarget

    return ClickHouseTarget(f"chdb://{tmp_path_factory.mktemp('chdb-local')}")


@pytest.fixture(scope="session")
def vllm_install():
    """The vLLM CPU venv and SmolLM2 checkpoint, built once per machine (minutes the first time)."""
    from tests.support.vllm import ensure_vllm

    return ensure_vllm()


@pytest.fixture(scope="session")
def vllm_baseline(vllm_install, tmp_path_factory: pytest.TempPathFactory):
    """A real vLLM OpenAI server (SmolLM2-135M-Instruct on the CPU), shared by the run."""
    from tests.support.vllm import run_vllm

    with run_vllm(vllm_install, tmp_path_factory.mktemp("vllm-base")) as srv:
        yield srv


@pytest.fixture(scope="session")
def vllm_speculative(vllm_install, tmp_path_factory: pytest.TempPathFactory):
    """The same model with ngram speculative decoding (lossless: greedy outputs must match)."""
    from tests.support.vllm import NGRAM_SPEC, run_vllm

    with run_vllm(vllm_install, tmp_path_factory.mktemp("vllm-spec"), speculative=NGRAM_SPEC) as srv:
        yield srv
