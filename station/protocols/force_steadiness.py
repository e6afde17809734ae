"""Force steadiness and tremor: holding a constant finger force at a percentage of maximum.

Procedure: the finger rests on its pad; at the go cue (a beep, and the finger's LED, lit for the
hold) the participant presses to the target (``target_percent`` of the maximal force; the kiosk
shows the target and a band around it, :meth:`ForceSteadiness.target_n`) and holds it as steadily
as possible until the LED goes out.

Sources (clinical-tests.md): steadiness is the SD and CV of the force at a target, e.g. 5, 25 or
50% of maximum (Kang 2014), hence the default ``target_percent = 25``; physiological tremor power
lies near 8-12 Hz (Novak & Newell 2017) and its peak frequency does not depend on the force
(Sutton & Sykes 1967); finger enslaving rises about 50% over a 15 s hold (Abolins 2020,
PMC7814910), so holds are kept short (``hold_s = 8``). Issue 3 asks for tremor as the peak
frequency and the power in 4-12 Hz of a Welch spectrum, hence the default band. The settling time,
band width and Welch segment length are station settings.

The maximal force comes from ``max_force_n``, which the runner fills from the participant's
``max_force`` result of the same session; when it is 0 (not measured) ``fallback_max_force_n``
(a station setting, not a norm) is used and the trial's metrics say so.

Scoring (pure): the stable window is ``[go + settle_s, go + hold_s)`` from the go cue's measured
onset. Over it: mean force, SD (ddof 1), CV = SD / mean; tremor from the Welch power spectral
density of the linearly detrended force (Hann segments of ``welch_segment_s``, 50% overlap, each
segment's mean removed, one-sided density in N^2/Hz, as scipy.signal.welch's defaults): the peak
frequency in ``[tremor_low_hz, tremor_high_hz]`` (refined by a parabola through the log power of
the peak bin and its neighbours) and the power in that band (the density integrated over it, N^2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.protocols.base import Phase, TrialContext, mean_metrics, param
from station.protocols.force_common import (
    RELEASE_S,
    PercentOfMaxForceProtocol,
    SimEffort,
    check_pad_finger,
    finger_pad,
    force_go,
    go_cues,
    max_force_or_fallback,
    pad_force,
    uniform_window,
)
from station.records import Metric, TrialData

#: Less stable data than this gives no tremor estimate, s.
MIN_TREMOR_WINDOW_S = 1.0


@dataclass(frozen=True)
class ForceSteadinessParams:
    finger: str = param("index", "finger whose pad is pressed: index, middle, ring or little")
    target_percent: float = param(
        25.0, "target force, % of the maximal force (Kang 2014 used 5, 25 and 50%)"
    )
    max_force_n: float = param(
        0.0,
        "the participant's maximal force with this finger, N (the runner fills it from this "
        "session's max_force result); 0: not measured, fallback_max_force_n is used",
    )
    fallback_max_force_n: float = param(
        20.0, "maximal force assumed when max_force_n is 0, N; a station setting, not a norm"
    )
    hold_s: float = param(
        8.0,
        "length of the hold (LED lit), s; short because enslaving rises over a 15 s hold "
        "(Abolins 2020)",
    )
    settle_s: float = param(2.0, "start of the hold left out of the stable window, s")
    band_percent: float = param(5.0, "half-width of the band shown around the target, % of it")
    foreperiod_s: float = param(2.0, "from 'ready' to the go cue, s")
    welch_segment_s: float = param(
        2.0, "Welch segment length, s (frequency resolution 1 / segment)"
    )
    tremor_low_hz: float = param(4.0, "lower edge of the tremor band, Hz (issue 3: 4-12 Hz)")
    tremor_high_hz: float = param(12.0, "upper edge of the tremor band, Hz (issue 3: 4-12 Hz)")

    def __post_init__(self) -> None:
        check_pad_finger(self.finger)
        if not 0 < self.target_percent <= 100:
            raise ValueError("target_percent must be in (0, 100]")
        if self.max_force_n < 0 or self.fallback_max_force_n <= 0:
            raise ValueError("max_force_n must be >= 0 and fallback_max_force_n > 0")
        if self.hold_s <= 0 or not 0 <= self.settle_s < self.hold_s:
            raise ValueError("hold_s must be > 0 and 0 <= settle_s < hold_s")
        if self.band_percent < 0 or self.foreperiod_s < 0 or self.welch_segment_s <= 0:
            raise ValueError("band_percent, foreperiod_s must be >= 0, welch_segment_s > 0")
        if not 0 <= self.tremor_low_hz < self.tremor_high_hz:
            raise ValueError("the tremor band needs 0 <= tremor_low_hz < tremor_high_hz")

    @property
    def target_force_n(self) -> float:
        return self.target_percent / 100.0 * max_force_or_fallback(self)


class ForceSteadiness(PercentOfMaxForceProtocol):
    name = "force_steadiness"
    version = "1.0"
    title = "Force steadiness and tremor"
    key_metrics = ("mean_force_n", "cv_percent", "tremor_peak_hz", "tremor_power_n2")
    Params = ForceSteadinessParams
    default_practice = 0
    default_trials = 1
    phases = (
        Phase(
            "instructions",
            "instructions",
            "When the light comes on, press the pad to the target and hold it as steadily as you "
            "can until the light goes out.",
        ),
        Phase("ready", "ready", "Rest your finger on its pad."),
        Phase("go", "go", "Press and hold."),
        Phase("active", "active"),
        Phase("rest", "rest", "Relax."),
        Phase("done", "done", "Done."),
    )

    def target_n(self, t_ns: int) -> float:
        """The target force at ``t_ns`` (for the kiosk's live band): constant, N."""
        return self.params.target_force_n

    def band_n(self, t_ns: int) -> tuple[float, float]:
        """The band shown around the target at ``t_ns``, N."""
        target = self.target_n(t_ns)
        half = target * self.params.band_percent / 100.0
        return target - half, target + half

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: ForceSteadinessParams = ctx.params
        pad = finger_pad(ctx.config, p.finger)
        ctx.enter("instructions")
        ctx.enter("ready")
        if ctx.person is not None:
            ctx.rig.sim_pads[pad].force = ctx.person.force_profile("rest")
        if p.max_force_n <= 0:
            ctx.notes.append(
                f"no maximal force measured: target from the fallback {p.fallback_max_force_n:g} N"
            )
        go = force_go(ctx, p.finger, p.foreperiod_s, p.hold_s)
        self.go_t_ns = go
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        ctx.enter("active")
        ctx.run_for(p.hold_s)
        ctx.enter("rest")
        ctx.run_for(RELEASE_S)
        ctx.enter("done")

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The participant holds the target from a simple reaction time after the go cue."""
        p: ForceSteadinessParams = ctx.params
        start = go_t_ns + round(person.profile.reaction.simple_rt_ms * 1e6)
        trace = person.force_profile("hold", start, p.hold_s, p.target_force_n, p.finger)
        ctx.rig.sim_pads[finger_pad(ctx.config, p.finger)].force = trace
        ctx.sim_truth = SimEffort(go_t_ns, start, p.hold_s, p.finger, trace)

    # -- scoring (pure) --------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_force_steadiness(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        return mean_metrics(
            trials,
            ["mean_force_n", "sd_force_n", "cv_percent", "tremor_peak_hz", "tremor_power_n2"],
        )


def welch_psd(x: np.ndarray, fs_hz: float, segment_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density ``(freqs_hz, psd_n2_per_hz)`` of ``x`` sampled at ``fs_hz``:
    periodic Hann segments of ``segment_s`` (or the whole record, if shorter) with 50% overlap,
    each segment's mean removed, one-sided density, segments averaged (scipy.signal.welch's
    defaults)."""
    x = np.asarray(x, dtype=np.float64)
    nper = min(x.size, max(2, round(segment_s * fs_hz)))
    step = max(1, nper // 2)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nper) / nper)
    starts = range(0, x.size - nper + 1, step)
    segments = np.stack([x[s : s + nper] for s in starts])
    segments = segments - segments.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(segments * window, axis=1)) ** 2
    psd = power.mean(axis=0) / (fs_hz * float(np.sum(window**2)))
    if nper % 2 == 0:
        psd[1:-1] *= 2.0
    else:
        psd[1:] *= 2.0
    return np.fft.rfftfreq(nper, d=1.0 / fs_hz), psd


def tremor_metrics(
    x: np.ndarray, fs_hz: float, segment_s: float, low_hz: float, high_hz: float
) -> tuple[float | None, float | None]:
    """``(peak_hz, band_power_n2)`` of the linearly detrended ``x`` in ``[low_hz, high_hz]``."""
    n = np.arange(x.size, dtype=np.float64)
    detrended = x - np.polyval(np.polyfit(n, x, 1), n)
    freqs, psd = welch_psd(detrended, fs_hz, segment_s)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    if not band.any():
        return None, None
    df = float(freqs[1] - freqs[0])
    power = float(np.sum(psd[band]) * df)
    idx = np.flatnonzero(band)
    k = int(idx[np.argmax(psd[band])])
    peak = float(freqs[k])
    if 0 < k < psd.size - 1 and np.all(psd[k - 1 : k + 2] > 0):
        a, b, c = np.log(psd[k - 1 : k + 2])
        denom = a - 2.0 * b + c
        if denom < 0:
            peak += 0.5 * (a - c) / denom * df
    return float(peak), power


def score_force_steadiness(data: TrialData) -> list[Metric]:
    """Metrics of one steadiness trial (see the module docstring)."""
    params = data.params
    measured_max = float(params.get("max_force_n", 0.0) or 0.0)
    target = float(params.get("target_percent", 25.0)) / 100.0 * max_force_or_fallback(params)
    target_detail = "" if measured_max > 0 else "from the fallback maximal force"
    metrics = [Metric("target_force_n", target, "N", target_detail)]
    names = {"mean_force_n": "N", "sd_force_n": "N", "cv_percent": "%", "mean_error_percent": "%"}
    tremor_names = {"tremor_peak_hz": "Hz", "tremor_power_n2": "N2"}
    pads = data.channels_with_role("pad")
    gos = go_cues(data)
    if not pads or not gos:
        why = "no force pad in the recording" if not pads else "no go cue recorded"
        return metrics + [Metric(n, None, u, why) for n, u in (names | tremor_names).items()]
    go = gos[0][0]
    t0 = go + round(float(params.get("settle_s", 2.0)) * NS_PER_S)
    t1 = go + round(float(params.get("hold_s", 8.0)) * NS_PER_S)
    t, force = pad_force(data, pads[0])
    grid = uniform_window(t, force, t0, t1)
    x, fs = grid.values, grid.fs_hz
    if x.size < 3:
        why = "no samples in the stable window"
        return metrics + [Metric(n, None, u, why) for n, u in (names | tremor_names).items()]
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    metrics += [
        Metric("mean_force_n", mean, "N"),
        Metric("sd_force_n", sd, "N"),
        Metric("cv_percent", 100.0 * sd / mean if mean > 0 else None, "%"),
        Metric("mean_error_percent", 100.0 * (mean - target) / target if target > 0 else None, "%"),
    ]
    if x.size / fs < MIN_TREMOR_WINDOW_S:
        why = f"stable window shorter than {MIN_TREMOR_WINDOW_S:g} s"
        return metrics + [Metric(n, None, u, why) for n, u in tremor_names.items()]
    peak, power = tremor_metrics(
        x,
        fs,
        float(params.get("welch_segment_s", 2.0)),
        float(params.get("tremor_low_hz", 4.0)),
        float(params.get("tremor_high_hz", 12.0)),
    )
    metrics += [Metric("tremor_peak_hz", peak, "Hz"), Metric("tremor_power_n2", power, "N2")]
    return metrics
