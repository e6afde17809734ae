"""The raw record of a trial, as stored and as scored.

A :class:`TrialData` holds everything a protocol's pure scoring function needs: debounced events,
force samples as typed arrays (raw ADC codes with their conversion, so forces can be recomputed
with a later calibration), cues with scheduled and actual onsets, the parameters and the go time.
Metrics come out as :class:`Metric` with a unit (UCUM where one exists: ``s``, ``ms``, ``N``,
``Hz``, ``/s``, ``%``, ``1`` for counts and ratios).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

#: PGA full-scale range (V) by gain, ADS1x15 datasheet (as in the adafruit driver).
FULL_SCALE_V = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None
    unit: str
    detail: str = ""  # e.g. why a value is missing


@dataclass(frozen=True)
class EventRecord:
    t_ns: int
    channel: str
    level: int
    flags: int = 0
    seq: int = 0


@dataclass(frozen=True)
class CueRecord:
    output: str
    kind: str
    scheduled_on_ns: int
    scheduled_off_ns: int
    actual_on_ns: int | None = None
    actual_off_ns: int | None = None
    loopback_on_ns: int | None = None

    @property
    def onset_ns(self) -> int:
        """The best measured onset: loopback edge, else the write, else the schedule."""
        for t in (self.loopback_on_ns, self.actual_on_ns):
            if t is not None:
                return t
        return self.scheduled_on_ns


@dataclass
class PadSamples:
    """One pad's samples: times (int64 ns), raw codes (int16), and how to turn codes into newtons."""

    pad: str
    t_ns: np.ndarray
    code: np.ndarray
    gain: float
    supply_v: float
    divider_ohm: float
    slope_n_per_s: float
    offset_n: float
    calibrated: bool
    gaps: list[dict[str, Any]] = field(default_factory=list)

    def force_n(self) -> np.ndarray:
        volts = np.clip(
            self.code.astype(np.float64) * (FULL_SCALE_V[self.gain] / 32768.0),
            0.0,
            self.supply_v * 0.999,
        )
        conductance_s = volts / (self.divider_ohm * (self.supply_v - volts))
        return np.maximum(0.0, self.slope_n_per_s * conductance_s + self.offset_n)


@dataclass
class TrialData:
    """Everything recorded in one trial; the input of a protocol's scoring function."""

    protocol: str
    version: str
    params: dict[str, Any]
    hand: str  # "right" | "left" | "both"
    practice: bool
    start_t_ns: int
    end_t_ns: int
    go_t_ns: int | None
    events: list[EventRecord]
    samples: dict[str, PadSamples]
    cues: list[CueRecord]
    roles: dict[str, str]  # channel -> role: "hole", "button:index", "pad:home", "pad:index", ...
    status: str = "complete"  # "complete" | "incomplete" | "invalid" | "timeout"
    notes: str = ""

    def channel_events(self, channel: str, level: int | None = None) -> list[EventRecord]:
        return [
            e for e in self.events if e.channel == channel and (level is None or e.level == level)
        ]

    def channels_with_role(self, prefix: str) -> list[str]:
        return [
            ch for ch, role in self.roles.items() if role == prefix or role.startswith(prefix + ":")
        ]


_PER_ANNOTATION: Final = re.compile(r"/\{([^{}]+)\}")
_ANNOTATION: Final = re.compile(r"\{([^{}]+)\}")


def unit_text(unit: str) -> str:
    """A UCUM unit for people: its annotations in words (``ms/{tap}`` -> ``ms per tap``,
    ``{taps}/s`` -> ``taps/s``); the stored unit stays UCUM."""
    return _ANNOTATION.sub(r"\1", _PER_ANNOTATION.sub(r" per \1", unit))
