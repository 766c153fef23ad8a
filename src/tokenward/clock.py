"""Injectable clocks. Code that reads time takes a ``Clock``; tests pass a ``FixedClock``."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Source of the current time as POSIX seconds (float)."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock (``time.time()``)."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that only moves when told to; for tests and simulations."""

    __slots__ = ("_now",)

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self._now = float(now)

    def now(self) -> float:
        return self._now

    def set(self, now: float) -> None:
        self._now = float(now)

    def advance(self, seconds: float) -> None:
        self._now += seconds
