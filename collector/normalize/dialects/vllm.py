"""vLLM server spans (`vllm`).

vLLM's OpenTelemetry tracing emits one ``llm_request`` span per request
(vllm/tracing.py ``SpanAttributes``): ``gen_ai.usage.prompt_tokens`` /
``completion_tokens``, ``gen_ai.request.{id,max_tokens,top_p,temperature,n}``,
``gen_ai.response.model``, and ``gen_ai.latency.*`` in seconds
(time_to_first_token, time_in_queue, e2e, time_in_model_prefill / decode /
inference ...).  No provider or content is reported; the provider is "vllm"
and the request id is the response id.  Finish reasons may be a JSON string.
The operation is reported as ``text_completion``: the engine span cannot
tell a chat request from a completion request.
"""

from __future__ import annotations

from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.normalize.dialects._util import finish_reasons, first, first_float, first_int, first_str
from collector.normalize.dialects.base import SpanView

name = "vllm"


def detect(span: SpanView) -> bool:
    a = span.attributes
    if "gen_ai.latency.e2e" in a or "gen_ai.latency.time_to_first_token" in a or "gen_ai.latency.time_in_queue" in a:
        return True
    if span.name == "llm_request" and "gen_ai.request.id" in a:
        return True
    # vLLM also traces its own start-up (Overall Loading, Load weights, ...)
    # under vllm.* scopes: only a span about a request is an LLM call.
    return (
        isinstance(span.scope_name, str)
        and span.scope_name.startswith("vllm")
        and ("gen_ai.usage.prompt_tokens" in a or "gen_ai.request.id" in a)
    )


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = GenAIFields(span_type=SpanType.LLM, operation="text_completion", provider="vllm")
    f.request_model = first_str(a, ("gen_ai.request.model", "gen_ai.response.model"))
    f.response_model = first_str(a, ("gen_ai.response.model",))
    f.usage = TokenUsage(
        input_tokens=first_int(a, ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens")),
        output_tokens=first_int(a, ("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens")),
    )
    f.time_to_first_token_s = first_float(a, ("gen_ai.latency.time_to_first_token",))
    f.max_tokens = first_int(a, ("gen_ai.request.max_tokens",))
    f.top_p = first_float(a, ("gen_ai.request.top_p",))
    f.temperature = first_float(a, ("gen_ai.request.temperature",))
    f.seed = first_int(a, ("gen_ai.request.seed",))
    f.response_id = first_str(a, ("gen_ai.request.id", "gen_ai.response.id"))
    f.finish_reasons = finish_reasons(first(a, ("gen_ai.response.finish_reasons",)))
    return f
