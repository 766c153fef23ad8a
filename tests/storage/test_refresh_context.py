"""RefreshStore.load_refresh_context contract: memory, SQLite and PostgreSQL alike.

One read returns what a refresh decides on: the token, its user, and the store's denylist
entries for the token's session (sid) and subject.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tokenward.storage.base import RefreshContext

from .records import NOW, make_refresh, make_user, successor


async def _token_of(store: Any, **user_changes: Any) -> tuple[Any, Any]:
    user = make_user(**user_changes)
    await store.create_user(user)
    record = make_refresh(user_id=user.id)
    await store.create_refresh(record)
    return user, record


async def test_context_carries_token_and_user_with_a_clean_denylist(store: Any) -> None:
    user, record = await _token_of(store, tokens_valid_after=NOW - 5, roles=("a", "b"))
    context = await store.load_refresh_context(record.id)
    assert context == RefreshContext(
        record=record, user=user, session_revoked=False, subject_revoked_before=None
    )
    assert not context.denylisted


async def test_context_of_a_consumed_or_revoked_token_shows_its_state(store: Any) -> None:
    _, record = await _token_of(store)
    new = successor(record)
    assert (await store.rotate(record.id, new, now=NOW + 60)).rotated
    used = await store.load_refresh_context(record.id)
    assert used.record == dataclasses.replace(record, used_at=NOW + 60, replaced_by=new.id)
    await store.revoke_family(record.family_id, now=NOW + 70, reason="logout")
    revoked = await store.load_refresh_context(new.id)
    assert (revoked.record.revoked_at, revoked.record.revoked_reason) == (NOW + 70, "logout")


async def test_context_reports_a_denied_session(store: Any) -> None:
    _, record = await _token_of(store)
    _, bystander = await _token_of(store, username="Bob")
    await store.revoke_session(record.family_id, expires_at=NOW + 3600)
    context = await store.load_refresh_context(record.id)
    assert context.session_revoked and context.denylisted
    assert not (await store.load_refresh_context(bystander.id)).session_revoked


@pytest.mark.parametrize(
    ("issued_before", "denied"),
    [(NOW + 1, True), (NOW, False), (NOW - 1, False)],
    ids=["token-older", "same-instant", "token-newer"],
)
async def test_context_reports_the_subject_cut_off(
    store: Any, issued_before: float, denied: bool
) -> None:
    # same rule as is_revoked(iat=created_at): rejected when created_at < issued_before
    user, record = await _token_of(store)
    await store.revoke_subject(user.id, issued_before=issued_before, expires_at=NOW + 3600)
    context = await store.load_refresh_context(record.id)
    assert context.subject_revoked_before == issued_before
    assert context.denylisted is denied
    args = {"issuer": "", "jti": "", "sid": None, "sub": user.id, "iat": record.created_at}
    assert await store.is_revoked(**args) is denied


async def test_context_of_a_token_whose_user_is_gone_has_no_user(store: Any) -> None:
    record = make_refresh(user_id="no-such-user")
    await store.create_refresh(record)
    context = await store.load_refresh_context(record.id)
    assert context is not None and context.record == record and context.user is None


async def test_context_user_claims_are_detached(store: Any) -> None:
    _, record = await _token_of(store)
    context = await store.load_refresh_context(record.id)
    context.user.claims["tenant"] = "mallory"
    again = await store.load_refresh_context(record.id)
    assert again.user.claims["tenant"] == "contoso"


@pytest.mark.parametrize("hostile", ["unknown", "", "a\x00b", "\ud800", "é" * 300])
async def test_unknown_or_hostile_ids_have_no_context_and_raise_nothing(
    store: Any, hostile: str
) -> None:
    await _token_of(store)
    assert await store.load_refresh_context(hostile) is None
