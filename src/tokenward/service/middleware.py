"""Pure-ASGI middleware: request ids and the request-latency histogram.

Pure ASGI (no ``BaseHTTPMiddleware``) so the per-request cost stays a few microseconds.
The latency metric is labelled by the matched route *template*, never the raw path, so an
attacker cannot grow label cardinality.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from tokenward.observability import Metrics

__all__ = [
    "CURRENT_REQUEST_ID",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "request_id_logging",
]

#: id of the request being handled in this context. Module-level on purpose: the Python docs
#: ask for ContextVars to be created at module level (contexts keep strong references to
#: them); its value is per task, so concurrent apps and requests never see each other's.
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("tokenward_request_id", default=None)

#: the loggers whose records get the request id (logger filters do not apply to children)
SERVICE_LOGGERS: Final = (
    "tokenward.service",
    "tokenward.service.auth",
    "tokenward.web",
    "tokenward.sessions",
    "tokenward.sessions.throttle",
    "tokenward.keyring",
    "tokenward.storage.redis",
)

#: accept a caller's request id only when it is short and harmless in a log line
_REQUEST_ID_RE: Final = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_UNMATCHED: Final = "<unmatched>"


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to log records that do not carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request_id = CURRENT_REQUEST_ID.get()
            if request_id is not None:
                record.request_id = request_id
        return True


@contextmanager
def request_id_logging() -> Iterator[None]:
    """Install a :class:`RequestIdFilter` on the service loggers for the app's lifetime."""
    log_filter = RequestIdFilter()
    loggers = [logging.getLogger(name) for name in SERVICE_LOGGERS]
    for logger in loggers:
        logger.addFilter(log_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(log_filter)


class RequestContextMiddleware:
    """Sets ``scope["state"]["request_id"]`` and :data:`CURRENT_REQUEST_ID` (for log
    records), echoes ``X-Request-ID``, records latency."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode("ascii"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        reset = CURRENT_REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            CURRENT_REQUEST_ID.reset(reset)
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED
            self.metrics.observe_request(
                route=template,
                method=scope["method"],
                status=status,
                seconds=time.perf_counter() - start,
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID_RE.fullmatch(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex
