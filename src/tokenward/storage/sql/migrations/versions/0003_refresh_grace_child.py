"""refresh_tokens.grace_child: at most one grace-window sibling per consumed token

A replay of the immediate parent inside the grace window (security profile sec. 4.3) mints
one sibling; the store records it here in the same conditional UPDATE that claims the slot,
so a second replay finds it taken and is treated as reuse.

Revision ID: 0003_refresh_grace_child
Revises: 0002_one_active_signing_key
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_refresh_grace_child"
down_revision: str | None = "0002_one_active_signing_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("grace_child", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:  # SQLite rebuilds the table
        batch.drop_column("grace_child")
