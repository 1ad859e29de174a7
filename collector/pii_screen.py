"""A cheap, precise PII screen for ingest sampling (collector/sampling.py).

Why not the PII evaluator: it runs presidio and spaCy (hundreds of messages
per second per core) and lives in the evaluators extra; ingest needs a
decision for every content-bearing span of a trace about to lose its content,
at ingest speed, with the base install.  So this screen looks only for the
structured identifiers whose shape plus a checksum or range check leaves few
false positives: e-mail addresses, US SSNs, payment card numbers (Luhn),
IBANs (mod 97), IPv4 addresses and international phone numbers.  Names and
addresses need NER and are left to the evaluator, which scores what is kept.
"""

from __future__ import annotations

import re

_CANDIDATES = re.compile(
    r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"|(?P<ssn>(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-]))"
    r"|(?P<iban>\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b)"
    r"|(?P<card>(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-]|\.\d))"
    r"|(?P<ip>(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]))"
    r"|(?P<phone>(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{6,14}\d(?!\d))"
)
_VERSION_CUE = re.compile(r"(?:version|release|build|firmware|sdk|v)\s*$", re.IGNORECASE)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ssn(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip(text: str, before: str) -> bool:
    return all(int(o) <= 255 for o in text.split(".")) and not _VERSION_CUE.search(before)


def _phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 8 <= digits <= 15


def find(text: str) -> str | None:
    """The entity type of the first PII value in `text`, or None."""
    for m in _CANDIDATES.finditer(text):
        kind = m.lastgroup
        value = m.group()
        if kind == "email":
            return "EMAIL_ADDRESS"
        if kind == "ssn" and _ssn(value):
            return "US_SSN"
        if kind == "iban" and _iban(value):
            return "IBAN_CODE"
        if kind == "card":
            digits = value.replace(" ", "").replace("-", "")
            if 13 <= len(digits) <= 19 and _luhn(digits):
                return "CREDIT_CARD"
        if kind == "ip" and _ip(value, text[max(0, m.start() - 12) : m.start()]):
            return "IP_ADDRESS"
        if kind == "phone" and _phone(value):
            return "PHONE_NUMBER"
    return None
