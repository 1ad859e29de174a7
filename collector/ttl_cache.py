"""A small time-bounded memo for metadata read on the hot path (price
overrides, retention, resolved keys): one DB read per key per `ttl` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._data: dict[str, tuple[float, V]] = {}

    def get(self, key: str, load: Callable[[str], V]) -> V:
        found, value = self.peek(key)
        if found:
            return value  # type: ignore[return-value]
        value = load(key)
        self.put(key, value)
        return value

    def peek(self, key: str) -> tuple[bool, V | None]:
        """(True, value) while a fresh entry exists; for callers whose loader
        must run elsewhere (an async caller loading on a thread)."""
        hit = self._data.get(key)
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def put(self, key: str, value: V) -> None:
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._data.clear()
