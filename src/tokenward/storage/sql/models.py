"""SQLAlchemy Core tables of the SQL backend (the single source of the schema).

The Alembic migrations in ``tokenward/storage/sql/migrations`` must produce exactly this
schema; ``tests/storage/test_migrations.py`` checks it with ``compare_metadata``.
Times are POSIX seconds stored as double precision. Tables carry no schema name: the
PostgreSQL schema is chosen per engine through ``search_path`` (see ``engine.py``).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "metadata",
    "refresh_families",
    "refresh_tokens",
    "revoked_jtis",
    "revoked_sessions",
    "revoked_subjects",
    "signing_keys",
    "users",
]

#: deterministic constraint names on every dialect (needed for clean migrations)
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(), nullable=False),
    sa.Column("username_key", sa.String(), nullable=False),
    sa.Column("password_hash", sa.String(), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("claims", sa.JSON(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("tokens_valid_after", sa.Double(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Index("ix_users_username_key", "username_key", unique=True),
)

#: one row per session family; rotation takes a shared lock on it and family revocation an
#: exclusive one, so the two serialise (security profile sec. 4.2, test R3)
refresh_families = sa.Table(
    "refresh_families",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.Index("ix_refresh_families_user_id", "user_id"),
    sa.Index("ix_refresh_families_expires_at", "expires_at"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "family_id",
        sa.String(64),
        sa.ForeignKey("refresh_families.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("parent_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    # digest of the secret only; the raw token is never stored (profile sec. 4.1)
    sa.Column("digest", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("family_expires_at", sa.Double(), nullable=False),
    sa.Column("used_at", sa.Double(), nullable=True),
    sa.Column("replaced_by", sa.String(64), nullable=True),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.Column("revoked_reason", sa.String(), nullable=True),
    sa.Column("user_agent", sa.String(), nullable=True),
    sa.Column("ip", sa.String(), nullable=True),
    # the one grace-window sibling of this consumed token (profile sec. 4.3); migration 0003
    sa.Column("grace_child", sa.String(64), nullable=True),
    sa.Index("ix_refresh_tokens_family_id", "family_id"),
    sa.Index("ix_refresh_tokens_user_id", "user_id"),
)

#: access-token denylist keyed by identity, never by token bytes (profile sec. 1 rule 12)
revoked_jtis = sa.Table(
    "revoked_jtis",
    metadata,
    sa.Column("issuer", sa.String(), primary_key=True),
    sa.Column("jti", sa.String(), primary_key=True),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Index("ix_revoked_jtis_expires_at", "expires_at"),
)

revoked_sessions = sa.Table(
    "revoked_sessions",
    metadata,
    sa.Column("sid", sa.String(), primary_key=True),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Index("ix_revoked_sessions_expires_at", "expires_at"),
)

revoked_subjects = sa.Table(
    "revoked_subjects",
    metadata,
    sa.Column("sub", sa.String(), primary_key=True),
    sa.Column("issued_before", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Index("ix_revoked_subjects_expires_at", "expires_at"),
)

#: key ring (used by ``tokenward.keyring``'s SQL backend; this package only owns the table)
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("public_jwk", sa.Text(), nullable=False),
    # AES-GCM ciphertext of the private key; NULL for public-only entries
    sa.Column("private_blob", sa.LargeBinary(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("activated_at", sa.Double(), nullable=True),
    sa.Column("retired_at", sa.Double(), nullable=True),
    sa.Column("retire_after", sa.Double(), nullable=True),
    sa.CheckConstraint("state IN ('next', 'active', 'retired')", name="state"),
    sa.Index("ix_signing_keys_state", "state"),
    # backstop for the key ring's own checks: at most one active signing key, enforced by
    # the database (partial unique index; a second 'active' row is an IntegrityError)
    sa.Index(
        "uq_signing_keys_one_active",
        "state",
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    ),
)
