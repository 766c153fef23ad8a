"""Strict JSON object parsing for JOSE headers and JWT claims (security profile rules 4, 10).

- input must be strict UTF-8 (no BOM, no UTF-16/32: RFC 8725 sec. 3.7, RFC 8259 sec. 8.1);
- the top level must be an object (RFC 7515 sec. 5.2 step 4, RFC 7519 sec. 7.2 step 10);
- duplicate member names are rejected (RFC 7515 sec. 4 allows reject-or-last-wins; we reject);
- ``NaN``/``Infinity`` literals and numbers that overflow to infinity are rejected
  (RFC 8259 sec. 6), and integers are bounded by CPython's int max-str-digits limit;
- nesting is bounded by the interpreter's recursion limit (``RecursionError`` is mapped);
- strings holding lone surrogates (``"\\ud800"``) are rejected so nothing downstream
  fails on ``.encode()``.

Every failure raises ``ValueError``; callers map it to ``MalformedToken``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["JSON_ERRORS", "loads_object", "loads_object_text"]

#: every exception the parser can raise on hostile input
JSON_ERRORS = (ValueError, RecursionError, UnicodeError, OverflowError, TypeError, StopIteration)
_JSON_WS = " \t\n\r"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float, strict=True
)
# the C scanner the decoder builds (typeshed does not declare the attribute)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _check_strings(value: Any) -> None:
    """Reject lone surrogates anywhere in a parsed value (only called when ``\\u`` occurs)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # UnicodeEncodeError on a lone surrogate
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads_object_text(text: str) -> dict[str, Any]:
    """Parse ``text`` as exactly one JSON object; raise ``ValueError`` otherwise."""
    start = 0
    if text[:1] != "{":
        start = len(text) - len(text.lstrip(_JSON_WS))
    obj, end = _SCAN(text, start)
    if end != len(text) and text[end:].strip(_JSON_WS):
        raise ValueError("extra data after JSON value")
    if type(obj) is not dict:
        raise ValueError("JSON value is not an object")
    if "\\u" in text:
        _check_strings(obj)
    return obj


def loads_object(data: bytes) -> dict[str, Any]:
    """Decode strict UTF-8 (BOM refused) and parse one JSON object."""
    text = data.decode("utf-8")
    if text[:1] == "\ufeff":
        raise ValueError("byte order mark")
    return loads_object_text(text)
