"""Labelled grounding cases: a context, an answer, and whether the answer is
supported by the context.

Contexts are short documents of five kinds (company report, clinical trial,
product sheet, travel policy, event history) filled with Faker values.
Grounded answers restate one or two facts in other words; ungrounded ones
restate them with one subtle error: a swapped number, a different name, a
shifted date, a different city, or a claim the context never makes (often
reusing the context's own names and numbers, so word overlap does not give
it away).  ``error`` names the error kind ("" for grounded answers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True)
class Case:
    context: list[str]
    question: str
    answer: str
    grounded: bool
    error: str = ""


def _other(rng: random.Random, value: int, lo: float = 0.55, hi: float = 1.6) -> int:
    """A different number of the same magnitude."""
    while True:
        out = int(round(value * rng.uniform(lo, hi)))
        if out != value and str(out) not in str(value) and str(value) not in str(out):
            return out


class CaseGenerator:
    def __init__(self, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.f = Faker("en_US")
        self.f.seed_instance(seed)

    def _date(self) -> tuple[str, str]:
        d = self.f.date_between(start_date="-8y", end_date="today")
        shifted = d.replace(day=(d.day % 27) + 1) if self.rng.random() < 0.5 else d.replace(year=d.year - self.rng.randint(1, 3))
        return d.strftime("%B %-d, %Y"), shifted.strftime("%B %-d, %Y")

    def _person(self, not_: str = "") -> str:
        while True:
            name = f"{self.f.first_name()} {self.f.last_name()}"
            if name != not_:
                return name

    def _city(self, not_: str = "") -> str:
        while True:
            c = self.f.city()
            if c != not_:
                return c

    # Each kind returns (context sentences, [(question, grounded answer, [(error kind, ungrounded answer)])]).

    def company(self):
        r, f = self.rng, self.f
        co, ceo, city, city2 = f.company(), self._person(), self._city(), self._city()
        rev, pct, emp, year = r.randint(120, 9800), r.randint(3, 48), r.randint(300, 60000), r.randint(2015, 2025)
        date, date_x = self._date()
        ctx = [
            f"{co} reported revenue of ${rev} million for fiscal {year}, up {pct}% from the previous year.",
            f"The company is headquartered in {city} and is led by chief executive {ceo}.",
            f"It employs {emp} people and opened a new distribution centre in {city2} on {date}.",
        ]
        other = self._person(ceo)
        return ctx, [
            (f"What was {co}'s revenue?", f"In fiscal {year} {co} took in ${rev} million, a {pct}% increase.",
             [("number", f"In fiscal {year} {co} took in ${_other(r, rev)} million, a {pct}% increase."),
              ("number", f"In fiscal {year} {co} took in ${rev} million, a {_other(r, pct)}% increase.")]),
            (f"Who runs {co}?", f"{co} is run by its CEO, {ceo}.",
             [("name", f"{co} is run by its CEO, {other}."),
              ("unsupported", f"{ceo} founded {co} in {year} and still owns most of it.")]),
            (f"When did the {city2} site open?", f"The distribution centre in {city2} opened on {date}.",
             [("date", f"The distribution centre in {city2} opened on {date_x}."),
              ("place", f"The distribution centre in {self._city(city2)} opened on {date}.")]),
            (f"How many people work at {co}?", f"{co} has a workforce of {emp} employees and is based in {city}.",
             [("number", f"{co} has a workforce of {_other(r, emp)} employees and is based in {city}."),
              ("place", f"{co} has a workforce of {emp} employees and is based in {self._city(city)}.")]),
        ]

    def trial(self):
        r, f = self.rng, self.f
        drug = f.word().capitalize() + r.choice(["mab", "nib", "zole", "vir", "stat"])
        lead, city = self._person(), self._city()
        n, resp, resp_p, weeks = r.randint(80, 2400), r.randint(21, 70), r.randint(5, 30), r.choice([12, 16, 24, 36, 52])
        date, date_x = self._date()
        ctx = [
            f"A phase III trial of {drug} enrolled {n} patients at sites coordinated from {city}.",
            f"After {weeks} weeks, {resp}% of patients on {drug} responded, against {resp_p}% on placebo.",
            f"The principal investigator, Dr. {lead}, presented the results on {date}.",
        ]
        return ctx, [
            (f"How well did {drug} work?", f"About {resp}% of patients taking {drug} responded after {weeks} weeks, compared with {resp_p}% for placebo.",
             [("number", f"About {_other(r, resp, 0.6, 1.3)}% of patients taking {drug} responded after {weeks} weeks, compared with {resp_p}% for placebo."),
              ("number", f"About {resp}% of patients taking {drug} responded after {weeks} weeks, compared with {_other(r, resp_p)}% for placebo.")]),
            ("Who led the trial?", f"Dr. {lead} was the principal investigator.",
             [("name", f"Dr. {self._person(lead)} was the principal investigator."),
              ("unsupported", f"Dr. {lead} has since been appointed to lead the national drug regulator.")]),
            ("When were results presented?", f"Results were presented on {date}.",
             [("date", f"Results were presented on {date_x}."),
              ("unsupported", f"Results were presented on {date} and {drug} was approved the same week.")]),
            ("How big was the trial?", f"The trial enrolled {n} patients.",
             [("number", f"The trial enrolled {_other(r, n)} patients.")]),
        ]

    def product(self):
        r, f = self.rng, self.f
        brand = f.company().split()[0].strip(",")
        model = f"{brand} {r.choice(['Aero', 'Nova', 'Pulse', 'Vertex', 'Orbit'])} {r.randint(2, 9)}"
        weight, battery, price, screen = r.randint(900, 2400), r.randint(6, 22), r.randint(499, 2999), r.choice([13, 14, 15, 16])
        date, date_x = self._date()
        ctx = [
            f"The {model} laptop weighs {weight} grams and has a {screen}-inch display.",
            f"Its battery lasts up to {battery} hours in the manufacturer's video playback test.",
            f"It went on sale on {date} at a price of ${price}.",
        ]
        return ctx, [
            (f"How heavy is the {model}?", f"The {model} comes in at {weight} g with a {screen}\" screen.",
             [("number", f"The {model} comes in at {_other(r, weight, 0.7, 1.4)} g with a {screen}\" screen.")]),
            ("What is the battery life?", f"Battery life is rated at up to {battery} hours of video.",
             [("number", f"Battery life is rated at up to {_other(r, battery, 0.5, 1.8)} hours of video."),
              ("unsupported", f"Battery life is rated at up to {battery} hours of video, and it supports 100 W fast charging.")]),
            ("When did it launch and for how much?", f"It launched on {date} for ${price}.",
             [("date", f"It launched on {date_x} for ${price}."),
              ("number", f"It launched on {date} for ${_other(r, price, 0.6, 1.5)}.")]),
        ]

    def policy(self):
        r, f = self.rng, self.f
        airline = f.company() + " Air"
        bags, kg, fee, hours, city = r.randint(1, 3), r.choice([20, 23, 25, 30, 32]), r.randint(25, 150), r.choice([24, 48, 72]), self._city()
        ctx = [
            f"{airline} allows {bags} checked bags of up to {kg} kg each on international flights.",
            f"Each extra bag costs ${fee}; bookings can be cancelled free of charge within {hours} hours of purchase.",
            f"Its main hub is in {city}.",
        ]
        return ctx, [
            ("What is the baggage allowance?", f"On international routes you may check {bags} bags, each up to {kg} kg.",
             [("number", f"On international routes you may check {bags} bags, each up to {_other(r, kg, 0.6, 1.5)} kg."),
              ("unsupported", f"On international routes you may check {bags} bags, each up to {kg} kg, and business class gets two more.")]),
            ("Can I cancel for free?", f"Yes, cancellation is free within {hours} hours of booking.",
             [("number", f"Yes, cancellation is free within {r.choice([h for h in (12, 36, 96, 168) if h != hours])} hours of booking.")]),
            ("Where is the hub?", f"{airline} operates its main hub in {city}, and extra bags cost ${fee}.",
             [("place", f"{airline} operates its main hub in {self._city(city)}, and extra bags cost ${fee}."),
              ("number", f"{airline} operates its main hub in {city}, and extra bags cost ${_other(r, fee)}.")]),
        ]

    def history(self):
        r, f = self.rng, self.f
        founder, successor, city = self._person(), self._person(), self._city()
        year, members, year2 = r.randint(1850, 1990), r.randint(40, 5000), 0
        year2 = year + r.randint(5, 30)
        org = f"the {city} {r.choice(['Rowing Club', 'Choral Society', 'Chess League', 'Historical Society', 'Botanical Garden'])}"
        ctx = [
            f"{org.capitalize()} was founded in {year} by {founder}.",
            f"In {year2} leadership passed to {successor}, under whom membership grew to {members}.",
        ]
        return ctx, [
            (f"Who founded {org}?", f"It was founded by {founder} in {year}.",
             [("name", f"It was founded by {successor} in {year}."),
              ("date", f"It was founded by {founder} in {year + r.randint(2, 15)}.")]),
            ("How large did it grow?", f"Under {successor}, who took over in {year2}, it reached {members} members.",
             [("number", f"Under {successor}, who took over in {year2}, it reached {_other(r, members)} members."),
              ("unsupported", f"Under {successor}, who took over in {year2}, it reached {members} members and won a national award.")]),
        ]

    def cases(self, contexts: int = 60) -> list[Case]:
        kinds = [self.company, self.trial, self.product, self.policy, self.history]
        out: list[Case] = []
        for i in range(contexts):
            ctx, qas = kinds[i % len(kinds)]()
            for question, good, bads in qas:
                out.append(Case(ctx, question, good, True))
                error, bad = self.rng.choice(bads)
                out.append(Case(ctx, question, bad, False, error))
        self.rng.shuffle(out)
        return out
