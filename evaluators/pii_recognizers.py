"""Recognizers that replace presidio's defaults where the PII bench showed them weak.

* Email: presidio validates the domain with tldextract's module-level extractor,
  which downloads the public suffix list on first use; ours reads the snapshot
  bundled in the wheel and never touches the network.
* Phone: presidio runs python-phonenumbers' matcher once per region over the
  whole text (slow, and it accepts any long digit run that happens to be a
  valid number, such as order numbers).  Ours finds phone-shaped candidates
  with one regex (separators, a leading ``+`` or parentheses; bare digit runs
  only next to a phone word) and validates each with phonenumbers.
* US SSN: presidio scores a well-formed ``123-45-6789`` at 0.05-0.5 unless a
  context word is near; ours trusts the dashed form with a valid area/group/
  serial and keeps bare nine-digit runs only next to an SSN word.
* Look-alikes: a number right after "order", "tracking", "invoice", "version"
  and similar words is an identifier, not PII (see ``LOOKALIKE_CUES``).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
import tldextract
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

# Words that, just before a match, mark it as an identifier of something else.
LOOKALIKE_CUES: dict[str, frozenset[str]] = {
    "*": frozenset(
        {
            "order", "orders", "invoice", "tracking", "track", "shipment", "parcel", "ticket",
            "case", "sku", "part", "serial", "ref", "reference", "confirmation", "booking",
            "build", "version", "release", "item", "po", "rma", "batch", "lot", "issue", "pr",
        }
    ),
    "IP_ADDRESS": frozenset({"version", "release", "build", "firmware", "v", "ver", "sdk", "package"}),
}
_WORD = re.compile(r"[A-Za-z]+")


def is_lookalike(text: str, entity_type: str, start: int) -> bool:
    """True when one of the two words right before ``start`` marks an identifier."""
    before = text[max(0, start - 32) : start]
    words = [w.lower() for w in _WORD.findall(before)][-2:]
    cues = LOOKALIKE_CUES["*"] | LOOKALIKE_CUES.get(entity_type, frozenset())
    return any(w in cues for w in words)


_NOT_NAMES = frozenset(
    """mr mrs ms dr sir madam customer applicant user client order transfer ticket invoice
    team support admin assistant system""".split()
)
# Verbs that follow a name opening a sentence ("Karen said ...").
_AFTER_NAME = frozenset(
    """said says asked asks wrote writes told tells called calls emailed mentioned replied sent
    is was has had will would wants needs thinks approved signed confirmed agreed""".split()
)
_NAME_CHARS = re.compile(r"[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*)*")


def is_unlikely_name(text: str, start: int, end: int) -> bool:
    """Small-model PERSON spans that are not names: digits or symbols inside,
    titles and roles alone, or one capitalised word opening a sentence and
    followed by a lower-case word (an imperative: "Summarise this", "Drop it")."""
    span = text[start:end]
    if not _NAME_CHARS.fullmatch(span):
        return True
    words = span.split()
    if all(w.lower().strip(".") in _NOT_NAMES for w in words) or any(len(w) > 1 and w.isupper() for w in words):
        return True
    if len(words) == 1:
        before = text[:start].rstrip(" \t\"'(")
        opens_sentence = not before or before[-1] in ".!?:\n"
        after = text[end:].lstrip(" \t")
        next_word = after.split(" ", 1)[0].strip(",.;:!?").lower()
        if opens_sentence and after[:1].islower() and next_word not in _AFTER_NAME:
            return True
    return False


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """tldextract reading only its bundled public-suffix snapshot (no cache dir, no URLs)."""
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email pattern, validated against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        domain = pattern_text.rsplit("@", 1)[-1]
        return offline_tld_extractor()(domain).fqdn != ""


_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+/.-])(?:"
    r"(?:\+|00)\d{1,3}[\s.-]?(?:\(\d{1,5}\)[\s.-]?)?\d{1,12}(?:[\s.-]\d{1,8}){0,5}"  # international
    r"|\(\d{1,5}\)[\s.-]?\d{1,8}(?:[\s.-]\d{1,8}){0,5}"  # (area) number
    r"|\d{1,5}(?:[\s.-]\d{1,8}){1,5}"  # grouped digits
    r"|\d{10,11}"  # a bare digit run: kept only next to a phone word
    r")(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w/-]|\.\d)",
    re.IGNORECASE,
)
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DATE_SHAPE = re.compile(r"\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{2,4}")
_SSN_SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")
_EXTENSION = re.compile(r"\s?(?:x|ext\.?)\s?\d{1,5}$", re.IGNORECASE)
_PHONE_CONTEXT = ("phone", "call", "tel", "mobile", "cell", "reach", "text", "whatsapp", "number", "contact", "fax", "voicemail", "dial", "sms")


class PhoneNumberRecognizer(LocalRecognizer):
    """Phone numbers: one candidate regex, then phonenumbers validation per region."""

    SCORE = 0.75
    CONTEXT = list(_PHONE_CONTEXT)

    def __init__(self, regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA", "IN", "AU"), supported_language: str = "en"):
        self.regions = regions
        super().__init__(
            supported_entities=["PHONE_NUMBER"],
            supported_language=supported_language,
            context=self.CONTEXT,
            name="PhoneNumberRecognizer",
        )

    def load(self) -> None:
        """Nothing to load: the regex is compiled at import."""

    def _valid(self, candidate: str) -> bool:
        digits = sum(c.isdigit() for c in _EXTENSION.sub("", candidate))
        if digits < 7 or digits > 15:
            return False
        for region in (None,) if candidate.lstrip().startswith("+") else self.regions:
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
        return False

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = []
        for m in _PHONE_CANDIDATE.finditer(text):
            candidate = m.group(0).rstrip()
            if _DOTTED_QUAD.fullmatch(candidate) or _SSN_SHAPE.fullmatch(candidate) or _DATE_SHAPE.fullmatch(candidate):
                continue
            bare = candidate.isdigit()
            if bare:
                before = text[max(0, m.start() - 32) : m.start()].lower()
                if not any(w in before for w in _PHONE_CONTEXT):
                    continue
            if not self._valid(candidate):
                continue
            results.append(
                RecognizerResult(
                    entity_type="PHONE_NUMBER",
                    start=m.start(),
                    end=m.start() + len(candidate),
                    score=self.SCORE,
                    analysis_explanation=AnalysisExplanation(
                        recognizer=self.name, original_score=self.SCORE, textual_explanation="phone number (phonenumbers)"
                    ),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            )
        return results


class SsnRecognizer(PatternRecognizer):
    """US SSNs: the dashed/spaced form on its own, bare nine digits next to an SSN word."""

    PATTERNS = [
        Pattern("SSN formatted", r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])", 0.8),
        Pattern("SSN bare", r"(?<![\w-])\d{9}(?![\w-])", 0.2),
    ]
    CONTEXT = ["ssn", "social", "security", "ss#", "ssns", "taxpayer", "tin"]

    def __init__(self, supported_language: str = "en"):
        super().__init__(
            supported_entity="US_SSN",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
            name="SsnRecognizer",
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        digits = "".join(c for c in pattern_text if c.isdigit())
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        return (
            area in ("000", "666")
            or area >= "900"
            or group == "00"
            or serial == "0000"
            or len(set(digits)) == 1
            or digits in ("123456789", "078051120", "219099999")
        )


_CARD_CANDIDATE = re.compile(r"(?<![\w.+-])\d{4}(?:[ -]?\d{2,7}){2,4}(?:[ -]?\d{1,4})?(?![\w-]|\.\d)")
# Issuer prefixes (IIN ranges) of the card networks in use.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|35|6(?:011|5|4[4-9]|2)|5[06-9]|6[0-9]|2131|1800")


class CreditCardNumberRecognizer(LocalRecognizer):
    """Card numbers of 12-19 digits, grouped or not, with a known issuer prefix and a valid Luhn digit.

    presidio's pattern misses Mastercard's 2-series, 19-digit Visa and
    12-digit Maestro numbers, all in circulation."""

    SCORE = 0.8
    CONTEXT = ["credit", "card", "visa", "mastercard", "amex", "discover", "jcb", "maestro", "cc", "payment", "charge"]

    def __init__(self, supported_language: str = "en"):
        super().__init__(
            supported_entities=["CREDIT_CARD"], supported_language=supported_language, context=self.CONTEXT, name="CreditCardNumberRecognizer"
        )

    def load(self) -> None:
        """Nothing to load: the regex is compiled at import."""

    @staticmethod
    def luhn(digits: str) -> bool:
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        return total % 10 == 0

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = []
        for m in _CARD_CANDIDATE.finditer(text):
            candidate = m.group(0)
            digits = candidate.replace(" ", "").replace("-", "")
            if not 12 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or not self.luhn(digits):
                continue
            if len(set(digits)) == 1:
                continue
            results.append(
                RecognizerResult(
                    entity_type="CREDIT_CARD",
                    start=m.start(),
                    end=m.end(),
                    score=self.SCORE,
                    analysis_explanation=AnalysisExplanation(
                        recognizer=self.name, original_score=self.SCORE, textual_explanation="card number (issuer prefix, Luhn)"
                    ),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            )
        return results


def recognizer_is_ner(recognizer: EntityRecognizer) -> bool:
    """NER-backed recognizers need the spaCy entity pass; pattern ones do not."""
    return type(recognizer).__name__ in ("SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer")
