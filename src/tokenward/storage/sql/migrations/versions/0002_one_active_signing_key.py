"""signing_keys: at most one active key (partial unique index)

A database-level backstop for the key ring's own checks: a second row with state 'active'
is rejected with an integrity error, whatever code path writes it.

Revision ID: 0002_one_active_signing_key
Revises: 0001_initial
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tokenward.errors import ConfigurationError

revision: str = "0002_one_active_signing_key"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "uq_signing_keys_one_active"
_ACTIVE = "state = 'active'"


def upgrade() -> None:
    active = (
        op.get_bind()
        .execute(sa.text(f"SELECT kid FROM signing_keys WHERE {_ACTIVE} ORDER BY kid"))
        .scalars()
        .all()
    )
    if len(active) > 1:
        # fail with the reason (shown by `tokenward db upgrade`) instead of a bare
        # unique violation from CREATE INDEX; the transaction rolls back, nothing changes
        raise ConfigurationError(
            f"cannot add {_INDEX}: signing_keys has {len(active)} active keys "
            f"({', '.join(active)}); retire all but one, then upgrade again"
        )
    op.create_index(
        _INDEX,
        "signing_keys",
        ["state"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="signing_keys")
