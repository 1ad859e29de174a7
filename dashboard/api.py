"""The dashboard's only door to llmobs: the HTTP API.

Every failure becomes an `ApiError` with a sentence a person can act on
(server down, too slow, key refused, filter rejected), so a page shows that
sentence instead of a stack trace.  Reads a page needs are fetched side by
side (`fetch_all`), because a page's latency is its slowest call, not the sum.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

Params = tuple[tuple[str, str], ...]


class ApiError(Exception):
    """A failed API call, worded for the page."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # down | timeout | auth | rejected | server
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Call:
    path: str
    params: Params = ()


def params(**kw: Any) -> Params:
    """Keyword filters -> a hashable, ordered query (None and "" dropped; lists repeat)."""
    out: list[tuple[str, str]] = []
    for k, v in kw.items():
        if v is None or v == "" or v == []:
            continue
        for item in v if isinstance(v, (list, tuple)) else [v]:
            out.append((k, str(item)))
    return tuple(out)


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI validation errors
        parts = []
        for d in detail:
            where = ".".join(str(x) for x in d.get("loc", [])[1:]) or "request"
            parts.append(f"{where}: {d.get('msg', d)}")
        return "; ".join(parts)
    return str(detail)[:500]


class ApiClient:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=self.base_url + "/api/v1", headers=headers, timeout=self.timeout_s)

    def request(self, method: str, path: str, *, query: Params = (), json: Any = None) -> Any:
        try:
            with self._client() as c:
                resp = c.request(method, path, params=list(query), json=json)
        except httpx.TimeoutException:
            raise ApiError(
                "timeout", f"The llmobs API at {self.base_url} did not answer within {self.timeout_s:g} s. "
                "Try a shorter time range, or raise LLMOBS_DASHBOARD_API_TIMEOUT_SECONDS.",
            ) from None  # fmt: skip
        except httpx.HTTPError as exc:
            raise ApiError(
                "down", f"Cannot reach the llmobs API at {self.base_url} ({type(exc).__name__}). "
                "Is `llmobs up` running? Set LLMOBS_API_URL if it runs elsewhere.",
            ) from None  # fmt: skip
        if resp.status_code == 401:
            raise ApiError(
                "auth", "The API refused the key. Set LLMOBS_API_KEY to a key of your project "
                "(`llmobs up` prints the default project's key; `llmobs keys create` makes another).", 401,
            )  # fmt: skip
        if resp.status_code in (400, 404, 409, 422):
            raise ApiError("rejected", _detail(resp), resp.status_code)
        if resp.status_code >= 400:
            raise ApiError("server", f"The llmobs API failed (HTTP {resp.status_code}): {_detail(resp)}", resp.status_code)
        return resp.json() if resp.content else None  # 204 after a delete

    def get(self, path: str, query: Params = ()) -> Any:
        return self.request("GET", path, query=query)

    def fetch_all(self, calls: list[Call]) -> list[Any]:
        """GET every call concurrently; the first failure is raised."""
        if len(calls) == 1:
            return [self.get(calls[0].path, calls[0].params)]
        with ThreadPoolExecutor(max_workers=min(len(calls), 6)) as ex:
            futures = [ex.submit(self.get, c.path, c.params) for c in calls]
            return [f.result() for f in futures]
