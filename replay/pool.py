"""Client-side load balancing over a pool of OpenAI-compatible servers.

Least outstanding requests: each request goes to the healthy member with the
fewest requests in flight, which follows the servers' real speed (a slow
replica keeps more in flight and receives fewer) without knowing it.  A
member that fails a request at the transport level is taken out until a
health check (`GET {base}/models`) answers again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


class NoHealthyMember(RuntimeError):
    pass


@dataclass(slots=True)
class Member:
    base_url: str
    outstanding: int = 0
    healthy: bool = True
    served: int = 0
    failures: int = 0


class Pool:
    def __init__(self, base_urls: list[str], http: httpx.AsyncClient, api_key: str | None = None) -> None:
        self.members = [Member(u) for u in base_urls]
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._tiebreak = itertools.count()

    def pick(self) -> Member:
        healthy = [m for m in self.members if m.healthy]
        if not healthy:
            raise NoHealthyMember("no healthy member in the pool: " + ", ".join(m.base_url for m in self.members))
        least = min(m.outstanding for m in healthy)
        ties = [m for m in healthy if m.outstanding == least]
        return ties[next(self._tiebreak) % len(ties)]

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Member]:
        member = self.pick()
        member.outstanding += 1
        try:
            yield member
        finally:
            member.outstanding -= 1

    def mark_down(self, member: Member, reason: str) -> None:
        member.failures += 1
        if member.healthy:
            log.warning("pool member %s taken out: %s", member.base_url, reason)
        member.healthy = False

    async def check(self, member: Member, timeout: float = 5.0) -> bool:
        try:
            resp = await self._http.get(f"{member.base_url}/models", headers=self._headers, timeout=timeout)
            ok = resp.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok and not member.healthy:
            log.info("pool member %s is back", member.base_url)
        member.healthy = ok
        return ok

    async def check_all(self) -> int:
        """Health-check every member; the number that answered."""
        return sum(await asyncio.gather(*(self.check(m) for m in self.members)))

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Re-check members periodically until `stop`, so a recovered one rejoins."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                await self.check_all()
