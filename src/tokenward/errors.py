"""The one error tree of tokenward.

Every class carries a stable, machine-readable ``code`` (a class attribute) and a human
``description``. Codes never change once released: clients, logs and metrics key on them.
The HTTP mapping lives in exactly one place (``tokenward.web.errors``); the core never
knows about HTTP.

::

    TokenwardError (error)
    ├── ConfigurationError (invalid_config)
    ├── InvalidKey (invalid_key)
    ├── KeySetUnavailable (jwks_unavailable)
    ├── StorageUnavailable (storage_unavailable)
    ├── InvalidToken (invalid_token)
    │   ├── TokenTooLarge (too_large)
    │   ├── MalformedToken (malformed)
    │   ├── UnsupportedHeader (unsupported_header)
    │   ├── AlgorithmNotAllowed (alg_not_allowed)
    │   ├── UnknownKey (unknown_key)
    │   ├── BadSignature (bad_signature)
    │   ├── InvalidTokenType (invalid_type)
    │   ├── RevokedToken (revoked)
    │   └── InvalidClaim (invalid_claim)            .claim names the claim
    │       ├── MissingClaim (missing_claim)
    │       ├── ExpiredToken (expired)
    │       ├── TokenNotYetValid (not_yet_valid)
    │       ├── IssuedInFuture (iat_in_future)
    │       ├── LifetimeTooLong (lifetime_too_long)
    │       ├── InvalidIssuer (invalid_issuer)
    │       └── InvalidAudience (invalid_audience)
    ├── AuthError (auth_error)
    │   ├── InvalidRequest (invalid_request)
    │   │   └── UnsupportedGrantType (unsupported_grant_type)
    │   ├── InvalidCredentials (invalid_credentials)
    │   ├── Throttled (throttled)                    .retry_after seconds
    │   ├── InvalidGrant (invalid_grant)
    │   ├── AccessDenied (insufficient_scope)
    │   └── CSRFError (csrf_failed)
    └── UserError (user_error)
        ├── UserExists (user_exists)
        └── UserNotFound (user_not_found)

Messages never contain a token, a password or a refresh secret.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlgorithmNotAllowed",
    "AuthError",
    "BadSignature",
    "CSRFError",
    "ConfigurationError",
    "ExpiredToken",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidCredentials",
    "InvalidGrant",
    "InvalidIssuer",
    "InvalidKey",
    "InvalidRequest",
    "InvalidToken",
    "InvalidTokenType",
    "IssuedInFuture",
    "KeySetUnavailable",
    "LifetimeTooLong",
    "MalformedToken",
    "MissingClaim",
    "RevokedToken",
    "StorageUnavailable",
    "Throttled",
    "TokenNotYetValid",
    "TokenTooLarge",
    "TokenwardError",
    "UnknownKey",
    "UnsupportedGrantType",
    "UnsupportedHeader",
    "UserError",
    "UserExists",
    "UserNotFound",
]


class TokenwardError(Exception):
    """Base class of every error tokenward raises on purpose."""

    #: short machine-readable error code, stable across releases
    code: str = "error"
    #: default human description (safe to log; never contains secrets)
    description: str = "tokenward error"

    def __init__(self, description: str | None = None) -> None:
        if description is not None:
            self.description = description
        super().__init__(f"{self.code}: {self.description}")


# --- configuration and keys --- #


class ConfigurationError(TokenwardError):
    """Configuration is invalid; raised at start-up, never per request."""

    code = "invalid_config"
    description = "invalid configuration"


class InvalidKey(TokenwardError):
    """A key could not be imported, or fails the key-hygiene rules (RFC 8725 sec. 3.5)."""

    code = "invalid_key"
    description = "invalid key"


class KeySetUnavailable(TokenwardError):
    """A remote JWKS could not be fetched and no last-known-good copy exists."""

    code = "jwks_unavailable"
    description = "key set unavailable"


class StorageUnavailable(TokenwardError):
    """A storage backend (database, Redis) could not be reached."""

    code = "storage_unavailable"
    description = "storage unavailable"


# --- token validation --- #


class InvalidToken(TokenwardError):
    """Base of every reason a token is rejected. Clients only ever see a uniform 401."""

    code = "invalid_token"
    description = "invalid token"

    #: the token's ``jti`` when the failure was found after the signature verified (for logs;
    #: never set from an unverified token, RFC 8725 sec. 3.10)
    jti: str | None = None


class TokenTooLarge(InvalidToken):
    code = "too_large"
    description = "token exceeds the size limit"


class MalformedToken(InvalidToken):
    code = "malformed"
    description = "token is not a well-formed compact JWS"


class UnsupportedHeader(InvalidToken):
    code = "unsupported_header"
    description = "token header carries a parameter that is never accepted"


class AlgorithmNotAllowed(InvalidToken):
    code = "alg_not_allowed"
    description = "algorithm not allowed for this key"


class UnknownKey(InvalidToken):
    code = "unknown_key"
    description = "no key with this kid"

    def __init__(self, description: str | None = None, *, kid: str | None = None) -> None:
        super().__init__(description)
        #: the kid that was looked up (already validated to be a short string, or None)
        self.kid = kid


class BadSignature(InvalidToken):
    code = "bad_signature"
    description = "signature verification failed"


class InvalidTokenType(InvalidToken):
    code = "invalid_type"
    description = "token type (typ) not accepted"


class RevokedToken(InvalidToken):
    code = "revoked"
    description = "token has been revoked"


class InvalidClaim(InvalidToken):
    """A claim is missing, of the wrong type or has an unacceptable value."""

    code = "invalid_claim"
    description = "invalid claim"

    def __init__(self, description: str | None = None, *, claim: str | None = None) -> None:
        super().__init__(description)
        #: name of the offending claim
        self.claim = claim


class MissingClaim(InvalidClaim):
    code = "missing_claim"
    description = "a required claim is missing"


class ExpiredToken(InvalidClaim):
    code = "expired"
    description = "token has expired"


class TokenNotYetValid(InvalidClaim):
    code = "not_yet_valid"
    description = "token is not valid yet (nbf)"


class IssuedInFuture(InvalidClaim):
    code = "iat_in_future"
    description = "token issued in the future (iat)"


class LifetimeTooLong(InvalidClaim):
    code = "lifetime_too_long"
    description = "token lifetime exceeds the maximum"


class InvalidIssuer(InvalidClaim):
    code = "invalid_issuer"
    description = "issuer not accepted"


class InvalidAudience(InvalidClaim):
    code = "invalid_audience"
    description = "audience not accepted"


# --- authentication flows (sessions and service) --- #


class AuthError(TokenwardError):
    code = "auth_error"
    description = "authentication error"


class InvalidRequest(AuthError):
    """Malformed input to an auth flow (e.g. an oversized password); RFC 6749 sec. 5.2."""

    code = "invalid_request"
    description = "invalid request"


class UnsupportedGrantType(InvalidRequest):
    """The token endpoint does not support this ``grant_type`` (RFC 6749 sec. 5.2)."""

    code = "unsupported_grant_type"
    description = "grant_type not supported"


class InvalidCredentials(AuthError):
    """One generic failure for unknown user, wrong password and disabled account."""

    code = "invalid_credentials"
    description = "invalid username or password"


class Throttled(AuthError):
    code = "throttled"
    description = "too many attempts"

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        #: seconds the client should wait (sent as Retry-After)
        self.retry_after = max(1, int(retry_after))


class InvalidGrant(AuthError):
    """Refresh token unknown, expired, revoked or reused (RFC 6749 sec. 5.2)."""

    code = "invalid_grant"
    description = "invalid refresh token"


class AccessDenied(AuthError):
    """Authenticated, but a role or claim policy failed (RFC 6750 sec. 3.1)."""

    code = "insufficient_scope"
    description = "insufficient privileges"


class CSRFError(AuthError):
    code = "csrf_failed"
    description = "CSRF check failed"


# --- user management --- #


class UserError(TokenwardError):
    code = "user_error"
    description = "user error"


class UserExists(UserError):
    code = "user_exists"
    description = "a user with this username exists"


class UserNotFound(UserError):
    code = "user_not_found"
    description = "no such user"
