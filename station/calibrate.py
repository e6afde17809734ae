"""``station calibrate pad NAME``: known weights on a pad, force fitted against conductance.

The operator places each weight in turn; the station records the pad for a settling time and a
measuring window, checks the reading is steady, fits (see :mod:`station.calibration`) and stores
the fit only if it is good. On the simulated backend a virtual operator places the weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hardware.clock import NS_PER_S
from station.calibration import (
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    PadCalibration,
    fit_calibration,
    save_calibration,
)
from station.force import codes_to_volts, volts_to_conductance_s
from station.recorder import Recorder
from station.rig import Rig

DEFAULT_WEIGHTS_G = (0.0, 100.0, 200.0, 500.0, 1000.0)
SETTLE_S = 1.0
MEASURE_S = 1.0
#: A reading whose conductance varies by more than this (CV) over the window is not steady.
MAX_STEADY_CV = 0.05


class Operator(Protocol):
    def place(self, pad: str, weight_g: float) -> None: ...


class TerminalOperator:
    """Asks a person at the terminal."""

    def __init__(self, ask: Callable[[str], str] = input, say: Callable[[str], None] = print):
        self.ask = ask
        self.say = say

    def place(self, pad: str, weight_g: float) -> None:
        if weight_g == 0:
            self.ask(f"Clear {pad}: nothing on it. Press Enter when ready. ")
        else:
            self.ask(
                f"Place {weight_g:g} g centred and flat on {pad}, nothing else touching. Press Enter. "
            )


class SimOperator:
    """The simulated backend's operator: puts the weight's force on the simulated pad.

    ``misplace`` maps a weight to the fraction of it that actually lands on the pad (to test that
    a bad calibration is refused).
    """

    def __init__(
        self,
        rig: Rig,
        say: Callable[[str], None] = print,
        misplace: dict[float, float] | None = None,
    ):
        self.rig = rig
        self.say = say
        self.misplace = misplace or {}

    def place(self, pad: str, weight_g: float) -> None:
        force_n = weight_g / 1000.0 * STANDARD_GRAVITY_M_S2 * self.misplace.get(weight_g, 1.0)
        self.rig.sim_pads[pad].force = lambda t_ns, f=force_n: f
        self.say(f"(virtual operator) {weight_g:g} g placed on {pad}")


@dataclass
class CalibrationPoint:
    weight_g: float
    force_n: float
    conductance_s: float
    cv: float
    samples: int


def measure_pad(
    rig: Rig,
    pad: str,
    operator: Operator,
    weights_g: Sequence[float],
    say: Callable[[str], None] = print,
) -> list[CalibrationPoint]:
    spec = rig.config.pad(pad)
    gain = rig.config.adc(spec.adc).gain
    rec = Recorder(rig, pads=[pad], inputs=[])
    points: list[CalibrationPoint] = []
    try:
        rec.start()
        reader = rec.readers.get(spec.adc)
        if reader is None or not reader.answering:
            raise CalibrationError(
                f"{pad}: its ADC {spec.adc} is not answering: "
                + "; ".join(f.message for f in rec.faults)
            )
        stream = rec.pads[pad]
        for w in weights_g:
            operator.place(pad, w)
            rec.run_for(SETTLE_S)
            t_start = rig.clock.now_ns()
            rec.run_for(MEASURE_S)
            t, codes = stream.arrays()
            window = codes[t >= t_start]
            if len(window) < 10:
                raise CalibrationError(
                    f"{pad}: only {len(window)} samples in {MEASURE_S} s; check the ADC (station selftest)"
                )
            g = volts_to_conductance_s(
                codes_to_volts(window, gain), spec.supply_v, spec.divider_ohm
            )
            mean = float(g.mean())
            cv = float(g.std() / mean) if mean > 0 else 0.0
            if w > 0 and cv > MAX_STEADY_CV:
                raise CalibrationError(
                    f"{pad}: reading not steady under {w:g} g (CV {cv:.1%}); keep the weight still and repeat"
                )
            points.append(
                CalibrationPoint(w, w / 1000.0 * STANDARD_GRAVITY_M_S2, mean, cv, len(window))
            )
            say(
                f"  {w:7g} g  {points[-1].force_n:6.2f} N  G = {mean * 1e6:9.3f} uS  ({len(window)} samples)"
            )
    finally:
        rec.close()
    return points


def calibrate_pad(
    rig: Rig,
    pad: str,
    operator: Operator,
    weights_g: Sequence[float] = DEFAULT_WEIGHTS_G,
    say: Callable[[str], None] = print,
) -> PadCalibration:
    """Measure, fit, and store a pad's calibration. Raises CalibrationError for a poor fit."""
    points = measure_pad(rig, pad, operator, weights_g, say)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rig.clock.wall_ns() / NS_PER_S))
    fit = fit_calibration([p.conductance_s for p in points], [p.force_n for p in points], when)
    path = save_calibration(rig.config.data_dir, pad, fit)
    resid = np.array([p.force_n - fit.force_n(p.conductance_s) for p in points])
    say(
        f"{pad}: force_n = {fit.slope_n_per_s:.1f} * G + {fit.offset_n:.3f}  "
        f"(R^2 {fit.r2:.4f}, largest residual {np.max(np.abs(resid)):.3f} N); saved to {path}"
    )
    return fit
