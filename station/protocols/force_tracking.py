"""Force tracking: following a slowly moving force target with one finger.

Procedure: the finger rests on its pad; at the go cue (a beep, and the finger's LED, lit for the
whole task) the participant presses to the target shown on the kiosk (:meth:`ForceTracking.target_n`)
and follows it: ``lead_in_s`` at the low level, then ``duration_s`` of a slow sine (or a
triangular ramp) between ``low_percent`` and ``high_percent`` of the maximal force with period
``period_s``. Force tracking is one of the tasks of the Dextrain finger-force manipulandum
(Teremetz 2015, JNER, via clinical-tests.md); the levels, period and durations here are station
settings, not values from a source.

The maximal force comes from ``max_force_n``, which the runner fills from the participant's
``max_force`` result of the same session; when it is 0 (not measured) ``fallback_max_force_n``
(a station setting, not a norm) is used.

Scoring (pure), over the moving part ``[go + lead_in_s, go + lead_in_s + duration_s)`` from the go
cue's measured onset, on the force resampled to a uniform grid:

* ``rmse_n``: root mean square of force minus target; ``rmse_percent_max``: the same as a
  percentage of the maximal force used;
* ``lag_ms``: the delay at which the target best matches the force (force(t) ~ target(t - lag)):
  the maximum of the Pearson correlation between the force and the target shifted by each lag
  within +-``max_lag_ms`` (whole samples, refined by a parabola through the peak and its
  neighbours); positive when the force follows the target; ``lag_correlation`` is that maximum;
* ``rmse_lag_corrected_n``: the RMSE against the target delayed by ``lag_ms``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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

WAVEFORMS = ("sine", "ramp")


@dataclass(frozen=True)
class ForceTrackingParams:
    finger: str = param("index", "finger whose pad is pressed: index, middle, ring or little")
    waveform: str = param("sine", 'target shape: "sine" or "ramp" (triangular)')
    low_percent: float = param(10.0, "low level of the target, % of the maximal force")
    high_percent: float = param(30.0, "high level of the target, % of the maximal force")
    period_s: float = param(4.0, "period of the target's movement, s")
    lead_in_s: float = param(2.0, "time at the low level after the go cue (not scored), s")
    duration_s: float = param(12.0, "moving part of the target (scored), s")
    max_force_n: float = param(
        0.0,
        "the participant's maximal force with this finger, N (the runner fills it from this "
        "session's max_force result); 0: not measured, fallback_max_force_n is used",
    )
    fallback_max_force_n: float = param(
        20.0, "maximal force assumed when max_force_n is 0, N; a station setting, not a norm"
    )
    max_lag_ms: float = param(500.0, "lags searched by cross-correlation: +- this, ms")
    foreperiod_s: float = param(2.0, "from 'ready' to the go cue, s")

    def __post_init__(self) -> None:
        check_pad_finger(self.finger)
        if self.waveform not in WAVEFORMS:
            raise ValueError(f'waveform must be "sine" or "ramp", got {self.waveform!r}')
        if not 0 <= self.low_percent < self.high_percent <= 100:
            raise ValueError("needs 0 <= low_percent < high_percent <= 100")
        if self.period_s <= 0 or self.duration_s <= 0 or self.lead_in_s < 0:
            raise ValueError("period_s and duration_s must be > 0, lead_in_s >= 0")
        if self.max_force_n < 0 or self.fallback_max_force_n <= 0:
            raise ValueError("max_force_n must be >= 0 and fallback_max_force_n > 0")
        if self.max_lag_ms <= 0 or self.foreperiod_s < 0:
            raise ValueError("max_lag_ms must be > 0 and foreperiod_s >= 0")


def tracking_target_n(
    params: Mapping[str, Any] | ForceTrackingParams, go_t_ns: int, t_ns: npt.ArrayLike
) -> np.ndarray:
    """The target force (N) at times ``t_ns`` (int64 ns) of a trial whose go cue is at
    ``go_t_ns``: the low level before and after the moving part."""
    get = params.get if isinstance(params, Mapping) else lambda k, d=None: getattr(params, k, d)
    max_n = max_force_or_fallback(params)
    low = float(get("low_percent", 10.0)) / 100.0 * max_n
    high = float(get("high_percent", 30.0)) / 100.0 * max_n
    lead_ns = round(float(get("lead_in_s", 2.0)) * NS_PER_S)
    moving_ns = round(float(get("duration_s", 12.0)) * NS_PER_S)
    period_s = float(get("period_s", 4.0))
    since_ns = np.asarray(t_ns, dtype=np.int64) - (go_t_ns + lead_ns)
    u = since_ns / NS_PER_S / period_s
    if get("waveform", "sine") == "ramp":
        shape = 1.0 - np.abs(2.0 * np.mod(u, 1.0) - 1.0)
    else:
        shape = 0.5 - 0.5 * np.cos(2.0 * np.pi * u)
    moving = (since_ns >= 0) & (since_ns < moving_ns)
    return np.where(moving, low + (high - low) * shape, low)


class ForceTracking(PercentOfMaxForceProtocol):
    name = "force_tracking"
    version = "1.0"
    title = "Force tracking"
    key_metrics = ("rmse_n", "rmse_percent_max", "lag_ms")
    Params = ForceTrackingParams
    default_practice = 0
    default_trials = 1
    phases = (
        Phase(
            "instructions",
            "instructions",
            "When the light comes on, press the pad so that your force follows the moving target "
            "as closely as you can, until the light goes out.",
        ),
        Phase("ready", "ready", "Rest your finger on its pad."),
        Phase("go", "go", "Follow the target."),
        Phase("active", "active"),
        Phase("rest", "rest", "Relax."),
        Phase("done", "done", "Done."),
    )

    def target_n(self, t_ns: int) -> float:
        """The target force at ``t_ns`` (for the kiosk's live display), N: the low level until
        the go cue is known."""
        go = self.go_t_ns if self.go_t_ns is not None else t_ns + 1
        return float(tracking_target_n(self.params, go, t_ns))

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: ForceTrackingParams = ctx.params
        pad = finger_pad(ctx.config, p.finger)
        ctx.enter("instructions")
        ctx.enter("ready")
        if ctx.person is not None:
            ctx.rig.sim_pads[pad].force = ctx.person.force_profile("rest")
        if p.max_force_n <= 0:
            ctx.notes.append(
                f"no maximal force measured: targets from the fallback {p.fallback_max_force_n:g} N"
            )
        active_s = p.lead_in_s + p.duration_s
        go = force_go(ctx, p.finger, p.foreperiod_s, active_s)
        self.go_t_ns = go
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        ctx.enter("active")
        ctx.run_for(active_s)
        ctx.enter("rest")
        ctx.run_for(RELEASE_S)
        ctx.enter("done")

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The participant follows the target (with the profile's tracking lag) from a simple
        reaction time after the go cue until the LED goes out."""
        p: ForceTrackingParams = ctx.params
        start = go_t_ns + round(person.profile.reaction.simple_rt_ms * 1e6)
        duration_s = p.lead_in_s + p.duration_s
        trace = person.force_profile(
            "track", lambda t: tracking_target_n(p, go_t_ns, t), start, duration_s
        )
        ctx.rig.sim_pads[finger_pad(ctx.config, p.finger)].force = trace
        ctx.sim_truth = SimEffort(go_t_ns, start, duration_s, p.finger, trace)

    # -- scoring (pure) --------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_force_tracking(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        return mean_metrics(trials, ["rmse_n", "rmse_percent_max", "lag_ms"])


def best_lag(
    x: np.ndarray, target_ext: np.ndarray, max_shift: int
) -> tuple[float, float] | tuple[None, None]:
    """``(shift, r)``: the shift s (samples, refined to a fraction) maximizing the Pearson
    correlation of ``x[i]`` with ``target_ext[i + max_shift - s]``, for s in
    [-max_shift, max_shift]; ``target_ext`` is the target sampled from ``max_shift`` samples
    before ``x``'s first sample to ``max_shift`` after its last."""
    n = x.size
    xc = x - x.mean()
    x_norm = float(np.sqrt(np.sum(xc**2)))
    n_fft = 1 << int(np.ceil(np.log2(target_ext.size + n)))
    corr = np.fft.irfft(np.fft.rfft(target_ext, n_fft) * np.conj(np.fft.rfft(xc, n_fft)), n_fft)[
        : 2 * max_shift + 1
    ]
    c1 = np.concatenate(([0.0], np.cumsum(target_ext)))
    c2 = np.concatenate(([0.0], np.cumsum(target_ext**2)))
    j = np.arange(2 * max_shift + 1)
    s1 = c1[j + n] - c1[j]
    s2 = c2[j + n] - c2[j]
    y_norm = np.sqrt(np.maximum(s2 - s1**2 / n, 0.0))
    varies = y_norm > 1e-9 * np.sqrt(s2)  # not just rounding error of a constant target
    if np.ptp(x) == 0 or not np.any(varies):
        return None, None
    r = np.where(varies, corr / (x_norm * np.where(varies, y_norm, 1.0)), -np.inf)
    k = int(np.argmax(r))
    frac = 0.0
    if 0 < k < r.size - 1 and np.all(np.isfinite(r[k - 1 : k + 2])):
        denom = r[k - 1] - 2.0 * r[k] + r[k + 1]
        if denom < 0:
            frac = 0.5 * (r[k - 1] - r[k + 1]) / denom
    return max_shift - (k + frac), float(r[k])


def score_force_tracking(data: TrialData) -> list[Metric]:
    """Metrics of one tracking trial (see the module docstring)."""
    params = data.params
    max_n = max_force_or_fallback(params)
    units = {
        "rmse_n": "N",
        "rmse_percent_max": "%",
        "lag_ms": "ms",
        "lag_correlation": "1",
        "rmse_lag_corrected_n": "N",
    }
    metrics = [
        Metric(
            "max_force_used_n",
            max_n,
            "N",
            "" if float(params.get("max_force_n", 0.0) or 0.0) > 0 else "fallback",
        )
    ]
    pads = data.channels_with_role("pad")
    gos = go_cues(data)
    if not pads or not gos:
        why = "no force pad in the recording" if not pads else "no go cue recorded"
        return metrics + [Metric(n, None, u, why) for n, u in units.items()]
    go = gos[0][0]
    t0 = go + round(float(params.get("lead_in_s", 2.0)) * NS_PER_S)
    t1 = t0 + round(float(params.get("duration_s", 12.0)) * NS_PER_S)
    t, force = pad_force(data, pads[0])
    grid = uniform_window(t, force, t0, t1)
    if grid.values.size < 3:
        return metrics + [Metric(n, None, u, "no samples while tracking") for n, u in units.items()]
    times = grid.times_ns()
    error = grid.values - tracking_target_n(params, go, times)
    rmse = float(np.sqrt(np.mean(error**2)))
    metrics += [
        Metric("rmse_n", rmse, "N"),
        Metric("rmse_percent_max", 100.0 * rmse / max_n, "%"),
    ]
    max_shift = max(1, round(float(params.get("max_lag_ms", 500.0)) / 1000.0 * grid.fs_hz))
    ext_times = grid.t0_ns + np.arange(-max_shift, grid.values.size + max_shift) * grid.dt_ns
    shift, r = best_lag(grid.values, tracking_target_n(params, go, ext_times), max_shift)
    if shift is None:
        why = "the force or the target does not vary"
        return metrics + [
            Metric(n, None, units[n], why)
            for n in ("lag_ms", "lag_correlation", "rmse_lag_corrected_n")
        ]
    lag_ns = round(shift * grid.dt_ns)
    corrected = grid.values - tracking_target_n(params, go, times - lag_ns)
    metrics += [
        Metric("lag_ms", lag_ns / 1e6, "ms"),
        Metric("lag_correlation", r, "1"),
        Metric("rmse_lag_corrected_n", float(np.sqrt(np.mean(corrected**2))), "N"),
    ]
    return metrics
