"""Where an access token travels: the ``Authorization`` header or a cookie.

Transports only *find* a token in a request (and, for cookies, write the login cookies);
they never judge it: every token, whatever carried it, goes through the same validator.
They read the raw ASGI header list directly, so finding a token costs a short loop over
the request's headers and no parsing objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from starlette.responses import Response
from starlette.types import Scope

from tokenward.errors import ConfigurationError

__all__ = ["BearerTransport", "CookieTransport", "header_value", "header_values"]

#: RFC 6265 sec. 4.1.1 ``cookie-octet``: what a cookie value may contain unquoted
_COOKIE_VALUE: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
#: RFC 6265 sec. 4.1.1 / RFC 9110 sec. 5.6.2 ``token``: a cookie name
_COOKIE_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: a path attribute value without ``;`` or control characters
_COOKIE_PATH: Final = re.compile(r"/[\x21-\x3a\x3c-\x7e]*")
_EXPIRED: Final = "Thu, 01 Jan 1970 00:00:00 GMT"
#: marker returned for an ambiguous or malformed credential (always rejected)
MALFORMED: Final = ""


def header_values(scope: Scope, name: bytes) -> list[bytes]:
    """Every value of the (lower-case) header ``name`` in an ASGI scope."""
    return [value for key, value in scope["headers"] if key == name]


def header_value(scope: Scope, name: bytes) -> bytes | None:
    """The single value of header ``name``; None when absent.

    Repeated headers are joined with ``, `` (RFC 9110 sec. 5.3), which makes a doubled
    credential header fail to parse rather than pick one copy silently.
    """
    found: bytes | None = None
    for key, value in scope["headers"]:
        if key == name:
            found = value if found is None else found + b", " + value
    return found


@dataclass(frozen=True, slots=True)
class BearerTransport:
    """``Authorization: Bearer <token>`` (RFC 6750 sec. 2.1), the only place it looks.

    The scheme name is matched case-insensitively (RFC 9110 sec. 11.1). Tokens in the query
    string (RFC 6750 sec. 2.3) or the body (sec. 2.2) are never read: URLs end up in logs,
    history and ``Referer`` headers (RFC 6750 sec. 5.3).
    """

    #: credentials of this transport need no CSRF check (a browser never adds the header)
    uses_cookies: bool = False

    def read_token(self, scope: Scope) -> str | None:
        """The bearer token; None when the request has no ``Bearer`` credentials;
        ``""`` when the header is present but malformed (never accepted)."""
        value: bytes | None = None
        for key, raw in scope["headers"]:
            if key == b"authorization":
                if value is not None:
                    return MALFORMED  # two Authorization headers: ambiguous, refused
                value = raw
        if value is None:
            return None
        if value[:7].lower() != b"bearer ":
            # "Bearer" alone is a malformed bearer credential; other schemes are not ours.
            return MALFORMED if value.strip().lower() == b"bearer" else None
        # RFC 6750 sec. 2.1: b64token after one or more spaces; decoded as latin-1 so any
        # byte maps to one char and the validator's strict grammar does the judging.
        return value[7:].lstrip(b" ").decode("latin-1")


def _parse_cookie(header: bytes, wanted: tuple[str, ...]) -> dict[str, str]:
    """The values of the ``wanted`` cookie names; a name sent twice maps to ``MALFORMED``.

    A duplicate can be a cookie-tossing attempt (a sibling domain planting a second copy),
    so it is refused rather than resolved (security profile 5.1).
    """
    found: dict[str, str] = {}
    text = header.decode("latin-1")
    for pair in text.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or name not in wanted:
            continue
        found[name] = MALFORMED if name in found else value.strip()
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class CookieTransport:
    """The access token in an ``HttpOnly`` cookie (browser apps), plus the login cookies.

    Cookies (security profile 5.1; RFC 6265bis sec. 4.1.3 cookie prefixes):

    * access ``__Host-at``: ``HttpOnly; Secure; SameSite=Lax; Path=/``, no ``Domain``, so
      no sibling subdomain or plaintext page can set or overwrite it.
    * refresh ``__Secure-rt``: ``HttpOnly; Secure; SameSite=Strict; Path=<refresh path>``
      (default ``/auth``). ``__Secure-`` instead of ``__Host-`` on purpose: ``__Host-``
      forces ``Path=/``, which would send the long-lived refresh token with every API call
      (into every access log, proxy and handler). ``/auth`` is the narrowest path covering
      both endpoints that need it, refresh *and* logout (a cookie the logout endpoint never
      sees could outlive the session it was meant to end); ``SameSite=Strict`` because only
      the app's own script calls them.
    * CSRF ``__Host-csrf``: ``Secure; SameSite=Strict; Path=/`` and NOT ``HttpOnly``: the
      app's script reads it and echoes it in the ``X-CSRF-Token`` header (signed
      double-submit, OWASP CSRF Cheat Sheet). It lives as long as the refresh token because
      the refresh call itself needs it (profile K7).

    Every unsafe request authenticated by this transport must pass the CSRF check of the
    :class:`~tokenward.web.CsrfProtector` given to the ``Authenticator``.
    """

    access_cookie: str = "__Host-at"
    refresh_cookie: str = "__Secure-rt"
    csrf_cookie: str = "__Host-csrf"
    csrf_header: str = "X-CSRF-Token"
    #: default ``Path`` of the refresh cookie: the service's ``/auth/refresh`` and
    #: ``/auth/logout`` both lie under it (RFC 6265 sec. 5.1.4 path-match)
    refresh_path: str = "/auth"
    #: ``SameSite`` of the access cookie: ``Lax`` keeps top-level links working; ``Strict``
    #: is stricter still. Never ``None`` (the CSRF defence in depth relies on it)
    access_samesite: Literal["Lax", "Strict"] = "Lax"
    uses_cookies: bool = True

    def __post_init__(self) -> None:
        for name in (self.access_cookie, self.refresh_cookie, self.csrf_cookie):
            if not _COOKIE_NAME.fullmatch(name):
                raise ConfigurationError(f"invalid cookie name {name!r}")
        if self.access_samesite not in ("Lax", "Strict"):
            raise ConfigurationError("access_samesite must be 'Lax' or 'Strict'")
        if not _COOKIE_NAME.fullmatch(self.csrf_header):
            raise ConfigurationError(f"invalid header name {self.csrf_header!r}")
        _check_path(self.refresh_path)

    # --- reading --- #

    def _cookies(self, scope: Scope) -> dict[str, str]:
        # HTTP/2 may split cookies over several headers (RFC 9113 sec. 8.2.3): join with ";".
        headers = header_values(scope, b"cookie")
        if not headers:
            return {}
        return _parse_cookie(b"; ".join(headers), self._names)

    @property
    def _names(self) -> tuple[str, ...]:
        return (self.access_cookie, self.refresh_cookie, self.csrf_cookie)

    def read_token(self, scope: Scope) -> str | None:
        """The access-token cookie; None when absent; ``""`` when sent twice."""
        return self._cookies(scope).get(self.access_cookie)

    def read_refresh_token(self, scope: Scope) -> str | None:
        """The refresh-token cookie (for the refresh and logout endpoints), or None."""
        value = self._cookies(scope).get(self.refresh_cookie)
        return value or None

    def read_csrf(self, scope: Scope) -> tuple[str | None, str | None]:
        """``(header value, cookie value)`` of the CSRF token, each None when absent."""
        raw = header_value(scope, self.csrf_header.lower().encode("ascii"))
        header = None if raw is None else raw.decode("latin-1")
        cookie = self._cookies(scope).get(self.csrf_cookie)
        return header, cookie

    # --- writing --- #

    def set_login_cookies(
        self,
        response: Response,
        *,
        access_token: str,
        access_max_age: int,
        refresh_token: str | None,
        refresh_max_age: int,
        csrf_token: str | None,
        refresh_path: str | None = None,
    ) -> None:
        """Append the three login cookies to ``response`` (exact attributes above).

        ``Max-Age`` of each cookie is the lifetime of what it holds (profile 5.1). Pass
        ``None`` for the refresh or CSRF token to leave that cookie untouched.
        """
        path = self.refresh_path if refresh_path is None else _check_path(refresh_path)
        self._append(response, self.access_cookie, access_token, access_max_age, "/", True,
                     self.access_samesite)  # fmt: skip
        if refresh_token is not None:
            self._append(response, self.refresh_cookie, refresh_token, refresh_max_age, path,
                         True, "Strict")  # fmt: skip
        if csrf_token is not None:
            self.set_csrf_cookie(response, csrf_token, max_age=refresh_max_age)

    def set_csrf_cookie(self, response: Response, csrf_token: str, *, max_age: int) -> None:
        """Append the CSRF cookie alone (``Secure; SameSite=Strict; Path=/``, readable by
        script): the login cookies use it, and so does a pre-session token for a login
        form (OWASP login CSRF), which the login then replaces with a session-bound one."""
        self._append(response, self.csrf_cookie, csrf_token, max_age, "/", False, "Strict")

    def clear_cookies(self, response: Response, *, refresh_path: str | None = None) -> None:
        """Expire the three cookies, with the same names, paths and attributes they were
        set with (a browser only replaces a cookie whose name, domain and path match)."""
        path = self.refresh_path if refresh_path is None else _check_path(refresh_path)
        self._append(response, self.access_cookie, "", 0, "/", True, self.access_samesite)
        self._append(response, self.refresh_cookie, "", 0, path, True, "Strict")
        self._append(response, self.csrf_cookie, "", 0, "/", False, "Strict")

    @staticmethod
    def _append(
        response: Response,
        name: str,
        value: str,
        max_age: int,
        path: str,
        http_only: bool,
        same_site: str,
    ) -> None:
        if not _COOKIE_VALUE.fullmatch(value):
            raise ValueError(f"cookie {name}: value has characters a cookie cannot carry")
        if type(max_age) is not int or max_age < 0:
            raise ValueError(f"cookie {name}: max_age must be a non-negative int")
        parts = [f"{name}={value}", f"Max-Age={max_age}"]
        if max_age == 0:
            parts.append(f"Expires={_EXPIRED}")
        parts += [f"Path={path}", "Secure"]
        if http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={same_site}")
        response.raw_headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))


def _check_path(path: str) -> str:
    if not _COOKIE_PATH.fullmatch(path):
        raise ConfigurationError(f"invalid cookie path {path!r}")
    return path
