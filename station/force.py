"""Force pads: ADC codes to newtons, per-sample timestamps, gaps, and press events.

A pad is an FSR in a divider, Vout = V+ * RM / (RM + R_fsr). Its conductance
G = Vout / (RM * (V+ - Vout)) is close to linear in force (timing-and-hardware.md, FSR 402), so
each pad is calibrated with known weights to ``force_n = slope_n_per_s * G + offset_n``
(:mod:`station.calibration`). Raw codes and their timestamps are kept, so forces can always be
recomputed with a later calibration.

Press detection on a pad uses hysteresis (onset above ``onset_n``, offset below ``offset_n``);
the resulting crossings go through the timing core with the pad's minimum on/off times
(TeensyTap's rule), so pad presses become :class:`~station.timing.Event` like button presses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from station.calibration import PadCalibration
from station.config import PadSpec

#: PGA full-scale range (V) by gain, ADS1x15 datasheet (as in the adafruit driver).
FULL_SCALE_V = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}


def codes_to_volts(codes: np.ndarray, gain: float) -> np.ndarray:
    """Signed 16-bit conversion codes (as the adafruit driver returns them) to volts."""
    return codes.astype(np.float64) * (FULL_SCALE_V[gain] / 32768.0)


def volts_to_conductance_s(volts: np.ndarray, supply_v: float, divider_ohm: float) -> np.ndarray:
    """Divider output to FSR conductance (S); saturates just below the supply."""
    v = np.clip(volts, 0.0, supply_v * 0.999)
    return v / (divider_ohm * (supply_v - v))


class _Growable:
    """An append-only typed array that doubles its storage (no Python object per sample)."""

    def __init__(self, dtype: type, capacity: int = 4096):
        self._data = np.empty(capacity, dtype=dtype)
        self.n = 0

    def append(self, value: int) -> None:
        if self.n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.n] = value
        self.n += 1

    def view(self) -> np.ndarray:
        return self._data[: self.n]


@dataclass(frozen=True)
class PadGap:
    reason: str
    count: int
    t_first_ns: int
    t_last_ns: int


class PadStream:
    """Samples of one pad: timestamps, raw codes, force, gaps and press crossings.

    :param spec: the pad's configuration.
    :param gain: its ADC's PGA gain.
    :param calibration: force fit for this pad.
    :param on_crossing: ``cb(t_ns, level)`` for hysteresis crossings (timing-core ingress).
    """

    def __init__(
        self,
        spec: PadSpec,
        gain: float,
        calibration: PadCalibration,
        on_crossing: Callable[[int, int], None] | None = None,
    ):
        self.spec = spec
        self.gain = gain
        self.calibration = calibration
        self._on_crossing = on_crossing
        self._t = _Growable(np.int64)
        self._code = _Growable(np.int16)
        self.gaps: list[PadGap] = []
        self._above = False
        self._lock = threading.Lock()
        self._volts_per_code = FULL_SCALE_V[gain] / 32768.0
        self.last_force_n = 0.0
        self.last_t_ns: int | None = None

    def force_of_code(self, code: int) -> float:
        spec = self.spec
        v = min(max(code * self._volts_per_code, 0.0), spec.supply_v * 0.999)
        g = v / (spec.divider_ohm * (spec.supply_v - v))
        return self.calibration.force_n(g)

    def add(self, t_ns: int, code: int) -> None:
        """One sample from the ADC reader's thread."""
        with self._lock:
            self._t.append(t_ns)
            self._code.append(code)
        force = self.force_of_code(code)
        self.last_force_n = force
        self.last_t_ns = t_ns
        if self._above:
            if force <= self.spec.offset_n:
                self._above = False
                if self._on_crossing is not None:
                    self._on_crossing(t_ns, 0)
        elif force >= self.spec.onset_n:
            self._above = True
            if self._on_crossing is not None:
                self._on_crossing(t_ns, 1)

    def add_gap(self, reason: str, count: int, t_first_ns: int, t_last_ns: int) -> None:
        self.gaps.append(PadGap(reason, count, t_first_ns, t_last_ns))

    @property
    def n_samples(self) -> int:
        return self._t.n

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (t_ns int64, code int16) so far."""
        with self._lock:
            return self._t.view().copy(), self._code.view().copy()

    def force_n(self, codes: np.ndarray | None = None) -> np.ndarray:
        """Force (N) of every sample (or of the given codes), with the current calibration."""
        if codes is None:
            codes = self.arrays()[1]
        g = volts_to_conductance_s(
            codes_to_volts(codes, self.gain), self.spec.supply_v, self.spec.divider_ohm
        )
        return self.calibration.force_n_array(g)

    def achieved_sps(self) -> float:
        t = self._t.view()
        if len(t) < 2 or t[-1] == t[0]:
            return 0.0
        return float((len(t) - 1) * 1e9 / (t[-1] - t[0]))
