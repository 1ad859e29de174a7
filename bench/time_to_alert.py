"""Time to alert: from the export of the first bad span to the arrival of the
signed webhook, for four planted regressions, plus false alerts on clean traffic.

llmobs starts on its defaults (`python -m collector up`, fresh data dir, free
ports: bench/_common.start_server).  This process runs a real HTTP receiver
on loopback that verifies every webhook's HMAC signature, registers it as a
hook, turns on the PII evaluator and four alert rules through the API, and
plays a simulated app over OTLP/HTTP: four services, five models, about 20
requests/s, one LLM span per request with its messages, exported once a
second per service (one BatchSpanProcessor per service process).

Phases:
1. clean traffic for `--clean-minutes` (default 10): every firing webhook is
   a false alert;
2. each regression `--runs` times, one at a time:
   * pii      - 1 % of one service's answers carry a US SSN;
   * latency  - one model's latency doubles (its p95 with it);
   * cost     - one service swaps its model for one ~3x the price per request;
   * errors   - the main service's error rate jumps from 0.1 % to 5 %;
   the clock starts when the export holding the first bad span is sent and
   stops when the matching firing webhook (rule and group) arrives.  Runs
   rotate over services/models where the rule groups allow it; a run whose
   group is still firing waits for its resolve first.

The rules are what a team would set for this app (see RULES): absolute
thresholds where the healthy value is known (PII: any finding; errors: over
2 % with at least 100 calls in 30 s), a ratio to the group's own trailing
5-minute baseline where it is not (p95 latency 1.5x, cost per request 1.5x),
each with a minimum sample count so a quiet window cannot fire.

Output: a table per regression (runs, alerted, p50/p95/max seconds, p95 /
30 s target), the clean phase's minutes and false alerts, the load average
(the machine is shared: contended figures) and the server's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench._common import Percentiles, start_server, table, tree_cpu_seconds, write_json
from evaluators.alerts import signing
from tests.otlp_builders import genai_chat, new_span_id, new_trace_id, request, span

TARGET_S = 30.0
SECRET = "bench-time-to-alert-secret-0123456789"
# service -> [(model, provider, share)], requests/s, the model it swaps to (and its provider)
SERVICES: dict[str, dict[str, Any]] = {
    "support-bot": {"rate": 8.0, "models": [("gpt-4o-mini", "openai", 1.0)], "swap": ("gpt-4.1-mini", "openai")},
    "search-api": {"rate": 5.0, "models": [("gpt-4.1-nano", "openai", 0.6), ("gemini-2.0-flash", "gcp.gemini", 0.4)],
                   "swap": ("claude-3-haiku-20240307", "anthropic")},
    "summarizer": {"rate": 4.0, "models": [("claude-3-haiku-20240307", "anthropic", 1.0)],
                   "swap": ("claude-3-5-haiku-20241022", "anthropic")},
    "code-assistant": {"rate": 3.0, "models": [("gpt-4.1-mini", "openai", 1.0)], "swap": ("o3-mini", "openai")},
}  # fmt: skip
LATENCY_S = {"gpt-4o-mini": 0.7, "gpt-4.1-nano": 0.45, "gemini-2.0-flash": 0.5, "claude-3-haiku-20240307": 0.8,
             "gpt-4.1-mini": 1.1, "claude-3-5-haiku-20241022": 1.2, "o3-mini": 2.5}  # fmt: skip
CLEAN_ERROR_RATE = 0.001
RULES = [
    {"name": "pii-leak", "metric": "pii_rate", "comparison": ">", "threshold": 0.0, "window_seconds": 30,
     "group_by": "service", "params": {"min_samples": 1, "entity_types": ["CREDIT_CARD", "IBAN_CODE", "US_SSN"],
                                       "resolve_after_seconds": 30}},
    {"name": "latency-p95", "metric": "latency_p95", "comparison": ">", "threshold": 1.5, "window_seconds": 30,
     "group_by": "model", "params": {"min_samples": 60, "baseline_seconds": 300, "baseline_min_samples": 300,
                                     "resolve_after_seconds": 30}},
    {"name": "cost-per-request", "metric": "cost_per_request", "comparison": ">", "threshold": 1.5,
     "window_seconds": 30, "group_by": "service",
     "params": {"min_samples": 60, "baseline_seconds": 300, "baseline_min_samples": 300, "resolve_after_seconds": 30}},
    {"name": "error-rate", "metric": "error_rate", "comparison": ">", "threshold": 0.02, "window_seconds": 30,
     "group_by": "service", "params": {"min_samples": 100, "resolve_after_seconds": 30}},
]  # fmt: skip
# regression -> (rule, groups to rotate over)
REGRESSIONS = {
    "pii": ("pii-leak", list(SERVICES)),
    "latency": ("latency-p95", ["gpt-4o-mini", "claude-3-haiku-20240307", "gpt-4.1-nano", "gpt-4.1-mini"]),
    "cost": ("cost-per-request", ["support-bot", "summarizer", "code-assistant", "search-api"]),
    "errors": ("error-rate", ["support-bot"]),
}
_WORDS = ("order refund shipping account password reset billing plan upgrade cancel invoice delivery tracking "
          "address payment card subscription support ticket product warranty return exchange status update "
          "the a of to and in for on with is was please thanks your our this that it can will".split())  # fmt: skip


# ---- the receiver ------------------------------------------------------------------------------


@dataclass
class Received:
    at: float
    payload: dict[str, Any]


class Receiver:
    """A real webhook receiver on loopback that verifies HMAC signatures;
    a request with a bad signature gets 401 and is counted, not recorded."""

    def __init__(self) -> None:
        self.items: list[Received] = []
        self.bad_signatures = 0
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.time()
                try:
                    signing.verify(SECRET, body, self.headers.get(signing.TIMESTAMP_HEADER),
                                   self.headers.get(signing.SIGNATURE_HEADER))  # fmt: skip
                except signing.SignatureError:
                    with outer.cond:
                        outer.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with outer.cond:
                    outer.items.append(Received(at, json.loads(body)))
                    outer.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def alerts(self, status: str = "firing", since: float = 0.0) -> list[Received]:
        with self.cond:
            return [r for r in self.items if r.payload.get("kind") == "alert" and r.payload.get("status") == status
                    and r.at >= since]  # fmt: skip

    def wait(self, rule: str, group: str, status: str, since: float, timeout: float) -> Received | None:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for r in self.items:
                    p = r.payload
                    if (r.at >= since and p.get("kind") == "alert" and p.get("status") == status
                            and p["rule"]["name"] == rule and p.get("group") == group):  # fmt: skip
                        return r
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 1.0))

    def firing_since(self, rule: str, group: str) -> float | None:
        """When (rule, group) last fired, if its last notification was a firing one."""
        with self.cond:
            last = [r for r in self.items if r.payload.get("kind") == "alert"
                    and r.payload["rule"]["name"] == rule and r.payload.get("group") == group]  # fmt: skip
        return last[-1].at if last and last[-1].payload["status"] == "firing" else None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- the simulated app ---------------------------------------------------------------------------


@dataclass
class Planted:
    kind: str
    group: str
    first_bad_export: float | None = None  # wall clock when the export holding the first bad span was sent


@dataclass
class App:
    """Plays the four services: every second, each service exports the
    requests that finished in that second as one OTLP/HTTP request."""

    otlp: str
    key: str
    seed: int
    planted: Planted | None = None
    exports: int = 0
    spans: int = 0
    failed_exports: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plant(self, planted: Planted | None) -> None:
        with self.lock:
            self.planted = planted

    @staticmethod
    def _sentence(r: random.Random) -> str:
        words = [r.choice(_WORDS) for _ in range(r.randint(8, 20))]
        return " ".join(words).capitalize() + "."

    def _call(self, service: str, planted: Planted | None, r: random.Random) -> tuple[Any, bool]:
        """One request's LLM span, and whether it is a bad one of the planted regression."""
        cfg = SERVICES[service]
        model, provider, _ = r.choices(cfg["models"], [m[2] for m in cfg["models"]])[0]
        bad = False
        if planted and planted.kind == "cost" and planted.group == service and model == cfg["models"][0][0]:
            model, provider = cfg["swap"]
            bad = True
        latency = LATENCY_S[model] * r.lognormvariate(0, 0.3)
        if planted and planted.kind == "latency" and planted.group == model:
            latency *= 2
            bad = True
        error = r.random() < CLEAN_ERROR_RATE
        if planted and planted.kind == "errors" and planted.group == service:
            error = r.random() < 0.05
            bad = bad or error
        answer = " ".join(self._sentence(r) for _ in range(r.randint(1, 4)))
        if planted and planted.kind == "pii" and planted.group == service and r.random() < 0.01:
            ssn = f"{r.randint(101, 665):03d}-{r.randint(10, 99):02d}-{r.randint(1000, 9999):04d}"
            answer += f" The SSN on file for this account is {ssn}."
            bad = True
        question = self._sentence(r)
        in_tok = max(50, int(r.gauss(600, 150)))
        out_tok = max(10, int(r.gauss(150, 40)))
        attrs = genai_chat(model, provider, in_tok, out_tok, **{
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}],
                                                   "finish_reason": "stop"}]),
        })  # fmt: skip
        now = time.time_ns()
        sp = span(f"chat {model}", attrs, trace_id=new_trace_id(), span_id=new_span_id(),
                  start_ns=now - int(latency * 1e9), duration_ms=latency * 1000, error=error)  # fmt: skip
        return sp, bad

    def run(self) -> None:
        """One thread per service (each is its own process with its own
        exporter in the app being simulated), so a slow export of one does not
        thin out the others' traffic."""
        threads = [threading.Thread(target=self._service, args=(name, i), daemon=True)
                   for i, name in enumerate(SERVICES)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _service(self, service: str, index: int) -> None:
        rng = random.Random(self.seed * 100 + index)
        client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {self.key}",
                                                   "Content-Type": "application/x-protobuf"})  # fmt: skip
        next_tick = time.monotonic() + index * 0.25  # services do not export in lockstep
        while not self.stop.is_set():
            delay = next_tick - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            next_tick += 1.0
            with self.lock:
                planted = self.planted
            n = _poisson(rng, SERVICES[service]["rate"])
            if n == 0:
                continue
            calls = [self._call(service, planted, rng) for _ in range(n)]
            body = request([c[0] for c in calls], service=service).SerializeToString()
            has_bad = any(c[1] for c in calls)
            sent_at = time.time()
            try:
                ok = client.post(self.otlp + "/v1/traces", content=body).status_code == 200
            except httpx.HTTPError:
                ok = False
            with self.lock:
                self.exports += 1
                self.spans += n
                self.failed_exports += not ok
                if has_bad and planted is not None and planted.first_bad_export is None:
                    planted.first_bad_export = sent_at
        client.close()


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# ---- the run ----------------------------------------------------------------------------------


