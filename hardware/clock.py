"""Clocks: integer nanoseconds on CLOCK_MONOTONIC, or a virtual clock for simulation and tests.

Every timestamp in the station is an ``int`` of nanoseconds on one of these clocks. On Linux,
``time.monotonic_ns()`` is CLOCK_MONOTONIC, the clock the kernel uses to stamp GPIO edges.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

NS_PER_S = 1_000_000_000


def ticks_to_ns(ticks: float) -> int:
    """Convert gpiozero pin ticks (float seconds on CLOCK_MONOTONIC) to integer ns.

    gpiozero's lgpio factory passes the kernel's ``timestamp_ns / 1e9``; rounding recovers the
    kernel's integer exactly while the float keeps sub-nanosecond resolution (monotonic times
    below about 2**52 ns, i.e. 52 days of uptime) and to within a few ns beyond.
    """
    return round(ticks * NS_PER_S)


def ns_to_ticks(t_ns: int) -> float:
    """Inverse of :func:`ticks_to_ns`: what a gpiozero factory passes for an edge at ``t_ns``."""
    return t_ns / NS_PER_S


class Clock(Protocol):
    """A source of integer-nanosecond monotonic time."""

    virtual: bool

    def now_ns(self) -> int: ...

    def wall_ns(self) -> int: ...


class MonotonicClock:
    """The host's CLOCK_MONOTONIC (``time.monotonic_ns``) and CLOCK_REALTIME for anchors."""

    virtual = False

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def wall_ns(self) -> int:
        return time.time_ns()


class VirtualClock:
    """A clock that only moves when told to: deterministic time for simulation and tests.

    ``now_ns`` never goes backwards. ``wall_epoch_ns`` fixes the UTC time that corresponds to
    virtual zero, so wall-clock anchors of simulated recordings are reproducible too.
    """

    virtual = True

    def __init__(
        self, start_ns: int = 1_000 * NS_PER_S, wall_epoch_ns: int = 1_767_225_600 * NS_PER_S
    ):
        self._now_ns = int(start_ns)
        self._wall_offset_ns = int(wall_epoch_ns)
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._now_ns

    def wall_ns(self) -> int:
        return self._wall_offset_ns + self._now_ns

    def advance_to(self, t_ns: int) -> int:
        """Move the clock forward to ``t_ns`` (no-op when already later). Returns the new time."""
        with self._lock:
            if t_ns > self._now_ns:
                self._now_ns = int(t_ns)
            return self._now_ns

    def advance(self, dt_ns: int) -> int:
        """Move the clock forward by ``dt_ns`` (must be >= 0)."""
        if dt_ns < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now_ns += int(dt_ns)
            return self._now_ns
