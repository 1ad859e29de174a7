"""Where the dashboard finds the API, read from the one settings module
(`LLMOBS_API_URL`, `LLMOBS_API_KEY`, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from collector.settings import Settings

KEY_FILE = "default-api-key"


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    api_url: str
    api_key: str | None
    timeout_s: float
    cache_s: float
    otlp_http: str
    otlp_grpc: str


def load() -> DashboardConfig:
    s = Settings()
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
    key = s.api_key
    key_path = s.data_dir / KEY_FILE
    if not key and key_path.exists():
        key = key_path.read_text().strip() or None
    api_url = (s.api_url or f"http://{host}:{s.api_port}").rstrip("/")
    # Senders reach OTLP on the API's host (same server process).
    host = urlsplit(api_url).hostname or host
    return DashboardConfig(
        api_url=api_url,
        api_key=key,
        timeout_s=s.dashboard_api_timeout_seconds,
        cache_s=s.dashboard_cache_seconds,
        otlp_http=f"http://{host}:{s.otlp_http_port}",
        otlp_grpc=f"http://{host}:{s.otlp_grpc_port}",
    )
