"""``TokenIssuer``: mint compact JWS access tokens (RFC 9068 shape)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple, Protocol

from tokenward.clock import Clock
from tokenward.errors import ConfigurationError
from tokenward.jose._b64 import b64url_bytes
from tokenward.jose._compact import encode_header
from tokenward.keys import Key
from tokenward.tokens._claims import (
    JtiPool,
    compact_encoder,
    custom_claims,
    json_string,
    role_list,
)
from tokenward.validation._rules import MAX_ID_LENGTH  # what validators accept

__all__ = ["RESERVED_CLAIMS", "ActiveKeySource", "IssuedToken", "TokenIssuer", "issuer_factory"]

#: claims the issuer sets itself; ``claims=`` may never supply them. RFC 7519 sec. 4.1
#: registered claims, RFC 9068 sec. 2.2 ``client_id``, tokenward's own (name, roles, sid)
#: and ``nonce`` so that an access token can never look like an ID token (RFC 8725
#: sec. 2.8, 3.11).
RESERVED_CLAIMS: frozenset[str] = frozenset(
    {"iss", "sub", "aud", "client_id", "exp", "nbf", "iat", "jti", "name", "roles", "sid", "nonce"}
)


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
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise ConfigurationError(
            f"{what} must be a non-empty string of at most {MAX_ID_LENGTH} characters"
        )
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
        "_aud_json",
        "_audience",
        "_client_id",
        "_encode",
        "_head_json",
        "_header",
        "_issuer",
        "_jtis",
        "_key",
        "_kid",
        "_lifetime",
        "_now",
        "_sign",
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
        self._encode = encode = compact_encoder()
        # the same header jws.sign would write (alg and kid from the key), encoded once
        self._header = (encode_header(signing_key, {"typ": token_type}) + ".").encode("ascii")
        # the claims that never change, pre-encoded: {"iss":...,"sub": and ,"aud":...,"iat":
        self._head_json = '{"iss":' + encode(issuer) + ',"sub":'
        cid = "" if client_id is None else ',"client_id":' + encode(client_id)
        self._aud_json = ',"aud":' + encode(aud) + cid + ',"iat":'
        self._jtis = JtiPool()
        self._kid = signing_key.kid
        self._sign = signing_key.sign

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
        if type(subject) is not str or not 0 < len(subject) <= MAX_ID_LENGTH:
            _check_id(subject, "subject")  # raises with the message
        iat = int(self._now())
        exp = iat + (self._lifetime if lifetime is None else _lifetime(lifetime))
        try:
            jti = self._jtis.pop()
        except IndexError:
            jti = self._jtis.refill()
        # The payload text is written from pre-encoded pieces (see _claims): the same bytes
        # json.dumps would give, at a fraction of the cost.
        body = (
            f"{self._head_json}{json_string(subject)}{self._aud_json}"
            f'{iat},"nbf":{iat},"exp":{exp},"jti":"{jti}"'
        )
        if name is not None or roles or session_id is not None or claims:
            body += self._optional(name, roles, session_id, claims)
        try:
            raw = (body + "}").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in a string
            raise ConfigurationError("claims are not valid Unicode text") from None
        signing_input = self._header + b64url_bytes(raw)
        token = (signing_input + b"." + b64url_bytes(self._sign(signing_input))).decode("ascii")
        return IssuedToken(token, jti, iat, exp, self._kid)

    def _optional(
        self,
        name: object,
        roles: Collection[str],
        session_id: object,
        claims: Mapping[str, Any] | None,
    ) -> str:
        """``name``, ``roles``, ``sid`` and the custom claims, as JSON members."""
        parts = []
        if name is not None:
            if type(name) is not str:
                raise ConfigurationError("name must be a string")
            parts.append(',"name":' + json_string(name))
        if roles:
            parts.append(',"roles":' + role_list(roles))
        if session_id is not None:
            parts.append(',"sid":' + json_string(_check_id(session_id, "session_id")))
        if claims:
            if not RESERVED_CLAIMS.isdisjoint(claims):
                clash = sorted(RESERVED_CLAIMS.intersection(claims))
                raise ConfigurationError(f"custom claims may not set {clash}")
            try:
                parts.append(custom_claims(claims, self._encode))
            except (TypeError, ValueError, RecursionError) as exc:  # not JSON, NaN, a cycle
                raise ConfigurationError(f"claims are not JSON-serialisable: {exc}") from None
        return "".join(parts)


class ActiveKeySource(Protocol):
    """Anything with a current signing key: ``tokenward.keyring.KeyManager``, or the
    service's static HMAC key."""

    @property
    def active_key(self) -> Key: ...


def issuer_factory(
    keys: ActiveKeySource,
    *,
    issuer: str,
    audience: str,
    lifetime: float,
    token_type: str = "at+jwt",
    client_id: str | None = None,
    clock: Clock | None = None,
) -> Callable[[], TokenIssuer]:
    """A callable returning a ``TokenIssuer`` bound to ``keys``' active key, as
    ``AuthService(issuer=...)`` expects; rebuilt only when the active key changes (rotation).

    :param client_id: the RFC 9068 sec. 2.2 ``client_id`` claim of every access token.
    """
    built: list[tuple[Key, TokenIssuer]] = []

    def current() -> TokenIssuer:
        key = keys.active_key
        if not built or built[0][0] is not key:
            made = TokenIssuer(
                key,
                issuer=issuer,
                audience=audience,
                lifetime=lifetime,
                token_type=token_type,
                client_id=client_id,
                clock=clock,
            )
            built[:] = [(key, made)]
        return built[0][1]

    return current
