"""Synthetic LLM traffic for drift tests: prompts by topic, responses by model style,
and the numeric and categorical fields a real span carries.  Every draw comes
from a seeded generator, so a test's outcome is fixed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

from evaluators.base import SpanRecord

TOPICS: dict[str, list[str]] = {
    "cooking": [
        "How long should I roast a {w} with {w2} at 200 degrees?",
        "Give me a vegetarian recipe using {w} and {w2}.",
        "What can I substitute for {w} when baking bread?",
        "How do I keep {w} fresh in the fridge for a week?",
    ],
    "travel": [
        "Plan a three day trip to {city} with a focus on {w}.",
        "What is the best time of year to visit {city}?",
        "Is it easy to get from the airport to {city} by train?",
        "Suggest a budget hotel area in {city} close to the {w} district.",
    ],
    "support": [
        "My {w} subscription was charged twice this month, can you help?",
        "How do I reset the password for my {w} account?",
        "The {w} app crashes when I open the {w2} tab.",
        "Can I change the delivery address of order for the {w}?",
    ],
    "coding": [
        "Write a Python function that parses {w} records from a CSV file and returns a dict keyed by {w2}.",
        "Why does my SQL query with a LEFT JOIN on {w} return duplicate rows?",
        "Explain the difference between a mutex and a semaphore using a {w} example.",
        "Refactor this JavaScript loop over {w} items into a map and filter chain.",
    ],
}
STYLES = {
    "concise": ["{s}", "Sure. {s}", "{s} {s2}"],
    "verbose": [
        "Great question! Let me walk you through this step by step. First, {s} Second, {s2} Finally, keep in mind that {s3} I hope this helps, and let me know if you have any other questions!",
        "Absolutely, happy to help with that. Here is a detailed breakdown. {s} Additionally, {s2} To summarise: {s3} Feel free to ask follow-up questions.",
    ],
}


@dataclass(frozen=True)
class Profile:
    topics: dict[str, float]
    model: str = "gpt-4o"
    style: str = "concise"
    prompt_scale: float = 1.0
    length_share: float = 0.04  # finish_reason "length"
    ms_per_token: float = 18.0
    ttft_ms: float = 350.0


BASELINE = Profile({"cooking": 0.3, "travel": 0.3, "support": 0.4})


class Traffic:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)

    def span(self, p: Profile, i: int) -> SpanRecord:
        r, f = self.rng, self.fake
        topic = r.choices(list(p.topics), weights=list(p.topics.values()))[0]
        prompt = r.choice(TOPICS[topic]).format(w=f.word(), w2=f.word(), city=f.city())
        if p.prompt_scale > 1:
            prompt = f"{prompt} Context: {f.paragraph(nb_sentences=int(3 * p.prompt_scale))}"
        answer = r.choice(STYLES[p.style]).format(s=f.sentence(), s2=f.sentence(), s3=f.sentence())
        in_tok = int(len(prompt.split()) * 1.3 * r.uniform(0.9, 1.1)) + r.randint(20, 60)  # plus a system prompt
        out_tok = int(len(answer.split()) * 1.3 * r.uniform(0.9, 1.1))
        finish = "length" if r.random() < p.length_share else ("tool_calls" if r.random() < 0.05 else "stop")
        ttft = r.lognormvariate(0, 0.3) * p.ttft_ms
        return SpanRecord(
            project_id="p", trace_id=f"{i:032x}", span_id=f"{i:016x}", start_time_ns=i,
            span_type="llm", model=p.model,
            input_messages=[{"role": "user", "parts": [{"type": "text", "content": prompt}]}],
            output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": answer}]}],
            input_tokens=in_tok, output_tokens=out_tok,
            duration_ms=ttft + out_tok * p.ms_per_token * r.uniform(0.8, 1.2), ttft_ms=ttft,
            cost_total=(in_tok * 2.5 + out_tok * 10) / 1e6,
            finish_reasons=[finish], error_type="timeout" if r.random() < 0.01 else "",
            tool_names=["search"] if finish == "tool_calls" else [],
        )

    def window(self, p: Profile, n: int, start: int = 0) -> list[SpanRecord]:
        return [self.span(p, start + i) for i in range(n)]
