"""Realistic GenAI OTLP traffic, serialized the way SDK exporters send it.

Traces of 1-10 spans (an agent/workflow root with LLM, tool and retriever
children, or a lone LLM call) in four dialects, each the shape real
instrumentations emit (compare tests/fixtures/otlp/*):

* ``otel_genai``    OTel GenAI semconv: gen_ai.operation.name, provider, usage,
                    messages as JSON in gen_ai.input.messages / output.messages
* ``openllmetry``   Traceloop: gen_ai.prompt.N.* / gen_ai.completion.N.* flattened,
                    llm.request.type, traceloop.span.kind workflow/tool roots
* ``openinference`` llm.input_messages.N.message.*, llm.token_count.*,
                    openinference.span.kind AGENT/LLM/TOOL/RETRIEVER
* ``vercel_ai``     ai.generateText outer span + ai.generateText.doGenerate
                    child per step (only the inner one counts usage), ai.toolCall

Each service is one process of one instrumentation, so an export (a batch
as BatchSpanProcessor sends it, default 512 spans) carries one resource and
one scope.  Message text comes from a pre-built pool (a few hundred bytes to
a few KB, lognormal), so building is cheap and the payloads stay realistic.

Profiles (`PROFILES`): ``heavy`` captures message content on every trace
(prompts, completions, tool arguments and results, retrieved documents: about
3.7 KB/span); ``light`` is the instrumentations' default with content capture
off (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` unset,
``TRACELOOP_TRACE_CONTENT=false``, OpenInference hide_inputs/hide_outputs,
Vercel ``recordInputs/recordOutputs: false``): the same traces, with model,
provider, tokens, finish reasons, ids, user/session and tool names but no text;
``mixed`` makes 20 % of traces heavy and 80 % light.  The choice is drawn from
its own random stream, so a seed gives the same trace shapes, ids, models and
token counts under every profile: only the content attributes differ.

`build_batches(seed, n_batches, batch, t_end_ns, profile)` is deterministic for a seed;
it returns serialized ExportTraceServiceRequest bytes plus counts, so callers
in other processes can verify what the server stored.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.otlp.build import key_values

# (model, dialect-specific provider spellings, share)
MODELS = [
    ("gpt-4o", "openai", 0.30),
    ("gpt-4o-mini", "openai", 0.30),
    ("claude-3-5-sonnet-20241022", "anthropic", 0.20),
    ("gemini-2.0-flash", "google", 0.15),
    ("acme-chat-7b", "acme", 0.05),  # unknown to genai-prices: stored unpriced
]
PROVIDER_SPELLING = {
    "otel_genai": {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini", "acme": "acme"},
    "openllmetry": {"openai": "openai", "anthropic": "Anthropic", "google": "Google", "acme": "acme"},
    "openinference": {"openai": "openai", "anthropic": "anthropic", "google": "google", "acme": "acme"},
    "vercel_ai": {
        "openai": "openai.chat",
        "anthropic": "anthropic.messages",
        "google": "google.generative-ai",
        "acme": "acme.chat",
    },
}
# service -> dialect (one instrumentation per service process)
SERVICES = [
    ("support-bot", "otel_genai"),
    ("search-api", "otel_genai"),
    ("code-assistant", "openllmetry"),
    ("summarizer", "openllmetry"),
    ("rag-docs", "openinference"),
    ("sales-agent", "openinference"),
    ("web-chat", "vercel_ai"),
    ("onboarding", "vercel_ai"),
]
SCOPES = {
    "otel_genai": ("opentelemetry.instrumentation.openai_v2", "2.4b0"),
    "openllmetry": ("opentelemetry.instrumentation.openai.v1", "0.62.4"),
    "openinference": ("openinference.instrumentation.openai", "0.1.66"),
    "vercel_ai": ("ai", "6.0.0"),
}
TOOLS = ["search_docs", "get_weather", "lookup_order", "run_sql", "send_email", "fetch_url"]
N_USERS = 2_000
N_SESSIONS = 10_000

_WORDS = ["the", "a", "an", "of", "to", "and", "in", "for", "on", "with", "at", "by", "from", "as", "is", "was", "are", "be", "this", "that", "it", "not", "or", "have", "has", "had", "customer", "order", "invoice", "refund", "shipping", "account", "password", "reset", "billing", "plan", "upgrade", "cancel", "error", "timeout", "latency", "database", "query", "index", "table", "column", "row", "cluster", "node", "replica", "shard", "function", "method", "class", "module", "import", "return", "value", "string", "number", "list", "dict", "object", "json", "schema", "please", "could", "would", "should", "thanks", "hello", "sorry", "issue", "problem", "question", "answer", "help", "explain", "summary", "document", "section", "paragraph", "page", "chapter", "title", "author", "date", "version", "release", "note", "weather", "forecast", "temperature", "rain", "city", "country", "region", "price", "cost", "tokens", "model", "prompt", "reply", "search", "result", "source", "reference", "link", "context", "retrieval", "embedding", "vector", "similarity", "score", "rank", "user", "session", "trace", "span", "event", "metric", "log", "alert", "dashboard", "chart", "report", "export", "import", "python", "javascript", "rust", "sql", "api", "http", "request", "response", "header", "status", "code", "body", "payload"]


def _text(rng: random.Random, n_bytes: int) -> str:
    out: list[str] = []
    size = 0
    while size < n_bytes:
        w = rng.choice(_WORDS)
        out.append(w)
        size += len(w) + 1
        if rng.random() < 0.07:
            out[-1] += "."
    s = " ".join(out)
    return s[:1].upper() + s[1:]


@dataclass(slots=True)
class TextPool:
    short: list[str]  # system prompts, tool args, queries: 80-400 B
    medium: list[str]  # user turns, tool results: 200 B - 2 KB
    long: list[str]  # assistant replies, documents: 400 B - 4 KB

    @classmethod
    def build(cls, seed: int, n: int = 600) -> TextPool:
        rng = random.Random(seed)

        def sizes(mu: float, sigma: float, lo: int, hi: int) -> list[int]:
            return [int(min(hi, max(lo, rng.lognormvariate(mu, sigma)))) for _ in range(n)]

        return cls(
            short=[_text(rng, k) for k in sizes(5.2, 0.5, 80, 400)],
            medium=[_text(rng, k) for k in sizes(6.2, 0.7, 200, 2048)],
            long=[_text(rng, k) for k in sizes(6.8, 0.7, 400, 4096)],
        )


@dataclass(slots=True)
class BatchStats:
    spans: int = 0
    llm_calls: int = 0  # spans the server should count as one LLM call each
    traces: int = 0
    bytes: int = 0
    content_traces: int = 0  # traces built with message content captured (heavy)
    content_spans: int = 0
    by_dialect: dict[str, int] = field(default_factory=dict)
    by_model: dict[str, int] = field(default_factory=dict)
    min_start_ns: int = 0
    max_start_ns: int = 0

    def merge(self, o: BatchStats) -> None:
        self.spans += o.spans
        self.llm_calls += o.llm_calls
        self.traces += o.traces
        self.bytes += o.bytes
        self.content_traces += o.content_traces
        self.content_spans += o.content_spans
        for k, v in o.by_dialect.items():
            self.by_dialect[k] = self.by_dialect.get(k, 0) + v
        for k, v in o.by_model.items():
            self.by_model[k] = self.by_model.get(k, 0) + v
        starts = [x for x in (self.min_start_ns, o.min_start_ns) if x]
        self.min_start_ns = min(starts) if starts else 0
        self.max_start_ns = max(self.max_start_ns, o.max_start_ns)


PROFILES = ("heavy", "light", "mixed")
HEAVY_SHARE = {"heavy": 1.0, "light": 0.0, "mixed": 0.2}  # share of traces that capture content

# Attributes that carry message content (prompts, completions, tool arguments
# and results, retrieved text): what an instrumentation leaves out when content
# capture is off.  Everything else (model, provider, usage, finish reasons,
# ids, user/session, tool names, settings) is recorded either way.
CONTENT_KEYS = frozenset({
    # OTel GenAI semconv (opt-in: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    # OpenLLMetry (TRACELOOP_TRACE_CONTENT=false)
    "traceloop.entity.input", "traceloop.entity.output",
    # OpenInference (hide_inputs / hide_outputs)
    "input.value", "output.value", "input.mime_type", "output.mime_type",
    # Vercel AI SDK (recordInputs / recordOutputs: false)
    "ai.prompt", "ai.prompt.messages", "ai.response.text", "ai.response.toolCalls",
    "ai.toolCall.args", "ai.toolCall.result",
})  # fmt: skip
CONTENT_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.")


def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES) or key.endswith(".document.content")


@dataclass(slots=True)
class _Call:
    """One LLM call's content and usage, rendered per dialect."""

    model: str
    provider: str
    system: str
    turns: list[tuple[str, str]]  # (role, text), user/assistant history
    reply: str
    tool_call: tuple[str, str, str] | None  # (id, name, json args) the model asked for
    input_tokens: int
    output_tokens: int
    cache_read: int
    finish: str
    temperature: float
    max_tokens: int
    response_id: str


