"""Sample traffic for a first look at the dashboard, sent through the real
OTLP/HTTP endpoint exactly as an OpenTelemetry SDK would send it.

Five services over the last few days, each shaped like a real application:
a support agent that calls tools (OTel GenAI semconv, streaming with time to
first token), a RAG search (embedding, retrieval, then a cached-prompt chat),
a summarizer instrumented with OpenLIT (which reports its own cost, so
provider-reported and computed cost can be compared), a coding assistant on
a self-hosted model genai-prices does not know (unpriced until a price is
added), and a nightly batch classifier.  Some calls fail (rate limits,
timeouts).  Users, sessions and a feature tag (`app.feature`) are set, so
every dashboard breakdown has something to show.

`generate()` is deterministic for a seed and a clock, so tests can check the
dashboard's numbers against what was sent.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.otlp.build import key_values

HOUR_NS = 3600 * 10**9
MS = 10**6

USERS = [f"user-{name}" for name in ("ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances",
                                      "edsger", "radia", "tim", "hedy")]  # fmt: skip
QUESTIONS = [
    ("Where is my order #{n}? It was supposed to arrive on Monday.", "get_order_status"),
    ("Can I get a refund for order #{n}? The blender arrived broken.", "create_refund"),
    ("Change the delivery address of order #{n} to 12 Rue de Rivoli, Paris.", "update_address"),
    ("Is the espresso machine model X{n} back in stock?", "check_inventory"),
]
DOC_QUESTIONS = [
    "How do I rotate an API key?",
    "What is the retention period for spans?",
    "How are cached input tokens priced?",
    "Which OTLP protocols are supported?",
    "How do I run llmobs against a ClickHouse cluster?",
]
DOCS = [
    "API keys are stored hashed. Create a new key, deploy it, then revoke the old one from Settings.",
    "Spans are kept for the project's retention (30 days by default); expired days are dropped whole.",
    "Cached input tokens are billed at the provider's cache-read rate, usually a tenth of the input rate.",
    "llmobs accepts OTLP over gRPC (4317) and HTTP (4318), protobuf or JSON, gzip or not.",
    "Set LLMOBS_CLICKHOUSE_CLUSTER and run `llmobs migrate` once before starting the replicas.",
]
ARTICLES = [
    "Quarterly report: revenue grew 12 % on strong demand for the premium tier, while churn fell to 2.1 %.",
    "Incident review: a misconfigured load balancer dropped 3 % of requests for 14 minutes on Tuesday.",
    "Release notes: the new search ranks recent documents higher and supports filters on authors.",
]


def _text(role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}], **extra}


@dataclass
class DemoBatch:
    """What one run generated: OTLP requests per service, and counts."""

    requests: list[bytes] = field(default_factory=list)
    spans: int = 0
    traces: int = 0
    llm_calls: int = 0
    errors: int = 0


class _Trace:
    """Builds one trace's spans with consistent ids and parent links."""

    def __init__(self, rng: random.Random, start_ns: int) -> None:
        self.rng = rng
        self.trace_id = rng.randbytes(16)
        self.start_ns = start_ns
        self.spans: list[Span] = []

    def add(
        self, name: str, start_ns: int, dur_ms: float, attrs: dict[str, Any], *, parent: bytes = b"",
        kind: int = Span.SPAN_KIND_INTERNAL, error: str | None = None,
    ) -> bytes:  # fmt: skip
        sid = self.rng.randbytes(8)
        sp = Span(
            trace_id=self.trace_id, span_id=sid, parent_span_id=parent, name=name, kind=kind,
            start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + int(dur_ms * MS),
        )  # fmt: skip
        if error:
            attrs = {**attrs, "error.type": error}
            sp.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
        sp.attributes.extend(key_values(attrs))
        self.spans.append(sp)
        return sid


