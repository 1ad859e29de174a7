"""API key -> project, with a short cache (this runs on every export).

Keys live hashed in the metadata DB; a lookup costs a query, so resolved keys
are cached for `ttl` seconds (a revoked key stops working within that time).
With auth disabled every request acts on the default project.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from collector.ttl_cache import TTLCache


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization") or headers.get("Authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key") or headers.get("X-Api-Key")
    return key.strip() if key else None


class Authenticator:
    def __init__(
        self,
        lookup: Callable[[str], str | None],
        *,
        disabled: bool,
        default_project: str,
        ttl: float = 30.0,
        max_entries: int = 10_000,
    ) -> None:
        self._lookup = lookup
        self.disabled = disabled
        self.default_project = default_project
        self._cache: TTLCache[str | None] = TTLCache(ttl, max_entries)

    async def project_for(self, key: str | None) -> str | None:
        if self.disabled:
            return self.default_project
        if not key:
            return None
        found, project = self._cache.peek(key)
        if found:
            return project
        project = await asyncio.to_thread(self._lookup, key)
        self._cache.put(key, project)
        return project

    def forget(self) -> None:
        self._cache.clear()
