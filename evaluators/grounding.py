"""Offline grounding: is each sentence of the answer supported by the context?

No judge model: every answer sentence is embedded with MiniLM and matched to
its nearest context passage (single sentences and pairs of neighbouring
sentences).  Embeddings alone barely move when a number, name or date is
swapped ("grew 12 %" vs "grew 21 %" are 0.86 cosine apart), and those are
the errors that matter, so each sentence's "anchors" (numbers, dates, capitalised
names) must also occur in the context: a sentence's support is its best
similarity times the share of its anchors the context contains.  The answer's
score is its weakest sentence's support, since one invented claim is enough
to make an answer unfaithful.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import EvalResult, SpanRecord
from .embeddings import DEFAULT_MODEL, encode, load_encoder

NAME = "grounding"
VERSION = "2"  # 2: citation markers are not anchors

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\$?\d[\d,]*(?:\.\d+)?%?")
_CAPITALISED = re.compile(r"\b[A-Z][a-z][a-zA-Z'’-]*\b")  # Title-case; acronyms are too often paraphrased
_DATE = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december)\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b",
    re.IGNORECASE,
)
# A claim joined to another inside one sentence ("..., and X was approved the same week").
_CLAUSE = re.compile(r",\s+(?:and|but|while|whereas)\s+|;\s+|\s+and\s+(?=(?:it|he|she|they|the|its|[A-Z]))")
_WORD = re.compile(r"[A-Za-z0-9]+")
# Citation markers ("[doc-3]", "[1]", "[2, 5]", "[source:4]") name a source, not a fact:
# their numbers are not anchors.  Bracketed text with words in it stays.
_CITATION = re.compile(r"\[[A-Za-z]{0,12}[-_:# ]?\d+(?:\s*[-,–]\s*\d+)*\]")
_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
# Capitalised words that are not anchors wherever they stand.
_COMMON = frozenset(
    """the a an this that these those it its they he she we i you yes no however also in on at
    by for from with and but or so as if then there here their his her our your my according
    based overall additionally furthermore finally first second third""".split()
)


@dataclass(frozen=True, slots=True)
class GroundingConfig:
    embedding_model: str = DEFAULT_MODEL
    threshold: float = 0.55  # support below this labels the answer "ungrounded"
    anchor_weight: float = 0.5  # share of support each unsupported anchor takes away; 0 = embeddings only
    max_context_chars: int = 20_000
    batch_size: int = 64

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> GroundingConfig:
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown grounding parameters: {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        cfg = cls(**dict(params))
        if not 0.0 <= cfg.threshold <= 1.0 or not 0.0 <= cfg.anchor_weight <= 1.0:
            raise ValueError("grounding: threshold and anchor_weight must lie in [0, 1]")
        return cfg


def split_claims(text: str) -> list[tuple[int, int]]:
    """Sentences, further cut at clause joints when both sides have four words or more."""
    out = []
    for a, b in split_sentences(text):
        start = a
        for m in _CLAUSE.finditer(text, a, b):
            if len(text[start : m.start()].split()) >= 4 and len(text[m.end() : b].split()) >= 4:
                out.append((start, m.start()))
                start = m.end()
        out.append((start, b))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character ranges of the sentences of ``text`` (blank ones dropped)."""
    out, start = [], 0
    for m in _SENTENCE.finditer(text):
        if text[start : m.start()].strip():
            out.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def _norm_number(token: str) -> str:
    return token.strip("$%+").replace(",", "").rstrip(".")


def _dates(text: str) -> set[str]:
    return {f"{m.group(1).lower()} {int(m.group(2))} {m.group(3)}" for m in _DATE.finditer(text)}


def anchors(sentence: str) -> set[str]:
    """Full dates, numbers (normalised), month names and capitalised words that
    do not open the sentence; citation markers are left out."""
    sentence = _CITATION.sub(" ", sentence)
    found = _dates(sentence)
    found |= {_norm_number(n) for n in _NUMBER.findall(_DATE.sub(" ", sentence))}
    words = list(_CAPITALISED.finditer(sentence))
    for i, m in enumerate(words):
        word = m.group(0)
        low = word.lower()
        if low in _MONTHS:
            found.add(low)
        elif low not in _COMMON and (m.start() > 0 or (i + 1 < len(words) and words[i + 1].start() == m.end() + 1)):
            found.add(low)
    return {a for a in found if a}


def _supported(anchor: str, vocab: set[str]) -> bool:
    """In the context as is; a hyphenated name also when each of its parts is."""
    if anchor in vocab:
        return True
    return "-" in anchor and not anchor[0].isdigit() and all(w in vocab for w in _WORD.findall(anchor))


def _vocabulary(text: str) -> set[str]:
    vocab = {w.lower() for w in _WORD.findall(text)}
    vocab |= {_norm_number(n) for n in _NUMBER.findall(text)}
    return vocab | _dates(text)


class GroundingScorer:
    """SpanEvaluator "grounding": score 1 = every answer sentence supported by the context."""

    name = NAME

    def __init__(self, config: GroundingConfig | None = None):
        self.config = cfg = config or GroundingConfig()
        self.encoder = load_encoder(cfg.embedding_model)
        self.version = f"{VERSION}-w{cfg.anchor_weight:g}-t{cfg.threshold:g}"

    def wants(self, span: SpanRecord) -> bool:
        return bool(span.context) and bool(span.output_text.strip())

    def evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]:
        return self.score_many([(s.trace_id, s.span_id, s.output_text, list(s.context)) for s in spans])

    def score_many(self, items: Sequence[tuple[str, str, str, list[str]]]) -> list[EvalResult]:
        """Score (trace id, span id, answer, context) items; every distinct text is embedded once."""
        cfg = self.config
        prepared = []
        texts: dict[str, int] = {}
        for _, _, answer, context in items:
            ctx_text = "\n".join(context)[: cfg.max_context_chars]
            sentences = split_claims(answer)
            passages = self._passages(ctx_text) if ctx_text.strip() else []
            for t in [answer[a:b] for a, b in sentences] + passages:
                texts.setdefault(t, len(texts))
            prepared.append((answer, ctx_text, sentences, passages))
        vectors = encode(self.encoder, list(texts), cfg.batch_size)
        results = []
        for (trace_id, span_id, _, _), (answer, ctx_text, sentences, passages) in zip(items, prepared, strict=True):
            if not sentences or not passages:
                results.append(EvalResult(trace_id, span_id, NAME, self.version, "grounding", None, "not_applicable",
                                          "no answer sentences or no context"))
                continue
            answer_vecs = vectors[[texts[answer[a:b]] for a, b in sentences]]
            passage_vecs = vectors[[texts[p] for p in passages]]
            similarity = np.clip((answer_vecs @ passage_vecs.T).max(axis=1), 0.0, 1.0)
            results.append(self._result(trace_id, span_id, answer, ctx_text, sentences, similarity))
        return results

    def score_one(self, trace_id: str, span_id: str, answer: str, context: Sequence[str]) -> EvalResult:
        return self.score_many([(trace_id, span_id, answer, list(context))])[0]

    def _result(self, trace_id: str, span_id: str, answer: str, ctx_text: str,
                sentences: list[tuple[int, int]], similarity: np.ndarray) -> EvalResult:
        cfg = self.config
        vocab = _vocabulary(ctx_text)
        per_sentence = []
        for (a, b), sim in zip(sentences, similarity, strict=True):
            found = anchors(answer[a:b])
            missing = {x for x in found if not _supported(x, vocab)}
            # Each anchor the context lacks halves the support (anchor_weight 0.5).
            support = float(sim) * (1.0 - cfg.anchor_weight) ** len(missing)
            per_sentence.append(
                {"start": a, "end": b, "similarity": round(float(sim), 4), "anchors": len(found),
                 "unsupported_anchors": len(missing), "support": round(support, 4)}
            )
        score = min(s["support"] for s in per_sentence)
        weakest = min(range(len(per_sentence)), key=lambda i: per_sentence[i]["support"])
        grounded = score >= cfg.threshold
        return EvalResult(
            trace_id=trace_id,
            span_id=span_id,
            evaluator=NAME,
            version=self.version,
            metric="grounding",
            score=round(score, 4),
            label="grounded" if grounded else "ungrounded",
            explanation=(
                f"{len(per_sentence)} sentences; weakest is #{weakest} "
                f"(similarity {per_sentence[weakest]['similarity']}, "
                f"{per_sentence[weakest]['unsupported_anchors']} of {per_sentence[weakest]['anchors']} anchors not in the context)"
            ),
            details={"sentences": per_sentence, "threshold": cfg.threshold},
        )

    @staticmethod
    def _passages(context: str) -> list[str]:
        """Context claims and sentences, and each pair of neighbouring sentences (claims often span two)."""
        sents = [context[a:b].strip() for a, b in split_sentences(context)]
        claims = [context[a:b].strip() for a, b in split_claims(context)]
        pairs = [f"{x} {y}" for x, y in zip(sents, sents[1:], strict=False)]
        return list(dict.fromkeys(claims + sents + pairs))


def build(params: Mapping[str, Any]) -> GroundingScorer:
    """Entry point the worker loads: ``evaluators.grounding:build``."""
    return GroundingScorer(GroundingConfig.from_params(params or {}))
