"""``tokenward.keys`` exports ``RemoteKeySet`` without importing httpx (or asyncio) early."""

from __future__ import annotations

import json
import subprocess
import sys

import tokenward.keys
from tokenward.keys import RemoteKeySet
from tokenward.keys.remote import RemoteKeySet as RemoteKeySetFromModule


def test_remote_key_set_is_exported_by_tokenward_keys() -> None:
    assert RemoteKeySet is RemoteKeySetFromModule
    assert "RemoteKeySet" in tokenward.keys.__all__


def test_importing_and_constructing_a_remote_key_set_imports_neither_httpx_nor_asyncio() -> None:
    code = (
        "import sys, json\n"
        "from tokenward.keys import RemoteKeySet\n"
        "RemoteKeySet('https://idp.example/jwks.json')\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert "httpx" not in loaded
    assert "asyncio" not in loaded  # imported on the first fetch only
