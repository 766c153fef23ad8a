"""Rotation races (security profile sec. 4.2, tests R2 and R3) on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from tokenward.storage.base import RefreshRecord
from tokenward.storage.sql import create_engine

from .conftest import StoreFactory
from .records import NOW, make_refresh, successor


def _live(records: list[RefreshRecord]) -> list[RefreshRecord]:
    return [r for r in records if r.used_at is None and r.revoked_at is None]


def _pool(make_store: StoreFactory, backend: str, stores: int) -> list[Any]:
    """Two SqlStores on separate engines model two service instances on one database."""
    return [make_store() for _ in range(stores if backend != "memory" else 1)]


@pytest.mark.parametrize("stores", [1, 2], ids=["one-instance", "two-instances"])
async def test_r2_twenty_concurrent_rotations_have_one_winner(
    make_store: StoreFactory, backend: str, stores: int
) -> None:
    pool = _pool(make_store, backend, stores)
    old = make_refresh()
    await pool[0].create_refresh(old)
    candidates = [successor(old) for _ in range(20)]
    outcomes = await asyncio.gather(
        *(pool[i % len(pool)].rotate(old.id, new, now=NOW + 60) for i, new in enumerate(candidates))
    )
    winners = [new for new, outcome in zip(candidates, outcomes, strict=True) if outcome.rotated]
    assert len(winners) == 1
    records = await pool[0].list_user_refresh(old.user_id)
    assert _live(records) == winners  # never two live successors
    assert sorted(r.id for r in records) == sorted([old.id, winners[0].id])
    consumed = await pool[0].get_refresh(old.id)
    assert consumed.replaced_by == winners[0].id
    losers = [o for o in outcomes if not o.rotated]
    assert all(o.old is not None and o.old.replaced_by == winners[0].id for o in losers)


@pytest.mark.parametrize("stores", [1, 2], ids=["one-instance", "two-instances"])
async def test_twenty_concurrent_grace_siblings_have_one_winner(
    make_store: StoreFactory, backend: str, stores: int
) -> None:
    pool = _pool(make_store, backend, stores)
    old = make_refresh()
    await pool[0].create_refresh(old)
    child = successor(old)
    assert (await pool[0].rotate(old.id, child, now=NOW + 60)).rotated
    candidates = [successor(old, now=NOW + 61) for _ in range(20)]
    won = await asyncio.gather(
        *(
            pool[i % len(pool)].create_grace_sibling(old.id, new, now=NOW + 61)
            for i, new in enumerate(candidates)
        )
    )
    winners = [new for new, ok in zip(candidates, won, strict=True) if ok]
    assert len(winners) == 1
    records = await pool[0].list_user_refresh(old.user_id)
    assert sorted(r.id for r in _live(records)) == sorted([child.id, winners[0].id])
    assert (await pool[0].get_refresh(old.id)).grace_child == winners[0].id


async def _wait_for_lock_wait(url: str, schema: str) -> None:
    """Poll pg_locks until a session working in ``schema`` waits on a lock (bounded)."""
    query = sa.text(
        "SELECT count(*) FROM pg_locks w WHERE NOT w.granted AND w.pid IN ("
        " SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema)"
    )
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            for _ in range(1000):
                if (await conn.execute(query, {"schema": schema})).scalar_one():
                    return
                await conn.rollback()
                await asyncio.sleep(0.005)  # polling a condition, not timing a race
    finally:
        await engine.dispose()
    raise AssertionError("the family revocation never waited for the rotation's lock")


@pytest.mark.parametrize("scope", ["family", "user"])
async def test_r3_revoke_while_rotation_in_flight(
    make_store: StoreFactory, backend: str, request: pytest.FixtureRequest, scope: str
) -> None:
    paused, release = asyncio.Event(), asyncio.Event()

    async def hold_before_commit() -> None:
        paused.set()
        await release.wait()

    store = make_store(rotate_hook=hold_before_commit)
    old = make_refresh()
    await store.create_refresh(old)
    new = successor(old)
    rotation = asyncio.create_task(store.rotate(old.id, new, now=NOW + 60))
    await paused.wait()  # old consumed and new written, not yet committed
    if scope == "family":
        revoke = store.revoke_family(old.family_id, now=NOW + 61, reason="reuse")
    else:
        revoke = store.revoke_user_families(old.user_id, now=NOW + 61, reason="logout_all")
    revocation = asyncio.create_task(revoke)
    if backend == "postgres":
        url, schema = request.getfixturevalue("db_target")
        await _wait_for_lock_wait(url, schema)
    else:
        for _ in range(10):  # let the revocation reach its lock
            await asyncio.sleep(0)
        assert not revocation.done()
    release.set()
    await asyncio.gather(rotation, revocation)
    assert _live(list(await store.list_user_refresh(old.user_id))) == []
    refused = await store.rotate(new.id, successor(new), now=NOW + 62)
    assert not refused.rotated


async def test_r3_rotation_after_revocation_stores_nothing(store: Any) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    looked_up = await store.get_refresh(old.id)  # the service's read ...
    await store.revoke_family(old.family_id, now=NOW + 1, reason="reuse")
    new = successor(looked_up)  # ... then its write
    assert not (await store.rotate(old.id, new, now=NOW + 2)).rotated
    assert await store.get_refresh(new.id) is None


@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_rotation_is_one_autocommit_statement(make_store: StoreFactory) -> None:
    store = make_store()
    old = make_refresh()
    await store.create_refresh(old)
    seen: list[tuple[str, Any]] = []

    def count(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement, conn.get_execution_options().get("isolation_level")))

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        looked_up = await store.get_refresh(old.id)
        outcome = await store.rotate(old.id, successor(looked_up), now=NOW + 60)
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert outcome.rotated
    # the look-up plus one CTE, both in autocommit (no BEGIN/COMMIT round trips)
    assert len(seen) == 2
    assert all(level == "AUTOCOMMIT" for _, level in seen)
    assert seen[1][0].lstrip().upper().startswith("WITH")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_rotation_is_one_immediate_write_transaction(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    old = make_refresh()
    await store.create_refresh(old)
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()).upper())

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        outcome = await store.rotate(old.id, successor(old), now=NOW + 60)
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert outcome.rotated and outcome.old == old
    # the write lock up front, the claim returns the old row (no separate SELECT), then the
    # successor; COMMIT goes through the driver's commit(), not a statement
    assert seen[0] == "BEGIN IMMEDIATE", seen
    assert [s.split()[0] for s in seen[1:]] == ["UPDATE", "INSERT"], seen
    assert "RETURNING" in seen[1]
