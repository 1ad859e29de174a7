"""Session fixtures for the scorers: each model loads once per test session."""

from __future__ import annotations

import importlib
from typing import Any

import pytest


def load_entry_point(spec: str, params: dict[str, Any] | None = None) -> Any:
    """Build a scorer the way the worker does: ``module:function`` called with params."""
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)(params or {})


@pytest.fixture(scope="session")
def pii_scorer():
    return load_entry_point("evaluators.pii:build")


@pytest.fixture(scope="session")
def grounding_scorer():
    return load_entry_point("evaluators.grounding:build")


@pytest.fixture(scope="session")
def drift_scorer():
    return load_entry_point("evaluators.drift:build", {"permutations": 200})
