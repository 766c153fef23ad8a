"""UserStore contract: memory, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tokenward.errors import UserExists, UserNotFound

from .records import NOW, make_refresh, make_user


async def test_create_and_get_round_trips_every_field(store: Any) -> None:
    user = make_user(tokens_valid_after=1_700_000_000.5, disabled=True)
    await store.create_user(user)
    assert await store.get_user(user.id) == user
    assert await store.get_user_by_username("alice") == user


async def test_unknown_user_is_none(store: Any) -> None:
    assert await store.get_user("nope") is None
    assert await store.get_user_by_username("nobody") is None


async def test_username_key_is_unique(store: Any) -> None:
    await store.create_user(make_user("alice"))
    with pytest.raises(UserExists):
        await store.create_user(make_user("ALICE"))
    assert len(await store.list_users()) == 1


async def test_update_replaces_record(store: Any) -> None:
    user = make_user()
    await store.create_user(user)
    changed = dataclasses.replace(
        user,
        roles=("admin", "reader"),
        claims={"tenant": "fabrikam"},
        disabled=True,
        tokens_valid_after=1_800_000_100.0,
        password_hash="$argon2id$new",
    )
    await store.update_user(changed)
    assert await store.get_user(user.id) == changed


async def test_update_can_rename_and_frees_old_key(store: Any) -> None:
    user = make_user("alice")
    await store.create_user(user)
    await store.update_user(dataclasses.replace(user, username="Alicia", username_key="alicia"))
    assert await store.get_user_by_username("alice") is None
    assert (await store.get_user_by_username("alicia")) is not None
    await store.create_user(make_user("alice"))


async def test_update_to_taken_username_raises(store: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    await store.create_user(alice)
    await store.create_user(bob)
    with pytest.raises(UserExists):
        await store.update_user(dataclasses.replace(bob, username_key="alice"))
    assert await store.get_user(bob.id) == bob


async def test_update_unknown_user_raises(store: Any) -> None:
    with pytest.raises(UserNotFound):
        await store.update_user(make_user())


async def test_list_users(store: Any) -> None:
    users = [make_user(f"user{i}", created_at=1_800_000_000.0 + i) for i in range(3)]
    for user in users:
        await store.create_user(user)
    assert sorted(await store.list_users(), key=lambda u: u.username) == users


async def test_returned_claims_are_detached(store: Any) -> None:
    user = make_user()
    await store.create_user(user)
    got = await store.get_user(user.id)
    got.claims["tenant"] = "mallory"
    assert (await store.get_user(user.id)).claims["tenant"] == "contoso"


@pytest.mark.parametrize("hostile", ["a\x00b", "\ud800", "é" * 300])
async def test_hostile_lookups_find_nothing_and_raise_nothing(store: Any, hostile: str) -> None:
    # usernames come straight from a login form; refresh selectors from a request body
    assert await store.get_user_by_username(hostile) is None
    assert await store.get_user(hostile) is None
    assert await store.get_refresh(hostile) is None
    assert await store.get_family(hostile) is None
    assert not (await store.rotate(hostile, make_refresh(), now=NOW)).rotated
    assert not await store.is_revoked(issuer=hostile, jti=hostile, sid=hostile, sub=hostile, iat=0)
