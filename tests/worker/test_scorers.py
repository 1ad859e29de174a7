"""The scorer registry and the heuristics scorer on plain SpanRecords."""

from __future__ import annotations

import pytest

from evaluators import registry
from evaluators.base import SpanEvaluator, SpanRecord
from evaluators.heuristics import build


def rec(text: str, **kw) -> SpanRecord:
    out = [{"role": "assistant", "parts": [{"type": "text", "content": text}]}] if text is not None else []
    return SpanRecord(project_id="p", trace_id="t" * 32, span_id=kw.pop("span_id", "s" * 16), start_time_ns=1,
                      span_type=kw.pop("span_type", "llm"), output_messages=out, **kw)  # fmt: skip


def verdicts(span: SpanRecord) -> dict[str, float]:
    return {r.metric: r.score for r in build({}).evaluate([span])}


def test_registry_builds_lazily_and_explains_missing_scorers():
    scorer = registry.build("heuristics", {})
    assert isinstance(scorer, SpanEvaluator) and scorer.name == "heuristics" and scorer.version == "2"
    with pytest.raises(registry.UnknownEvaluator, match="unknown evaluator 'nope'; known: .*heuristics"):
        registry.build("nope")
    for name in ("pii", "grounding", "faithfulness_ragas", "hallucination_deepeval", "drift"):
        try:
            registry.check_installed(name)
        except registry.ScorerNotInstalled as exc:
            assert f"evaluator {name!r} is not installed" in str(exc)


@pytest.mark.parametrize(
    ("span", "failed"),
    [
        (rec("Paris."), set()),
        (rec(""), {"empty_output"}),
        (rec("   \n"), {"empty_output"}),
        (rec("I'm sorry, but I cannot help with that."), {"refusal"}),
        (rec("I can't assist with this request."), {"refusal"}),
        (rec("I am sorry to hear that your flight was late; here is the refund form."), set()),
        (rec("The story ends", finish_reasons=["length"]), {"truncated"}),
        (rec("The story ends.", finish_reasons=["stop"]), set()),
        (rec('{"a": 1', attributes={"gen_ai.output.type": "json"}), {"invalid_json"}),
        (rec('```json\n{"a": 1}\n```', attributes={"gen_ai.output.type": "json"}), set()),
        (rec('{"a": 1', attributes={}), set()),  # JSON not requested: not checked
    ],
)
def test_heuristics_checks(span, failed):
    v = verdicts(span)
    assert {m for m, s in v.items() if s == 0.0} == failed
    assert ("invalid_json" in v) == ("gen_ai.output.type" in span.attributes)


def test_no_text_verdicts_without_captured_content():
    """Content capture is off by default in OTel instrumentations: a span
    without output messages is not an empty answer."""
    span = SpanRecord(project_id="p", trace_id="t" * 32, span_id="s" * 16, start_time_ns=1, span_type="llm",
                      output_tokens=40, finish_reasons=["length"])  # fmt: skip
    assert verdicts(span) == {"truncated": 0.0}


def test_heuristics_details_never_carry_text_and_tool_calls_are_not_empty():
    span = SpanRecord(project_id="p", trace_id="t" * 32, span_id="s" * 16, start_time_ns=1, span_type="llm",
                      output_messages=[{"role": "assistant", "parts": [{"type": "tool_call", "name": "search"}]}])  # fmt: skip
    assert verdicts(span)["empty_output"] == 1.0
    res = build({}).evaluate([rec("I'm sorry, but I can't do that for you, secret 1234")])
    assert all("1234" not in str(r.details) for r in res)
    assert not build({}).wants(rec("x", span_type="tool")) and not build({}).wants(rec("x", status_code=2))
    with pytest.raises(ValueError, match="unknown heuristics checks"):
        build({"checks": ["spelling"]})
