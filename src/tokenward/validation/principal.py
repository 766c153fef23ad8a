"""``Principal``: the identity carried by a validated token (read-only)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["Principal", "freeze"]


def freeze(value: Any) -> Any:
    """An immutable copy of a parsed JSON value: arrays become tuples and objects
    read-only mappings, recursively; scalars are returned as they are."""
    kind = type(value)
    if kind is list:
        return tuple([freeze(item) for item in value])
    if kind is dict:
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    return value


class Principal:
    """Who the token speaks for, built only after every check passed.

    All attributes are read-only. ``claims`` holds the claims exactly as issued: no claim is
    ever renamed or mapped. JSON arrays appear as tuples and nested objects as read-only
    mappings (built on first access, so a validator can cache and share the principal).
    """

    __slots__ = ("_claims", "_claims_view", "_header", "_header_view", "_name", "_roles")

    _claims_view: Mapping[str, Any]
    _header_view: Mapping[str, Any]

    def __init__(
        self,
        claims: dict[str, Any],
        header: dict[str, Any],
        roles: tuple[str, ...],
        name: str | None,
    ) -> None:
        """Used by the validator, after it checked ``roles`` and ``name`` (the policy's
        ``role_claim`` and ``name_claim`` values).

        ``claims`` becomes owned by the principal. ``header`` may be shared with the JOSE
        layer's header cache: it is never mutated, only copied into a frozen view on first
        access of :attr:`header`.
        """
        self._claims = claims
        self._header = header
        self._roles = roles
        self._name = name
        # _claims_view / _header_view are filled on first access (see the properties)

    @property
    def claims(self) -> Mapping[str, Any]:
        """All claims of the token (read-only, nested values immutable)."""
        try:
            return self._claims_view
        except AttributeError:
            view: Mapping[str, Any] = freeze(self._claims)
            self._claims_view = view
            return view

    @property
    def header(self) -> Mapping[str, Any]:
        """The protected header of the token (read-only, nested values immutable)."""
        try:
            return self._header_view
        except AttributeError:
            view: Mapping[str, Any] = freeze(self._header)
            self._header_view = view
            return view

    @property
    def subject(self) -> str:
        """The ``sub`` claim (empty string if the policy did not require one)."""
        sub = self._claims.get("sub")
        return sub if isinstance(sub, str) else ""

    @property
    def name(self) -> str | None:
        """The policy's ``name_claim`` (default ``name``), or None."""
        return self._name

    @property
    def roles(self) -> tuple[str, ...]:
        """The policy's ``role_claim`` (default ``roles``) as a tuple of strings."""
        return self._roles

    @property
    def session_id(self) -> str | None:
        """The ``sid`` claim, or None."""
        sid = self._claims.get("sid")
        return sid if isinstance(sid, str) else None

    @property
    def jti(self) -> str | None:
        """The ``jti`` claim (None only if the policy did not require one)."""
        jti = self._claims.get("jti")
        return jti if isinstance(jti, str) else None

    @property
    def issuer(self) -> str:
        """The ``iss`` claim."""
        return self._claims["iss"]  # type: ignore[no-any-return]

    @property
    def expires_at(self) -> float:
        """The ``exp`` claim (POSIX seconds)."""
        return self._claims["exp"]  # type: ignore[no-any-return]

    @property
    def issued_at(self) -> float | None:
        """The ``iat`` claim, or None."""
        return self._claims.get("iat")

    def has_role(self, role: str) -> bool:
        """True when ``role`` is one of :attr:`roles` (exact, case-sensitive)."""
        return role in self._roles

    def claim(self, name: str, default: Any = None) -> Any:
        """Value of the claim ``name`` (immutable), or ``default`` when absent."""
        return self.claims.get(name, default)

    def __repr__(self) -> str:
        return f"Principal(subject={self.subject!r}, jti={self.jti!r}, roles={self._roles!r})"
