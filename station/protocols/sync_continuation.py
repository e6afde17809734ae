"""Synchronization-continuation tapping: tap with a metronome, then keep its tempo alone.

Measures (clinical-tests.md, "Synchronization-continuation tapping"): the mean asynchrony (tap
minus click) and its SD (Repp 2005; Repp & Su 2013); from the unpaced continuation, the
inter-tap intervals (ITI) and the Wing-Kristofferson two-level timing model: the lag-1
autocorrelation of the ITIs lies between 0 and -0.5, the motor variance is minus the lag-1
autocovariance and the clock variance is the ITI variance minus twice the motor variance
(Doumas & Wing 2007).

On the station one finger button (the index finger's by default) is tapped. After the go beep
and a lead-in, the buzzer clicks ``n_sync`` times every ``interval_ms``; then it falls silent and
the trial goes on until ``n_continuation`` more taps (or a pause of ``max_pause_s``). The reference
notes give no standard interval or counts: the defaults are settings.

Tempo ladders (e.g. for musicians): a non-empty ``ladder_intervals_ms`` runs one such step per
interval, in order, with ``step_rest_s`` between steps (``interval_ms`` is then unused); every
metric of step k is named ``step{k}_...`` (k = 1, 2, ...) and ``step{k}_interval_ms`` gives its
interval.

Scoring (pure, per step with interval I):

* beats are the step's clicks at their measured onsets (:attr:`CueRecord.onset_ns`);
* matching: each beat gets the nearest tap within [beat - I/2, beat + I/2) (the windows do not
  overlap, so no tap can serve two beats); a beat without one is missed, a tap in the windows
  that no beat took is extra. The first ``skip_beats`` beats (picking up the tempo) and the taps in
  their windows are left out;
* ``asynchrony_mean_ms``, ``asynchrony_sd_ms``: tap minus beat onset over the matched beats;
* continuation: the first ``n_continuation`` taps after the last beat's window (and before the
  next step's first window); ``continuation_iti_mean_ms``, ``..._sd_ms``, ``..._cv``, and
  ``continuation_drift_ms_per_tap``, the least-squares slope of the ITIs on their index;
  ``continuation_irregular_itis`` counts ITIs outside [I/2, 3I/2] (a likely extra or missed tap;
  a quality flag with bounds chosen here, not from a source; such ITIs are not removed);
* Wing-Kristofferson on the continuation ITIs, linearly detrended first when ``wk_detrend``
  (the model assumes a stationary tempo; a slow drift would otherwise add positive covariance):
  with the deviations d_1..d_N, ``wk_variance_ms2`` = sum d_n^2 / N and ``wk_acov1_ms2`` =
  sum d_n d_(n+1) / N (the usual sample autocovariances), ``wk_lag1_autocorrelation`` = their
  ratio, ``wk_motor_variance_ms2`` = -acov1 and ``wk_clock_variance_ms2`` = variance - 2 x motor.
  Outside the model's range they are clamped at 0 with a note: motor when acov1 > 0, clock when
  the autocorrelation is below -0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Phase, Protocol, ProtocolError, TrialContext, mean_metrics, param
from station.records import CueRecord, Metric, TrialData

NS_PER_MS = 1_000_000
FINGERS = ("thumb", "index", "middle", "ring", "little")
#: Continuation taps the virtual participant makes beyond ``n_continuation`` (it stops a little
#: late, as a person does; also covers a missed tap).
SIM_EXTRA_TAPS = 2


@dataclass(frozen=True)
class SyncContinuationParams:
    finger: str = param(
        "index", "the finger whose button is tapped: thumb, index, middle, ring, little"
    )
    interval_ms: float = param(500.0, "metronome inter-onset interval, ms (a setting)")
    n_sync: int = param(20, "metronome clicks (synchronization taps) per step (a setting)")
    n_continuation: int = param(30, "taps after the clicks stop, per step (a setting)")
    skip_beats: int = param(
        3, "first beats of each step left out of the synchronization statistics (a setting)"
    )
    ladder_intervals_ms: tuple[float, ...] = param(
        (), "tempo ladder: one step per interval, in order, ms (empty: one step at interval_ms)"
    )
    step_rest_s: float = param(
        3.0, "ladder: from one step's stop beep to the next step's first click, s (a setting)"
    )
    lead_in_s: float = param(1.0, "from the go beep to the first click, s")
    click_ms: float = param(10.0, "duration of a metronome click, ms")
    foreperiod_s: float = param(2.0, "from 'ready' to the go beep, s (a setting)")
    ready_timeout_s: float = param(30.0, "how long to wait for the button to be released, s")
    max_pause_s: float = param(
        3.0, "the continuation ends early when no tap comes for this long, s (a setting)"
    )
    wk_detrend: bool = param(
        True, "remove a linear trend from the continuation ITIs before the Wing-Kristofferson step"
    )

    def __post_init__(self) -> None:
        if self.finger not in FINGERS:
            raise ValueError(f"finger must be one of {', '.join(FINGERS)}, got {self.finger!r}")
        for interval in (self.interval_ms, *self.ladder_intervals_ms):
            if not isinstance(interval, int | float) or interval <= 0:
                raise ValueError(f"intervals must be numbers > 0 ms, got {interval!r}")
            if self.click_ms >= interval:
                raise ValueError(
                    f"click_ms ({self.click_ms:g}) must be shorter than {interval:g} ms"
                )
        if self.n_sync < 2 or self.n_continuation < 0 or not 0 <= self.skip_beats < self.n_sync:
            raise ValueError("need n_sync >= 2, n_continuation >= 0 and 0 <= skip_beats < n_sync")
        if self.click_ms <= 0 or self.max_pause_s <= 0 or self.ready_timeout_s <= 0:
            raise ValueError("click_ms, max_pause_s and ready_timeout_s must be > 0")
        if self.step_rest_s < 0 or self.lead_in_s < 0 or self.foreperiod_s < 0:
            raise ValueError("step_rest_s, lead_in_s and foreperiod_s must be >= 0")

    @property
    def step_intervals_ms(self) -> tuple[float, ...]:
        """The interval of each step: the ladder, or ``interval_ms`` alone."""
        return tuple(float(x) for x in self.ladder_intervals_ms) or (float(self.interval_ms),)


def beat_times(first_ns: int, interval_ms: float, n: int) -> list[int]:
    """The scheduled onsets of ``n`` clicks every ``interval_ms`` from ``first_ns``."""
    interval_ns = round(interval_ms * NS_PER_MS)
    return [first_ns + i * interval_ns for i in range(n)]


class SyncContinuation(Protocol):
    name = "sync_continuation"
    version = "1.0"
    title = "Synchronization-continuation tapping"
    key_metrics = (
        "asynchrony_mean_ms",
        "asynchrony_sd_ms",
        "continuation_iti_mean_ms",
        "wk_motor_variance_ms2",
    )
    Params = SyncContinuationParams
    default_practice = 0
    default_trials = 1
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Tap the button in time with the clicks. When the clicks stop, keep tapping at the "
            "same pace until you hear the stop beep.",
        ),
        Phase("ready", "ready", "Hold your finger just above the button."),
        Phase("go", "go", "Listen for the clicks."),
        Phase("synchronize", "active"),
        Phase("continue", "active"),
        Phase("rest", "rest", "Rest. The next tempo comes soon."),
        Phase("done", "done", "Done."),
    )

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        finger = self.params.finger
        button = next((b for b in config.buttons if b.finger == finger), None)
        if button is None:
            raise ProtocolError(f"this test needs a button for the {finger} finger; none is wired")
        _buzzer(config)
        return {button.name: f"button:{finger}"}

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: SyncContinuationParams = ctx.params
        button = next(iter(self.roles(ctx.config, ctx.hand)))
        buzzer = _buzzer(ctx.config)
        ctx.enter("instructions")
        ctx.enter("ready")
        if not ctx.wait_until(lambda: ctx.level(button) == 0, p.ready_timeout_s):
            ctx.notes.append("the button was held down at the go cue")
        go = ctx.go(p.foreperiod_s, output=buzzer)
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        first = go + round(p.lead_in_s * NS_PER_S)
        for k, interval_ms in enumerate(p.step_intervals_ms):
            if k > 0:
                ctx.enter("rest")
                first = ctx.now_ns() + round(p.step_rest_s * NS_PER_S)
                if ctx.person is not None:
                    self._simulate_step(ctx, ctx.person, beat_times(first, interval_ms, p.n_sync))
            interval_ns = round(interval_ms * NS_PER_MS)
            clicks = ctx.cues.metronome(
                buzzer, first, interval_ns, p.n_sync, round(p.click_ms * NS_PER_MS)
            )
            _wait_for(ctx, clicks[0].scheduled_on_ns)
            ctx.enter("synchronize")
            # the end of the last beat's window [beat - I/2, beat + I/2), as the scoring has it
            sync_end = clicks[-1].scheduled_on_ns + interval_ns - interval_ns // 2
            _wait_for(ctx, sync_end)
            ctx.enter("continue")
            taps = self._continuation(ctx, button, sync_end, p, interval_ms)
            if taps < p.n_continuation:
                ctx.notes.append(
                    f"step {k + 1}: the continuation ended after {taps} of {p.n_continuation} "
                    f"taps (no tap for {p.max_pause_s:g} s, or twice the time it needs)"
                )
            ctx.cues.schedule(buzzer, ctx.now_ns(), round(0.2 * NS_PER_S), "stop")
        ctx.run_for(0.3)  # the stop beep, and the last press settling into an event
        _drain_simulation(ctx)
        ctx.enter("done")

    @staticmethod
    def _continuation(
        ctx: TrialContext, button: str, after_ns: int, p: SyncContinuationParams, interval_ms: float
    ) -> int:
        """Wait for ``n_continuation`` presses after ``after_ns`` (or a pause of ``max_pause_s``,
        or twice the time they need); returns how many came."""
        seen: list[int] = []
        cursor = 0
        events = ctx.recorder.events

        def status() -> str:
            nonlocal cursor
            while cursor < len(events):
                e = events[cursor]
                cursor += 1
                if e.channel == button and e.level == 1 and e.t_ns >= after_ns:
                    seen.append(e.t_ns)
            if len(seen) >= p.n_continuation:
                return "done"
            last = seen[-1] if seen else after_ns
            if ctx.now_ns() - last > p.max_pause_s * NS_PER_S:
                return "pause"
            return ""

        limit_s = p.n_continuation * 2 * interval_ms / 1000 + p.max_pause_s + 1
        ctx.wait_until(lambda: status() != "", limit_s)
        return min(len(seen), p.n_continuation)

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The virtual participant synchronizes with the first step's clicks (Vorberg & Wing
        phase correction) and continues (Wing-Kristofferson); later ladder steps are simulated
        from ``run`` when their clicks are scheduled. ``ctx.sim_truth`` is one
        :class:`~hardware.sim.participant.TapScript` per step."""
        p: SyncContinuationParams = ctx.params
        ctx.sim_truth = []
        first = go_t_ns + round(p.lead_in_s * NS_PER_S)
        self._simulate_step(ctx, person, beat_times(first, p.step_intervals_ms[0], p.n_sync))

    def _simulate_step(self, ctx: TrialContext, person: Any, beats: list[int]) -> None:
        p: SyncContinuationParams = ctx.params
        button = next(iter(self.roles(ctx.config, ctx.hand)))
        script = person.synchronize(beats, p.n_continuation + SIM_EXTRA_TAPS)
        ctx.rig.world.play_edges(ctx.config.input(button).gpio, script.edges)
        ctx.sim_truth.append(script)

    # -- scoring (pure) ----------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_sync_continuation(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        """The mean over trials of the main metrics (of every ladder step)."""
        valid = [m for d, m in trials if not d.practice and d.status == "complete"]
        names = [m.name for m in (valid[0] if valid else []) if m.name.endswith(_SUMMARY_SUFFIXES)]
        return mean_metrics(trials, names)


