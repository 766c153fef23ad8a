"""The service with the SQL key store: rows sealed, wrong or missing KEK refuses start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from tokenward.errors import ConfigurationError
from tokenward.keyring import generate_kek
from tokenward.service import create_app, load_settings
from tokenward.sessions.passwords import PasswordHasher
from tokenward.storage.sql import create_engine, signing_keys

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/conftest.py


async def start_and_stop(tmp_path: Path, kek: str | None) -> None:
    keys: dict[str, str] = {"source": "sql"}
    if kek is not None:
        keys["kek"] = kek
    settings = load_settings(
        None, {"service": {"data_dir": str(tmp_path / "data")}, "keys": keys}, dev=True
    )
    app = create_app(settings, hasher=PasswordHasher.for_testing(), announce=lambda _: None)
    async with LifespanManager(app):
        pass


async def test_wrong_kek_refuses_start_up_clearly(tmp_path: Path) -> None:
    await start_and_stop(tmp_path, generate_kek())
    with pytest.raises(ConfigurationError) as info:
        await start_and_stop(tmp_path, generate_kek())
    assert info.value.description == "cannot decrypt signing keys: wrong key-encryption key?"


async def test_missing_kek_refuses_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="key-encryption key"):
        await start_and_stop(tmp_path, None)


async def test_service_rows_hold_no_plaintext_private_key(tmp_path: Path) -> None:
    await start_and_stop(tmp_path, generate_kek())
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tokenward.db'}")
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(signing_keys))).mappings().all()
    finally:
        await engine.dispose()
    assert sorted(r["state"] for r in rows) == ["active", "next"]
    for row in rows:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(json.loads(row["public_jwk"]))
        assert b"PRIVATE KEY" not in bytes(row["private_blob"])
        assert b'"d":' not in bytes(row["private_blob"])
