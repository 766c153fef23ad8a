"""Metrics and structured logs for the tokenward service.

Nothing here is global: every app builds its own :class:`Metrics` (its own Prometheus
``CollectorRegistry``), so two apps in one process (tests, multi-tenant hosts) never share
counters, and ``configure_logging`` only touches the handlers it installed itself.

Metrics (what the service increments, and where)::

    metrics = Metrics()
    metrics.tokens_issued.inc()                                  # after TokenIssuer.issue
    metrics.token_validations.labels(result="ok").inc()          # or the error .code
    metrics.refresh.labels(outcome="rotated").inc()              # REFRESH_OUTCOMES
    metrics.logins.labels(outcome="ok").inc()                    # LOGIN_OUTCOMES
    metrics.key_rotations.inc()                                  # KeyManager(on_rotate=...)
    metrics.observe_request(route="/me", method="GET", status=200, seconds=0.002)
    body, content_type = metrics.render()                        # GET /metrics

Convenience recorders :meth:`Metrics.validation`, :meth:`Metrics.refresh_outcome`,
:meth:`Metrics.login_outcome` map an exception (or ``None`` for success) to the label.

Logs: ``configure_logging("INFO", json=True)`` installs one handler on the ``tokenward``
logger whose :class:`JsonLogFormatter` writes one JSON object per line with the keys
``ts level logger event`` plus, when given through ``extra=`` or bound with
:func:`log_context`, ``request_id sub jti code`` and any other field. A request middleware
binds the request id once for everything logged while serving that request::

    with log_context(request_id=rid):
        await app(scope, receive, send)

Security events go through :func:`security_event`::

    security_event(log, "refresh_token_reuse_detected", sub=user_id, code="invalid_grant")

which logs at WARNING with a stable ``event`` name (see :data:`SECURITY_EVENTS`).

Secrets never reach a log line: the formatter drops any field named like a secret
(``password``, ``secret``, ``token``, ``refresh_token``, ``authorization``...), and replaces
any value that looks like a compact JWS (``eyJ...``, RFC 7515 sec. 7.1) or a tokenward refresh
token (``rt_...``) with ``"[redacted]"``; the message text itself gets the same scrub.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "HTTP_METHODS",
    "LOGIN_OUTCOMES",
    "REFRESH_OUTCOMES",
    "SECURITY_EVENTS",
    "JsonLogFormatter",
    "Metrics",
    "configure_logging",
    "log_context",
    "redact",
    "security_event",
]

#: label values of ``refresh_total{outcome}``
REFRESH_OUTCOMES: Final = ("rotated", "reuse_detected", "expired", "revoked", "invalid")
#: label values of ``logins_total{outcome}``
LOGIN_OUTCOMES: Final = ("ok", "failed", "throttled")
#: stable names of the WARNING-level security events (never rename; alerts key on them)
SECURITY_EVENTS: Final = (
    "refresh_token_reuse_detected",
    "session_family_revoked",
    "login_throttled",
    "login_failed",
    "signing_key_rotated",
    "signing_key_retired",
    "signing_keys_pruned",
    "user_sessions_revoked",
    "user_disabled",
    "csrf_failed",
)

#: request latency buckets (seconds): validation is sub-millisecond, Argon2id logins ~50 ms
_LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class Metrics:
    """The service's Prometheus metrics, in a registry private to this instance.

    :param namespace: optional prefix (``tokenward`` gives ``tokenward_tokens_issued_total``);
        empty by default so the names match the documentation exactly.
    """

    def __init__(self, *, namespace: str = "") -> None:
        # Imported here: the logging half of this module works without prometheus-client.
        from prometheus_client import CollectorRegistry, Counter, Histogram

        #: the registry :meth:`render` exposes; pass it to extra collectors if needed
        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        ns = namespace
        self.tokens_issued: Counter = Counter(
            "tokens_issued", "Access tokens issued", namespace=ns, registry=self.registry
        )
        self.token_validations: Counter = Counter(
            "token_validations",
            "Access-token validations by result (ok or the error code)",
            ["result"],
            namespace=ns,
            registry=self.registry,
        )
        self.refresh: Counter = Counter(
            "refresh",
            "Refresh-token exchanges by outcome",
            ["outcome"],
            namespace=ns,
            registry=self.registry,
        )
        self.logins: Counter = Counter(
            "logins",
            "Password logins by outcome",
            ["outcome"],
            namespace=ns,
            registry=self.registry,
        )
        self.key_rotations: Counter = Counter(
            "key_rotations", "Signing-key rotations", namespace=ns, registry=self.registry
        )
        self.request_duration: Histogram = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["route", "method", "status"],
            namespace=ns,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Pre-create the closed label sets so dashboards see zeros, not gaps; the children
        # are kept so recording one skips the ``labels()`` lookup (``ok`` is counted on every
        # authenticated request).
        self._validation_ok = self.token_validations.labels(result="ok")
        self._refresh_by_outcome = {o: self.refresh.labels(outcome=o) for o in REFRESH_OUTCOMES}
        self._login_by_outcome = {o: self.logins.labels(outcome=o) for o in LOGIN_OUTCOMES}

    # --- recorders --- #

    def validation(self, error: BaseException | None = None) -> None:
        """Count one validation: ``result="ok"`` or the error's ``code``."""
        if error is None:
            self._validation_ok.inc()
            return
        code = getattr(error, "code", None)
        self.token_validations.labels(result=code if isinstance(code, str) else "error").inc()

    def refresh_outcome(self, outcome: str) -> None:
        """Count one refresh exchange; ``outcome`` must be one of :data:`REFRESH_OUTCOMES`."""
        _closed_label(self._refresh_by_outcome, outcome, "refresh").inc()

    def login_outcome(self, outcome: str) -> None:
        """Count one login; ``outcome`` must be one of :data:`LOGIN_OUTCOMES`."""
        _closed_label(self._login_by_outcome, outcome, "login").inc()

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        """Record one HTTP request. ``route`` must be the route *template* (``/users/{id}``),
        never the raw path, or label cardinality is attacker-controlled. ``method`` is
        folded into :data:`HTTP_METHODS` or ``"OTHER"`` (RFC 9110 sec. 9.1 lets a client
        send any token as a method; each one would otherwise be a new series)."""
        label = method if method in HTTP_METHODS else "OTHER"
        self.request_duration.labels(route=route, method=label, status=str(status)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry and its content type."""
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """Current value of a sample (``"logins_total"``, ``{"outcome": "ok"}``); 0 if absent."""
        got = self.registry.get_sample_value(name, dict(labels or {}))
        return 0.0 if got is None else float(got)


def _closed_label(children: Mapping[str, Counter], outcome: str, what: str) -> Counter:
    """The child counter of ``outcome`` in a closed label set; ValueError for another."""
    try:
        return children[outcome]
    except KeyError:
        raise ValueError(f"unknown {what} outcome {outcome!r}") from None


#: the ``method`` label values of ``http_request_duration_seconds``; anything else is OTHER
HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- logging --- #

#: compact JWS/JWT: base64url of '{"' starts with "eyJ" (RFC 7515 sec. 7.1)
_JWT_RE: Final = re.compile(r"eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){1,4}")
#: opaque refresh tokens minted by tokenward.sessions
_REFRESH_RE: Final = re.compile(r"(?<![A-Za-z0-9])rt_[A-Za-z0-9_.~-]{8,}")
#: bearer credentials in free text
_BEARER_RE: Final = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")
_SECRET_NAME_RE: Final = re.compile(
    r"(?i)(passw(or)?d|secret|token|authorization|cookie|private|credential|^kek$|api_?key)"
)
#: log-safe names that merely contain "token"
_ALLOWED_NAMES: Final = frozenset({"token_type", "tokens_issued", "token_count"})
REDACTED: Final = "[redacted]"

#: attributes every LogRecord has; anything else came from ``extra=``
_RECORD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "taskName"}
_FIRST_FIELDS: Final = ("request_id", "sub", "jti", "code")


def redact(value: str) -> str:
    """Replace anything that looks like a JWT, refresh token or bearer credential."""
    value = _JWT_RE.sub(REDACTED, value)
    value = _REFRESH_RE.sub(REDACTED, value)
    return _BEARER_RE.sub("Bearer " + REDACTED, value)


def _is_secret_name(name: str) -> bool:
    return name not in _ALLOWED_NAMES and _SECRET_NAME_RE.search(name) is not None


def _clean(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy of ``value`` with secrets removed (bounded depth)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray):
        return REDACTED  # raw bytes in a log line are never useful and may be key material
    if depth >= 4:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            str(k): _clean(v, depth + 1) for k, v in value.items() if not _is_secret_name(str(k))
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in value]
    return redact(str(value))


#: fields bound by :func:`log_context` for the current task (read-only mapping per context)
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar(
    "tokenward_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` (e.g. ``request_id``) to every log line of the current context.

    Nested calls add to the outer fields; an explicit ``extra=`` on a log call wins.
    """
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **fields}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``ts level logger event`` + context, secrets scrubbed.

    ``event`` is the ``event`` extra when given (security events), else the message.
    Fields whose *name* looks secret are dropped; values that look like tokens are redacted.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _RECORD_ATTRS and not k.startswith("_") and not _is_secret_name(k)
        }
        for key, value in _CONTEXT.get().items():
            if not _is_secret_name(key):
                extras.setdefault(key, value)
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "event": redact(str(extras.pop("event", message))),
        }
        if "event" in vars(record) and message and message != out["event"]:
            out["message"] = redact(message)
        for key in _FIRST_FIELDS:
            if key in extras:
                out[key] = _clean(extras.pop(key))
        for key, value in sorted(extras.items()):
            out[key] = _clean(value)
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages and tracebacks may quote request data.
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str)


class _HandlerMarker(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (so it can replace only its own)."""


def configure_logging(
    level: str | int = "INFO", *, json: bool = True, logger_name: str = "tokenward"
) -> logging.Logger:
    """Send the ``tokenward`` loggers to stderr, as JSON lines (default) or plain text.

    Idempotent: calling it again replaces the handler it installed before and leaves any
    other handler alone. Returns the configured logger.
    """
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if isinstance(handler, _HandlerMarker):
            logger.removeHandler(handler)
    handler = _HandlerMarker(sys.stderr)
    if json:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(_PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level if isinstance(level, int) else level.upper())
    logger.propagate = False
    return logger


class _PlainFormatter(logging.Formatter):
    """Human-readable lines with the same token scrubbing as the JSON formatter."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def security_event(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log a security-relevant event at WARNING under a stable ``event`` name.

    :param event: one of :data:`SECURITY_EVENTS` (others are accepted, but document them)
    :param fields: context such as ``sub``, ``jti``, ``sid``, ``code``, ``request_id``;
        secret-looking names are dropped and token-looking values redacted by the formatter.
    """
    safe = {k: v for k, v in fields.items() if k not in _RECORD_ATTRS and not _is_secret_name(k)}
    logger.warning(event, extra={"event": event, **safe})
