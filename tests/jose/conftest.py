"""Keys shared by the JOSE tests (generated once per session: RSA generation is slow)."""

from __future__ import annotations

import pytest
from forge import ALGS

from tokenward import Key


@pytest.fixture(scope="session")
def keys() -> dict[str, Key]:
    """One private key per algorithm, kid = the algorithm name."""
    return {alg: Key.generate(alg, kid=alg) for alg in ALGS}