_SUMMARY_SUFFIXES = (
    "asynchrony_mean_ms",
    "asynchrony_sd_ms",
    "missed_beats",
    "extra_taps",
    "continuation_iti_mean_ms",
    "continuation_iti_sd_ms",
    "continuation_drift_ms_per_tap",
    "wk_motor_variance_ms2",
    "wk_clock_variance_ms2",
)


def _buzzer(config: StationConfig) -> str:
    name = next((o.name for o in config.outputs if o.kind == "buzzer"), None)
    if name is None:
        raise ProtocolError(
            "synchronization tapping needs the buzzer for its clicks; none is wired"
        )
    return name


def _wait_for(ctx: TrialContext, t_ns: int) -> None:
    """Let time pass until ``t_ns``."""
    ctx.wait_until(lambda: ctx.now_ns() >= t_ns, max(0, t_ns - ctx.now_ns()) / NS_PER_S + 1)


def _drain_simulation(ctx: TrialContext) -> None:
    """Simulated: let the scripted presses still to come play out inside this recording."""
    scripts = ctx.sim_truth or []
    if ctx.person is None or not any(s.edges for s in scripts):
        return
    _wait_for(ctx, max(t for s in scripts for t, _ in s.edges) + 1)


# -- pure scoring helpers ------------------------------------------------------------------------
@dataclass(frozen=True)
class BeatMatch:
    """The result of matching taps to beats (times in ns)."""

    pairs: list[tuple[int, int]]  # (beat, tap) for every matched beat
    missed: list[int]  # beats without a tap
    extra: list[int]  # taps in the beat windows that no beat took


