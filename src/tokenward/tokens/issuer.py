"""``TokenIssuer``: mint compact JWS access tokens (RFC 9068 shape)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Mapping
from os import urandom
from typing import Any, NamedTuple

from tokenward.errors import ConfigurationError
from tokenward.jose._b64 import b64url_encode as _b64
from tokenward.keys import Key

__all__ = ["RESERVED_CLAIMS", "IssuedToken", "TokenIssuer"]

#: claims the issuer sets itself; ``claims=`` may never supply them. RFC 7519 sec. 4.1
#: registered claims, RFC 9068 sec. 2.2 ``client_id``, tokenward's own (name, roles, sid)
#: and ``nonce`` so that an access token can never look like an ID token (RFC 8725
#: sec. 2.8, 3.11).
RESERVED_CLAIMS: frozenset[str] = frozenset(
    {"iss", "sub", "aud", "client_id", "exp", "nbf", "iat", "jti", "name", "roles", "sid", "nonce"}
)

#: longest ``subject`` / ``session_id``; matches what validators accept
_MAX_ID_LENGTH = 256


class IssuedToken(NamedTuple):
    """A freshly minted access token and the facts callers need about it (immutable)."""

    #: the compact JWS
    token: str
    #: its ``jti`` (128 random bits), the handle for revocation
    jti: str
    #: ``iat`` (POSIX seconds)
    issued_at: int
    #: ``exp`` (POSIX seconds)
    expires_at: int
    #: ``kid`` of the signing key
    kid: str


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID_LENGTH:
        raise ConfigurationError(f"{what} must be a non-empty string of at most 256 characters")
    return value


def _lifetime(value: object) -> int:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 1:  # type: ignore[operator,arg-type]
        raise ConfigurationError("lifetime must be a finite number of seconds >= 1")
    return int(value)  # type: ignore[call-overload, no-any-return]


class TokenIssuer:
    """Issue access tokens signed with one private (or HMAC) key.

    :param signing_key: the key to sign with; its ``alg`` and ``kid`` go into the header.
    :param issuer: the ``iss`` claim.
    :param audience: the ``aud`` claim (a string, or a collection of strings).
    :param lifetime: default token lifetime in seconds (NumericDates are whole seconds).
    :param token_type: the ``typ`` header (RFC 9068 sec. 2.1: ``at+jwt``).
    :param client_id: the ``client_id`` claim (RFC 9068 sec. 2.2: the OAuth client the
        token was issued to), emitted right after ``aud``; omitted when None.
    :param clock: time source (default: the system clock).
    :raises ConfigurationError: for a public key or invalid arguments.
    """

    __slots__ = (
        "_audience",
        "_client_id",
        "_encode",
        "_header",
        "_issuer",
        "_key",
        "_lifetime",
        "_now",
        "_token_type",
    )

    def __init__(
        self,
        signing_key: Key,
        *,
        issuer: str,
        audience: str | Collection[str],
        lifetime: float,
        token_type: str = "at+jwt",
        client_id: str | None = None,
        clock: Any | None = None,
    ) -> None:
        if not isinstance(signing_key, Key) or not (
            signing_key.is_private or signing_key.kty == "oct"
        ):
            raise ConfigurationError("signing_key must be a private or HMAC Key")
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer must be a non-empty string")
        if isinstance(audience, str):
            aud: str | list[str] = audience
            ok = bool(audience)
        else:
            aud = list(audience)
            ok = bool(aud) and all(isinstance(a, str) and a for a in aud)
        if not ok:
            raise ConfigurationError("audience must be a non-empty string or list of them")
        if not isinstance(token_type, str) or not token_type:
            raise ConfigurationError("token_type must be a non-empty string")
        self._key = signing_key
        self._issuer = issuer
        self._audience = aud
        self._lifetime = _lifetime(lifetime)
        self._token_type = token_type
        self._client_id = None if client_id is None else _check_id(client_id, "client_id")
        self._now: Callable[[], float] = time.time if clock is None else clock.now
        # One encoder for every call: compact separators, no NaN/Infinity (RFC 8259 sec. 6).
        self._encode = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode
        header = {"alg": signing_key.alg, "typ": token_type, "kid": signing_key.kid}
        self._header = _b64(self._encode(header).encode("utf-8")) + "."

    @property
    def signing_key(self) -> Key:
        """The signing key (its ``alg`` and ``kid`` go into every header)."""
        return self._key

    @property
    def key(self) -> Key:
        """The signing key (alias of :attr:`signing_key`)."""
        return self._key

    @property
    def issuer(self) -> str:
        """The ``iss`` claim of every token."""
        return self._issuer

    @property
    def audience(self) -> str | tuple[str, ...]:
        """The ``aud`` claim of every token: a string, or a tuple when several were given."""
        aud = self._audience
        return aud if isinstance(aud, str) else tuple(aud)

    @property
    def lifetime(self) -> int:
        """Default token lifetime in whole seconds (``exp - iat``)."""
        return self._lifetime

    @property
    def client_id(self) -> str | None:
        """The ``client_id`` claim of every token (RFC 9068 sec. 2.2), or None."""
        return self._client_id

    @property
    def token_type(self) -> str:
        """The ``typ`` header of every token (RFC 9068 sec. 2.1)."""
        return self._token_type

    def issue(
        self,
        subject: str,
        *,
        name: str | None = None,
        roles: Collection[str] = (),
        claims: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        lifetime: float | None = None,
    ) -> IssuedToken:
        """Mint a token for ``subject``.

        Claims, in order: iss, sub, aud, client_id (when configured), iat, nbf, exp, jti,
        then name, roles and sid when given, then ``claims``, which may never set a claim
        in :data:`RESERVED_CLAIMS`.

        :raises ConfigurationError: for invalid arguments or a reserved custom claim.
        """
        if type(subject) is not str or not 0 < len(subject) <= _MAX_ID_LENGTH:
            _check_id(subject, "subject")  # raises with the message
        iat = int(self._now())
        exp = iat + (self._lifetime if lifetime is None else _lifetime(lifetime))
        # 128 bits from the OS CSPRNG, exactly secrets.token_urlsafe(16) (RFC 7519 4.1.7)
        jti = _b64(urandom(16))
        iss, aud, cid = self._issuer, self._audience, self._client_id
        # two literals rather than inserting client_id: one dict build on the hot path
        payload: dict[str, Any] = (
            {"iss": iss, "sub": subject, "aud": aud, "iat": iat, "nbf": iat, "exp": exp, "jti": jti}
            if cid is None
            else {
                "iss": iss,
                "sub": subject,
                "aud": aud,
                "client_id": cid,
                "iat": iat,
                "nbf": iat,
                "exp": exp,
                "jti": jti,
            }
        )
        if name is not None:
            if type(name) is not str:
                raise ConfigurationError("name must be a string")
            payload["name"] = name
        if roles:
            role_list = list(roles)
            if isinstance(roles, str) or not all(type(r) is str for r in role_list):
                raise ConfigurationError("roles must be a collection of strings")
            payload["roles"] = role_list
        if session_id is not None:
            payload["sid"] = _check_id(session_id, "session_id")
        if claims:
            if not RESERVED_CLAIMS.isdisjoint(claims):
                clash = sorted(RESERVED_CLAIMS.intersection(claims))
                raise ConfigurationError(f"custom claims may not set {clash}")
            payload.update(claims)
        try:
            body = self._encode(payload).encode("utf-8")
        except (TypeError, ValueError) as exc:  # not JSON, NaN, or a lone surrogate
            raise ConfigurationError(f"claims are not JSON-serialisable: {exc}") from None
        signing_input = self._header + _b64(body)
        signature = self._key.sign(signing_input.encode("ascii"))
        return IssuedToken(signing_input + "." + _b64(signature), jti, iat, exp, self._key.kid)
