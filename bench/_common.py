"""Shared pieces of the benchmarks: a real llmobs server process, process
accounting from /proc, percentiles as one dataclass, and table printing.

The server is started exactly as a user starts it (`python -m collector up`)
on a fresh data directory and free loopback ports, like tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- percentiles ---------------------------------------------------------------------------


@dataclass(slots=True)
class Percentiles:
    """Summary of a sample, in the sample's unit (ms for latencies)."""

    n: int
    mean: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        if not values:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan, nan)
        v = sorted(values)

        def q(p: float) -> float:
            # linear interpolation between closest ranks (numpy's default)
            pos = (len(v) - 1) * p
            lo = int(pos)
            hi = min(lo + 1, len(v) - 1)
            return v[lo] + (v[hi] - v[lo]) * (pos - lo)

        return cls(len(v), sum(v) / len(v), v[0], q(0.5), q(0.9), q(0.99), v[-1])


# ---- /proc accounting ----------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_tree(pid: int) -> list[int]:
    """pid and all its descendants (worker processes the server spawns)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process tree: live members' utime + stime, plus what
    reaped children used (cutime + cstime of the live members)."""
    total = 0.0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / CLK_TCK
        except (OSError, ValueError):
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all processes, all
    cores) since boot, from /proc/stat; a difference over a phase minus what
    the server and the clients used is what other work took meanwhile."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return (total - idle) / CLK_TCK


def tree_rss_bytes(pid: int) -> int:
    total = 0
    for p in proc_tree(pid):
        try:
            total += proc_rss_bytes(p)[0]
        except OSError:
            pass
    return total


def proc_rss_bytes(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS since process start = VmHWM), bytes."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return rss, hwm


class RssSampler:
    """Samples the RSS of a process tree (server + its workers) in a thread;
    `peak` is the highest sum seen since the last `reset()` (VmHWM is per
    process and only the peak since process start)."""

    def __init__(self, pid: int | None, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, tree_rss_bytes(self.pid))  # type: ignore[arg-type]
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        if self.pid:
            self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


# ---- the server ----------------------------------------------------------------------------


@dataclass
class ServerProc:
    """A running llmobs server: ours (proc set) or one given by --url/--key."""

    api: str
    key: str | None
    otlp_http: str | None = None
    otlp_grpc: str | None = None
    data_dir: Path | None = None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def headers(self, key: str | None = None) -> dict[str, str]:
        k = key or self.key
        return {"Authorization": f"Bearer {k}"} if k else {}

    def client(self, key: str | None = None, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.api + "/api/v1", headers=self.headers(key), timeout=timeout)

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def crash_report(srv: ServerProc, log_lines: int = 60) -> str:
    """What is known about a server that exited: exit code or signal, the
    tail of server.log, and the kernel log's tail (OOM killer, segfault
    lines) when this user may read it."""
    import signal as _signal

    rc = srv.proc.poll() if srv.proc else None
    how = f"exit code {rc}"
    if rc is not None and rc < 0:
        try:
            how += f" (killed by signal {_signal.Signals(-rc).name})"
        except ValueError:
            how += f" (killed by signal {-rc})"
    lines = [f"server pid {srv.pid}: {how}", f"--- tail of {srv.log_path}:", srv.log_tail(log_lines) or "(empty)"]
    try:
        r = subprocess.run(["dmesg", "-T"], capture_output=True, text=True, timeout=10, check=False)
        dm = r.stdout.strip().splitlines()[-25:] if r.returncode == 0 else [f"(dmesg not readable: {r.stderr.strip()})"]
    except (OSError, subprocess.TimeoutExpired) as exc:
        dm = [f"(dmesg unavailable: {exc})"]
    lines += ["--- dmesg | tail:", *dm]
    return "\n".join(lines)


def server_root() -> Path:
    """The source tree the server runs from: this checkout, or another one
    (e.g. `git archive HEAD` unpacked) named by LLMOBS_BENCH_SERVER_ROOT."""
    return Path(os.environ.get("LLMOBS_BENCH_SERVER_ROOT") or ROOT).resolve()


_BENCH_ONLY_DIR: Path | None = None


def bench_child_cwd() -> Path:
    """Working directory for the benchmark's own child processes
    (`python -m bench.query --generate-only`, `bench.ingest --pipeline-only`):
    a directory holding only a `bench` symlink to this checkout's bench/.
    `python -m` puts the working directory first on sys.path, so the child runs
    THIS checkout's benchmark code while `collector` and `storage` still come
    from the server's tree (PYTHONPATH, see server_env), even when that tree
    (a `git archive` snapshot) has a bench/ of its own."""
    global _BENCH_ONLY_DIR
    if _BENCH_ONLY_DIR is None or not (_BENCH_ONLY_DIR / "bench").exists():
        import atexit
        import shutil
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="llmobs-bench-pkg-"))
        (d / "bench").symlink_to(ROOT / "bench", target_is_directory=True)
        atexit.register(shutil.rmtree, d, True)  # the symlink only, never its target
        _BENCH_ONLY_DIR = d
    return _BENCH_ONLY_DIR


def server_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    root = server_root()
    return {
        **os.environ,
        "LLMOBS_DATA_DIR": str(data_dir),
        "LLMOBS_HOST": "127.0.0.1",
        # the server's tree first; this checkout after it, for `bench` itself
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(root), str(ROOT)])),
        "LLMOBS_LOG_LEVEL": "WARNING",
        "LLMOBS_DASHBOARD_ENABLED": "false",
        **(extra or {}),
    }


def run_migrate(data_dir: Path) -> None:
    """`python -m collector migrate` on a data dir (ClickHouse + metadata schema)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "collector", "migrate"], cwd=server_root(), env=server_env(data_dir),
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None, timeout: float = 120) -> ServerProc:
    data_dir.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    env = server_env(
        data_dir,
        {
            "LLMOBS_OTLP_GRPC_PORT": str(grpc_port),
            "LLMOBS_OTLP_HTTP_PORT": str(http_port),
            "LLMOBS_API_PORT": str(api_port),
            **(extra_env or {}),
        },
    )
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "up"], cwd=server_root(), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    api = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"llmobs exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(api + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"llmobs did not become ready:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.2)
    key_file = data_dir / "default-api-key"
    for _ in range(100):
        if key_file.exists():
            break
        time.sleep(0.1)
    key = key_file.read_text().strip() if key_file.exists() else None
    return ServerProc(api, key, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", data_dir, proc, log_path, env)


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# ---- output --------------------------------------------------------------------------------


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v != v:
            return "n/a"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"

    def default(o: Any) -> Any:
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)
        if isinstance(o, Path):
            return str(o)
        return str(o)

    path.write_text(json.dumps(payload, indent=2, default=default))
    return path