def match_taps(beats: Sequence[int], taps: Sequence[int], interval_ns: int) -> BeatMatch:
    """Each beat takes the nearest tap within [beat - I/2, beat + I/2) (the earlier on a tie);
    the other taps inside the windows are extra. Beats must be at least I apart."""
    half = interval_ns // 2
    pairs: list[tuple[int, int]] = []
    missed: list[int] = []
    used: set[int] = set()
    for beat in beats:
        window = [t for t in taps if beat - half <= t < beat + interval_ns - half]
        if not window:
            missed.append(beat)
            continue
        tap = min(window, key=lambda t: (abs(t - beat), t))
        pairs.append((beat, tap))
        used.add(tap)
    inside = [
        t
        for t in taps
        if any(b - half <= t < b + interval_ns - half for b in beats) and t not in used
    ]
    return BeatMatch(pairs, missed, inside)


def _slope(x: np.ndarray, y: np.ndarray) -> float | None:
    dx = x - x.mean()
    sxx = float(np.dot(dx, dx))
    return None if sxx == 0 else float(np.dot(dx, y - y.mean()) / sxx)


def wing_kristofferson(iti_ms: np.ndarray, detrend: bool = True) -> list[Metric]:
    """Wing-Kristofferson estimates from a series of ITIs (see the module docstring).

    Doumas & Wing 2007 (via clinical-tests.md): motor variance = -(lag-1 autocovariance), clock
    variance = ITI variance - 2 x motor variance; the lag-1 autocorrelation lies in [-0.5, 0].
    """
    names = (
        ("wk_variance_ms2", "ms2"),
        ("wk_acov1_ms2", "ms2"),
        ("wk_lag1_autocorrelation", "1"),
        ("wk_motor_variance_ms2", "ms2"),
        ("wk_clock_variance_ms2", "ms2"),
    )
    n = iti_ms.size
    if n < 4:
        return [
            Metric(name, None, unit, "fewer than 4 continuation intervals") for name, unit in names
        ]
    if detrend:
        index = np.arange(n, dtype=np.float64)
        slope = _slope(index, iti_ms) or 0.0
        d = iti_ms - iti_ms.mean() - slope * (index - index.mean())
    else:
        d = iti_ms - iti_ms.mean()
    var = float(np.dot(d, d) / n)
    acov1 = float(np.dot(d[:-1], d[1:]) / n)
    rho = acov1 / var if var > 0 else None
    motor, motor_note = -acov1, ""
    if acov1 > 0:
        motor = 0.0
        motor_note = (
            f"lag-1 autocovariance {acov1:.3g} ms2 > 0, outside the Wing-Kristofferson model: "
            "motor variance set to 0"
        )
    clock, clock_note = var - 2 * motor, ""
    if clock < 0:
        clock_note = (
            f"lag-1 autocorrelation {rho:.3g} < -0.5, outside the Wing-Kristofferson model: "
            "clock variance set to 0"
        )
        clock = 0.0
    return [
        Metric("wk_variance_ms2", var, "ms2"),
        Metric("wk_acov1_ms2", acov1, "ms2"),
        Metric("wk_lag1_autocorrelation", rho, "1", "" if rho is not None else "no variance"),
        Metric("wk_motor_variance_ms2", motor, "ms2", motor_note),
        Metric("wk_clock_variance_ms2", clock, "ms2", clock_note),
    ]


