"""Cheap checks that catch broken answers without a model: an empty answer,
a refusal, invalid JSON when JSON was asked for, and an answer cut off by the
token limit.  Each check is one metric (1 = pass, 0 = fail), so a chart or an
alert rule can follow each failure mode on its own."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from evaluators.base import EvalResult, SpanRecord

VERSION = "2"  # 2: no text verdicts on spans whose content was not captured
_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:no|')t|am unable to|won't)"
    r"|I (?:can(?:no|')t|am unable to|won't) (?:help|assist|comply|provide|do that)"
    r"|as an AI(?: language)? model,? I (?:can(?:no|')t|don't))",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_JSON_REQUEST_KEYS = ("gen_ai.output.type", "gen_ai.openai.request.response_format", "gen_ai.request.response_format")
_TRUNCATED = {"length", "max_tokens", "max_output_tokens"}


def _has_tool_call(span: SpanRecord) -> bool:
    return any(p.get("type") == "tool_call" for msg in span.output_messages for p in msg.get("parts") or ())


def _json_requested(span: SpanRecord) -> bool:
    for key in _JSON_REQUEST_KEYS:
        value = span.attributes.get(key, "").lower()
        if "json" in value:
            return True
    return False


def _valid_json(text: str) -> bool:
    m = _FENCE.match(text.strip())
    try:
        orjson.loads(m.group(1) if m else text)
    except orjson.JSONDecodeError:
        return False
    return True


@dataclass
class HeuristicsEvaluator:
    name: str = "heuristics"
    version: str = VERSION
    checks: tuple[str, ...] = ("empty_output", "refusal", "invalid_json", "truncated")
    span_types: frozenset[str] = field(default_factory=lambda: frozenset({"llm"}))
    needs_context: bool = False  # the worker need not look up retrieved documents

    def wants(self, span: SpanRecord) -> bool:
        return span.span_type in self.span_types and span.status_code != 2

    def evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]:
        out: list[EvalResult] = []
        for span in spans:
            text = span.output_text
            # Without captured content (the OTel default) there is nothing to
            # judge the text by: those checks give no verdict rather than a false one.
            captured = bool(span.output_messages)
            verdicts: dict[str, tuple[bool, str]] = {}
            if "empty_output" in self.checks and captured:
                empty = not text.strip() and not _has_tool_call(span)
                verdicts["empty_output"] = (not empty, "the answer is empty" if empty else "")
            if "refusal" in self.checks and captured:
                m = _REFUSAL.search(text)
                verdicts["refusal"] = (m is None, "the model refused" if m else "")
            if "invalid_json" in self.checks and _json_requested(span) and text.strip():
                ok = _valid_json(text)
                verdicts["invalid_json"] = (ok, "" if ok else "JSON was requested but the answer does not parse")
            if "truncated" in self.checks:
                reasons = _TRUNCATED.intersection(r.lower() for r in span.finish_reasons)
                verdicts["truncated"] = (
                    not reasons, f"stopped by the token limit (finish reason {sorted(reasons)[0]})" if reasons else "")
            for metric, (passed, why) in verdicts.items():
                out.append(EvalResult(
                    trace_id=span.trace_id, span_id=span.span_id, evaluator=self.name, version=self.version,
                    metric=metric, score=1.0 if passed else 0.0, label="pass" if passed else "fail",
                    explanation=why, details={} if passed else {"findings": [{"type": metric}]},
                ))  # fmt: skip
        return out


def build(params: Mapping[str, Any]) -> HeuristicsEvaluator:
    """params: {"checks": [...]} to run a subset, {"span_types": [...]} to widen."""
    checks = tuple(params.get("checks") or HeuristicsEvaluator.checks)
    unknown = set(checks) - set(HeuristicsEvaluator.checks)
    if unknown:
        raise ValueError(f"unknown heuristics checks {sorted(unknown)}; known: {list(HeuristicsEvaluator.checks)}")
    span_types = frozenset(params.get("span_types") or ("llm",))
    return HeuristicsEvaluator(checks=checks, span_types=span_types)
