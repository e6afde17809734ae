"""Finger Tapping Test (Halstead-Reitan), counted by the button.

Procedure (clinical-tests.md, "Finger Tapping Test"): one tapping key, trials of 10 s, 5 trials
per hand; if the trials spread by more than 5 taps, more trials are given (at most 10) and the
best 5 are used; the score is the mean taps per 10 s (fepsy.com tapping test page). Dominant and
non-dominant hands should differ by no more than about 10% (same source); that comparison needs
both hands and is left to the report.

On the station the tapping key is one finger button (the index finger's by default). After the
go cue the trial's window opens at the first tap (``start_rule = "first_tap"``) or at the go cue
itself (``"go"``) and lasts ``duration_s``; a stop beep marks its end. Presses before the go cue
are not counted (``presses_before_go`` reports them).

Metrics per trial: ``taps`` in the window; the inter-tap intervals (ITI) between the counted taps:
``iti_mean_ms``, ``iti_sd_ms`` (sample SD), ``iti_cv``; ``fatigue_slope_ms_per_s``, the slope of
the least-squares line of each ITI on the time of the tap that opens it (seconds from the window
start), positive when tapping slows down; ``taps_first_5s`` and ``taps_last_5s``, the taps in the
window's first and last 5 s; ``first_tap_latency_ms`` (go cue to the first tap).

The rule for more trials: :meth:`FingerTapping.needs_more_trials` says after each trial whether
another one is due; :meth:`FingerTapping.summarize` selects the trials scored (see both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Phase, Protocol, ProtocolError, TrialContext, mean_metrics, param
from station.records import Metric, TrialData

NS_PER_MS = 1_000_000
FINGERS = ("thumb", "index", "middle", "ring", "little")
#: Length of the first and last segments of the window whose taps are counted, s.
SEGMENT_S = 5.0


@dataclass(frozen=True)
class FingerTappingParams:
    finger: str = param(
        "index", "the finger whose button is tapped: thumb, index, middle, ring, little"
    )
    duration_s: float = param(
        10.0, "length of the counting window, s (Halstead-Reitan: 10 s trials, fepsy.com)"
    )
    start_rule: str = param(
        "first_tap", 'when the window opens: "first_tap" (the first tap after go) or "go"'
    )
    foreperiod_s: float = param(2.0, "from 'ready' to the go cue, s (a setting)")
    ready_timeout_s: float = param(30.0, "how long to wait for the button to be released, s")
    first_tap_timeout_s: float = param(
        10.0, 'with start_rule "first_tap": the trial stops (timeout) without a tap by then, s'
    )
    max_spread_taps: int = param(
        5, "trials spreading by more than this many taps call for more trials (fepsy.com: 5)"
    )
    best_n: int = param(
        5, "how many trials are scored per hand (fepsy.com: the best 5 of up to 10)"
    )
    max_trials: int = param(10, "at most this many trials per hand (fepsy.com: 10)")

    def __post_init__(self) -> None:
        if self.finger not in FINGERS:
            raise ValueError(f"finger must be one of {', '.join(FINGERS)}, got {self.finger!r}")
        if self.start_rule not in ("first_tap", "go"):
            raise ValueError(f'start_rule must be "first_tap" or "go", got {self.start_rule!r}')
        if self.duration_s <= 0 or self.first_tap_timeout_s <= 0 or self.ready_timeout_s <= 0:
            raise ValueError("duration_s, first_tap_timeout_s and ready_timeout_s must be > 0")
        if self.foreperiod_s < 0:
            raise ValueError("foreperiod_s must be >= 0")
        if self.max_spread_taps < 0 or self.best_n < 1 or self.max_trials < self.best_n:
            raise ValueError("need max_spread_taps >= 0, best_n >= 1 and max_trials >= best_n")


class FingerTapping(Protocol):
    name = "finger_tapping"
    version = "1.0"
    title = "Finger Tapping Test"
    key_metrics = ("taps", "iti_mean_ms", "iti_cv", "fatigue_slope_ms_per_s")
    Params = FingerTappingParams
    default_practice = 0
    default_trials = 5  # fepsy.com: 5 trials per hand
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Tap the button with one finger as fast as you can, keeping the rest of the hand still, "
            "until the stop beep.",
        ),
        Phase("ready", "ready", "Hold your finger just above the button."),
        Phase("go", "go", "Go!"),
        Phase("active", "active"),
        Phase("done", "done", "Stop."),
    )

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        finger = self.params.finger
        button = next((b for b in config.buttons if b.finger == finger), None)
        if button is None:
            raise ProtocolError(
                f"finger tapping needs a button for the {finger} finger; none is wired"
            )
        return {button.name: f"button:{finger}"}

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: FingerTappingParams = ctx.params
        button = next(iter(self.roles(ctx.config, ctx.hand)))
        ctx.enter("instructions")
        ctx.enter("ready")
        if not ctx.wait_until(lambda: ctx.level(button) == 0, p.ready_timeout_s):
            ctx.notes.append("the button was held down at the go cue")
        buzzer = _buzzer(ctx.config)
        go = ctx.go(p.foreperiod_s, output=buzzer)
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        ctx.enter("active")
        start = go
        if p.start_rule == "first_tap":

            def first_tap() -> int | None:
                return next((e.t_ns for e in ctx.events(button, 1) if e.t_ns >= go), None)

            if not ctx.wait_until(lambda: first_tap() is not None, p.first_tap_timeout_s):
                ctx.status = "timeout"
                ctx.notes.append(f"no tap within {p.first_tap_timeout_s:g} s of the go cue")
                _drain_simulation(ctx)
                ctx.enter("done")
                return
            first = first_tap()
            start = first if first is not None else go
        end = start + round(p.duration_s * NS_PER_S)
        ctx.cues.schedule(buzzer, max(end, ctx.now_ns()), round(0.2 * NS_PER_S), "stop")
        ctx.wait_until(lambda: ctx.now_ns() >= end, p.duration_s + 1)
        ctx.run_for(0.1)  # let the last press settle into an event
        _drain_simulation(ctx)
        ctx.enter("done")

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The virtual participant starts a mean simple reaction time after the go cue and taps
        (Wing-Kristofferson model) until a mean reaction time after the window's end."""
        p: FingerTappingParams = ctx.params
        button = next(iter(self.roles(ctx.config, ctx.hand)))
        rt_ns = round(person.profile.reaction.simple_rt_ms * NS_PER_MS)
        reaction_s = person.profile.reaction.simple_rt_ms / 1000.0
        # with start_rule "go" the window closes duration_s after go, i.e. earlier than this
        script = person.tapping(go_t_ns + rt_ns, duration_s=p.duration_s + reaction_s)
        ctx.rig.world.play_edges(ctx.config.input(button).gpio, script.edges)
        ctx.sim_truth = script

    # -- scoring (pure) ----------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_finger_tapping(data)

    def needs_more_trials(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> bool:
        """Whether the runner should give this hand another trial: asked once the planned trials
        are done and again after each added one (asking after every trial is also right).

        ``trials``: this hand's trials so far, as ``(data, metrics)`` (practice trials are
        ignored). Trials are counted when complete with a tap count ("valid"). The answer is True
        while fewer than ``best_n`` valid trials exist (an invalid trial is replaced), and then
        while the ``best_n`` selected trials spread by more than ``max_spread_taps``
        (fepsy.com: add trials, at most 10, and use the best 5); never once ``max_trials``
        non-practice trials (valid or not) have been given.
        """
        p: FingerTappingParams = self.params
        given = [(d, m) for d, m in trials if not d.practice]
        if len(given) >= p.max_trials:
            return False
        counts = _valid_counts(given)
        if len(counts) < p.best_n:
            return True
        chosen = select_best(counts, p.best_n)
        spread = max(counts[i] for i in chosen) - min(counts[i] for i in chosen)
        return spread > p.max_spread_taps

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        """This hand's score: the mean taps of the selected trials (fepsy.com).

        With at most ``best_n`` valid trials all are used; with more, the ``best_n`` with the most
        taps (the earlier trial on a tie). ``trials_used`` names them in its detail by their place
        among the non-practice trials given (1 = first).
        """
        p: FingerTappingParams = self.params
        given = [(d, m) for d, m in trials if not d.practice]
        counts = _valid_counts(given)
        if not counts:
            return [Metric("mean_taps", None, "1", "no valid trial")]
        chosen = select_best(counts, p.best_n)
        used = [counts[i] for i in chosen]
        spread = max(used) - min(used)
        which = ", ".join(str(i + 1) for i in chosen)
        detail = f"trials {which} of {len(given)} given ({len(counts)} valid)"
        if spread > p.max_spread_taps:
            detail += f"; the trials used still spread by {spread:g} taps"
        out = [
            Metric("mean_taps", sum(used) / len(used), "1", detail),
            Metric("trials_used", float(len(chosen)), "1", detail),
            Metric("trials_valid", float(len(counts)), "1"),
            Metric("taps_spread", float(spread), "1", "most minus fewest taps of the trials used"),
        ]
        out += mean_metrics(
            [given[i] for i in chosen],
            ["iti_mean_ms", "iti_sd_ms", "iti_cv", "fatigue_slope_ms_per_s"],
        )
        return out


def _valid_counts(given: Sequence[tuple[TrialData, list[Metric]]]) -> dict[int, float]:
    """Tap counts of the valid trials by their index among ``given``."""
    counts: dict[int, float] = {}
    for i, (data, metrics) in enumerate(given):
        if data.status != "complete":
            continue
        taps = next((m.value for m in metrics if m.name == "taps"), None)
        if taps is not None:
            counts[i] = taps
    return counts


def select_best(counts: dict[int, float], n: int) -> list[int]:
    """The indices of the ``n`` trials with the most taps (earlier first on ties), in order."""
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    return sorted(ranked[:n])


def _buzzer(config: StationConfig) -> str:
    name = next((o.name for o in config.outputs if o.kind == "buzzer"), None)
    if name is None:
        raise ProtocolError("this test needs the buzzer for its go and stop beeps; none is wired")
    return name


def _drain_simulation(ctx: TrialContext) -> None:
    """Simulated: let the scripted presses still to come play out inside this recording, so none
    is left over for the next trial on the same rig."""
    script = ctx.sim_truth
    if ctx.person is None or script is None or not script.edges:
        return
    last_ns = max(t for t, _ in script.edges)
    ctx.wait_until(lambda: ctx.now_ns() > last_ns, (last_ns - ctx.now_ns()) / NS_PER_S + 1)


def _slope(x: np.ndarray, y: np.ndarray) -> float | None:
    """Least-squares slope of y on x (None when x does not vary)."""
    dx = x - x.mean()
    sxx = float(np.dot(dx, dx))
    if sxx == 0:
        return None
    return float(np.dot(dx, y - y.mean()) / sxx)


def score_finger_tapping(data: TrialData) -> list[Metric]:
    """Metrics of one finger-tapping trial from its events (see the module docstring)."""
    params = data.params
    duration_ns = round(float(params.get("duration_s", 10.0)) * NS_PER_S)
    buttons = data.channels_with_role("button")
    go = data.go_t_ns
    if go is None or not buttons:
        return [Metric("taps", None, "1", "no go cue recorded" if go is None else "no button")]
    presses = sorted(e.t_ns for e in data.events if e.channel in buttons and e.level == 1)
    after_go = [t for t in presses if t >= go]
    metrics: list[Metric] = [
        Metric("presses_before_go", float(len(presses) - len(after_go)), "1"),
        Metric(
            "first_tap_latency_ms",
            (after_go[0] - go) / NS_PER_MS if after_go else None,
            "ms",
            "" if after_go else "no tap after the go cue",
        ),
    ]
    if data.status != "complete":
        return [*metrics, Metric("taps", None, "1", f"trial did not complete ({data.status})")]
    if params.get("start_rule", "first_tap") == "first_tap":
        if not after_go:
            return [*metrics, Metric("taps", None, "1", "no tap after the go cue")]
        start = after_go[0]
    else:
        start = go
    end = start + duration_ns
    if data.end_t_ns < end:
        return [*metrics, Metric("taps", None, "1", "the recording ended before the window closed")]
    taps = np.array([t for t in after_go if start <= t < end], dtype=np.int64)
    segment_ns = round(SEGMENT_S * NS_PER_S)
    if segment_ns <= duration_ns:
        first_5s: float | None = float(np.count_nonzero(taps < start + segment_ns))
        last_5s: float | None = float(np.count_nonzero(taps >= end - segment_ns))
        why = ""
    else:
        first_5s = last_5s = None
        why = "the window is shorter than 5 s"
    metrics += [
        Metric("taps", float(taps.size), "1"),
        Metric("taps_first_5s", first_5s, "1", why),
        Metric("taps_last_5s", last_5s, "1", why),
    ]
    iti_ms = np.diff(taps) / NS_PER_MS
    if iti_ms.size == 0:
        why = "no interval (fewer than 2 taps)"
        return [*metrics, *(Metric(n, None, u, why) for n, u in _ITI_METRICS)]
    mean = float(iti_ms.mean())
    sd = float(iti_ms.std(ddof=1)) if iti_ms.size >= 2 else None
    one = "one interval only" if sd is None else ""
    slope = None
    if iti_ms.size >= 3:
        opening_s = (taps[:-1] - start) / NS_PER_S
        slope = _slope(opening_s, iti_ms)
    metrics += [
        Metric("iti_mean_ms", mean, "ms"),
        Metric("iti_sd_ms", sd, "ms", one),
        Metric("iti_cv", sd / mean if sd is not None and mean > 0 else None, "1", one),
        Metric(
            "fatigue_slope_ms_per_s",
            slope,
            "ms/s",
            "" if slope is not None else "fewer than 3 intervals",
        ),
    ]
    return metrics


_ITI_METRICS = (
    ("iti_mean_ms", "ms"),
    ("iti_sd_ms", "ms"),
    ("iti_cv", "1"),
    ("fatigue_slope_ms_per_s", "ms/s"),
)
