"""The core imports only the standard library and ``cryptography`` (architecture.md):
importing it in a clean interpreter never pulls in fastapi, sqlalchemy, redis or httpx."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "redis", "httpx", "pydantic", "uvicorn")
CORE = (
    "tokenward",
    "tokenward.errors",
    "tokenward.clock",
    "tokenward.jose",
    "tokenward.jose.jws",
    "tokenward.keys",
    "tokenward.validation",
    "tokenward.tokens",
)


def imported_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("module", CORE)
def test_core_module_import_pulls_in_no_framework_or_driver(module: str) -> None:
    loaded = imported_after(f"import {module}")
    leaked = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert leaked == []


def test_public_api_import_pulls_in_no_framework_or_driver() -> None:
    loaded = imported_after(
        "from tokenward import Key, KeySet, jws, TokenIssuer, TokenValidator, ValidationPolicy\n"
        "k = Key.generate('ES256'); jws.verify(jws.sign(b'x', k), k.public())"
    )
    assert not {m.split(".")[0] for m in loaded} & set(FORBIDDEN)


def test_jose_and_keys_need_only_stdlib_and_cryptography() -> None:
    loaded = imported_after("import tokenward.jose, tokenward.keys")
    third_party = {
        m.split(".")[0]
        for m in loaded
        if m.split(".")[0] not in sys.stdlib_module_names
        # "_openssl" (cryptography's binding), "_distutils_hack" (setuptools .pth), __main__
        and not m.startswith(("tokenward", "_"))
    }
    assert third_party <= {"cryptography"}
