"""``signing_keys``: the database itself allows at most one active key (migration 0002)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tokenward.errors import ConfigurationError
from tokenward.storage.sql import create_engine, current_revision, head_revision, upgrade_database
from tokenward.storage.sql.models import signing_keys

from .conftest import SQL_BACKENDS

pytestmark = pytest.mark.parametrize("backend", SQL_BACKENDS)


def _key(kid: str, state: str) -> dict[str, Any]:
    return {
        "kid": kid,
        "alg": "EdDSA",
        "state": state,
        "public_jwk": "{}",
        "private_blob": None,
        "created_at": 1_800_000_000.0,
    }


@pytest.fixture
async def engine(migrated_db: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    url, schema = migrated_db
    engine = create_engine(url, schema=schema)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _insert(engine: AsyncEngine, *rows: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(signing_keys), list(rows))


async def _states(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(signing_keys.c.kid, signing_keys.c.state))
        return {kid: state for kid, state in rows}


async def test_second_active_key_is_an_integrity_error(engine: AsyncEngine) -> None:
    await _insert(engine, _key("k1", "active"))
    with pytest.raises(sa.exc.IntegrityError):
        await _insert(engine, _key("k2", "active"))
    assert await _states(engine) == {"k1": "active"}


async def test_promoting_a_second_key_is_an_integrity_error(engine: AsyncEngine) -> None:
    await _insert(engine, _key("k1", "active"), _key("k2", "next"))
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(signing_keys).where(signing_keys.c.kid == "k2").values(state="active")
            )
    assert await _states(engine) == {"k1": "active", "k2": "next"}


async def test_only_active_is_unique_and_retire_then_promote_works(engine: AsyncEngine) -> None:
    # the index is partial: any number of next / retired keys may coexist
    await _insert(
        engine,
        _key("r1", "retired"),
        _key("r2", "retired"),
        _key("k1", "active"),
        _key("n1", "next"),
        _key("n2", "next"),
    )
    # the key ring's rotation order: retire the active key, then promote the next one
    async with engine.begin() as conn:
        for kid, state in (("k1", "retired"), ("n1", "active")):
            await conn.execute(
                sa.update(signing_keys).where(signing_keys.c.kid == kid).values(state=state)
            )
    assert await _states(engine) == {
        "r1": "retired",
        "r2": "retired",
        "k1": "retired",
        "n1": "active",
        "n2": "next",
    }


async def test_upgrade_refuses_two_active_keys_then_succeeds_once_fixed(
    empty_db: tuple[str, str | None],
) -> None:
    url, schema = empty_db
    await upgrade_database(url, schema=schema, revision="0001_initial")
    engine = create_engine(url, schema=schema)
    try:
        await _insert(engine, _key("k1", "active"), _key("k2", "active"))
        with pytest.raises(ConfigurationError, match="2 active keys"):
            await upgrade_database(url, schema=schema)
        assert await current_revision(url, schema=schema) == "0001_initial"
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(signing_keys).where(signing_keys.c.kid == "k2").values(state="retired")
            )
        await upgrade_database(url, schema=schema)
        assert await current_revision(url, schema=schema) == head_revision()
        assert await _states(engine) == {"k1": "active", "k2": "retired"}
        with pytest.raises(sa.exc.IntegrityError):
            await _insert(engine, _key("k3", "active"))
    finally:
        await engine.dispose()