def score_step(
    beats: Sequence[CueRecord],
    taps: Sequence[int],
    interval_ms: float,
    *,
    skip_beats: int,
    n_continuation: int,
    continuation_end_ns: int | None,
    detrend: bool,
) -> list[Metric]:
    """Metrics of one step: its fired clicks, the taps of the trial, its interval."""
    interval_ns = round(interval_ms * NS_PER_MS)
    half = interval_ns // 2
    onsets = sorted(c.onset_ns for c in beats)
    metrics = [Metric("beats", float(len(onsets)), "1")]
    if not onsets:
        return [*metrics, Metric("asynchrony_mean_ms", None, "ms", "no click was played")]
    scored = onsets[skip_beats:]
    match = match_taps(scored, taps, interval_ns)
    asyncs = np.array([tap - beat for beat, tap in match.pairs], dtype=np.int64) / NS_PER_MS
    metrics += [
        Metric("beats_scored", float(len(scored)), "1"),
        Metric("matched_beats", float(len(match.pairs)), "1"),
        Metric("missed_beats", float(len(match.missed)), "1"),
        Metric("extra_taps", float(len(match.extra)), "1"),
        Metric(
            "asynchrony_mean_ms",
            float(asyncs.mean()) if asyncs.size else None,
            "ms",
            "" if asyncs.size else "no beat was matched",
        ),
        Metric(
            "asynchrony_sd_ms",
            float(asyncs.std(ddof=1)) if asyncs.size >= 2 else None,
            "ms",
            "" if asyncs.size >= 2 else "fewer than 2 matched beats",
        ),
    ]
    cont_start = onsets[-1] + interval_ns - half
    cont = [
        t
        for t in taps
        if t >= cont_start and (continuation_end_ns is None or t < continuation_end_ns)
    ][:n_continuation]
    iti = np.diff(np.array(cont, dtype=np.int64)) / NS_PER_MS
    metrics.append(Metric("continuation_taps", float(len(cont)), "1"))
    few = "fewer than 2 continuation intervals"
    mean = float(iti.mean()) if iti.size else None
    sd = float(iti.std(ddof=1)) if iti.size >= 2 else None
    drift = _slope(np.arange(iti.size, dtype=np.float64), iti) if iti.size >= 2 else None
    irregular = np.count_nonzero((iti < interval_ms / 2) | (iti > 1.5 * interval_ms))
    metrics += [
        Metric(
            "continuation_iti_mean_ms",
            mean,
            "ms",
            "" if mean is not None else "fewer than 2 continuation taps",
        ),
        Metric("continuation_iti_sd_ms", sd, "ms", "" if sd is not None else few),
        Metric(
            "continuation_iti_cv",
            sd / mean if sd is not None and mean else None,
            "1",
            "" if sd is not None else few,
        ),
        Metric(
            "continuation_drift_ms_per_tap", drift, "ms/{tap}", "" if drift is not None else few
        ),
        Metric("continuation_irregular_itis", float(irregular), "1"),
    ]
    return metrics + wing_kristofferson(iti, detrend)


