"""Faithfulness judged by an LLM on any OpenAI-compatible endpoint, through ragas and deepeval.

Both libraries phone home unless told not to: ragas sends usage events,
deepeval sends telemetry, reads a ``.env`` from the working directory and
writes a ``.deepeval`` folder there.  The switches below are set before either
is imported (they are read at import time), and deepeval runs from a private
temporary directory so nothing lands in the server's working directory.

A judge can fail in many ways (an endpoint that is down, a context too long for
the judge, output that does not parse, a metric that finds no statements);
each span then gets ``score=None`` with a label naming the failure and the
error in ``explanation``, and the rest of the batch is still scored.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import EvalResult, SpanRecord

for _var, _value in {
    "RAGAS_DO_NOT_TRACK": "true",
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_DISABLE_DOTENV": "1",
    "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",
    "DEEPEVAL_GRPC_LOGGING": "0",
    "ERROR_REPORTING": "0",
    "HF_HUB_OFFLINE": "1",
}.items():
    os.environ.setdefault(_var, _value)

VERSION = "1"


@dataclass(frozen=True, slots=True)
class JudgeConfig:
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o-mini"
    api_key: str = "not-needed"
    timeout_seconds: float = 120.0
    max_tokens: int = 512
    temperature: float = 0.0
    concurrency: int = 2
    threshold: float = 0.5  # faithfulness below this is labelled "unfaithful"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> JudgeConfig:
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown judge parameters: {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        cfg = cls(**dict(params))
        if not cfg.base_url.startswith(("http://", "https://")):
            raise ValueError(f"judge: base_url must be an http(s) URL, got {cfg.base_url!r}")
        if cfg.concurrency < 1 or cfg.timeout_seconds <= 0:
            raise ValueError("judge: concurrency must be >= 1 and timeout_seconds > 0")
        return cfg


def _failure(span: SpanRecord, evaluator: str, version: str, metric: str, label: str, exc: BaseException | str) -> EvalResult:
    message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return EvalResult(span.trace_id, span.span_id, evaluator, version, metric, None, label, message[:500])


def _classify(exc: BaseException) -> str:
    """A short label for why the judge gave no score."""
    import openai
    import pydantic

    if isinstance(exc, asyncio.TimeoutError | openai.APITimeoutError):
        return "judge_timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "judge_unreachable"
    if isinstance(exc, openai.APIStatusError):
        return "judge_rejected"
    if isinstance(exc, pydantic.ValidationError | ValueError | TypeError | KeyError) or type(exc).__name__ == "InstructorRetryException":
        return "judge_unparseable"
    return "judge_error"


def _applicable(span: SpanRecord) -> bool:
    return bool(span.context) and bool(span.output_text.strip())


class RagasFaithfulness:
    """SpanEvaluator "faithfulness_ragas": ragas' statement-then-verdict faithfulness (1 = faithful)."""

    name = "faithfulness_ragas"

    def __init__(self, config: JudgeConfig):
        from openai import AsyncOpenAI
        from ragas.llms import llm_factory
        from ragas.metrics.collections import Faithfulness

        self.config = config
        self.version = f"{VERSION}-{config.model}"
        client = AsyncOpenAI(base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_seconds, max_retries=0)
        llm = llm_factory(config.model, provider="openai", client=client, max_tokens=config.max_tokens, temperature=config.temperature)
        self.metric = Faithfulness(llm=llm)

    def wants(self, span: SpanRecord) -> bool:
        return _applicable(span)

    def evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]:
        return asyncio.run(self._evaluate(spans))

    async def _evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]:
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(span: SpanRecord) -> EvalResult:
            if not _applicable(span):
                return _failure(span, self.name, self.version, "faithfulness", "not_applicable", "no context or no answer")
            async with gate:
                try:
                    result = await asyncio.wait_for(
                        self.metric.ascore(
                            user_input=span.input_text or "(no question)",
                            response=span.output_text,
                            retrieved_contexts=list(span.context),
                        ),
                        timeout=self.config.timeout_seconds * 4,
                    )
                except Exception as exc:  # noqa: BLE001 - every judge failure becomes a labelled result
                    return _failure(span, self.name, self.version, "faithfulness", _classify(exc), exc)
            value = float(result.value) if result.value is not None else math.nan
            if math.isnan(value):
                return _failure(span, self.name, self.version, "faithfulness", "no_statements",
                                "the judge found no statements in the answer")
            label = "faithful" if value >= self.config.threshold else "unfaithful"
            return EvalResult(span.trace_id, span.span_id, self.name, self.version, "faithfulness", round(value, 4), label,
                              str(getattr(result, "reason", "") or "")[:500])

        return list(await asyncio.gather(*(one(s) for s in spans)))


