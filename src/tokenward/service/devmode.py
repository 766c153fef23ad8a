"""Development mode (``tokenward serve --dev``): the demo user.

The data dir (``./.tokenward/``), SQLite database, migrations and generated keys come from
:func:`~tokenward.service.runtime.open_runtime` with ``service.dev`` set; this module only adds
the demo user ``alice`` (role ``Admin``, claim ``tenant=contoso``). Her random password is
shown once, when she is created, and stored only as an Argon2id hash.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from tokenward.errors import UserExists

__all__ = ["DEMO_CLAIMS", "DEMO_ROLES", "DEMO_USER", "ensure_demo_user"]

DEMO_USER = "alice"
DEMO_ROLES = ("Admin",)
DEMO_CLAIMS = {"tenant": "contoso"}


async def ensure_demo_user(runtime: Any, *, announce: Callable[[str], Any] = print) -> str | None:
    """Create ``alice`` if she does not exist; return (and announce) her new password.

    Returns None when she already exists (the password was shown at first start).
    """
    from tokenward.sessions import normalize_username

    if await runtime.store.get_user_by_username(normalize_username(DEMO_USER)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    try:
        await runtime.auth.create_user(
            DEMO_USER, password, roles=DEMO_ROLES, claims=dict(DEMO_CLAIMS)
        )
    except UserExists:  # another instance created her first
        return None
    announce(
        f"tokenward dev mode: demo user '{DEMO_USER}' (role Admin, tenant=contoso) "
        f"password: {password}  (shown once; stored only as an Argon2id hash)"
    )
    return password
