"""Claim and header rules of the security profile (section 1, rules 7 and 11).

Everything here depends only on the token and the policy, so its result is computed once
per distinct token and cached by the validator; the clock-dependent checks are reduced to
two precomputed bounds (``start`` and ``end``) that the validator compares on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokenward.errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidTokenType,
    IssuedInFuture,
    LifetimeTooLong,
    MissingClaim,
    TokenNotYetValid,
)
from tokenward.validation.policy import ValidationPolicy, normalize_media_type
from tokenward.validation.principal import Principal

__all__ = ["MAX_ID_LENGTH", "MAX_NUMERIC_DATE", "Entry", "Rules"]


#: longest accepted ``sub``, ``jti`` and ``sid`` (profile E8: strings only, bounded length)
MAX_ID_LENGTH = 256
#: largest accepted ``abs(NumericDate)``: 2**53 seconds (about 285 million years), the
#: largest range in which every integer is an exact float. RFC 7519 sec. 2 allows any JSON
#: number; bounding it keeps the float arithmetic below (``exp - max_lifetime``,
#: ``nbf - leeway``) exact and free of ``OverflowError`` on huge ints such as ``10**400``
#: (profile D6; RFC 8259 sec. 6 on interoperable number ranges).
MAX_NUMERIC_DATE = 2**53

# Header members that are never honoured (crit, b64, zip, enc, cty, jku, x5u, jwk, x5c:
# RFC 7515 sec. 4.1.11, RFC 7797, RFC 8725 sec. 3.3 and 3.10) are refused by the JOSE layer
# when it parses a header segment (``tokenward.jose.FORBIDDEN_HEADERS``), once per distinct
# header; tests/test_advisories.py (C1, C2, C5, C6, B1-B3) pins that through the validator.


#: a cached, verified token: (principal, start, end, typ, revocation kwargs or None).
#: Reject when ``now < start`` (nbf/iat minus leeway; exp - max_lifetime without iat) or
#: ``now >= end`` (exp + leeway: RFC 7519 sec. 4.1.4 "on or after" is expired).
Entry = tuple[Principal, float, float, str, "dict[str, Any] | None"]


_MIN, _MAX = -MAX_NUMERIC_DATE, MAX_NUMERIC_DATE

#: claims whose presence entry() checks itself
_CHECKED_CLAIMS = frozenset({"iss", "aud", "exp", "iat", "sub", "jti", "sid"})


def _bad_date(name: str) -> InvalidClaim:
    return InvalidClaim("NumericDate must be a number within +-2**53", claim=name)


def _bad_id(name: str) -> InvalidClaim:
    return InvalidClaim("must be a non-empty string of at most 256 characters", claim=name)


def _bad_roles(name: str) -> InvalidClaim:
    return InvalidClaim("must be a string or an array of strings", claim=name)


class Rules:
    """A policy compiled into frozensets and precomputed bounds."""

    __slots__ = (
        "audiences",
        "issuers",
        "leeway",
        "max_lifetime",
        "name_claim",
        "required_other",
        "required_set",
        "sid_required",
        "role_claim",
        "typ_exact",
        "typ_normal",
    )

    def __init__(self, policy: ValidationPolicy) -> None:
        self.issuers = frozenset(policy.issuers)
        self.audiences = frozenset(policy.audiences)
        self.leeway = float(policy.leeway)
        self.max_lifetime = float(policy.max_lifetime)
        required = ["iss", "aud"]
        required += [c for c in policy.required_claims if c not in required]
        self.required_set = frozenset(required)
        self.sid_required = "sid" in self.required_set
        #: required claims without a dedicated check in entry()
        self.required_other = tuple(c for c in required if c not in _CHECKED_CLAIMS)
        self.typ_normal = frozenset(normalize_media_type(t) for t in policy.token_types)
        self.typ_exact = frozenset(policy.token_types) | self.typ_normal
        self.name_claim = policy.name_claim
        self.role_claim = policy.role_claim

    def typ_ok(self, typ: str) -> bool:
        """``typ`` compared as a media type (RFC 7515 sec. 4.1.9, RFC 6838 sec. 4.2)."""
        return typ in self.typ_exact or normalize_media_type(typ) in self.typ_normal

    def entry(self, header: dict[str, Any], claims: dict[str, Any], revocation: bool) -> Entry:
        """Check everything that does not depend on the clock; return the cache entry.

        ``claims`` must be a fresh dict owned by the caller; ``header`` may be the dict the
        JOSE layer shares through its header cache: it is only read, never mutated. The
        principal keeps both (and exposes frozen copies).
        """
        typ = header.get("typ")
        if type(typ) is not str:  # required (RFC 9068 sec. 2.1); its value is checked by
            raise InvalidTokenType()  # the validator on every call, cached or not
        try:  # iss, aud and exp are always required (RFC 8725 sec. 3.8, 3.9; profile E1)
            issuer = claims["iss"]
            aud = claims["aud"]
            exp = claims["exp"]
        except KeyError as exc:
            raise MissingClaim(claim=exc.args[0]) from None
        if type(issuer) is not str or issuer not in self.issuers:
            raise InvalidIssuer(claim="iss")
        if type(aud) is not str or aud not in self.audiences:
            self._check_audience(aud)
        # NumericDates are JSON numbers, never bools or strings (RFC 7519 sec. 2; profile
        # E2/E3: True is an int in Python, so compare exact types), and bounded by
        # MAX_NUMERIC_DATE (D6). The chained comparison is False for NaN and infinities,
        # and int-to-float comparisons are exact in Python, so nothing can overflow here.
        if (type(exp) is not int and type(exp) is not float) or not _MIN <= exp <= _MAX:
            raise _bad_date("exp")
        get = claims.get
        leeway = self.leeway
        iat = get("iat")
        if iat is None:
            self._absent(claims, "iat", _bad_date)
            start = exp - self.max_lifetime
        elif (type(iat) is not int and type(iat) is not float) or not _MIN <= iat <= _MAX:
            raise _bad_date("iat")
        elif exp - iat > self.max_lifetime:
            raise LifetimeTooLong(claim="exp")
        else:
            start = iat - leeway
        nbf = get("nbf")
        if nbf is not None:
            if (type(nbf) is not int and type(nbf) is not float) or not _MIN <= nbf <= _MAX:
                raise _bad_date("nbf")
            if nbf - leeway > start:
                start = nbf - leeway
        elif "nbf" in claims:
            raise _bad_date("nbf")
        # Identifiers: non-empty, bounded strings (profile E8).
        sub = get("sub")
        if type(sub) is not str or not 0 < len(sub) <= MAX_ID_LENGTH:
            if sub is not None:
                raise _bad_id("sub")
            self._absent(claims, "sub", _bad_id)
        jti = get("jti")
        if type(jti) is not str or not 0 < len(jti) <= MAX_ID_LENGTH:
            if jti is not None:
                raise _bad_id("jti")
            self._absent(claims, "jti", _bad_id)
        sid = get("sid")
        if sid is None:
            if self.sid_required or "sid" in claims:  # usually absent: no call
                self._absent(claims, "sid", _bad_id)
        elif type(sid) is not str or not 0 < len(sid) <= MAX_ID_LENGTH:
            raise _bad_id("sid")
        if self.required_other:
            for required in self.required_other:
                if required not in claims:
                    raise MissingClaim(claim=required)
        name = get(self.name_claim)
        if name is not None and type(name) is not str:
            raise InvalidClaim("must be a string", claim=self.name_claim)
        raw_roles = get(self.role_claim)
        if type(raw_roles) is list:
            roles: tuple[str, ...] = tuple(raw_roles)
            for role in roles:
                if type(role) is not str:
                    raise _bad_roles(self.role_claim)
        elif type(raw_roles) is str:
            roles = (raw_roles,)
        elif raw_roles is None and self.role_claim not in claims:
            roles = ()
        else:
            raise _bad_roles(self.role_claim)
        if revocation:
            rev = {"issuer": issuer, "jti": jti, "sid": sid, "sub": sub, "iat": iat}
            return Principal(claims, header, roles, name), start, exp + leeway, typ, rev
        return Principal(claims, header, roles, name), start, exp + leeway, typ, None

    def _absent(
        self, claims: dict[str, Any], name: str, bad: Callable[[str], InvalidClaim]
    ) -> None:
        """``claims.get(name)`` was None: JSON null is a bad value; absence may be allowed."""
        if name in claims:
            raise bad(name)
        if name in self.required_set:
            raise MissingClaim(claim=name)

    def _check_audience(self, aud: Any) -> None:
        # RFC 7519 sec. 4.1.3: a string or an array of strings; exact match (RFC 8725 3.9).
        # jwt-go CVE-2020-26160: never coerce a list into a string or "" into a match.
        if type(aud) is list and aud:
            matched = False
            for item in aud:
                if type(item) is not str:
                    raise InvalidAudience(claim="aud")
                if item in self.audiences:
                    matched = True
            if matched:
                return
        raise InvalidAudience(claim="aud")

    def time_error(self, entry: Entry, now: float) -> InvalidClaim:
        """The precise error for a token outside ``[start, end)`` at ``now``."""
        if now >= entry[2]:
            return ExpiredToken(claim="exp")
        claims = entry[0].claims
        nbf, iat = claims.get("nbf"), claims.get("iat")
        if nbf is not None and now < nbf - self.leeway:
            return TokenNotYetValid(claim="nbf")
        if iat is not None and now < iat - self.leeway:
            return IssuedInFuture(claim="iat")
        return LifetimeTooLong(claim="exp")