def score_sync_continuation(data: TrialData) -> list[Metric]:
    """Metrics of one synchronization-continuation trial (see the module docstring)."""
    params = data.params
    n_sync = int(params.get("n_sync", 20))
    ladder = [float(x) for x in params.get("ladder_intervals_ms", ())]
    intervals = ladder or [float(params.get("interval_ms", 500.0))]
    if data.status != "complete":
        return [Metric("asynchrony_mean_ms", None, "ms", f"trial did not complete ({data.status})")]
    buttons = data.channels_with_role("button")
    taps = sorted(e.t_ns for e in data.events if e.channel in buttons and e.level == 1)
    clicks = sorted((c for c in data.cues if c.kind == "click"), key=lambda c: c.scheduled_on_ns)
    groups = [clicks[k * n_sync : (k + 1) * n_sync] for k in range(len(intervals))]
    fired = [
        [c for c in g if c.actual_on_ns is not None or c.loopback_on_ns is not None] for g in groups
    ]
    metrics: list[Metric] = []
    for k, interval_ms in enumerate(intervals):
        following = fired[k + 1] if k + 1 < len(fired) else []
        end = None
        if following:
            end = min(c.onset_ns for c in following) - round(intervals[k + 1] * NS_PER_MS) // 2
        step = score_step(
            fired[k],
            taps,
            interval_ms,
            skip_beats=int(params.get("skip_beats", 3)),
            n_continuation=int(params.get("n_continuation", 30)),
            continuation_end_ns=end,
            detrend=bool(params.get("wk_detrend", True)),
        )
        if ladder:
            prefix = f"step{k + 1}_"
            metrics.append(Metric(f"{prefix}interval_ms", interval_ms, "ms"))
            metrics += [Metric(prefix + m.name, m.value, m.unit, m.detail) for m in step]
        else:
            metrics += step
    return metrics
