"""KeyStore contract over FileKeyStore, SqlKeyStore/SQLite and SqlKeyStore/PostgreSQL,
plus the at-rest guarantees of each backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tokenward.errors import ConfigurationError, InvalidKey, StorageUnavailable
from tokenward.keyring import FileKeyStore, KeyState, KeyStore, SqlKeyStore, StoredKey
from tokenward.keyring.sql import generate_kek, parse_kek
from tokenward.storage.sql import create_engine, signing_keys

from .conftest import KEK, file_mode, sql_engine_for

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
NOW = 1_800_000_000.0


def stored(state: KeyState, *, alg: str = "ES256", at: float = NOW) -> StoredKey:
    return StoredKey.generate(alg, state, now=at)


async def test_empty_store_lists_nothing(store: KeyStore) -> None:
    assert list(await store.list_keys()) == []
    assert await store.get_key("nope") is None


async def test_put_and_read_back_the_private_key(store: KeyStore) -> None:
    record = stored(KeyState.NEXT, alg="RS256")
    await store.put_key(record)
    got = await store.get_key(record.kid)
    assert got is not None
    assert (got.kid, got.alg, got.state, got.created_at) == (
        record.kid,
        "RS256",
        KeyState.NEXT,
        NOW,
    )
    assert got.key.is_private
    # the key round-trips: a signature made with the original verifies with the loaded one
    signature = record.key.sign(b"payload")
    assert got.key.public().verify(b"payload", signature)


async def test_fresh_instance_sees_what_another_wrote(
    store_factory: Callable[[], KeyStore],
) -> None:
    a, b = store_factory(), store_factory()
    record = stored(KeyState.NEXT)
    await a.put_key(record)
    assert [k.kid for k in await b.list_keys()] == [record.kid]


async def test_duplicate_kid_is_refused(store: KeyStore) -> None:
    record = stored(KeyState.NEXT)
    await store.put_key(record)
    with pytest.raises(InvalidKey):
        await store.put_key(record)


async def test_a_second_active_key_is_refused(store: KeyStore) -> None:
    await store.put_key(stored(KeyState.ACTIVE))
    with pytest.raises(InvalidKey):
        await store.put_key(stored(KeyState.ACTIVE))


async def test_public_key_cannot_be_stored(store: KeyStore) -> None:
    record = stored(KeyState.NEXT)
    with pytest.raises(InvalidKey):
        await store.put_key(
            StoredKey(record.kid, record.alg, record.state, record.key.public(), NOW)
        )


async def test_update_state_is_compare_and_set(store: KeyStore) -> None:
    record = stored(KeyState.NEXT)
    await store.put_key(record)
    retired = record.with_state(KeyState.RETIRED, retired_at=NOW + 1, retire_after=NOW + 100)
    assert not await store.update_state(record.kid, expected=KeyState.ACTIVE, new=retired)
    assert await store.update_state(record.kid, expected=KeyState.NEXT, new=retired)
    got = await store.get_key(record.kid)
    assert got is not None
    assert (got.state, got.retired_at, got.retire_after) == (
        KeyState.RETIRED,
        NOW + 1,
        NOW + 100,
    )
    assert not await store.update_state("missing", expected=KeyState.NEXT, new=retired)


async def test_update_state_never_makes_a_key_active(store: KeyStore) -> None:
    record = stored(KeyState.NEXT)
    await store.put_key(record)
    with pytest.raises(InvalidKey):
        await store.update_state(
            record.kid, expected=KeyState.NEXT, new=record.with_state(KeyState.ACTIVE)
        )


async def test_delete(store: KeyStore) -> None:
    record = stored(KeyState.RETIRED)
    await store.put_key(record)
    assert await store.delete_key(record.kid)
    assert not await store.delete_key(record.kid)
    assert await store.get_key(record.kid) is None


async def test_initialize_only_once(store: KeyStore) -> None:
    a, an = stored(KeyState.ACTIVE), stored(KeyState.NEXT)
    assert await store.initialize(a, an)
    assert not await store.initialize(stored(KeyState.ACTIVE), stored(KeyState.NEXT))
    states = {k.kid: k.state for k in await store.list_keys()}
    assert states == {a.kid: KeyState.ACTIVE, an.kid: KeyState.NEXT}


async def test_concurrent_initialize_yields_one_active(
    store_factory: Callable[[], KeyStore],
) -> None:
    stores = [store_factory() for _ in range(4)]
    results = await asyncio.gather(
        *(s.initialize(stored(KeyState.ACTIVE), stored(KeyState.NEXT)) for s in stores)
    )
    assert sorted(results) == [False, False, False, True]
    keys = await stores[0].list_keys()
    assert [k.state for k in keys].count(KeyState.ACTIVE) == 1
    assert len(keys) == 2


def _rotation(active: StoredKey, nxt: StoredKey) -> tuple[StoredKey, StoredKey, StoredKey]:
    return (
        active.with_state(KeyState.RETIRED, retired_at=NOW + 10, retire_after=NOW + 1000),
        nxt.with_state(KeyState.ACTIVE, activated_at=NOW + 10),
        stored(KeyState.NEXT, at=NOW + 10),
    )


async def test_rotate_moves_all_three_states(store: KeyStore) -> None:
    a, n = stored(KeyState.ACTIVE), stored(KeyState.NEXT)
    await store.initialize(a, n)
    retired, promoted, new_next = _rotation(a, n)
    assert await store.rotate(active=retired, next_key=promoted, new_next=new_next)
    states = {k.kid: (k.state, k.retire_after) for k in await store.list_keys()}
    assert states == {
        a.kid: (KeyState.RETIRED, NOW + 1000),
        n.kid: (KeyState.ACTIVE, None),
        new_next.kid: (KeyState.NEXT, None),
    }


async def test_rotate_on_stale_view_changes_nothing(store: KeyStore) -> None:
    a, n = stored(KeyState.ACTIVE), stored(KeyState.NEXT)
    await store.initialize(a, n)
    retired, promoted, new_next = _rotation(a, n)
    assert await store.rotate(active=retired, next_key=promoted, new_next=new_next)
    _, _, other_next = _rotation(a, n)
    assert not await store.rotate(active=retired, next_key=promoted, new_next=other_next)
    kids = {k.kid for k in await store.list_keys()}
    assert other_next.kid not in kids
    assert len(kids) == 3


async def test_concurrent_rotations_never_produce_two_actives(
    store_factory: Callable[[], KeyStore],
) -> None:
    a, n = stored(KeyState.ACTIVE), stored(KeyState.NEXT)
    first = store_factory()
    await first.initialize(a, n)
    stores = [store_factory() for _ in range(4)]
    results = await asyncio.gather(
        *(
            s.rotate(active=r, next_key=p, new_next=nn)
            for s, (r, p, nn) in zip(stores, [_rotation(a, n) for _ in stores], strict=True)
        )
    )
    assert results.count(True) == 1
    keys = await first.list_keys()
    assert [k.state for k in keys].count(KeyState.ACTIVE) == 1
    assert len(keys) == 3  # exactly one new next key was inserted


# --- file backend at rest --- #


async def test_file_store_permissions_and_layout(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    store = FileKeyStore(directory)
    record = stored(KeyState.NEXT)
    await store.put_key(record)
    assert file_mode(directory) == 0o700
    (key_file,) = directory.glob("*.jwk")
    assert file_mode(key_file) == 0o600
    index = json.loads((directory / "keyring.json").read_text())
    assert index["keys"][record.kid]["state"] == "next"
    assert not any(m in json.dumps(index) for m in ('"d"', "PRIVATE"))
    assert not list(directory.glob(".*.tmp"))  # atomic writes leave no temp files


async def test_file_store_refuses_group_readable_private_key(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    record = stored(KeyState.NEXT)
    await store.put_key(record)
    (key_file,) = tmp_path.glob("*.jwk")
    key_file.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        await FileKeyStore(tmp_path).list_keys()


async def test_file_store_corrupt_index_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "keyring.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="key index"):
        await FileKeyStore(tmp_path).list_keys()


# --- SQL backend at rest --- #


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def sql_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    return sql_engine_for(request, request.param)


async def test_sql_rows_never_hold_a_plaintext_private_key(sql_engine: AsyncEngine) -> None:
    store = SqlKeyStore(sql_engine, KEK)
    records = [stored(KeyState.ACTIVE, alg="RS256"), stored(KeyState.NEXT, alg="ES256")]
    await store.initialize(*records)
    async with sql_engine.connect() as conn:
        rows = (await conn.execute(sa.select(signing_keys))).mappings().all()
    assert len(rows) == 2
    for row in rows:
        public = json.loads(row["public_jwk"])
        assert not set(public) & set(PRIVATE_MEMBERS)
        blob = bytes(row["private_blob"])
        everything = repr(dict(row)).encode() + blob
        assert b"PRIVATE KEY" not in everything
        record = next(r for r in records if r.kid == row["kid"])
        private = record.key.to_jwk(private=True)
        for member in ("d", "p", "q"):
            if member in private:
                assert private[member].encode() not in everything
        assert b'"d"' not in blob
        assert blob[0] == 1 and len(blob) > 1 + 12 + 16


async def test_sql_wrong_kek_fails_clearly(sql_engine: AsyncEngine) -> None:
    await SqlKeyStore(sql_engine, KEK).put_key(stored(KeyState.NEXT))
    wrong = SqlKeyStore(sql_engine, bytes(32))
    with pytest.raises(ConfigurationError, match="wrong key-encryption key"):
        await wrong.list_keys()


async def test_sql_blob_swapped_between_rows_does_not_decrypt(sql_engine: AsyncEngine) -> None:
    a, b = stored(KeyState.NEXT), stored(KeyState.NEXT)
    store = SqlKeyStore(sql_engine, KEK)
    await store.put_key(a)
    await store.put_key(b)
    async with sql_engine.begin() as conn:
        blob_a = (
            await conn.execute(
                sa.select(signing_keys.c.private_blob).where(signing_keys.c.kid == a.kid)
            )
        ).scalar_one()
        await conn.execute(
            sa.update(signing_keys).where(signing_keys.c.kid == b.kid).values(private_blob=blob_a)
        )
    with pytest.raises(ConfigurationError, match="wrong key-encryption key"):
        await SqlKeyStore(sql_engine, KEK).get_key(b.kid)


@pytest.mark.parametrize("kek", [b"", b"short", bytes(31), bytes(33), "x" * 32])
def test_sql_store_refuses_to_exist_without_a_32_byte_kek(
    sqlite_engine: AsyncEngine, kek: object
) -> None:
    with pytest.raises(ConfigurationError, match="key-encryption key"):
        SqlKeyStore(sqlite_engine, kek)  # type: ignore[arg-type]


async def test_sql_unreachable_database_is_storage_unavailable() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StorageUnavailable):
            await SqlKeyStore(engine, KEK).list_keys()
    finally:
        await engine.dispose()


def test_parse_kek_accepts_hex_and_base64_and_refuses_the_rest() -> None:
    raw = bytes(range(32))
    assert parse_kek(raw.hex()) == raw
    assert parse_kek(generate_kek()) != parse_kek(generate_kek())
    assert len(parse_kek(generate_kek())) == 32
    import base64

    assert parse_kek(base64.b64encode(raw).decode()) == raw
    for bad in ("", "abc", "z" * 64, base64.b64encode(bytes(16)).decode()):
        with pytest.raises(ConfigurationError):
            parse_kek(bad)


async def test_file_store_os_errors_are_storage_unavailable(tmp_path: Path) -> None:
    """A raw OSError (here: the key directory's parent is a file, so mkdir/flock fail) must
    surface as StorageUnavailable, the one error the key poller and the CLI expect."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = FileKeyStore(blocker / "keys")
    with pytest.raises(StorageUnavailable) as caught:
        await store.put_key(stored(KeyState.NEXT))
    assert "ENOTDIR" in caught.value.description
    with pytest.raises(StorageUnavailable):
        await store.initialize(stored(KeyState.ACTIVE), stored(KeyState.NEXT))


async def test_sql_pool_timeout_is_storage_unavailable(tmp_path: Path) -> None:
    """sqlalchemy.exc.TimeoutError (pool exhausted) is no DBAPIError: still StorageUnavailable."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from tokenward.storage.sql import metadata

    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.01,
    )
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        store = SqlKeyStore(engine, KEK)
        async with engine.connect():  # holds the only pooled connection
            with pytest.raises(StorageUnavailable, match="TimeoutError"):
                await store.list_keys()
            with pytest.raises(StorageUnavailable):
                await store.put_key(stored(KeyState.NEXT))
    finally:
        await engine.dispose()