def configure(api: httpx.Client, hook_url: str) -> None:
    hook = api.post("/hooks", json={"name": "bench", "url": hook_url, "secret": SECRET})
    hook.raise_for_status()
    hook_id = hook.json()["id"]
    api.post("/evaluators/configs", json={"evaluator": "pii", "schedule": "1m"}).raise_for_status()
    for rule in RULES:
        r = api.post("/alerts/rules", json={**rule, "hook_ids": [hook_id]})
        assert r.status_code == 201, r.text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clean-minutes", type=float, default=10.0, help="clean phase length (false alerts counted)")
    p.add_argument("--runs", type=int, default=5, help="runs of each regression")
    p.add_argument("--regressions", default="pii,latency,cost,errors")
    p.add_argument("--timeout", type=float, default=120.0, help="longest wait for one alert (s)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    return p.parse_args(argv)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop the server and clean up like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    load_start = os.getloadavg()
    data_dir = Path(tempfile.mkdtemp(prefix="llmobs-tta-"))
    receiver = Receiver()
    srv = start_server(data_dir, timeout=600)  # a loaded shared machine can take minutes
    app: App | None = None
    try:
        assert srv.key and srv.otlp_http and srv.pid
        with srv.client() as api:
            configure(api, receiver.url)
        app = App(srv.otlp_http, srv.key, args.seed)
        threading.Thread(target=app.run, daemon=True).start()
        cpu0 = tree_cpu_seconds(srv.pid)

        clean_start = time.time()
        print(f"clean phase: {args.clean_minutes:g} min of ~20 requests/s", flush=True)
        time.sleep(args.clean_minutes * 60)
        false_alerts = receiver.alerts("firing", clean_start)
        clean_end = time.time()
        for f in false_alerts:
            print(f"  false alert: {f.payload['rule']['name']} {f.payload.get('group')!r} value {f.payload.get('value')}")

        results: dict[str, list[float | None]] = {}
        for name in [x.strip() for x in args.regressions.split(",") if x.strip()]:
            rule, groups = REGRESSIONS[name]
            results[name] = []
            for run in range(args.runs):
                group = groups[run % len(groups)]
                fired_at = receiver.firing_since(rule, group)
                if fired_at is not None:  # the previous run's alert must resolve first
                    if receiver.wait(rule, group, "resolved", fired_at, args.timeout) is None:
                        print(f"  ({rule} {group!r} still firing after {args.timeout:g} s: this run cannot fire anew)",
                              flush=True)  # fmt: skip
                planted = Planted(name, group)
                app.plant(planted)
                deadline = time.time() + args.timeout
                while planted.first_bad_export is None and time.time() < deadline:
                    time.sleep(0.05)
                got = None
                if planted.first_bad_export is not None:
                    got = receiver.wait(rule, group, "firing", planted.first_bad_export,
                                        max(1.0, deadline - time.time()))  # fmt: skip
                app.plant(None)
                secs = None if got is None or planted.first_bad_export is None else got.at - planted.first_bad_export
                results[name].append(secs)
                print(f"  {name} run {run + 1} ({group}): " + ("not alerted" if secs is None else f"{secs:.1f} s"),
                      flush=True)  # fmt: skip
                time.sleep(3)
        cpu = tree_cpu_seconds(srv.pid) - cpu0
        load_end = os.getloadavg()
        other_firing = [a for a in receiver.alerts("firing", clean_end)
                        if not any(a.payload["rule"]["name"] == REGRESSIONS[n][0] for n in results)]  # fmt: skip

        rows = []
        for name, secs in results.items():
            got = [s for s in secs if s is not None]
            pc = Percentiles.of(got)
            p95 = _p95(got)
            rows.append([name, len(secs), len(got), pc.p50, p95, pc.max, p95 / TARGET_S if got else float("nan")])
        print()
        print(table(["regression", "runs", "alerted", "p50 s", "p95 s", "max s", "p95 / 30 s"], rows))
        print()
        print(table(["clean phase min", "false alerts", "bad signatures", "exports", "spans", "failed exports"],
                    [[round((clean_end - clean_start) / 60, 1), len(false_alerts), receiver.bad_signatures,
                      app.exports, app.spans, app.failed_exports]]))  # fmt: skip
        print(f"\nload average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, at end "
              f"{load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} (2 cores, shared: contended figures); "
              f"server CPU {cpu:.0f} s over {time.time() - clean_start:.0f} s; "
              f"firing alerts of rules not under test during the regressions: {len(other_firing)}")  # fmt: skip
        path = write_json("time_to_alert", {
            "args": vars(args), "results": results, "false_alerts": [f.payload for f in false_alerts],
            "clean_minutes": (clean_end - clean_start) / 60, "loadavg_start": load_start, "loadavg_end": load_end,
            "server_cpu_seconds": cpu, "rules": RULES,
        })  # fmt: skip
        print(f"results: {path}")
        return 0
    finally:
        if app is not None:
            app.stop.set()
        receiver.close()
        srv.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    pos = (len(v) - 1) * 0.95
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


if __name__ == "__main__":
    sys.exit(main())
