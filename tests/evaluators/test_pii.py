"""The "pii" scorer on the real presidio + packaged spaCy model."""

from __future__ import annotations

import json
import socket

import pytest

from bench.pii_corpus import ENTITIES, CorpusGenerator, score
from evaluators.base import SpanEvaluator, SpanRecord
from evaluators.pii import PiiConfig

from .conftest import load_entry_point


def span(span_id: str, inputs: list[str], outputs: list[str] = ()) -> SpanRecord:
    def msgs(role: str, texts) -> list[dict]:
        return [{"role": role, "parts": [{"type": "text", "content": t}]} for t in texts]

    return SpanRecord(
        project_id="p", trace_id="t" * 32, span_id=span_id, start_time_ns=0,
        input_messages=msgs("user", inputs), output_messages=msgs("assistant", outputs),
    )


SECRET_EMAIL = "maria.gonzalez@example.org"
SECRET_CARD = "4111 1111 1111 1111"
SECRET_PHONE = "+1 415-555-2671"


def test_findings_carry_type_count_offsets_and_score_never_the_text(pii_scorer) -> None:
    assert isinstance(pii_scorer, SpanEvaluator)
    assert pii_scorer.name == "pii"
    text_in = f"Hi, I'm Maria Gonzalez. Email me at {SECRET_EMAIL} or call {SECRET_PHONE}."
    text_out = f"I have charged the card {SECRET_CARD}."
    clean = span("s2", ["What is the capital of France?"], ["Paris."])
    [leaky, quiet] = pii_scorer.evaluate([span("s1", [text_in], [text_out]), clean])

    assert (leaky.span_id, leaky.evaluator, leaky.score) == ("s1", "pii", 1.0)
    assert leaky.details["counts"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}
    assert leaky.label == "CREDIT_CARD,EMAIL_ADDRESS,PERSON,PHONE_NUMBER"
    by_type = {f["entity_type"]: f for f in leaky.details["findings"]}
    email = by_type["EMAIL_ADDRESS"]
    assert (email["field"], email["message"], email["part"]) == ("input", 0, 0)
    assert text_in[email["start"] : email["end"]] == SECRET_EMAIL
    card = by_type["CREDIT_CARD"]
    assert card["field"] == "output" and text_out[card["start"] : card["end"]] == SECRET_CARD
    assert 0.5 <= card["score"] <= 1.0

    stored = json.dumps([leaky.details, leaky.label, leaky.explanation])
    for secret in (SECRET_EMAIL, SECRET_CARD, SECRET_PHONE, "Maria", "Gonzalez", "4111"):
        assert secret not in stored

    assert (quiet.score, quiet.label, quiet.details["findings"]) == (0.0, "none", [])


def test_lookalikes_are_not_pii(pii_scorer) -> None:
    texts = [
        "Where is my order #4155552671? It was due yesterday.",
        "We upgraded to version 10.2.0.15 last night.",
        "Tracking number 1Z999AA10123456784 has not moved.",
        "Invoice INV-2024-00123 is overdue; ticket 558812 was escalated.",
        "The meeting is on 2025-03-05 at 11:30.",
        "Summarise this article in three bullet points.",
    ]
    results = pii_scorer.evaluate([span(f"s{i}", [t]) for i, t in enumerate(texts)])
    assert [r.details["findings"] for r in results] == [[] for _ in texts]


def test_accuracy_on_a_generated_sample(pii_scorer) -> None:
    """A held-out seed of the bench corpus: every entity type is found well."""
    gen = CorpusGenerator(seed=101)
    corpus = gen.corpus(per_entity=25, lookalikes=60, clean=30)
    found = pii_scorer.analyzer.analyze([e.text for e in corpus])
    scores = score(corpus, [[(f.start, f.end, f.entity_type) for f in fs] for fs in found])
    f1 = {e: round(scores[e].f1, 3) for e in ENTITIES}
    assert all(v >= 0.85 for v in f1.values()), f1


def test_config_narrows_entities_and_raises_thresholds() -> None:
    scorer = load_entry_point("evaluators.pii:build", {"entities": ["EMAIL_ADDRESS"], "default_threshold": 0.9})
    [r] = scorer.evaluate([span("s", [f"Call {SECRET_PHONE} or mail {SECRET_EMAIL}, says Maria Gonzalez"])])
    assert r.details["counts"] == {"EMAIL_ADDRESS": 1}
    assert scorer.version != load_entry_point("evaluators.pii:build", {"entities": ["EMAIL_ADDRESS"]}).version


@pytest.mark.parametrize(
    "params, message",
    [({"entites": ["PERSON"]}, "unknown pii parameters"), ({"thresholds": {"PERSON": 2}}, "outside"), ({"entities": []}, "empty")],
)
def test_bad_params_are_refused_clearly(params, message) -> None:
    with pytest.raises(ValueError, match=message):
        PiiConfig.from_params(params)


def test_inputs_outputs_and_system_scan_switches() -> None:
    scorer = load_entry_point("evaluators.pii:build", {"scan_inputs": False, "entities": ["EMAIL_ADDRESS"]})
    [r] = scorer.evaluate([span("s", [SECRET_EMAIL], ["no pii here"])])
    assert r.score == 0.0
    assert not scorer.wants(span("s", [SECRET_EMAIL]))


def test_no_network_is_touched(pii_scorer, monkeypatch) -> None:
    """Email validation uses tldextract's bundled suffix list: any socket use fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    [r] = pii_scorer.evaluate([span("s", ["write to someone@mail.example.co.uk today"])])
    assert r.details["counts"] == {"EMAIL_ADDRESS": 1}
