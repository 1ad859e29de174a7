"""Which scorer a config name means, imported only when first used.

Scorers pull heavy libraries (spaCy, torch, ragas, deepeval); importing them
lazily keeps `llmobs up` fast and lets a deployment ship without the ones it
does not use.  A config naming a scorer whose module is absent gets a clear
error at configuration time, not a stack trace in the worker.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

from evaluators.base import SpanEvaluator, WindowEvaluator

ENTRY_POINTS: Mapping[str, str] = {
    "pii": "evaluators.pii:build",
    "grounding": "evaluators.grounding:build",
    "faithfulness_ragas": "evaluators.judge:build_ragas",
    "hallucination_deepeval": "evaluators.judge:build_deepeval",
    "drift": "evaluators.drift:build",
    "heuristics": "evaluators.heuristics:build",
}

# Cheap enough to run on every fresh span within seconds of its storage (the
# streaming scorer, evaluators/worker/stream.py): pattern and NER PII, and the
# heuristics.  Judges and drift need a model server or whole windows and stay
# scheduled.
STREAMING: frozenset[str] = frozenset({"pii", "heuristics"})


class UnknownEvaluator(LookupError):
    """No scorer is registered under that name."""


class ScorerNotInstalled(LookupError):
    """The scorer is registered but its module is not installed here."""


def entry_point(name: str) -> tuple[str, str]:
    try:
        module, _, attr = ENTRY_POINTS[name].partition(":")
    except KeyError:
        raise UnknownEvaluator(f"unknown evaluator {name!r}; known: {', '.join(sorted(ENTRY_POINTS))}") from None
    return module, attr


def check_installed(name: str) -> None:
    """Raise UnknownEvaluator / ScorerNotInstalled without importing the scorer."""
    module, _ = entry_point(name)
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ScorerNotInstalled(f"evaluator {name!r} is not installed: module {module} is missing from this build")


def build(name: str, params: Mapping[str, Any] | None = None) -> SpanEvaluator | WindowEvaluator:
    """A ready scorer: `<module>.<factory>(params)`."""
    check_installed(name)
    module, attr = entry_point(name)
    factory = getattr(importlib.import_module(module), attr, None)
    if factory is None:
        raise ScorerNotInstalled(f"evaluator {name!r}: {module} has no {attr}()")
    scorer = factory(dict(params or {}))
    if not isinstance(scorer, (SpanEvaluator, WindowEvaluator)):
        raise TypeError(f"{module}.{attr} returned {type(scorer).__name__}, not a SpanEvaluator or WindowEvaluator")
    return scorer


def is_window(scorer: object) -> bool:
    return isinstance(scorer, WindowEvaluator) and not isinstance(scorer, SpanEvaluator)
