"""Evaluator scores (PII, grounding, ...) on the outputs a replay produced.

Through the evaluators' public contract only: `evaluators.registry.build`
gives a scorer, `SpanRecord`s go in, `EvalResult`s come out.  Each replayed
answer becomes a record whose input is the request that was sent and whose
context (what grounding checks the answer against) is that request's own
text: system prompt, user messages and tool results, which is where a RAG
application puts its retrieved documents.

A scorer that is not installed in this build, or fails, is reported as such
and the rest of the report stands.  Built scorers are kept per process
(PII loads spaCy, grounding MiniLM: seconds each).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson

log = logging.getLogger(__name__)

DEFAULT_EVALUATORS = ("pii", "grounding")
# What each scorer is asked to look at: the replayed answer, not the captured prompt.
PARAMS: dict[str, dict[str, Any]] = {"pii": {"scan_inputs": False, "scan_system": False}}


class UnknownScorer(ValueError):
    """A run names an evaluator the registry does not know."""


def check_names(names: Sequence[str]) -> None:
    """Raise UnknownScorer for a name no build registers (installed or not)."""
    from evaluators.registry import UnknownEvaluator, entry_point

    for name in names:
        try:
            entry_point(name)
        except UnknownEvaluator as exc:
            raise UnknownScorer(str(exc)) from None


@lru_cache(maxsize=8)
def _scorer(name: str) -> Any:
    from evaluators.registry import build, is_window

    scorer = build(name, PARAMS.get(name, {}))
    if is_window(scorer):
        raise UnknownScorer(f"evaluator {name!r} compares windows of spans; it cannot score single answers")
    return scorer


def _parts(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def record(project_id: str, row: dict[str, Any]) -> Any:
    """One stored replay result as an evaluator's SpanRecord."""
    from evaluators.base import SpanRecord

    try:
        body = orjson.loads(row.get("request_json") or "{}")
    except orjson.JSONDecodeError:
        body = {}
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    system = [_parts("system", _message_text(m.get("content"))) for m in messages if m.get("role") == "system"]
    inputs = [_parts(str(m.get("role") or "user"), _message_text(m.get("content")))
              for m in messages if m.get("role") != "system"]  # fmt: skip
    context = [p["parts"][0]["content"] for p in system + inputs if p["parts"][0]["content"].strip()]
    return SpanRecord(
        project_id=project_id, trace_id=row.get("trace_id") or "", span_id=row.get("span_id") or row["source_span_id"],
        start_time_ns=int(row.get("started_ns") or 0), span_type="llm", operation="chat", model=row.get("model") or "",
        input_messages=inputs, system_instructions=system, output_messages=[_parts("assistant", row["output_text"])],
        context=context, input_tokens=int(row.get("input_tokens") or 0),
        output_tokens=int(row.get("output_tokens") or 0),
        finish_reasons=[row["finish_reason"]] if row.get("finish_reason") else [],
    )  # fmt: skip


def _summary(results: list[Any], wanted: int) -> dict[str, Any]:
    scores = [r.score for r in results if r.score is not None]
    labels = Counter(r.label for r in results)
    return {
        "n": len(scores),
        "not_applicable": wanted - len(scores),
        "mean": sum(scores) / len(scores) if scores else None,
        "min": min(scores) if scores else None,
        "labels": dict(sorted(labels.items())),
        "version": results[0].version if results else None,
    }


def score_variants(project_id: str, rows_by_variant: dict[str, list[dict[str, Any]]],
                   names: Sequence[str]) -> dict[str, Any]:  # fmt: skip
    """{evaluator: {"status": ..., "variants": {variant: summary}}} over each
    variant's successful replays.  Blocking (models run on the CPU)."""
    out: dict[str, Any] = {}
    for name in names:
        try:
            scorer = _scorer(name)
        except Exception as exc:  # noqa: BLE001 - ScorerNotInstalled, a model that fails to load, ...
            out[name] = {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}
            continue
        entry: dict[str, Any] = {"status": "ok", "variants": {}}
        try:
            for variant, rows in rows_by_variant.items():
                records = [record(project_id, r) for r in rows if r["status"] == "ok"]
                wanted = [s for s in records if scorer.wants(s)]
                results = scorer.evaluate(wanted) if wanted else []
                entry["variants"][variant] = _summary(results, len(records))
        except Exception as exc:  # noqa: BLE001 - one failing scorer leaves the report standing
            log.exception("evaluator %s failed on replay outputs", name)
            entry = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        out[name] = entry
    return out
