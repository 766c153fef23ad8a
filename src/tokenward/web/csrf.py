"""CSRF defence for cookie-authenticated requests (security profile section 5.2).

Two independent layers, both required for every unsafe request authenticated by cookie:

1. **Signed double-submit token, bound to the session** (OWASP CSRF Cheat Sheet, "Signed
   Double-Submit Cookie")::

       csrf = b64url( HMAC-SHA256(secret, len-prefixed(session_id) || len-prefixed(nonce))
                      || nonce )

   The fields are length-prefixed so their boundary cannot shift. The header copy must
   equal the cookie copy *and* verify against the session id of the authenticated
   principal: a token planted by someone who can write cookies on a sibling domain, or
   taken from another session, fails.
2. **Fetch metadata / origin check**: ``Sec-Fetch-Site: cross-site`` is refused; without
   ``Sec-Fetch-*`` headers the ``Origin`` (fallback ``Referer``) must be an allowed origin;
   ``Origin: null`` is always refused (OWASP "Fetch Metadata" needs this fallback).

Login CSRF (OWASP CSRF Cheat Sheet, "Possible CSRF Vulnerabilities in Login Forms"): before
there is a session, :meth:`CsrfProtector.issue_pre_session` mints a token bound to a random
pre-session id (its nonce) under a label of its own, so a pre-session token never verifies
as a session token and a session token never verifies as a pre-session token; the login
rotates to a fresh session-bound token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from starlette.types import Scope

from tokenward.errors import ConfigurationError, CSRFError

from .transports import header_value

__all__ = ["CsrfProtector"]

_NONCE_BYTES: Final = 16
_MAC_BYTES: Final = 32
#: b64url of 48 bytes is exactly 64 chars, no padding (RFC 4648 sec. 5)
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{64}")
#: domain separation: this key material is never used for anything else. The two labels
#: differ at byte 15 and neither is a prefix of the other, so a MAC input of one kind can
#: never equal a MAC input of the other (session vs pre-session tokens).
_LABEL: Final = b"tokenward-csrf-v1"
_PRE_SESSION_LABEL: Final = b"tokenward-csrf-pre-session-v1"
_MIN_SECRET: Final = 32


def _prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` in lower case (RFC 6454 sec. 6.1), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}".lower()


class CsrfProtector:
    """Issues and checks session-bound CSRF tokens.

    :param secret: HMAC key, at least 32 random bytes (RFC 2104 sec. 3; the same rule as
        HS256 keys, RFC 7518 sec. 3.2). Use a key of its own, not the token-signing key.
    :param allowed_origins: the origins (``https://app.example``) whose pages may send
        unsafe requests. Empty means "the request's own origin" (scheme and ``Host``), which
        is only right when the app sees the browser's scheme (no TLS-terminating proxy).
    :raises ConfigurationError: short secret or malformed origin.
    """

    __slots__ = ("_allowed", "_secret")

    def __init__(self, secret: bytes, *, allowed_origins: Iterable[str]) -> None:
        if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET:
            raise ConfigurationError(f"CSRF secret must be at least {_MIN_SECRET} bytes")
        self._secret = secret
        allowed = []
        for origin in allowed_origins:
            normalized = _origin_of(origin)
            if normalized is None or normalized != origin.lower().rstrip("/"):
                raise ConfigurationError(f"allowed origin must be scheme://host[:port]: {origin!r}")
            allowed.append(normalized)
        self._allowed = frozenset(allowed)

    @property
    def allowed_origins(self) -> frozenset[str]:
        """The configured origins (lower case)."""
        return self._allowed

    def _mac(self, label: bytes, session_id: str, nonce: bytes) -> bytes:
        sid = _bytes(session_id)
        return hmac.new(
            self._secret, label + _prefixed(sid) + _prefixed(nonce), hashlib.sha256
        ).digest()

    def _sign(self, label: bytes, session_id: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        raw = self._mac(label, session_id, nonce) + nonce
        return base64.urlsafe_b64encode(raw).decode("ascii")

    def _check(self, token: str, label: bytes, session_id: str) -> None:
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise CSRFError()
        raw = base64.urlsafe_b64decode(token)
        mac, nonce = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(label, session_id, nonce)):
            raise CSRFError()

    def issue(self, session_id: str) -> str:
        """A fresh CSRF token for the session ``session_id`` (64 URL-safe characters)."""
        return self._sign(_LABEL, session_id)

    def verify(self, token: str, session_id: str | None) -> None:
        """Check that ``token`` was issued by this key for ``session_id``.

        :raises CSRFError: on any mismatch, malformed token or missing session id; a
            pre-session token never verifies here.
        """
        if not session_id:
            raise CSRFError()
        self._check(token, _LABEL, session_id)

    def issue_pre_session(self) -> str:
        """A fresh pre-session CSRF token for a login form (64 URL-safe characters).

        Bound to a random pre-session id (its 128-bit nonce) under a label of its own, so
        it is accepted only by :meth:`verify_pre_session` (OWASP login CSRF). Issuing
        stores nothing: the HMAC is the whole proof.
        """
        return self._sign(_PRE_SESSION_LABEL, "")

    def verify_pre_session(self, token: str) -> None:
        """Check that ``token`` is a pre-session token issued by this key.

        :raises CSRFError: malformed, forged, or a session-bound token.
        """
        self._check(token, _PRE_SESSION_LABEL, "")

    def check_origin(self, scope: Scope) -> None:
        """The fetch-metadata / origin layer for an unsafe request.

        :raises CSRFError: cross-site request, ``Origin: null``, or an origin not allowed.
        """
        site = header_value(scope, b"sec-fetch-site")
        if site is not None:
            site = site.strip().lower()
            if site in (b"same-origin", b"none"):
                return
            if site != b"same-site":
                # "cross-site" and anything unexpected (W3C Fetch Metadata sec. 2.1).
                raise CSRFError("cross-site request refused")
            # same-site: a sibling subdomain is not trusted by default; the origin decides.
        origin = header_value(scope, b"origin")
        if origin is not None:
            value = origin.decode("latin-1").strip()
            if value.lower() == "null":
                # Opaque origins (sandboxed frames, data: URLs) never qualify (RFC 6454 sec. 7.3).
                raise CSRFError("opaque origin refused")
            self._require_allowed(_origin_of(value), scope)
            return
        referer = header_value(scope, b"referer")
        if referer is not None:
            self._require_allowed(_origin_of(referer.decode("latin-1").strip()), scope)
        elif site is not None:
            raise CSRFError("same-site request without Origin refused")
        # Neither header (non-browser client): the signed token below still has to match.

    def _require_allowed(self, origin: str | None, scope: Scope) -> None:
        if origin is None:
            raise CSRFError("unparseable origin refused")
        allowed = self._allowed or {_own_origin(scope)}
        if origin not in allowed:
            raise CSRFError("origin not allowed")

    def check_request(
        self,
        scope: Scope,
        *,
        header_token: str | None,
        cookie_token: str | None,
        session_id: str | None,
    ) -> None:
        """Both layers: origin check, header equals cookie, and the token verifies for
        ``session_id``.

        :raises CSRFError: when any of them fails.
        """
        self.verify(self._double_submit(scope, header_token, cookie_token), session_id)

    def check_pre_session_request(
        self, scope: Scope, *, header_token: str | None, cookie_token: str | None
    ) -> None:
        """Both layers for a login request: origin check, header equals cookie, and the
        token is a pre-session token (:meth:`issue_pre_session`).

        :raises CSRFError: when any of them fails.
        """
        self.verify_pre_session(self._double_submit(scope, header_token, cookie_token))

    def _double_submit(
        self, scope: Scope, header_token: str | None, cookie_token: str | None
    ) -> str:
        self.check_origin(scope)
        if not header_token or not cookie_token:
            raise CSRFError("CSRF token missing")
        if not hmac.compare_digest(_bytes(header_token), _bytes(cookie_token)):
            raise CSRFError("CSRF header does not match the cookie")
        return header_token

    def __repr__(self) -> str:
        return f"CsrfProtector(allowed_origins={sorted(self._allowed)!r})"


def _own_origin(scope: Scope) -> str:
    host = header_value(scope, b"host")
    scheme = scope.get("scheme", "http")
    return f"{scheme}://{(host or b'').decode('latin-1').strip()}".lower()


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")
