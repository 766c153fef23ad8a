"""Network round trips per operation on PostgreSQL, counted by a TCP proxy (issue 3 sec. 6).

Every client->server burst the proxy sees is one round trip (a burst split by TCP can only
over-count), so these tests can only pass if the claimed bounds really hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tokenward.storage.sql import SqlStore, create_engine

from .conftest import open_sql_store
from .records import NOW, make_refresh, successor


@dataclass
class Proxy:
    port: int = 0
    bursts: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, on_data: Any) -> None:
    try:
        while data := await reader.read(65536):
            on_data()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def pg_proxy(pg_url: str) -> AsyncIterator[Proxy]:
    target = make_url(pg_url)
    proxy = Proxy()

    def count() -> None:
        proxy.bursts += 1

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(target.host, target.port or 5432)
        for task in (
            asyncio.create_task(_pump(client_r, server_w, count)),
            asyncio.create_task(_pump(server_r, client_w, lambda: None)),
        ):
            proxy.tasks.add(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for task in proxy.tasks:
            task.cancel()
        await asyncio.gather(*proxy.tasks, return_exceptions=True)
        await server.wait_closed()


@pytest.fixture
async def proxied_store(
    pg_url: str, unique_prefix: str, pg_proxy: Proxy
) -> AsyncIterator[SqlStore]:
    async with open_sql_store(pg_url, unique_prefix):
        url = make_url(pg_url).set(host="127.0.0.1", port=pg_proxy.port)
        engine = create_engine(url, schema=unique_prefix, pool_size=1, max_overflow=0)
        try:
            yield SqlStore(engine)
        finally:
            await engine.dispose()


async def _rotate_once(store: SqlStore) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    looked_up = await store.get_refresh(old.id)
    assert looked_up is not None
    assert (await store.rotate(old.id, successor(looked_up), now=NOW + 60)).rotated


async def test_rotation_costs_two_round_trips(proxied_store: SqlStore, pg_proxy: Proxy) -> None:
    await _rotate_once(proxied_store)  # warm up: connect, type codecs, prepared statements
    old = make_refresh()
    await proxied_store.create_refresh(old)
    before = pg_proxy.bursts
    looked_up = await proxied_store.get_refresh(old.id)
    assert looked_up is not None
    assert (await proxied_store.rotate(old.id, successor(looked_up), now=NOW + 60)).rotated
    assert pg_proxy.bursts - before <= 2


async def test_revocation_check_is_one_round_trip(proxied_store: SqlStore, pg_proxy: Proxy) -> None:
    args: dict[str, Any] = {"issuer": "i", "jti": "j", "sid": "s", "sub": "u", "iat": NOW}
    await proxied_store.revoke_session("s", expires_at=NOW + 60)
    assert await proxied_store.is_revoked(**args)  # warm up
    before = pg_proxy.bursts
    assert await proxied_store.is_revoked(**args)
    assert pg_proxy.bursts - before == 1


async def test_proxy_counts_transaction_round_trips(
    proxied_store: SqlStore, pg_proxy: Proxy
) -> None:
    # the meter itself: an explicit transaction (BEGIN, 2 UPDATEs, COMMIT) shows up as such
    old = make_refresh()
    await proxied_store.create_refresh(old)
    await proxied_store.revoke_family(old.family_id, now=NOW, reason="warm-up")
    before = pg_proxy.bursts
    await proxied_store.revoke_family(old.family_id, now=NOW, reason="again")
    assert pg_proxy.bursts - before >= 4
