"""A labelled PII corpus generated with Faker: chat-style messages holding
entities in several formats and locales, look-alike identifiers that are not
PII (order numbers, version strings, tracking ids, invoice numbers, dates,
amounts, hashes), and ordinary messages with no PII at all.

Each example carries the gold character spans, built as the text is
assembled, so scoring needs no second annotation pass.  Faker's phone
formats include numbers outside any numbering plan (area codes that do not
exist); only numbers python-phonenumbers accepts for their country are used,
since nobody could call the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker

ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "PERSON")
_LOCALES = {"en_US": "US", "en_GB": "GB", "fr_FR": "FR", "en_CA": "CA", "en_AU": "AU", "en_IN": "IN"}


@dataclass
class Example:
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    kind: str = "pii"  # "pii" | "lookalike" | "clean"


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[int, int, str]] = []
        self.pos = 0

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def entity(self, s: str, label: str) -> None:
        self.spans.append((self.pos, self.pos + len(s), label))
        self.text(s)


class CorpusGenerator:
    """Deterministic for a seed."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in _LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed + i)
        self.en = self.fakers["en_US"]
        self.iban_fakers = [Faker(loc) for loc in ("en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT")]
        for i, f in enumerate(self.iban_fakers):
            f.seed_instance(seed + 100 + i)

    # ---- entity values in their formats ----------------------------------------------------

    def email(self) -> str:
        f = self.en
        return self.rng.choice([f.email, f.free_email, f.company_email, lambda: f"{f.first_name().lower()}.{f.last_name().lower()}+{f.word()}@{f.domain_name()}"])()

    def phone(self) -> str:
        for _ in range(100):
            loc = self.rng.choice(list(_LOCALES))
            number = self.fakers[loc].phone_number()
            try:
                parsed = phonenumbers.parse(number, _LOCALES[loc])
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                if self.rng.random() < 0.2:  # the international form, as apps print it
                    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
                return number
        raise RuntimeError("no valid phone number from Faker")

    def credit_card(self) -> str:
        number = self.en.credit_card_number()
        style = self.rng.random()
        if style < 0.4:
            return number
        sep = " " if style < 0.75 else "-"
        if len(number) == 15:  # Amex 4-6-5
            return sep.join([number[:4], number[4:10], number[10:]])
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4))

    def iban(self) -> str:
        value = self.rng.choice(self.iban_fakers).iban()
        if self.rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ip(self) -> str:
        f = self.en
        return self.rng.choice([f.ipv4_public, f.ipv4_private, f.ipv4, f.ipv6])()

    def ssn(self) -> str:
        value = self.en.ssn()
        return value

    def person(self) -> str:
        f = self.rng.choice([self.en, self.fakers["en_GB"], self.fakers["en_CA"], self.fakers["en_AU"]])
        return self.rng.choice([f.name, lambda: f"{f.first_name()} {f.last_name()}", f.first_name_male, f.first_name_female])()

    # ---- messages --------------------------------------------------------------------------

    TEMPLATES: dict[str, list[str]] = {
        "EMAIL_ADDRESS": [
            "Please send the report to {} before Friday.",
            "My email is {}, reply there.",
            "Can you draft a reply to {} about the delayed shipment?",
            "contact: {}",
            "CC {} on the thread and summarise the decision.",
        ],
        "PHONE_NUMBER": [
            "You can reach me at {} after 5pm.",
            "Call {} to confirm the appointment.",
            "My phone number is {}.",
            "Customer left a voicemail from {} asking for a refund.",
            "Text me on {} when you land.",
        ],
        "CREDIT_CARD": [
            "Charge it to my card {} please.",
            "The payment with card number {} was declined.",
            "Use {} exp 04/29 for the booking.",
            "Why did my credit card {} get charged twice?",
        ],
        "IBAN_CODE": [
            "Wire the deposit to IBAN {}.",
            "My bank account is {}, please refund there.",
            "Transfer 450 EUR to {} by Monday.",
            "The supplier changed their account to {}, is that legit?",
        ],
        "IP_ADDRESS": [
            "The login came from {} at 3am.",
            "Block traffic from {} on the firewall.",
            "Our staging box is at {}, can you ssh in?",
            "Requests from IP {} are failing with 502.",
        ],
        "US_SSN": [
            "My SSN is {}.",
            "Social security number: {}",
            "I entered {} on the W-2 form but it was rejected.",
            "Applicant SSN {} needs verification.",
        ],
        "PERSON": [
            "Hi, I'm {} and I need help with my account.",
            "Please write a thank-you note to {} for the referral.",
            "{} said the invoice was already paid.",
            "Schedule a call with {} next week.",
            "Summarise what {} wrote in the last email.",
            "Can you check whether {} approved the budget?",
        ],
    }

    LOOKALIKES = [
        lambda g: f"Where is my order #{g.rng.randint(10**9, 10**10 - 1)}? It was due yesterday.",
        lambda g: f"Order number {g.rng.randint(10**9, 10**10 - 1)} arrived damaged.",
        lambda g: f"Order {g.rng.randint(100, 999)}-{g.rng.randint(1000000, 9999999)}-{g.rng.randint(1000000, 9999999)} shows as shipped.",
        lambda g: f"We upgraded to version {g.rng.randint(1, 20)}.{g.rng.randint(0, 30)}.{g.rng.randint(0, 9)}.{g.rng.randint(0, 200)} last night.",
        lambda g: f"Please bump the dependency to v{g.rng.randint(1, 9)}.{g.rng.randint(0, 30)}.{g.rng.randint(0, 30)} and rerun CI.",
        lambda g: f"Tracking number 1Z{g.rng.randint(100, 999)}AA{g.rng.randint(10**10, 10**11 - 1)} has not moved.",
        lambda g: f"USPS tracking {' '.join(str(g.rng.randint(1000, 9999)) for _ in range(5))} 22",
        lambda g: f"Invoice INV-{g.rng.randint(2019, 2026)}-{g.rng.randint(10000, 99999)} is overdue by 12 days.",
        lambda g: f"Ticket {g.rng.randint(100000, 999999)} was escalated to tier 2.",
        lambda g: f"The meeting is on {g.en.date()} at {g.rng.randint(1, 12)}:{g.rng.choice(['00', '15', '30', '45'])}.",
        lambda g: f"Revenue was ${g.rng.randint(1, 999)},{g.rng.randint(100, 999)},{g.rng.randint(100, 999)}.{g.rng.randint(10, 99)} this quarter.",
        lambda g: f"Commit {g.en.sha1()[:12]} broke the build; revert it.",
        lambda g: f"Request id {g.en.uuid4()} timed out.",
        lambda g: f"Build {g.rng.randint(2020, 2026)}.{g.rng.randint(1, 12)}.{g.rng.randint(1, 28)}.{g.rng.randint(1, 9)} is on the release branch.",
        lambda g: f"SKU {g.rng.randint(100, 999)}-{g.rng.randint(10, 99)}-{g.rng.randint(1000, 9999)} is out of stock.",
        lambda g: f"Part number {g.rng.randint(1000, 9999)}-{g.rng.randint(1000, 9999)}-{g.rng.randint(1000, 9999)} fits the model.",
        lambda g: f"The population grew from {g.rng.randint(1000000, 9999999)} to {g.rng.randint(1000000, 9999999)}.",
        lambda g: f"Confirmation code {g.rng.randint(10**9, 10**10 - 1)} for your stay.",
    ]

    CLEAN = [
        lambda g: g.en.paragraph(nb_sentences=g.rng.randint(1, 4)),
        lambda g: f"Explain the difference between {g.en.word()} and {g.en.word()} in simple terms.",
        lambda g: f"write a python function that returns the {g.en.word()} of a list",
        lambda g: "Summarise this: " + g.en.text(max_nb_chars=300),
        lambda g: f"What are {g.rng.randint(3, 10)} tips for better sleep?",
        lambda g: f"Translate '{g.en.sentence()}' to French.",
    ]

    def _sentence(self, label: str, b: _Builder) -> None:
        template = self.rng.choice(self.TEMPLATES[label])
        before, after = template.split("{}")
        b.text(before)
        value = {
            "EMAIL_ADDRESS": self.email,
            "PHONE_NUMBER": self.phone,
            "CREDIT_CARD": self.credit_card,
            "IBAN_CODE": self.iban,
            "IP_ADDRESS": self.ip,
            "US_SSN": self.ssn,
            "PERSON": self.person,
        }[label]()
        b.entity(value, label)
        b.text(after)

    def pii_example(self, label: str) -> Example:
        """One message with ``label`` and sometimes a second entity of another type."""
        b = _Builder()
        self._sentence(label, b)
        if self.rng.random() < 0.35:
            b.text(" ")
            self._sentence(self.rng.choice(ENTITIES), b)
        return Example("".join(b.parts), b.spans, "pii")

    def lookalike(self) -> Example:
        return Example(self.rng.choice(self.LOOKALIKES)(self), [], "lookalike")

    def clean(self) -> Example:
        return Example(self.rng.choice(self.CLEAN)(self), [], "clean")

    def corpus(self, per_entity: int = 150, lookalikes: int = 400, clean: int = 300) -> list[Example]:
        out = [self.pii_example(label) for label in ENTITIES for _ in range(per_entity)]
        out += [self.lookalike() for _ in range(lookalikes)]
        out += [self.clean() for _ in range(clean)]
        self.rng.shuffle(out)
        return out

    def traffic(self, n: int, pii_share: float = 0.1) -> list[str]:
        """Messages shaped like chat traffic: mostly no PII, some look-alikes, a few leaks."""
        out = []
        for _ in range(n):
            r = self.rng.random()
            if r < pii_share:
                out.append(self.pii_example(self.rng.choice(ENTITIES)).text)
            elif r < pii_share + 0.1:
                out.append(self.lookalike().text)
            else:
                out.append(self.clean().text)
        return out


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(examples: list[Example], predictions: list[list[tuple[int, int, str]]]) -> dict[str, Scores]:
    """Entity-level scores: a prediction counts when it overlaps an unmatched gold span of its type."""
    out = {e: Scores() for e in ENTITIES}
    for ex, pred in zip(examples, predictions, strict=True):
        matched: set[int] = set()
        for start, end, label in pred:
            if label not in out:
                continue
            hit = next(
                (i for i, (gs, ge, gl) in enumerate(ex.spans) if gl == label and i not in matched and start < ge and end > gs),
                None,
            )
            if hit is None:
                out[label].fp += 1
            else:
                matched.add(hit)
                out[label].tp += 1
        for i, (_, _, gl) in enumerate(ex.spans):
            if i not in matched:
                out[gl].fn += 1
    return out
