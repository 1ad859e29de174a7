"""One way to reach ClickHouse: clickhouse-connect, embedded (chDB) or server.

`chdb:///dir` opens the engine in this process (only one process may own a
directory); `http(s)://host:8123/db` talks to a server.  Same SQL either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


@dataclass(frozen=True, slots=True)
class ClickHouseTarget:
    dsn: str
    cluster: str | None = None
    database: str | None = None

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    @property
    def chdb_path(self) -> str | None:
        if not self.embedded:
            return None
        parsed = urlparse(self.dsn)
        return (parsed.netloc + parsed.path) or None


def connect(target: ClickHouseTarget) -> Client:
    """A new client.  Give each concurrent user (the writer, the API readers)
    its own: a client serialises its own calls."""
    if target.embedded:
        path = target.chdb_path
        if path and path != "memory":
            os.makedirs(path, exist_ok=True)
        client = clickhouse_connect.get_client(dsn=target.dsn)
    else:
        client = clickhouse_connect.get_client(dsn=target.dsn, compress="lz4", autogenerate_session_id=False)
    if target.database:
        # Unqualified table names in every query then mean llmobs' database.
        client.database = target.database
    return client