@contextlib.contextmanager
def _scratch_cwd() -> Iterator[None]:
    """deepeval writes ./.deepeval; keep it out of the caller's working directory."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="llmobs-deepeval-") as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(previous)


def _judge_model(config: JudgeConfig) -> Any:
    """A deepeval model on an OpenAI-compatible endpoint that asks for JSON matching the
    metric's schema (``response_format`` json_schema), which servers with guided decoding
    (vLLM) honour even for small models."""
    from deepeval.models import DeepEvalBaseLLM
    from openai import OpenAI

    class OpenAICompatibleJudge(DeepEvalBaseLLM):
        def __init__(self) -> None:
            self.client = OpenAI(base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_seconds, max_retries=0)
            super().__init__(config.model)

        def load_model(self) -> Any:
            return self.client

        def _request(self, prompt: str, schema: Any) -> dict[str, Any]:
            request: dict[str, Any] = {
                "model": config.model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": config.max_tokens,
                "temperature": config.temperature,
            }
            if schema is not None:
                request["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
                }
            return request

        def generate(self, prompt: str, schema: Any = None) -> Any:
            reply = self.client.chat.completions.create(**self._request(prompt, schema))
            text = reply.choices[0].message.content or ""
            return schema.model_validate_json(text) if schema is not None else text

        async def a_generate(self, prompt: str, schema: Any = None) -> Any:
            return await asyncio.to_thread(self.generate, prompt, schema)

        def get_model_name(self) -> str:
            return config.model

    return OpenAICompatibleJudge()


class DeepevalHallucination:
    """SpanEvaluator "hallucination_deepeval": deepeval's HallucinationMetric, reported as
    faithfulness = 1 - hallucination so every faithfulness score reads the same way."""

    name = "hallucination_deepeval"

    def __init__(self, config: JudgeConfig):
        self.config = config
        self.version = f"{VERSION}-{config.model}"
        with _scratch_cwd():
            self.judge = _judge_model(config)

    def wants(self, span: SpanRecord) -> bool:
        return _applicable(span)

    def evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]:
        from deepeval.metrics import HallucinationMetric
        from deepeval.test_case import LLMTestCase

        out = []
        with _scratch_cwd():
            for span in spans:
                if not _applicable(span):
                    out.append(_failure(span, self.name, self.version, "faithfulness", "not_applicable", "no context or no answer"))
                    continue
                metric = HallucinationMetric(threshold=self.config.threshold, model=self.judge, include_reason=False,
                                             async_mode=False, verbose_mode=False)
                case = LLMTestCase(input=span.input_text or "(no question)", actual_output=span.output_text,
                                   context=list(span.context))
                try:
                    hallucination = float(metric.measure(case, _show_indicator=False))
                except Exception as exc:  # noqa: BLE001 - every judge failure becomes a labelled result
                    out.append(_failure(span, self.name, self.version, "faithfulness", _classify(exc), exc))
                    continue
                value = 1.0 - hallucination
                out.append(EvalResult(
                    span.trace_id, span.span_id, self.name, self.version, "faithfulness", round(value, 4),
                    "faithful" if value >= self.config.threshold else "unfaithful",
                    f"hallucination score {hallucination:.3f} over {len(span.context)} context passages",
                ))
        return out


def build_ragas(params: Mapping[str, Any]) -> RagasFaithfulness:
    """Entry point the worker loads: ``evaluators.judge:build_ragas``."""
    return RagasFaithfulness(JudgeConfig.from_params(params or {}))


def build_deepeval(params: Mapping[str, Any]) -> DeepevalHallucination:
    """Entry point the worker loads: ``evaluators.judge:build_deepeval``."""
    return DeepevalHallucination(JudgeConfig.from_params(params or {}))
