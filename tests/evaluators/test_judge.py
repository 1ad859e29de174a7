"""Judge-based faithfulness (ragas, deepeval) against the real SmolLM2 on vLLM (CPU).

A 135M judge gives poor or unparseable verdicts; what is checked is that the
pipeline runs end to end against the real server and every span comes back
with a score in [0, 1] or a labelled failure, never an exception, and that
neither library leaves files in the working directory.
"""

from __future__ import annotations

import os

import pytest

from evaluators.base import SpanEvaluator, SpanRecord

from .conftest import load_entry_point

CONTEXT = ["The Eiffel Tower is in Paris. It was completed in 1889 and is 330 metres tall."]
FAILURE_LABELS = {"judge_timeout", "judge_unreachable", "judge_rejected", "judge_unparseable", "judge_error", "no_statements"}


def rag_span(span_id: str, answer: str, context: list[str] = CONTEXT) -> SpanRecord:
    return SpanRecord(
        project_id="p", trace_id="b" * 32, span_id=span_id, start_time_ns=0,
        input_messages=[{"role": "user", "parts": [{"type": "text", "content": "When was the Eiffel Tower completed?"}]}],
        output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": answer}]}],
        context=context,
    )


SPANS = [
    rag_span("grounded", "The Eiffel Tower was completed in 1889."),
    rag_span("wrong", "The Eiffel Tower was completed in 1925 in Lyon."),
    rag_span("nocontext", "It was completed in 1889.", context=[]),
]


@pytest.mark.parametrize("entry", ["evaluators.judge:build_ragas", "evaluators.judge:build_deepeval"])
def test_judge_scores_or_labels_every_span(entry, vllm_baseline, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    scorer = load_entry_point(entry, {"base_url": vllm_baseline.base_url, "model": vllm_baseline.model, "timeout_seconds": 60})
    assert isinstance(scorer, SpanEvaluator)
    assert scorer.wants(SPANS[0]) and not scorer.wants(SPANS[2])
    results = scorer.evaluate(SPANS)
    assert [r.span_id for r in results] == ["grounded", "wrong", "nocontext"]
    for r in results[:2]:
        assert r.evaluator == scorer.name and r.metric == "faithfulness"
        if r.score is None:
            assert r.label in FAILURE_LABELS and r.explanation, r
        else:
            assert 0.0 <= r.score <= 1.0 and r.label in {"faithful", "unfaithful"}, r
    assert (results[2].score, results[2].label) == (None, "not_applicable")
    print(f"\n{scorer.name}: " + "; ".join(f"{r.span_id}={r.score} {r.label} {r.explanation[:120]!r}" for r in results))
    assert os.listdir(tmp_path) == []  # no .deepeval, no cache dirs


@pytest.mark.parametrize("entry", ["evaluators.judge:build_ragas", "evaluators.judge:build_deepeval"])
def test_unreachable_judge_is_a_labelled_failure(entry) -> None:
    from tests.conftest import free_port

    scorer = load_entry_point(entry, {"base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m", "timeout_seconds": 5})
    [r] = scorer.evaluate(SPANS[:1])
    assert (r.score, r.label) == (None, "judge_unreachable"), r


def test_bad_params() -> None:
    with pytest.raises(ValueError, match="base_url"):
        load_entry_point("evaluators.judge:build_ragas", {"base_url": "localhost:8000"})
    with pytest.raises(ValueError, match="unknown judge parameters"):
        load_entry_point("evaluators.judge:build_deepeval", {"url": "http://x"})
