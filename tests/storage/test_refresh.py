"""RefreshStore contract: memory, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tokenward.storage.base import FamilyRecord, RefreshRecord

from .records import ABSOLUTE, IDLE, NOW, make_refresh, successor


async def test_create_and_get_round_trips_every_field(store: Any) -> None:
    record = make_refresh()
    await store.create_refresh(record)
    assert await store.get_refresh(record.id) == record
    assert await store.get_refresh("unknown") is None


async def test_rotate_consumes_old_and_stores_new(store: Any) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    new = successor(old)
    outcome = await store.rotate(old.id, new, now=NOW + 60)
    assert outcome.rotated
    assert outcome.old == old  # the record as it was before the call
    assert await store.get_refresh(new.id) == new
    consumed = await store.get_refresh(old.id)
    assert consumed == dataclasses.replace(old, used_at=NOW + 60, replaced_by=new.id)


async def test_second_rotation_is_refused_and_reports_reuse(store: Any) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    first = successor(old)
    assert (await store.rotate(old.id, first, now=NOW + 60)).rotated
    second = successor(old)
    outcome = await store.rotate(old.id, second, now=NOW + 61)
    assert not outcome.rotated
    assert outcome.old is not None and outcome.old.used_at == NOW + 60
    assert outcome.old.replaced_by == first.id
    assert await store.get_refresh(second.id) is None


async def test_rotate_unknown_token(store: Any) -> None:
    outcome = await store.rotate("missing", make_refresh(), now=NOW)
    assert outcome == type(outcome)(rotated=False, old=None)


async def test_rotate_refuses_idle_expired_token(store: Any) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    new = successor(old, now=NOW + IDLE)
    assert not (await store.rotate(old.id, new, now=NOW + IDLE)).rotated
    assert await store.get_refresh(new.id) is None


async def test_rotate_refuses_token_past_family_lifetime(store: Any) -> None:
    old = make_refresh(expires_at=NOW + 2 * ABSOLUTE)
    await store.create_refresh(old)
    new = successor(old, now=NOW + ABSOLUTE)
    assert not (await store.rotate(old.id, new, now=NOW + ABSOLUTE)).rotated
    assert await store.get_refresh(new.id) is None


async def test_rotate_refuses_revoked_family(store: Any) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    assert await store.revoke_family(old.family_id, now=NOW + 1, reason="logout") == 1
    new = successor(old)
    outcome = await store.rotate(old.id, new, now=NOW + 60)
    assert not outcome.rotated
    assert outcome.old is not None and outcome.old.revoked_reason == "logout"
    assert await store.get_refresh(new.id) is None


async def test_rotate_refuses_successor_in_another_family(store: Any) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    other = make_refresh()
    await store.create_refresh(other)
    stray = successor(other)
    assert not (await store.rotate(old.id, stray, now=NOW + 60)).rotated
    assert (await store.get_refresh(old.id)).used_at is None


async def _consumed(store: Any) -> RefreshRecord:
    """A token rotated at NOW + 60 (the parent a grace replay presents)."""
    old = make_refresh()
    await store.create_refresh(old)
    assert (await store.rotate(old.id, successor(old), now=NOW + 60)).rotated
    parent: RefreshRecord = await store.get_refresh(old.id)
    return parent


async def test_grace_sibling_is_stored_at_most_once(store: Any) -> None:
    parent = await _consumed(store)
    sibling = successor(parent, now=NOW + 61)
    assert await store.create_grace_sibling(parent.id, sibling, now=NOW + 61)
    assert await store.get_refresh(sibling.id) == sibling
    assert (await store.get_refresh(parent.id)) == dataclasses.replace(
        parent, grace_child=sibling.id
    )
    second = successor(parent, now=NOW + 62)
    assert not await store.create_grace_sibling(parent.id, second, now=NOW + 62)
    assert await store.get_refresh(second.id) is None
    assert (await store.get_refresh(parent.id)).grace_child == sibling.id


async def _unused(store: Any, parent: RefreshRecord) -> RefreshRecord:
    fresh = make_refresh()
    await store.create_refresh(fresh)
    return fresh


async def _revoked_family(store: Any, parent: RefreshRecord) -> RefreshRecord:
    await store.revoke_family(parent.family_id, now=NOW + 61, reason="reuse")
    return parent


async def _unknown(store: Any, parent: RefreshRecord) -> RefreshRecord:
    return dataclasses.replace(parent, id="unknown")


async def _other_family(store: Any, parent: RefreshRecord) -> RefreshRecord:
    return await _consumed(store)


@pytest.mark.parametrize(
    ("case", "now"),
    [
        (_unused, NOW + 61),
        (_revoked_family, NOW + 62),
        (_unknown, NOW + 61),
        (_other_family, NOW + 61),
        (None, NOW + ABSOLUTE),  # past the family's lifetime
    ],
    ids=["unused-parent", "revoked-family", "unknown-parent", "other-family", "expired-family"],
)
async def test_grace_sibling_refused(store: Any, case: Any, now: float) -> None:
    parent = await _consumed(store)
    target = parent if case is None else await case(store, parent)
    sibling = successor(parent, now=now)
    assert not await store.create_grace_sibling(target.id, sibling, now=now)
    assert await store.get_refresh(sibling.id) is None


async def test_revoke_family_revokes_every_token(store: Any) -> None:
    r1 = make_refresh()
    await store.create_refresh(r1)
    r2 = successor(r1)
    await store.rotate(r1.id, r2, now=NOW + 60)
    bystander = make_refresh(user_id=r1.user_id)
    await store.create_refresh(bystander)
    assert await store.revoke_family(r1.family_id, now=NOW + 90, reason="reuse") == 2
    for rid in (r1.id, r2.id):
        record = await store.get_refresh(rid)
        assert record.revoked_at == NOW + 90 and record.revoked_reason == "reuse"
    assert (await store.get_refresh(bystander.id)).revoked_at is None
    # idempotent: nothing left to change
    assert await store.revoke_family(r1.family_id, now=NOW + 91, reason="again") == 0
    assert (await store.get_refresh(r1.id)).revoked_reason == "reuse"


async def test_revoke_user_families(store: Any) -> None:
    a, b = make_refresh(user_id="u1"), make_refresh(user_id="u1")
    other = make_refresh(user_id="u2")
    for record in (a, b, other):
        await store.create_refresh(record)
    ids = await store.revoke_user_families("u1", now=NOW + 5, reason="logout_all")
    assert sorted(ids) == sorted([a.family_id, b.family_id])
    assert all(r.revoked_at == NOW + 5 for r in await store.list_user_refresh("u1"))
    assert (await store.get_refresh(other.id)).revoked_at is None
    assert await store.revoke_user_families("u1", now=NOW + 6, reason="again") == []


async def test_list_user_refresh(store: Any) -> None:
    mine = [make_refresh(user_id="u1", now=NOW + i) for i in range(3)]
    for record in [*mine, make_refresh(user_id="u2")]:
        await store.create_refresh(record)
    listed = await store.list_user_refresh("u1")
    assert sorted(listed, key=lambda r: r.created_at) == mine


async def test_prune_refresh_drops_expired_families_only(store: Any) -> None:
    dead = make_refresh(family_expires_at=NOW + 10, expires_at=NOW + 10)
    live = make_refresh()
    await store.create_refresh(dead)
    await store.create_refresh(live)
    assert await store.prune_refresh(now=NOW + 10) == 1
    assert await store.get_refresh(dead.id) is None
    assert await store.get_refresh(live.id) == live
    # the family id can start over after pruning
    reborn = make_refresh(family_id=dead.family_id)
    await store.create_refresh(reborn)
    assert (await store.rotate(reborn.id, successor(reborn), now=NOW + 20)).rotated


async def test_get_family_reports_the_absolute_expiry(store: Any) -> None:
    first = make_refresh(user_id="u1")
    await store.create_refresh(first)
    later = successor(first, now=NOW + 600)
    assert (await store.rotate(first.id, later, now=NOW + 600)).rotated
    # the family keeps its first token's times; later tokens do not extend it
    expected = FamilyRecord(
        id=first.family_id,
        user_id="u1",
        created_at=NOW,
        expires_at=NOW + ABSOLUTE,
        revoked_at=None,
    )
    assert await store.get_family(first.family_id) == expected
    assert await store.get_family("unknown") is None


async def test_get_family_reports_revocation(store: Any) -> None:
    a, b = make_refresh(user_id="u1"), make_refresh(user_id="u1")
    for record in (a, b):
        await store.create_refresh(record)
    await store.revoke_family(a.family_id, now=NOW + 5, reason="logout")
    assert (await store.get_family(a.family_id)).revoked_at == NOW + 5
    assert (await store.get_family(b.family_id)).revoked_at is None
    await store.revoke_user_families("u1", now=NOW + 7, reason="logout_all")
    assert (await store.get_family(a.family_id)).revoked_at == NOW + 5  # first revocation kept
    assert (await store.get_family(b.family_id)).revoked_at == NOW + 7


async def test_pruned_family_is_gone(store: Any) -> None:
    dead = make_refresh(family_expires_at=NOW + 10, expires_at=NOW + 10)
    live = make_refresh()
    for record in (dead, live):
        await store.create_refresh(record)
    await store.prune_refresh(now=NOW + 10)
    assert await store.get_family(dead.family_id) is None
    assert (await store.get_family(live.family_id)).expires_at == live.family_expires_at
