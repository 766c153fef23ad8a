"""Pure-ASGI middleware: request ids and the request-latency histogram.

Pure ASGI (no ``BaseHTTPMiddleware``) so the per-request cost stays a few microseconds.
The latency metric is labelled by the matched route *template*, never the raw path, so an
attacker cannot grow label cardinality.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING, Final

from tokenward.observability import log_context

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from tokenward.observability import Metrics

__all__ = ["RequestContextMiddleware"]

#: accept a caller's request id only when it is short and harmless in a log line
_REQUEST_ID_RE: Final = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_UNMATCHED: Final = "<unmatched>"


class RequestContextMiddleware:
    """Sets ``scope["state"]["request_id"]``, binds it to every log line of the request
    (``tokenward.observability.log_context``), echoes ``X-Request-ID``, records latency."""

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

        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe_request(
                route=_route_label(scope),
                method=scope["method"],  # folded to a fixed set by observe_request
                status=status,
                seconds=time.perf_counter() - start,
            )


def _route_label(scope: Scope) -> str:
    """The matched route's template (``/users/{id}``), else the fixed ``<unmatched>``.

    Only a string template of a matched route object qualifies: never ``scope["path"]``,
    which the client chooses freely (unbounded label cardinality).
    """
    template = getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) and template else _UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID_RE.fullmatch(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex
