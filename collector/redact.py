"""PII redaction at ingest (``LLMOBS_REDACT_PII``), before anything is normalised or stored.

Redaction works on the decoded OTLP request, not on the normalised rows:
message text reaches storage through many doors (the canonical message
columns, the raw attribute map, span events, log records), and masking every
string value of the request once closes them all.  Detection is the "pii"
scorer's analyzer (regex pre-filter, so most values cost one regex search);
presidio-anonymizer replaces each finding with ``<ENTITY_TYPE>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


class Redactor:
    """Masks PII in every string value of an OTLP traces or logs request, in place."""

    def __init__(self, entities: Iterable[str] | None = None, spacy_model: str | None = None):
        from presidio_anonymizer import AnonymizerEngine

        from evaluators.pii import PiiAnalyzer, PiiConfig

        params: dict[str, Any] = {}
        if entities:
            params["entities"] = list(entities)
        if spacy_model:
            params["spacy_model"] = spacy_model
        self._analyzer = PiiAnalyzer(PiiConfig.from_params(params))
        self._anonymizer = AnonymizerEngine()

    def redact_texts(self, texts: list[str]) -> list[str]:
        """The texts with each finding replaced by ``<ENTITY_TYPE>``."""
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        out = list(texts)
        for i, found in enumerate(self._analyzer.analyze(texts)):
            if found:
                results = [RecognizerResult(f.entity_type, f.start, f.end, f.score) for f in found]
                out[i] = self._anonymizer.anonymize(texts[i], results, operators={"DEFAULT": OperatorConfig("replace")}).text
        return out

    def _apply(self, values: list[AnyValue]) -> int:
        texts = [v.string_value for v in values]
        changed = 0
        for value, old, new in zip(values, texts, self.redact_texts(texts), strict=True):
            if new != old:
                value.string_value = new
                changed += 1
        return changed

    def redact_traces(self, request: ExportTraceServiceRequest) -> int:
        """Mask span, event and link attributes, and span names; returns how many values changed."""
        values: list[AnyValue] = []
        for rs in request.resource_spans:
            values += _strings(rs.resource.attributes)
            for ss in rs.scope_spans:
                for span in ss.spans:
                    values += _strings(span.attributes)
                    for event in span.events:
                        values += _strings(event.attributes)
                    for link in span.links:
                        values += _strings(link.attributes)
        return self._apply(values)

    def redact_logs(self, request: ExportLogsServiceRequest) -> int:
        """Mask log bodies and attributes; returns how many values changed."""
        values: list[AnyValue] = []
        for rl in request.resource_logs:
            values += _strings(rl.resource.attributes)
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    values += list(_walk(record.body))
                    values += _strings(record.attributes)
        return self._apply(values)


def _strings(attributes: Iterable[KeyValue]) -> list[AnyValue]:
    out: list[AnyValue] = []
    for kv in attributes:
        out += _walk(kv.value)
    return out


def _walk(value: AnyValue) -> Iterator[AnyValue]:
    """Every string AnyValue inside ``value`` (arrays and key-value lists included)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        yield value
    elif kind == "array_value":
        for v in value.array_value.values:
            yield from _walk(v)
    elif kind == "kvlist_value":
        for kv in value.kvlist_value.values:
            yield from _walk(kv.value)


def from_settings() -> Redactor | None:
    """The ingest redactor when ``LLMOBS_REDACT_PII`` is on, else None."""
    from collector.settings import Settings

    settings = Settings()
    if not settings.redact_pii:
        return None
    return Redactor(settings.redact_pii_entities or None, settings.redact_pii_spacy_model or None)
