"""The one place where tokenward error codes become HTTP responses.

Every response body is ``{"error": code, "error_description": text}`` (the shape of
RFC 6749 sec. 5.2 and RFC 6750 sec. 3). The status for each code::

    invalid_token (any InvalidToken)  401  WWW-Authenticate: Bearer error="invalid_token"
    invalid_credentials               401  WWW-Authenticate: Bearer
    insufficient_scope                403  WWW-Authenticate: Bearer error="insufficient_scope"
    csrf_failed                       403
    invalid_request, invalid_grant    400  (RFC 6749 sec. 5.2; also auth_error, user_error)
    user_not_found 404, user_exists 409, throttled 429 + Retry-After
    storage_unavailable, jwks_unavailable   503 + Retry-After
    invalid_config, invalid_key, others     500 "server_error" (never attacker input)

and, with :func:`install_error_handlers`, the framework's own errors in the same shape::

    HTTPException 404 not_found, 405 method_not_allowed (Allow kept), 400 invalid_request
    RequestValidationError            422 invalid_request (fixed text, input never echoed)

Whatever made a token invalid (expired, bad signature, revoked, wrong audience...), the
client sees the same 401 body and headers (RFC 6750 sec. 3.1; security profile F3): the
reason is logged by the caller, never sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tokenward.errors import (
    AccessDenied,
    AuthError,
    ConfigurationError,
    CSRFError,
    InvalidCredentials,
    InvalidGrant,
    InvalidKey,
    InvalidRequest,
    InvalidToken,
    KeySetUnavailable,
    StorageUnavailable,
    Throttled,
    TokenwardError,
    UserError,
    UserExists,
    UserNotFound,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "INVALID_TOKEN_DESCRIPTION",
    "NO_STORE",
    "TokenwardHTTPException",
    "bearer_challenge",
    "error_body",
    "error_response",
    "install_error_handlers",
    "status_for",
    "unauthorized_response",
]

#: the one description every rejected access token gets (RFC 6750 sec. 3.1: no oracle)
INVALID_TOKEN_DESCRIPTION: Final = "the access token is missing, invalid or expired"  # noqa: S105
_SERVER_ERROR: Final = "server_error"
#: seconds suggested to clients when a backend is down (RFC 9110 sec. 10.2.3)
_UNAVAILABLE_RETRY_AFTER: Final = "5"

# Looked up along the exception's MRO, so subclasses inherit their parent's status.
_STATUS: Final[Mapping[type[TokenwardError], int]] = MappingProxyType(
    {
        InvalidToken: 401,
        InvalidCredentials: 401,
        AccessDenied: 403,
        CSRFError: 403,
        InvalidRequest: 400,
        InvalidGrant: 400,  # RFC 6749 sec. 5.2
        Throttled: 429,  # RFC 6585 sec. 4
        AuthError: 400,
        UserNotFound: 404,
        UserExists: 409,
        UserError: 400,
        StorageUnavailable: 503,
        KeySetUnavailable: 503,
        ConfigurationError: 500,
        InvalidKey: 500,
    }
)


def _classify(exc: TokenwardError) -> type[TokenwardError] | None:
    for klass in type(exc).__mro__:
        if klass in _STATUS:
            return klass
    return None


def status_for(exc: TokenwardError) -> int:
    """HTTP status for ``exc`` (500 for codes that only server misconfiguration raises)."""
    klass = _classify(exc)
    return 500 if klass is None else _STATUS[klass]


def error_body(exc: TokenwardError) -> dict[str, str]:
    """The JSON body for ``exc``.

    Every :class:`InvalidToken` collapses to the generic ``invalid_token`` body, every
    :class:`CSRFError` to one ``csrf_failed`` body, and server faults to ``server_error``,
    so no internal detail reaches the client.
    """
    if isinstance(exc, InvalidToken):
        return {"error": InvalidToken.code, "error_description": INVALID_TOKEN_DESCRIPTION}
    if isinstance(exc, CSRFError):
        # One body for every CSRF failure too; the precise reason is only logged.
        return {"error": CSRFError.code, "error_description": CSRFError.description}
    if status_for(exc) == 500:
        return {"error": _SERVER_ERROR, "error_description": "internal server error"}
    return {"error": exc.code, "error_description": exc.description}


def bearer_challenge(error: str | None = None, *, realm: str | None = None) -> str:
    """A ``WWW-Authenticate`` value for the Bearer scheme (RFC 6750 sec. 3).

    Without ``error`` (the request carried no credentials) no error code is sent, as
    RFC 6750 sec. 3.1 asks.
    """
    params = []
    if realm is not None:
        params.append(f'realm="{realm}"')
    if error is not None:
        params.append(f'error="{error}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def _headers(exc: TokenwardError, realm: str | None) -> dict[str, str]:
    if isinstance(exc, InvalidToken):
        return {"WWW-Authenticate": bearer_challenge(InvalidToken.code, realm=realm)}
    if isinstance(exc, AccessDenied):
        return {"WWW-Authenticate": bearer_challenge(AccessDenied.code, realm=realm)}
    if isinstance(exc, InvalidCredentials):
        # RFC 9110 sec. 15.5.2: a 401 carries a challenge.
        return {"WWW-Authenticate": bearer_challenge(realm=realm)}
    if isinstance(exc, Throttled):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, StorageUnavailable | KeySetUnavailable):
        return {"Retry-After": _UNAVAILABLE_RETRY_AFTER}
    return {}


#: RFC 6749 sec. 5.1 (``no-store``; ``Pragma: no-cache`` for HTTP/1.0 caches): on every
#: response carrying tokens or errors. The one definition the service imports too.
NO_STORE: Final[Mapping[str, str]] = MappingProxyType(
    {"Cache-Control": "no-store", "Pragma": "no-cache"}
)


def error_response(exc: TokenwardError, *, realm: str | None = None) -> JSONResponse:
    """The complete HTTP response for ``exc`` (status, body, headers, ``no-store``)."""
    headers = {**_headers(exc, realm), **NO_STORE}
    return JSONResponse(error_body(exc), status_code=status_for(exc), headers=headers)


def unauthorized_response(*, realm: str | None = None) -> JSONResponse:
    """401 for a request that carried no credentials at all (RFC 6750 sec. 3.1).

    The body is the generic invalid-token body; only the challenge omits the error code.
    """
    headers = {"WWW-Authenticate": bearer_challenge(realm=realm), **NO_STORE}
    body = {"error": InvalidToken.code, "error_description": INVALID_TOKEN_DESCRIPTION}
    return JSONResponse(body, status_code=401, headers=headers)


class TokenwardHTTPException(HTTPException):
    """What tokenward's FastAPI dependencies raise.

    It is a Starlette ``HTTPException``, so even an app that never called
    :func:`install_error_handlers` answers with the right status and headers (and never a
    500); with the handlers installed the body is the tokenward body.
    """

    def __init__(self, error: TokenwardError, response: Response) -> None:
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        super().__init__(status_code=response.status_code, detail=error.code, headers=headers)
        #: the error that caused it (its ``code`` is the one in the body)
        self.error = error
        #: the fully rendered response
        self.response = response


def install_error_handlers(app: Starlette, *, realm: str | None = None) -> None:
    """Map every :class:`~tokenward.errors.TokenwardError` raised by a route (or raised as
    :class:`TokenwardHTTPException` by a dependency) to its tokenward response.

    :param realm: optional ``realm`` for ``WWW-Authenticate`` challenges.
    """

    async def on_tokenward_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TokenwardError)
        return error_response(exc, realm=realm)

    async def on_tokenward_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TokenwardHTTPException)
        return exc.response

    app.add_exception_handler(TokenwardError, on_tokenward_error)
    app.add_exception_handler(TokenwardHTTPException, on_tokenward_http)
    app.add_exception_handler(HTTPException, on_http_exception)
    try:
        from fastapi.exceptions import RequestValidationError
    except ImportError:  # a plain Starlette app has no request validation
        return
    app.add_exception_handler(RequestValidationError, on_validation_error)


#: codes for the framework's own HTTP errors; others use the status phrase in snake case
_HTTP_CODES: Final[Mapping[int, str]] = MappingProxyType(
    {400: InvalidRequest.code, 404: "not_found", 405: "method_not_allowed"}
)
#: the one 422 description: field names of a bad body may come from the input itself (an
#: unexpected key), so nothing of the request is echoed
_VALIDATION_DESCRIPTION: Final = (
    "malformed request: a field is missing, unexpected, of the wrong type or too long"
)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """A Starlette/FastAPI ``HTTPException`` (404, 405, an unparsable body's 400, ...) in the
    tokenward error shape. The status and the exception's headers (``Allow`` of a 405,
    RFC 9110 sec. 15.5.6) are kept; the description is the status phrase, never ``detail``
    (which may carry parser text)."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    if status >= 500:
        code = _SERVER_ERROR
    else:
        code = _HTTP_CODES.get(status) or phrase.lower().replace(" ", "_").replace("-", "_")
    headers = {**(exc.headers or {}), **NO_STORE}
    body = {"error": code, "error_description": phrase.lower()}
    return JSONResponse(body, status_code=status, headers=headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's ``RequestValidationError`` (422): ``invalid_request`` with a fixed
    description."""
    body = {"error": InvalidRequest.code, "error_description": _VALIDATION_DESCRIPTION}
    return JSONResponse(body, status_code=422, headers=dict(NO_STORE))