def _chat(
    model: str, provider: str, inp: int, out: int, *, user: str, session: str, feature: str,
    messages: list[dict[str, Any]] | None = None, output: list[dict[str, Any]] | None = None,
    system: str | None = None, ttft_s: float | None = None, cache_read: int = 0, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    a: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": out,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 1024,
        "user.id": user,
        "gen_ai.conversation.id": session,
        "app.feature": feature,
    }
    if cache_read:
        a["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if ttft_s is not None:
        a["gen_ai.request.stream"] = True
        a["gen_ai.response.time_to_first_chunk"] = ttft_s
    if messages is not None:
        a["gen_ai.input.messages"] = json.dumps(messages)
    if output is not None:
        a["gen_ai.output.messages"] = json.dumps(output)
        reasons = [m.get("finish_reason", "stop") for m in output]
        a["gen_ai.response.finish_reasons"] = reasons
    if system:
        a["gen_ai.system_instructions"] = json.dumps([{"type": "text", "content": system}])
    return {**a, **(extra or {})}


def _support_agent(rng: random.Random, t0: int, user: str, session: str) -> tuple[_Trace, int, int]:
    """invoke_agent -> chat (tool call) -> execute_tool -> chat (answer), streamed."""
    tr = _Trace(rng, t0)
    n = rng.randint(1000, 9999)
    question, tool = rng.choice(QUESTIONS)
    question = question.format(n=n)
    model = rng.choice(["gpt-4o", "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022"])
    provider = "anthropic" if model.startswith("claude") else "openai"
    system = "You are the support assistant of Acme Home. Use the tools; never invent order data."
    call_id = f"call_{rng.randbytes(6).hex()}"
    args = {"order_id": str(n)} if "order" in question else {"sku": f"X{n}"}
    result = {"order_id": str(n), "status": rng.choice(["in transit", "delivered", "delayed"]), "eta": "2026-11-28"}
    failed = rng.random() < 0.06
    d1, dt, d2 = rng.uniform(500, 1800), rng.uniform(40, 400), rng.uniform(700, 4000)
    root = tr.add("invoke_agent support", t0, d1 + dt + d2 + 30, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support", "user.id": user,
        "gen_ai.conversation.id": session, "app.feature": "support",
    }, kind=Span.SPAN_KIND_SERVER, error="RateLimitError" if failed else None)  # fmt: skip
    msgs = [_text("user", question)]
    out1 = [{"role": "assistant", "parts": [{"type": "tool_call", "id": call_id, "name": tool, "arguments": args}],
             "finish_reason": "tool_call"}]  # fmt: skip
    inp1 = rng.randint(350, 900)
    tr.add(f"chat {model}", t0 + 5 * MS, d1, _chat(
        model, provider, inp1, rng.randint(15, 40), user=user, session=session, feature="support",
        messages=msgs, output=out1, system=system, ttft_s=round(rng.uniform(0.18, 0.9), 3),
    ), parent=root, kind=Span.SPAN_KIND_CLIENT)  # fmt: skip
    tr.add(f"execute_tool {tool}", t0 + int(d1 * MS) + 10 * MS, dt, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.call.arguments": json.dumps(args), "gen_ai.tool.call.result": json.dumps(result),
    }, parent=root)  # fmt: skip
    if failed:
        tr.add(f"chat {model}", t0 + int((d1 + dt) * MS) + 20 * MS, rng.uniform(100, 300), _chat(
            model, provider, inp1 + 60, 0, user=user, session=session, feature="support",
            messages=msgs + out1 + [{"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id,
                                                               "response": result}]}], system=system,
        ), parent=root, kind=Span.SPAN_KIND_CLIENT, error="RateLimitError")  # fmt: skip
        return tr, 2, 1
    answer = (f"Your order #{n} is {result['status']}; the expected delivery date is {result['eta']}."
              if "order" in question else f"Model X{n} is back in stock and ships within two days.")  # fmt: skip
    tr.add(f"chat {model}", t0 + int((d1 + dt) * MS) + 20 * MS, d2, _chat(
        model, provider, inp1 + rng.randint(60, 200), rng.randint(40, 220), user=user, session=session,
        feature="support", system=system, ttft_s=round(rng.uniform(0.2, 1.2), 3),
        messages=msgs + out1 + [{"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id,
                                                           "response": result}]}],
        output=[{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}],
    ), parent=root, kind=Span.SPAN_KIND_CLIENT)  # fmt: skip
    return tr, 2, 1 if failed else 0


