"""The ingest PII screen (collector/pii_screen.py): what keeps a sampled-out
trace's content.  Precise on purpose: look-alikes must not keep traffic."""

from __future__ import annotations

import pytest

from collector.pii_screen import find


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("reach me at jane.roe+news@mail.example.co.uk today", "EMAIL_ADDRESS"),
        ("SSN 536-22-8741 on file", "US_SSN"),
        ("pay with 4539 1488 0343 6467", "CREDIT_CARD"),
        ("card 5555-5555-5555-4444 please", "CREDIT_CARD"),
        ("IBAN DE89 3704 0044 0532 0130 00 for the refund", "IBAN_CODE"),
        ("GB82WEST12345698765432", "IBAN_CODE"),
        ("the host at 192.168.14.201 is down", "IP_ADDRESS"),
        ("call +1 415-555-0132 after five", "PHONE_NUMBER"),
        ('{"role":"user","parts":[{"type":"text","content":"my ssn is 219-09-9999"}]}', "US_SSN"),
    ],
)
def test_finds_structured_pii(text: str, entity: str) -> None:
    assert find(text) == entity


@pytest.mark.parametrize(
    "text",
    [
        "order 4539 1488 0343 6468 shipped",  # fails Luhn
        "upgrade to version 10.2.3.4",  # a version, not an address
        "ticket 536-2-28741",  # not SSN-shaped
        "SSN 000-12-3456 is never issued",  # area 000
        "octets 300.1.2.3",  # not an IPv4
        "DE89 3704 0044 0532 0130 01",  # IBAN checksum fails
        "the meeting is at 10:30 on 2025-03-14, room 4",
        "",
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert find(text) is None
