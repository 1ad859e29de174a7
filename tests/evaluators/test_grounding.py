"""The offline "grounding" scorer on the packaged MiniLM model."""

from __future__ import annotations

import pytest
from sklearn.metrics import roc_auc_score

from bench.hallucination_cases import CaseGenerator
from evaluators.base import SpanEvaluator, SpanRecord
from evaluators.grounding import GroundingConfig, split_claims

CONTEXT = [
    "Acme Robotics reported revenue of $412 million for fiscal 2023, up 18% from the previous year.",
    "The company is headquartered in Leeds and is led by chief executive Priya Raman.",
    "It opened a new plant in Porto on March 3, 2024.",
]


def rag_span(span_id: str, answer: str, context: list[str] = CONTEXT) -> SpanRecord:
    return SpanRecord(
        project_id="p", trace_id="a" * 32, span_id=span_id, start_time_ns=0,
        input_messages=[{"role": "user", "parts": [{"type": "text", "content": "Tell me about Acme."}]}],
        output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": answer}]}],
        context=context,
    )


def test_grounded_and_subtly_wrong_answers(grounding_scorer) -> None:
    assert isinstance(grounding_scorer, SpanEvaluator) and grounding_scorer.name == "grounding"
    spans = [
        rag_span("good", "Acme Robotics made $412 million in fiscal 2023. Its CEO is Priya Raman."),
        rag_span("number", "Acme Robotics made $421 million in fiscal 2023. Its CEO is Priya Raman."),
        rag_span("name", "Acme Robotics made $412 million in fiscal 2023. Its CEO is Maria Lopez."),
        rag_span("date", "The Porto plant opened on March 13, 2024."),
        rag_span("invented", "The Porto plant opened on March 3, 2024, and the company plans to list its shares in New York."),
    ]
    results = {r.span_id: r for r in grounding_scorer.evaluate(spans)}
    assert results["good"].label == "grounded" and results["good"].score >= 0.6
    for bad in ("number", "name", "date", "invented"):
        assert results[bad].label == "ungrounded", (bad, results[bad])
        assert results[bad].score < results["good"].score
    weakest = min(results["number"].details["sentences"], key=lambda s: s["support"])
    assert weakest["unsupported_anchors"] == 1 and (weakest["start"], weakest["end"]) == (0, 47)


def test_citation_markers_are_not_claims(grounding_scorer) -> None:
    """RAG answers cite their sources ("[doc-3]", "[1, 2]"): the marker's number
    is not a fact to find in the context, but a wrong number beside it still is."""
    spans = [
        rag_span("cited", "Acme Robotics made $412 million in fiscal 2023 [doc-7]. Its CEO is Priya Raman [1, 2]."),
        rag_span("cited-wrong", "Acme Robotics made $421 million in fiscal 2023 [doc-7]. Its CEO is Priya Raman [1]."),
        rag_span("bracketed-claim", "Acme Robotics made $412 million [up 25% on 2022] in fiscal 2023."),
    ]
    results = {r.span_id: r for r in grounding_scorer.evaluate(spans)}
    assert results["cited"].label == "grounded", results["cited"]
    assert results["cited-wrong"].label == "ungrounded"
    assert results["bracketed-claim"].label == "ungrounded"  # words in brackets are a claim, not a citation


def test_only_spans_with_context_and_answer(grounding_scorer) -> None:
    assert not grounding_scorer.wants(rag_span("x", "Anything.", context=[]))
    assert not grounding_scorer.wants(rag_span("x", "   "))
    [r] = grounding_scorer.evaluate([rag_span("x", "Anything.", context=[])])
    assert (r.score, r.label) == (None, "not_applicable")


def test_separates_a_held_out_labelled_set(grounding_scorer) -> None:
    cases = CaseGenerator(seed=11).cases(contexts=10)
    results = grounding_scorer.score_many([("t", str(i), c.answer, c.context) for i, c in enumerate(cases)])
    auroc = roc_auc_score([c.grounded for c in cases], [r.score for r in results])
    assert auroc >= 0.85, auroc


def test_claims_split_at_clause_joints_only_when_both_sides_are_claims() -> None:
    text = "Walters, Rodriguez and Avila reported revenue of $1 million, and the CEO resigned last week."
    parts = [text[a:b] for a, b in split_claims(text)]
    assert parts == ["Walters, Rodriguez and Avila reported revenue of $1 million", "the CEO resigned last week."]


def test_bad_params() -> None:
    with pytest.raises(ValueError, match="unknown grounding parameters"):
        GroundingConfig.from_params({"treshold": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        GroundingConfig.from_params({"threshold": 1.5})