def _rag(rng: random.Random, t0: int, user: str, session: str) -> tuple[_Trace, int, int]:
    """rag.query -> embeddings -> retrieval -> chat with a cached system prompt."""
    tr = _Trace(rng, t0)
    i = rng.randrange(len(DOC_QUESTIONS))
    q, doc = DOC_QUESTIONS[i], DOCS[i]
    timeout = rng.random() < 0.04
    e, r, c = rng.uniform(30, 120), rng.uniform(20, 90), rng.uniform(600, 3000)
    root = tr.add("rag.query", t0, e + r + c + 20, {"user.id": user, "session.id": session, "app.feature": "docs-search"},
                  kind=Span.SPAN_KIND_SERVER, error="TimeoutError" if timeout else None)  # fmt: skip
    tr.add("embeddings text-embedding-3-small", t0 + 2 * MS, e, {
        "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": len(q.split()) * 2,
        "user.id": user, "app.feature": "docs-search",
    }, parent=root, kind=Span.SPAN_KIND_CLIENT)  # fmt: skip
    docs = [{"id": f"doc-{i}", "score": round(rng.uniform(0.7, 0.95), 3), "content": doc},
            {"id": f"doc-{(i + 1) % len(DOCS)}", "score": round(rng.uniform(0.3, 0.6), 3),
             "content": DOCS[(i + 1) % len(DOCS)]}]  # fmt: skip
    tr.add("retrieval docs", t0 + int(e * MS) + 4 * MS, r, {
        "gen_ai.operation.name": "retrieval", "gen_ai.retrieval.query.text": q,
        "gen_ai.retrieval.documents": json.dumps(docs), "gen_ai.data_source.id": "docs-index",
    }, parent=root)  # fmt: skip
    model = rng.choice(["claude-3-5-sonnet-20241022", "claude-3-5-haiku-20241022", "gemini-2.0-flash"])
    provider = "anthropic" if model.startswith("claude") else "gcp.gemini"
    system = "Answer from the documents only and cite them.\n\n" + "\n".join(d["content"] for d in docs)
    cached = rng.choice([0, 1024, 2048]) if provider == "anthropic" else 0
    tr.add(f"chat {model}", t0 + int((e + r) * MS) + 8 * MS, c, _chat(
        model, provider, rng.randint(200, 600), rng.randint(60, 300), user=user, session=session,
        feature="docs-search", system=system, cache_read=cached, ttft_s=round(rng.uniform(0.25, 1.5), 3),
        messages=[_text("user", q)],
        output=None if timeout else [_text("assistant", f"{doc} [doc-{i}]", finish_reason="stop")],
    ), parent=root, kind=Span.SPAN_KIND_CLIENT, error="TimeoutError" if timeout else None)  # fmt: skip
    return tr, 2, 1 if timeout else 0


def _summarize(rng: random.Random, t0: int, user: str, session: str) -> tuple[_Trace, int, int]:
    """One OpenLIT chat span carrying OpenLIT's own cost estimate."""
    tr = _Trace(rng, t0)
    article = rng.choice(ARTICLES)
    inp, out = rng.randint(800, 3000), rng.randint(80, 250)
    # OpenLIT prices from its own list: a little off from genai-prices on purpose.
    reported = round((inp * 0.15 + out * 0.6) / 1e6 * rng.uniform(0.97, 1.08), 8)
    tr.add("chat gpt-4o-mini", t0, rng.uniform(900, 2500), _chat(
        "gpt-4o-mini", "openai", inp, out, user=user, session=session, feature="summaries",
        messages=[_text("user", f"Summarize in one sentence:\n\n{article}")],
        output=[_text("assistant", article.split(":")[0] + ": " + article.split(":")[1].split(",")[0].strip() + ".",
                      finish_reason="stop")],
        extra={"gen_ai.usage.cost": reported},
    ), kind=Span.SPAN_KIND_CLIENT)  # fmt: skip
    return tr, 1, 0


def _codegen(rng: random.Random, t0: int, user: str, session: str) -> tuple[_Trace, int, int]:
    """A self-hosted model genai-prices does not know: stored unpriced."""
    tr = _Trace(rng, t0)
    fn = rng.choice(["parse_iso_date", "retry_with_backoff", "slugify", "chunk_list"])
    failed = rng.random() < 0.05
    tr.add("chat acme-coder-7b", t0, rng.uniform(1500, 6000), _chat(
        "acme-coder-7b", "vllm", rng.randint(300, 1200), rng.randint(100, 600), user=user, session=session,
        feature="codegen", ttft_s=round(rng.uniform(0.05, 0.3), 3),
        messages=[_text("user", f"Write a Python function `{fn}` with a docstring and tests.")],
        output=None if failed else [_text("assistant", f"def {fn}(*args):\n    \"\"\"...\"\"\"\n", finish_reason="stop")],
    ), kind=Span.SPAN_KIND_CLIENT, error="InternalServerError" if failed else None)  # fmt: skip
    return tr, 1, 1 if failed else 0


