"""Canonical provider ids and the token-count conventions of each sender.

Provider ids match genai-prices provider ids where one exists (openai,
anthropic, google, aws, azure, mistral, groq, deepseek, x-ai, cohere,
perplexity, openrouter, together, fireworks, cerebras, ...) so pricing can
pass them straight through; self-hosted servers get "ollama" and "vllm".

Token semantics.  `TokenUsage` records *how the sender counted*, so
`TokenUsage.split()` can bill every token once.  The rule for a span is chosen
by (dialect, provider) in `_usage_flags`; the evidence for each rule:

* OTel GenAI semconv (`otel_genai`, v1.38+ registry): ``gen_ai.usage.input_tokens``
  "SHOULD include all types of input tokens, including cached" and
  ``gen_ai.usage.reasoning.output_tokens`` "SHOULD be included in output_tokens"
  -> inclusive.  Exception, Google: the Gemini instrumentations that predate
  that text (opentelemetry-instrumentation-google-genai, OpenLLMetry, OpenLIT)
  put ``candidates_token_count`` in output_tokens, which excludes thoughts ->
  output_includes_reasoning=False unless the reported total proves otherwise.
* OpenLLMetry (`openllmetry`): its Anthropic instrumentation sets
  ``input_tokens = usage.input_tokens + cache_read + cache_creation``
  (traceloop/openllmetry packages/opentelemetry-instrumentation-anthropic
  ``_set_token_usage``) -> inclusive; Gemini passes candidates -> output
  excludes reasoning; OpenAI passes prompt/completion tokens (inclusive).
* OpenLIT (`openlit`): its Anthropic utils keep the API's ``input_tokens``
  "exclusive of cache read / creation tokens" (openlit sdk/python
  instrumentation/anthropic/utils.py ``common_chat_logic``) -> Anthropic
  input excludes cache; Gemini output excludes thoughts.
* Vercel AI SDK (`vercel_ai`): v6 (LanguageModelV3) reports
  ``inputTokens.total`` including cache and ``outputTokens.total`` including
  reasoning, and sets ``ai.usage.inputTokenDetails.*`` -> inclusive.  v3-v5
  pass the provider's own numbers: @ai-sdk/anthropic ``inputTokens`` is
  Anthropic's ``input_tokens`` (cache excluded; LangSmith's AI SDK exporter
  adds the cache back for the same reason), @ai-sdk/google ``outputTokens``
  is ``candidatesTokenCount`` -> provider-native.
* OpenInference (`openinference`): ``llm.token_count.prompt_details.*`` and
  ``completion_details.reasoning`` are documented as breakdowns of the prompt
  and completion totals -> inclusive.
* pydantic-ai (`pydantic_ai`): ``RequestUsage.input_tokens`` counts cache
  reads/writes and ``output_tokens`` counts thinking for every model class
  -> inclusive.
* LangSmith (`langsmith`): LangChain ``UsageMetadata.input_tokens`` is the
  "sum of all input token types" (langchain-anthropic adds the cache) and
  ``output_tokens`` includes reasoning -> inclusive.
* vLLM (`vllm`): prompt/completion token counts of the engine; no cache or
  reasoning breakdown -> inclusive (the flags are irrelevant).
* Provider-native (used for unknown senders): Anthropic input excludes
  cache; Gemini output excludes thoughts; OpenAI/Azure prompt includes cached
  and completion includes reasoning; everything else inclusive.

Two data checks then override a rule, because they cannot be wrong:
``input < cache_read + cache_write`` means input cannot include the cache;
``output < reasoning`` means output cannot include reasoning.  And when the
span reports a total that equals input + output + the breakdown exactly
(and differs from input + output), the breakdown was evidently outside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage

if TYPE_CHECKING:  # runtime import would be circular (dialects imports us)
    from collector.normalize.dialects.base import SpanView

_ALIASES: dict[str, str] = {
    "openai": "openai",
    "azure": "azure",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "azureopenai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "azure_ai": "azure",
    "anthropic": "anthropic",
    "claude": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "google": "google",
    "google_genai": "google",
    "google-genai": "google",
    "google.generative-ai": "google",
    "google.generativeai": "google",
    "google_generativeai": "google",
    "google-generative-ai": "google",
    "google.vertex": "google",
    "google-vertex": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "vertex": "google",
    "gemini": "google",
    "google-gla": "google",
    "google-vertex-ai": "google",
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "bedrock": "aws",
    "amazon-bedrock": "aws",
    "amazon_bedrock": "aws",
    "amazon.bedrock": "aws",
    "aws": "aws",
    "bedrock-converse": "aws",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "ollama": "ollama",
    "vllm": "vllm",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "grok": "x-ai",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
    "together": "together",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "fireworks-ai": "fireworks",
    "cerebras": "cerebras",
    "huggingface": "huggingface",
    "hugging_face": "huggingface",
    "moonshot": "moonshotai",
    "moonshotai": "moonshotai",
    "zhipuai": "zhipuai",
    "voyage": "voyageai",
    "voyageai": "voyageai",
    "databricks": "databricks",
    "meta": "meta",
    "novita": "novita",
    "deepinfra": "deepinfra",
    "ibm.watsonx.ai": "ibm",
    "watsonx": "ibm",
}

# server.address suffix -> provider: the OpenAI SDK is used against many
# OpenAI-compatible hosts while instrumentations still report "openai".
_HOSTS: tuple[tuple[str, str], ...] = (
    ("openai.azure.com", "azure"),
    ("services.ai.azure.com", "azure"),
    ("models.inference.ai.azure.com", "azure"),
    ("api.openai.com", "openai"),
    ("anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "google"),
    ("aiplatform.googleapis.com", "google"),
    ("amazonaws.com", "aws"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral"),
    ("openrouter.ai", "openrouter"),
    ("api.x.ai", "x-ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.together.xyz", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.cerebras.ai", "cerebras"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
)


def _from_host(span: SpanView | None) -> str | None:
    if span is None:
        return None
    try:
        attrs = span.attributes
        host = attrs.get("server.address")
        if not isinstance(host, str) or not host:
            return None
        host = host.lower()
        for suffix, prov in _HOSTS:
            if host.endswith(suffix):
                return prov
        if attrs.get("server.port") == 11434:
            return "ollama"
    except Exception:
        return None
    return None


# Framework names some SDKs put in gen_ai.system; they name no provider.
_NOT_PROVIDERS = frozenset({"_other", "langchain", "llamaindex", "llama_index", "crewai", "haystack", "autogen", "dspy", "pydantic_ai", "unknown"})


def _alias(raw: str) -> str | None:
    s = raw.strip().lower().replace(" ", "_")
    if not s or s in _NOT_PROVIDERS:
        return None
    hit = _ALIASES.get(s)
    if hit:
        return hit
    # Vercel style "openai.chat", "google.vertex.chat", "anthropic.messages".
    for sep in (".", ":", "/"):
        if sep in s:
            head = s.split(sep, 1)[0]
            hit = _ALIASES.get(head)
            if hit:
                return hit
            two = ".".join(s.split(".")[:2])
            hit = _ALIASES.get(two)
            if hit:
                return hit
    return s


_BEDROCK_PREFIXES = ("anthropic.", "amazon.", "meta.", "cohere.", "mistral.", "ai21.", "deepseek.", "qwen.", "openai.gpt-oss")


def provider_from_model(model: str | None) -> str | None:
    """Best-effort provider from a model name (used only when none is reported)."""
    if not isinstance(model, str) or not model:
        return None
    m = model.strip().lower()
    if m.startswith("models/"):
        m = m[7:]
    # Bedrock ids: "anthropic.claude-...-v1:0", "us.anthropic.claude-...", "amazon.nova-pro-v1:0"
    bare = m.split(".", 1)[1] if m.startswith(("us.", "eu.", "apac.", "global.")) else m
    if bare.startswith(_BEDROCK_PREFIXES) and (bare is not m or ":" in m or "-v" in m):
        return "aws"
    if "/" in m:
        head, _, tail = m.partition("/")
        hit = _ALIASES.get(head)
        if hit:
            return hit
        m = tail
    if m.startswith(("gpt-", "gpt4", "chatgpt", "text-embedding-3", "text-embedding-ada", "davinci", "babbage",
                     "dall-e", "whisper", "tts-", "omni-moderation", "codex-", "computer-use")):
        return "openai"
    if m in ("o1", "o3", "o4") or m.startswith(("o1-", "o3-", "o4-")):
        return "openai"
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith(("gemini", "text-embedding-004", "text-multilingual-embedding", "chat-bison", "text-bison", "imagen")):
        return "google"
    if m.startswith(("mistral", "mixtral", "codestral", "pixtral", "ministral", "magistral", "devstral", "open-mistral")):
        return "mistral"
    if m.startswith(("command", "embed-english", "embed-multilingual", "rerank-")):
        return "cohere"
    if m.startswith("deepseek"):
        return "deepseek"
    if m.startswith("grok"):
        return "x-ai"
    if m.startswith("sonar"):
        return "perplexity"
    return None


def canonical_provider(raw: str | None, span: SpanView | None = None) -> str | None:
    """Canonical provider id from a reported name (any dialect's spelling).

    A generic "openai" (or no name) is refined by ``server.address`` when the
    host is a known OpenAI-compatible provider, since billing follows the host.
    """
    try:
        prov = _alias(raw) if isinstance(raw, str) else None
        if prov in (None, "openai"):
            host = _from_host(span)
            if host and not (prov == "openai" and host == "openai"):
                return host
        return prov
    except Exception:
        return None


# (input_includes_cache, output_includes_reasoning); None = provider-native.
_INCLUSIVE = (True, True)
_DIALECT_RULES: dict[str, tuple[bool, bool] | None] = {
    "openinference": _INCLUSIVE,
    "pydantic_ai": _INCLUSIVE,
    "langsmith": _INCLUSIVE,
    "vllm": _INCLUSIVE,
    "openlit": None,
    "none": None,
}


def native_flags(provider: str | None) -> tuple[bool, bool]:
    """How the provider's own API counts (see module docstring)."""
    if provider == "anthropic":
        return (False, True)
    if provider == "google":
        return (True, False)
    return _INCLUSIVE


def _usage_flags(dialect: str | None, provider: str | None, span: SpanView) -> tuple[bool, bool]:
    if dialect in _DIALECT_RULES:
        rule = _DIALECT_RULES[dialect]
        return rule if rule is not None else native_flags(provider)
    if dialect == "vercel_ai":
        a = span.attributes
        if (
            "ai.usage.inputTokenDetails.noCacheTokens" in a
            or "ai.usage.inputTokenDetails.cacheReadTokens" in a
            or "ai.usage.outputTokenDetails.textTokens" in a
            or "ai.usage.outputTokenDetails.reasoningTokens" in a
        ):
            return _INCLUSIVE  # v6
        return native_flags(provider)
    if dialect == "openllmetry":
        return (True, provider != "google")
    if dialect == "otel_genai":
        return (True, provider != "google")
    return native_flags(provider)


def apply_usage_semantics(usage: TokenUsage, dialect: str | None, provider: str | None, span: SpanView) -> None:
    inc_cache, inc_reason = _usage_flags(dialect, provider, span)
    inp, out = usage.input_tokens, usage.output_tokens
    cache = (usage.cache_read_tokens or 0) + (usage.cache_write_tokens or 0)
    reasoning = usage.reasoning_tokens or 0
    total = usage.total_tokens
    if inp is not None and cache:
        if inp < cache:
            inc_cache = False
        elif total is not None and out is not None and total == inp + out + cache and total != inp + out:
            inc_cache = False
    if out is not None and reasoning:
        extra_in = 0 if inc_cache else cache
        if out < reasoning:
            inc_reason = False
        elif total is not None and inp is not None:
            if total == inp + extra_in + out + reasoning and reasoning:
                inc_reason = False
            elif total == inp + extra_in + out:
                inc_reason = True
    usage.input_includes_cache = inc_cache
    usage.output_includes_reasoning = inc_reason


_LLM_OPS = frozenset({"chat", "text_completion", "generate_content"})
_EMBED_OPS = frozenset({"embeddings"})


def finalize(fields: GenAIFields, span: SpanView, dialect: str | None = None) -> GenAIFields:
    """Canonical provider, provider token semantics, total, and the span-type
    rule shared by every dialect.

    * provider: canonical id; inferred from the (response, then request)
      model name when the span names none.
    * token semantics: `apply_usage_semantics` (rules in the module docstring).
    * total_tokens: when not reported, the billed sum of `split()`.
    * typing: a span is an LLM (or embedding) call only with an operation or
      a usage signal, never merely because it names a model.
    * counts_usage: only LLM and embedding spans count; usage on agent,
      chain and tool spans is an aggregate of their child calls in every
      convention we know (pydantic-ai agent run, Vercel ai.generateText,
      LangSmith chains), so counting it would bill twice.
    * tool_name is kept only on tool spans.
    """
    prov = canonical_provider(fields.provider, span)
    if prov is None:
        prov = provider_from_model(fields.response_model) or provider_from_model(fields.request_model)
    fields.provider = prov

    u = fields.usage
    if not u.is_empty():
        apply_usage_semantics(u, dialect, prov, span)
        if u.total_tokens is None and (u.input_tokens is not None or u.output_tokens is not None):
            s = u.split()
            u.total_tokens = s.input_total + s.output_total

    if fields.span_type in (SpanType.LLM, SpanType.EMBEDDING):
        if fields.operation is None and u.is_empty():
            fields.span_type = SpanType.OTHER
        elif fields.operation is None:
            fields.operation = "embeddings" if fields.span_type is SpanType.EMBEDDING else "chat"
    elif fields.span_type in (SpanType.OTHER, SpanType.CHAIN) and fields.operation in _LLM_OPS:
        fields.span_type = SpanType.LLM
    if fields.span_type not in (SpanType.LLM, SpanType.EMBEDDING):
        fields.counts_usage = False
    if fields.span_type is not SpanType.TOOL:
        fields.tool_name = None  # e.g. OpenLIT names the requested tool on the chat span
    return fields

