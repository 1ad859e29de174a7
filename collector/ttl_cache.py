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
        now = time.monotonic()
        hit = self._data.get(key)
        if hit and hit[0] > now:
            return hit[1]
        value = load(key)
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        self._data.clear()