class Generator:
    def __init__(self, seed: int, t_end_ns: int, window_s: float = 3600.0, profile: str = "heavy") -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}")
        self.rng = random.Random(seed)
        # the heavy/light draw has its own stream: trace shapes do not depend on the profile
        self._profile_rng = random.Random(seed ^ 0xC0FFEE)
        self.heavy_share = HEAVY_SHARE[profile]
        self.capture = True  # content capture of the trace being built
        self.pool = TextPool.build(seed ^ 0x5EED)
        self.t_end_ns = t_end_ns
        self.window_ns = int(window_s * 1e9)
        self._models = [m for m in MODELS]
        self._model_w = [m[2] for m in MODELS]

    # ---- building blocks ---------------------------------------------------------------

    def _kv(self, attrs: dict) -> list[KeyValue]:
        if not self.capture:
            attrs = {k: v for k, v in attrs.items() if not is_content_key(k)}
        return key_values(attrs)

    def _ids(self) -> bytes:
        return self.rng.getrandbits(64).to_bytes(8, "big")

    def _call(self) -> _Call:
        r = self.rng
        model, provider, _ = r.choices(self._models, self._model_w)[0]
        n_hist = r.choice((0, 0, 0, 1, 2, 4))
        turns = []
        for _ in range(n_hist):
            turns.append(("user", r.choice(self.pool.medium)))
            turns.append(("assistant", r.choice(self.pool.long)))
        turns.append(("user", r.choice(self.pool.medium)))
        tool_call = None
        if r.random() < 0.25:
            name = r.choice(TOOLS)
            tool_call = (f"call_{r.getrandbits(48):012x}", name, json.dumps({"query": r.choice(self.pool.short)[:120], "limit": r.randint(1, 20)}))
        chars = sum(len(t[1]) for t in turns) + 300
        in_tok = max(8, chars // 4 + r.randint(0, 50))
        reply = "" if tool_call and r.random() < 0.7 else r.choice(self.pool.long)
        out_tok = max(1, len(reply) // 4 + (20 if tool_call else 0))
        cache_read = (in_tok // 2 // 64) * 64 if n_hist and r.random() < 0.5 else 0
        return _Call(
            model=model, provider=provider, system=r.choice(self.pool.short), turns=turns, reply=reply,
            tool_call=tool_call, input_tokens=in_tok, output_tokens=out_tok, cache_read=cache_read,
            finish="tool_calls" if tool_call else r.choices(("stop", "length"), (0.95, 0.05))[0],
            temperature=r.choice((0.0, 0.2, 0.7, 1.0)), max_tokens=r.choice((256, 512, 1024, 4096)),
            response_id=f"resp_{r.getrandbits(64):016x}",
        )  # fmt: skip

    def _span(self, name: str, trace_id: bytes, parent: bytes, start: int, dur_ns: int, kind: int,
              attrs: dict, error: bool = False) -> Span:  # fmt: skip
        sp = Span(
            trace_id=trace_id, span_id=self._ids(), parent_span_id=parent, name=name, kind=kind,
            start_time_unix_nano=start, end_time_unix_nano=start + dur_ns,
        )  # fmt: skip
        sp.attributes.extend(self._kv(attrs))
        if error:
            sp.status.code = 2
            sp.status.message = "upstream returned 500"
        return sp

    def _llm_dur(self, c: _Call) -> int:
        # ~ 300 ms + 15 ms per output token, lognormal noise
        return int((0.3 + c.output_tokens * 0.015) * self.rng.lognormvariate(0, 0.35) * 1e9)

    # ---- dialects: LLM span attributes ---------------------------------------------------

    def _otel_llm(self, c: _Call, user: str, session: str) -> tuple[str, dict]:
        msgs_in = [{"role": role, "parts": [{"type": "text", "content": t}]} for role, t in c.turns]
        out_parts: list[dict] = []
        if c.reply:
            out_parts.append({"type": "text", "content": c.reply})
        if c.tool_call:
            out_parts.append({"type": "tool_call", "id": c.tool_call[0], "name": c.tool_call[1], "arguments": json.loads(c.tool_call[2])})
        a = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_SPELLING["otel_genai"][c.provider],
            "gen_ai.request.model": c.model,
            "gen_ai.response.model": c.model,
            "gen_ai.request.temperature": c.temperature,
            "gen_ai.request.max_tokens": c.max_tokens,
            "gen_ai.response.id": c.response_id,
            "gen_ai.response.finish_reasons": [c.finish],
            "gen_ai.usage.input_tokens": c.input_tokens,
            "gen_ai.usage.output_tokens": c.output_tokens,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": c.system}]),
            "gen_ai.input.messages": json.dumps(msgs_in),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": out_parts, "finish_reason": c.finish}]),
            "server.address": "api.example.com",
            "server.port": 443,
            "user.id": user,
            "gen_ai.conversation.id": session,
        }
        if c.cache_read:
            a["gen_ai.usage.cache_read.input_tokens"] = c.cache_read
        return f"chat {c.model}", a

    def _openllmetry_llm(self, c: _Call, user: str, session: str) -> tuple[str, dict]:
        a: dict = {
            "llm.request.type": "chat",
            "gen_ai.system": PROVIDER_SPELLING["openllmetry"][c.provider],
            "gen_ai.request.model": c.model,
            "gen_ai.response.model": c.model,
            "gen_ai.request.temperature": c.temperature,
            "gen_ai.request.max_tokens": c.max_tokens,
            "gen_ai.response.id": c.response_id,
            "llm.is_streaming": False,
            "gen_ai.usage.prompt_tokens": c.input_tokens,
            "gen_ai.usage.completion_tokens": c.output_tokens,
            "llm.usage.total_tokens": c.input_tokens + c.output_tokens,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": c.system,
            "traceloop.association.properties.user_id": user,
            "traceloop.association.properties.session_id": session,
        }
        for i, (role, t) in enumerate(c.turns, start=1):
            a[f"gen_ai.prompt.{i}.role"] = role
            a[f"gen_ai.prompt.{i}.content"] = t
        a["gen_ai.completion.0.role"] = "assistant"
        a["gen_ai.completion.0.content"] = c.reply
        a["gen_ai.completion.0.finish_reason"] = c.finish
        if c.tool_call:
            a["gen_ai.completion.0.tool_calls.0.id"] = c.tool_call[0]
            a["gen_ai.completion.0.tool_calls.0.name"] = c.tool_call[1]
            a["gen_ai.completion.0.tool_calls.0.arguments"] = c.tool_call[2]
        if c.cache_read:
            a["gen_ai.usage.cache_read_input_tokens"] = c.cache_read
        if not self.capture:
            # without content the finish reason is not in gen_ai.completion.0.*;
            # OpenLLMetry 0.62.4 records it here either way (tests/fixtures/otlp/openllmetry)
            a["gen_ai.response.finish_reasons"] = [c.finish]
        vendor = {"openai": "openai", "anthropic": "anthropic", "google": "gemini", "acme": "acme"}[c.provider]
        return f"{vendor}.chat", a

    def _openinference_llm(self, c: _Call, user: str, session: str) -> tuple[str, dict]:
        a: dict = {
            "openinference.span.kind": "LLM",
            "llm.provider": PROVIDER_SPELLING["openinference"][c.provider],
            "llm.system": PROVIDER_SPELLING["openinference"][c.provider],
            "llm.model_name": c.model,
            "llm.invocation_parameters": json.dumps({"model": c.model, "temperature": c.temperature, "max_tokens": c.max_tokens}),
            "llm.token_count.prompt": c.input_tokens,
            "llm.token_count.completion": c.output_tokens,
            "llm.token_count.total": c.input_tokens + c.output_tokens,
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": c.system,
            "session.id": session,
            "user.id": user,
            "input.mime_type": "application/json",
            "output.mime_type": "application/json",
        }
        for i, (role, t) in enumerate(c.turns, start=1):
            a[f"llm.input_messages.{i}.message.role"] = role
            a[f"llm.input_messages.{i}.message.content"] = t
        a["llm.output_messages.0.message.role"] = "assistant"
        if c.reply:
            a["llm.output_messages.0.message.content"] = c.reply
        if c.tool_call:
            p = "llm.output_messages.0.message.tool_calls.0.tool_call."
            a[p + "id"] = c.tool_call[0]
            a[p + "function.name"] = c.tool_call[1]
            a[p + "function.arguments"] = c.tool_call[2]
        if c.cache_read:
            a["llm.token_count.prompt_details.cache_read"] = c.cache_read
        return "ChatCompletion", a

    def _vercel_pair(self, c: _Call, user: str, session: str, fn: str) -> tuple[dict, dict]:
        prov = PROVIDER_SPELLING["vercel_ai"][c.provider]
        msgs = [{"role": "system", "content": c.system}] + [
            {"role": role, "content": [{"type": "text", "text": t}]} for role, t in c.turns
        ]
        common = {
            "ai.model.id": c.model,
            "ai.model.provider": prov,
            "ai.settings.maxRetries": 2,
            "ai.settings.temperature": c.temperature,
            "ai.settings.maxOutputTokens": c.max_tokens,
            "ai.telemetry.functionId": fn,
            "ai.telemetry.metadata.userId": user,
            "ai.telemetry.metadata.sessionId": session,
            "ai.response.finishReason": c.finish,
            "ai.usage.inputTokens": c.input_tokens,
            "ai.usage.outputTokens": c.output_tokens,
            "ai.usage.totalTokens": c.input_tokens + c.output_tokens,
            "ai.usage.cachedInputTokens": c.cache_read,
            "ai.usage.inputTokenDetails.cacheReadTokens": c.cache_read,
            "ai.usage.inputTokenDetails.noCacheTokens": c.input_tokens - c.cache_read,
        }
        if c.reply:
            common["ai.response.text"] = c.reply
        if c.tool_call:
            common["ai.response.toolCalls"] = json.dumps(
                [{"toolCallId": c.tool_call[0], "toolName": c.tool_call[1], "input": c.tool_call[2]}]
            )
        outer = {
            **common,
            "operation.name": f"ai.generateText {fn}",
            "ai.operationId": "ai.generateText",
            "ai.prompt": json.dumps({"system": c.system, "messages": msgs[1:]}),
        }
        inner = {
            **common,
            "operation.name": f"ai.generateText.doGenerate {fn}",
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.prompt.messages": json.dumps(msgs),
            "ai.response.id": c.response_id,
            "ai.response.model": c.model,
            "gen_ai.system": prov,
            "gen_ai.request.model": c.model,
            "gen_ai.response.model": c.model,
            "gen_ai.request.temperature": c.temperature,
            "gen_ai.usage.input_tokens": c.input_tokens,
            "gen_ai.usage.output_tokens": c.output_tokens,
            "gen_ai.response.finish_reasons": [c.finish],
        }
        return outer, inner

    # ---- non-LLM children ----------------------------------------------------------------

    def _tool_attrs(self, dialect: str, name: str, call_id: str, args: str, result: str) -> tuple[str, dict]:
        if dialect == "otel_genai":
            return f"execute_tool {name}", {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": args, "gen_ai.tool.call.result": result,
            }  # fmt: skip
        if dialect == "openllmetry":
            return f"{name}.tool", {
                "traceloop.span.kind": "tool", "traceloop.entity.name": name,
                "traceloop.entity.input": args, "traceloop.entity.output": result,
            }  # fmt: skip
        if dialect == "openinference":
            return name, {
                "openinference.span.kind": "TOOL", "tool.name": name, "tool_call.id": call_id,
                "input.value": args, "output.value": result,
            }  # fmt: skip
        return "ai.toolCall", {
            "operation.name": f"ai.toolCall {name}", "ai.operationId": "ai.toolCall", "ai.toolCall.name": name,
            "ai.toolCall.id": call_id, "ai.toolCall.args": args, "ai.toolCall.result": result,
        }  # fmt: skip

    def _retriever_attrs(self, dialect: str) -> tuple[str, dict]:
        r = self.rng
        q = r.choice(self.pool.short)
        docs = [r.choice(self.pool.long) for _ in range(r.randint(2, 4))]
        if dialect == "openinference":
            a: dict = {"openinference.span.kind": "RETRIEVER", "input.value": q}
            for i, d in enumerate(docs):
                a[f"retrieval.documents.{i}.document.id"] = f"doc-{r.randint(1, 50_000)}"
                a[f"retrieval.documents.{i}.document.content"] = d
                a[f"retrieval.documents.{i}.document.score"] = round(r.random(), 4)
            return "retrieve", a
        if dialect == "openllmetry":
            return "vector_search.task", {
                "traceloop.span.kind": "task", "traceloop.entity.name": "vector_search",
                "traceloop.entity.input": q, "traceloop.entity.output": json.dumps(docs),
            }  # fmt: skip
        return "retrieval docs", {
            "gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb-main",
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": q}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": d} for d in docs]}]),
        }  # fmt: skip

    def _root_attrs(self, dialect: str, agent: str, user: str, session: str, question: str, answer: str) -> tuple[str, dict]:
        if dialect == "otel_genai":
            return f"invoke_agent {agent}", {
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
                "gen_ai.provider.name": "openai", "user.id": user, "gen_ai.conversation.id": session,
            }  # fmt: skip
        if dialect == "openllmetry":
            return f"{agent}.workflow", {
                "traceloop.span.kind": "workflow", "traceloop.entity.name": agent, "traceloop.workflow.name": agent,
                "traceloop.entity.input": question, "traceloop.entity.output": answer,
                "traceloop.association.properties.user_id": user,
                "traceloop.association.properties.session_id": session,
            }  # fmt: skip
        return agent, {
            "openinference.span.kind": "AGENT", "agent.name": agent, "input.value": question,
            "output.value": answer, "session.id": session, "user.id": user,
        }  # fmt: skip

    # ---- one trace ----------------------------------------------------------------------

    def trace(self, dialect: str, service: str) -> list[Span]:
        self.capture = self.heavy_share >= 1.0 or (
            self.heavy_share > 0.0 and self._profile_rng.random() < self.heavy_share
        )
        r = self.rng
        n = r.choices(range(1, 11), (22, 12, 14, 12, 10, 8, 7, 6, 5, 4))[0]
        trace_id = r.getrandbits(128).to_bytes(16, "big")
        user = f"user-{r.randrange(N_USERS):05d}"
        session = f"sess-{r.randrange(N_SESSIONS):06d}"
        t = self.t_end_ns - r.randrange(self.window_ns)
        spans: list[Span] = []
        CLIENT, INTERNAL = Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_INTERNAL
        err = r.random() < 0.02

        def add_llm(parent: bytes, start: int) -> int:
            c = self._call()
            dur = self._llm_dur(c)
            if dialect == "otel_genai":
                name, a = self._otel_llm(c, user, session)
            elif dialect == "openllmetry":
                name, a = self._openllmetry_llm(c, user, session)
            else:
                name, a = self._openinference_llm(c, user, session)
            spans.append(self._span(name, trace_id, parent, start, dur, CLIENT, a, error=err and r.random() < 0.5))
            return dur

        if dialect == "vercel_ai":
            # outer ai.generateText + one doGenerate per step, tool calls between steps
            fn = service.replace("-", "_")
            t0 = t
            steps = max(1, (n - 1) // 2 + (1 if n > 1 and (n - 1) % 2 else 0))
            outer_idx = len(spans)
            outer_id = self._ids()
            cursor = t0 + 2_000_000
            first: _Call | None = None
            budget = n - 1
            for step in range(steps):
                if budget <= 0:
                    break
                c = self._call()
                first = first or c
                dur = self._llm_dur(c)
                _, inner = self._vercel_pair(c, user, session, fn)
                sp = self._span("ai.generateText.doGenerate", trace_id, outer_id, cursor, dur, CLIENT, inner)
                spans.append(sp)
                budget -= 1
                cursor += dur
                if budget > 0 and c.tool_call:
                    tdur = r.randint(5, 400) * 1_000_000
                    name, a = self._tool_attrs(dialect, c.tool_call[1], c.tool_call[0], c.tool_call[2], r.choice(self.pool.medium))
                    spans.append(self._span(name, trace_id, outer_id, cursor, tdur, INTERNAL, a))
                    budget -= 1
                    cursor += tdur
            while budget > 0:  # pad with tool calls so the trace has n spans
                tdur = r.randint(5, 400) * 1_000_000
                tname = r.choice(TOOLS)
                name, a = self._tool_attrs(dialect, tname, f"call_{r.getrandbits(48):012x}", "{}", r.choice(self.pool.medium))
                spans.append(self._span(name, trace_id, outer_id, cursor, tdur, INTERNAL, a))
                budget -= 1
                cursor += tdur
            if first is None:  # n == 1: a lone outer span is not realistic; emit outer + one step
                c = self._call()
                first = c
                dur = self._llm_dur(c)
                _, inner = self._vercel_pair(c, user, session, fn)
                spans.append(self._span("ai.generateText.doGenerate", trace_id, outer_id, cursor, dur, CLIENT, inner))
                cursor += dur
            outer, _ = self._vercel_pair(first, user, session, fn)
            osp = Span(
                trace_id=trace_id, span_id=outer_id, name="ai.generateText", kind=INTERNAL,
                start_time_unix_nano=t0, end_time_unix_nano=cursor + 1_000_000,
            )  # fmt: skip
            osp.attributes.extend(self._kv(outer))
            spans.insert(outer_idx, osp)
        elif n == 1:
            add_llm(b"", t)
        else:
            agent = f"{service}-agent"
            root_id = self._ids()
            cursor = t + 1_000_000
            start_idx = len(spans)
            for i in range(n - 1):
                kind = "llm" if i == 0 else r.choices(("llm", "tool", "retriever"), (0.5, 0.3, 0.2))[0]
                if kind == "llm":
                    cursor += add_llm(root_id, cursor)
                elif kind == "tool":
                    tname = r.choice(TOOLS)
                    dur = r.randint(5, 400) * 1_000_000
                    args = json.dumps({"q": r.choice(self.pool.short)[:100]})
                    name, a = self._tool_attrs(dialect, tname, f"call_{r.getrandbits(48):012x}", args, r.choice(self.pool.medium))
                    spans.append(self._span(name, trace_id, root_id, cursor, dur, INTERNAL, a))
                    cursor += dur
                else:
                    dur = r.randint(20, 300) * 1_000_000
                    name, a = self._retriever_attrs(dialect)
                    spans.append(self._span(name, trace_id, root_id, cursor, dur, CLIENT, a))
                    cursor += dur
            name, a = self._root_attrs(dialect, agent, user, session, r.choice(self.pool.medium), r.choice(self.pool.long))
            root = Span(
                trace_id=trace_id, span_id=root_id, name=name, kind=INTERNAL,
                start_time_unix_nano=t, end_time_unix_nano=cursor + 1_000_000,
            )  # fmt: skip
            root.attributes.extend(self._kv(a))
            if err:
                root.status.code = 2
                root.status.message = "agent failed"
            spans.insert(start_idx, root)
        return spans


def _resource(service: str, dialect: str, instance: int) -> list[KeyValue]:
    attrs = {
        "service.name": service,
        "service.version": "1.4.2",
        "service.instance.id": f"{service}-{instance}",
        "deployment.environment.name": "production",
        "host.name": f"ip-10-0-{instance % 250}-{instance % 7 + 10}",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.45.2",
        "telemetry.sdk.language": "nodejs" if dialect == "vercel_ai" else "python",
    }
    return key_values(attrs)


def build_batches(seed: int, n_batches: int, batch: int, t_end_ns: int,
                  profile: str = "heavy") -> tuple[list[bytes], BatchStats]:  # fmt: skip
    """`n_batches` serialized exports of exactly `batch` spans each.

    A batch comes from one service (one resource + one scope), as one
    process's BatchSpanProcessor sends it; a trace that does not fit is split
    across two consecutive exports of that service, as happens for real.
    """
    gen = Generator(seed, t_end_ns, profile=profile)
    r = gen.rng
    stats = BatchStats()
    carry: dict[str, list[Span]] = {}
    out: list[bytes] = []
    for i in range(n_batches):
        service, dialect = SERVICES[r.randrange(len(SERVICES))]
        pending = carry.pop(service, [])
        while len(pending) < batch:
            tr = gen.trace(dialect, service)
            if gen.capture:
                stats.content_traces += 1
                stats.content_spans += len(tr)
            pending.extend(tr)
        take, rest = pending[:batch], pending[batch:]
        if rest:
            carry[service] = rest
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(_resource(service, dialect, seed * 1000 + i % 4))
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = SCOPES[dialect]
        ss.spans.extend(take)
        for sp in take:
            _count(sp, dialect, stats)
        data = req.SerializeToString()
        stats.spans += len(take)
        stats.bytes += len(data)
        out.append(data)
    return out, stats


def is_llm_call(sp: Span, dialect: str) -> bool:
    """Whether the server should count this span as one LLM call."""
    if dialect == "vercel_ai":
        return sp.name.endswith(".doGenerate")
    if dialect == "openinference":
        return sp.name == "ChatCompletion"
    if dialect == "openllmetry":
        return sp.name.endswith(".chat")
    return sp.name.startswith("chat ")


def _model_of(sp: Span) -> str:
    for kv in sp.attributes:
        if kv.key in ("gen_ai.request.model", "llm.model_name"):
            return kv.value.string_value
    return "?"


def _count(sp: Span, dialect: str, stats: BatchStats) -> None:
    if is_llm_call(sp, dialect):
        stats.llm_calls += 1
        m = _model_of(sp)
        stats.by_model[m] = stats.by_model.get(m, 0) + 1
    if not sp.parent_span_id:
        stats.traces += 1
    stats.by_dialect[dialect] = stats.by_dialect.get(dialect, 0) + 1
    s = sp.start_time_unix_nano
    stats.min_start_ns = s if not stats.min_start_ns else min(stats.min_start_ns, s)
    stats.max_start_ns = max(stats.max_start_ns, s)