def _classify(rng: random.Random, t0: int, user: str, session: str) -> tuple[_Trace, int, int]:
    """Batch job: a few cheap classification calls under one workflow span."""
    tr = _Trace(rng, t0)
    k = rng.randint(2, 4)
    root = tr.add("batch.classify_tickets", t0, k * 400 + 50, {"app.feature": "triage"})
    for j in range(k):
        label = rng.choice(["billing", "shipping", "product", "other"])
        tr.add("chat gemini-2.0-flash", t0 + j * 400 * MS + 10 * MS, rng.uniform(150, 380), _chat(
            "gemini-2.0-flash", "gcp.gemini", rng.randint(120, 300), rng.randint(2, 6), user="system-batch",
            session=session, feature="triage", messages=[_text("user", f"Classify ticket #{rng.randint(1, 99999)}")],
            output=[_text("assistant", label, finish_reason="stop")],
        ), parent=root, kind=Span.SPAN_KIND_CLIENT)  # fmt: skip
    return tr, k, 0


# (service, resource extras, builder, share of traces)
SERVICES = [
    ("support-agent", {"telemetry.sdk.language": "python"}, _support_agent, 0.35),
    ("docs-search", {"telemetry.sdk.language": "nodejs"}, _rag, 0.25),
    ("summarizer", {"telemetry.sdk.name": "openlit", "telemetry.sdk.language": "python"}, _summarize, 0.15),
    ("code-assistant", {"telemetry.sdk.language": "python"}, _codegen, 0.10),
    ("ticket-triage", {"telemetry.sdk.language": "python"}, _classify, 0.15),
]


def generate(traces: int = 600, *, days: float = 3.0, seed: int = 7, now_ns: int, batch: int = 500) -> DemoBatch:
    """Traces spread evenly over the last `days`, grouped
    into one OTLP request per service and at most `batch` spans each."""
    rng = random.Random(seed)
    by_service: dict[str, list[Span]] = defaultdict(list)
    out = DemoBatch()
    window = int(days * 24 * HOUR_NS)
    weights = [s[3] for s in SERVICES]
    sessions: dict[str, str] = {}
    for _ in range(traces):
        name, _, build, _ = rng.choices(SERVICES, weights)[0]
        t0 = now_ns - 60 * 10**9 - rng.randrange(window)
        user = rng.choice(USERS[: 4 + rng.randrange(len(USERS) - 4)])  # a few heavy users
        key = f"{name}/{user}"
        if key not in sessions or rng.random() < 0.3:
            sessions[key] = f"sess-{rng.randbytes(4).hex()}"
        tr, llm, err = build(rng, t0, user, sessions[key])
        by_service[name].extend(tr.spans)
        out.traces += 1
        out.spans += len(tr.spans)
        out.llm_calls += llm
        out.errors += err
    resources = {s[0]: s[1] for s in SERVICES}
    for name, spans in by_service.items():
        for i in range(0, len(spans), batch):
            req = ExportTraceServiceRequest()
            rs = req.resource_spans.add()
            rs.resource.attributes.extend(key_values({"service.name": name, "deployment.environment": "demo",
                                                **resources[name]}))  # fmt: skip
            ss = rs.scope_spans.add()
            ss.scope.name = "openlit" if resources[name].get("telemetry.sdk.name") == "openlit" else "llmobs.demo"
            ss.spans.extend(spans[i : i + batch])
            out.requests.append(req.SerializeToString())
    return out


def send(batch: DemoBatch, otlp_http: str, api_key: str | None, *, timeout: float = 30) -> Iterator[int]:
    """POST each request to <otlp_http>/v1/traces; yields spans acknowledged
    so far.  A refused export raises with the server's answer."""
    headers = {"Content-Type": "application/x-protobuf"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    done = 0
    with httpx.Client(timeout=timeout) as c:
        for body in batch.requests:
            for _ in range(20):
                r = c.post(otlp_http.rstrip("/") + "/v1/traces", content=body, headers=headers)
                if r.status_code != 503:
                    break
                time.sleep(float(r.headers.get("retry-after", "1")))
            if r.status_code != 200:
                raise RuntimeError(f"OTLP export refused: HTTP {r.status_code}: {r.text[:300]}")
            req = ExportTraceServiceRequest.FromString(body)
            done += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            yield done
