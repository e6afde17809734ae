"""A rest timer on an injected monotonic clock: between blocks of a battery (sets) and between
the batteries of a self-guided session.

The rest lasts ``total_s``; the person may end it early once ``min_s`` has passed (a rest that can
be skipped at once would be no rest). Nothing here sleeps: the owner asks :attr:`RestTimer.left_s`
and :attr:`RestTimer.done` when it draws or polls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from station.errors import StationError

#: Product choices (no source prescribes a rest between the blocks of a dexterity battery): the
#: rest a self-guided assignment gets unless the clinician sets another (0-600 s), and the part
#: of it that cannot be skipped.
DEFAULT_REST_S: Final = 30.0
MIN_REST_S: Final = 10.0


@dataclass(frozen=True)
class RestInfo:
    """A rest as a screen shows it."""

    total_s: float
    left_s: float
    skip_in_s: float  # until it may be ended early (0: now)
    next_text: str  # what comes after it, e.g. "Finger Tapping Test, left hand"

    @property
    def can_skip(self) -> bool:
        return self.skip_in_s <= 0.0


class RestTimer:
    """``total_s`` of rest from now on ``clock`` (seconds); skippable after ``min_s``."""

    def __init__(
        self,
        clock: Callable[[], float],
        total_s: float,
        min_s: float = MIN_REST_S,
        next_text: str = "",
    ):
        if total_s < 0 or min_s < 0:
            raise StationError("a rest lasts 0 s or more")
        self.clock = clock
        self.total_s = float(total_s)
        self.min_s = min(float(min_s), self.total_s)
        self.next_text = next_text
        self.started_s = clock()
        self._skipped = False

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.clock() - self.started_s)

    @property
    def left_s(self) -> float:
        return 0.0 if self._skipped else max(0.0, self.total_s - self.elapsed_s)

    @property
    def can_skip(self) -> bool:
        return self.elapsed_s >= self.min_s

    @property
    def done(self) -> bool:
        return self._skipped or self.elapsed_s >= self.total_s

    def skip(self) -> None:
        """End the rest early (refused before ``min_s``)."""
        if self.done:
            return
        if not self.can_skip:
            wait_s = self.min_s - self.elapsed_s
            raise StationError(f"rest a little longer: you can go on in {wait_s:.0f} s")
        self._skipped = True

    def info(self) -> RestInfo:
        skip_in_s = 0.0 if self.done else max(0.0, self.min_s - self.elapsed_s)
        return RestInfo(self.total_s, self.left_s, skip_in_s, self.next_text)
