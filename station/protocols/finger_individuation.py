"""Finger individuation: pressing one instructed finger while the others rest on their pads.

Procedure: all fingers rest on their pads; for each finger of ``fingers`` in turn, a go cue (a
beep, and that finger's LED, lit for ``press_s``) asks the participant to press that finger's pad
to the target (``target_percent`` of the maximal force; :meth:`FingerIndividuation.target_n`) and
hold it until the LED goes out, keeping the other fingers relaxed; then ``rest_s`` of rest. One
trial presses every listed finger once.

Sources (clinical-tests.md): multi-finger independence is one of the tasks of the Dextrain
finger-force manipulandum (Teremetz 2015, JNER); force produced by non-instructed fingers
("enslaving") rises about 50% over a 15 s hold (Abolins 2020, PMC7814910), so presses are kept
short (``press_s = 4``). The target level, the settling, rest and baseline times are station
settings, not values from a source.

Scoring (pure): for the press at go cue ``g`` (measured onset) with instructed finger ``f``, each
pad's force is averaged over the press window ``[g + settle_s, g + press_s)`` and, as a baseline,
over ``[g - baseline_s, g)`` (fingers resting: their weight is not enslaving). With ``dF`` the
rise above baseline:

* ``enslaving_<f>_to_<o>_percent`` = 100 x dF(o) / dF(f) for each other finger ``o``;
* ``enslaving_<f>_percent``: the mean of those over the non-instructed pads (so it does not
  depend on how many pads there are);
* ``instructed_force_<f>_n`` = dF(f);
* ``enslaving_mean_percent``: the mean of ``enslaving_<f>_percent`` over the instructed fingers.

A press whose instructed rise is below the pad's press-onset threshold (0.5 N by default) gives no
enslaving value ("the instructed finger did not press").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Phase, TrialContext, mean_metrics, param
from station.protocols.force_common import (
    PAD_FINGERS,
    RELEASE_S,
    PercentOfMaxForceProtocol,
    check_pad_finger,
    finger_pad,
    force_go,
    go_cues,
    in_window,
    max_force_or_fallback,
    pad_force,
)
from station.records import Metric, TrialData

#: An instructed rise below this gives no enslaving value, N (the default pad onset threshold,
#: a device setting in config.py, not a clinical number).
MIN_INSTRUCTED_RISE_N = 0.5


@dataclass(frozen=True)
class SimPress:
    """What the virtual participant was scripted to do for one instructed press (tests)."""

    go_t_ns: int
    start_t_ns: int
    duration_s: float
    finger: str
    target_n: float
    enslaving_fraction: float
    traces: dict[str, Any]  # pad -> ForceTrace


@dataclass(frozen=True)
class FingerIndividuationParams:
    fingers: tuple[str, ...] = param(
        PAD_FINGERS, "instructed fingers, in order (each presses once; all their pads are used)"
    )
    target_percent: float = param(
        25.0, "target of the instructed finger, % of the maximal force; station setting"
    )
    max_force_n: float = param(
        0.0,
        "the participant's maximal finger force, N (the runner fills it from this "
        "session's max_force result); 0: not measured, fallback_max_force_n is used",
    )
    fallback_max_force_n: float = param(
        20.0, "maximal force assumed when max_force_n is 0, N; a station setting, not a norm"
    )
    press_s: float = param(
        4.0,
        "length of each instructed press (LED lit), s; short because enslaving rises over "
        "a 15 s hold (Abolins 2020)",
    )
    settle_s: float = param(1.0, "start of each press left out of the press window, s")
    rest_s: float = param(3.0, "rest after each press, s")
    baseline_s: float = param(0.5, "resting baseline just before each go cue, s")
    foreperiod_s: float = param(2.0, "from 'ready' (or the end of a rest) to the go cue, s")

    def __post_init__(self) -> None:
        if len(self.fingers) < 2 or len(set(self.fingers)) != len(self.fingers):
            raise ValueError("fingers needs at least two different fingers")
        for finger in self.fingers:
            check_pad_finger(finger)
        if not 0 < self.target_percent <= 100:
            raise ValueError("target_percent must be in (0, 100]")
        if self.max_force_n < 0 or self.fallback_max_force_n <= 0:
            raise ValueError("max_force_n must be >= 0 and fallback_max_force_n > 0")
        if self.press_s <= 0 or not 0 <= self.settle_s < self.press_s:
            raise ValueError("press_s must be > 0 and 0 <= settle_s < press_s")
        if self.rest_s < 0 or self.baseline_s <= 0 or self.foreperiod_s < self.baseline_s:
            raise ValueError("rest_s must be >= 0, baseline_s > 0 and foreperiod_s >= baseline_s")

    @property
    def target_force_n(self) -> float:
        return self.target_percent / 100.0 * max_force_or_fallback(self)


class FingerIndividuation(PercentOfMaxForceProtocol):
    name = "finger_individuation"
    version = "1.0"
    title = "Finger individuation"
    key_metrics = ("enslaving_mean_percent",)
    Params = FingerIndividuationParams
    default_practice = 0
    default_trials = 1
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Rest all your fingers on their pads. When a light comes on, press that finger's pad to "
            "the target and hold it until the light goes out; keep the other fingers relaxed.",
        ),
        Phase("ready", "ready", "Rest your fingers on the pads."),
        Phase("go", "go", "Press."),
        Phase("active", "active"),
        Phase("rest", "rest", "Relax."),
        Phase("done", "done", "Done."),
    )

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        return {finger_pad(config, f): f"pad:{f}" for f in self.params.fingers}

    def target_n(self, t_ns: int) -> float:
        """The instructed finger's target force (for the kiosk's live band): constant, N."""
        return self.params.target_force_n

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: FingerIndividuationParams = ctx.params
        ctx.enter("instructions")
        ctx.enter("ready")
        if ctx.person is not None:
            for finger in p.fingers:
                pad = finger_pad(ctx.config, finger)
                ctx.rig.sim_pads[pad].force = ctx.person.force_profile("rest")
            ctx.sim_truth = []
        if p.max_force_n <= 0:
            ctx.notes.append(
                f"no maximal force measured: target from the fallback {p.fallback_max_force_n:g} N"
            )
        for i, finger in enumerate(p.fingers):
            if i > 0:
                ctx.enter("rest")
                ctx.run_for(p.rest_s)
            go = force_go(ctx, finger, p.foreperiod_s, p.press_s)
            self.go_t_ns = go
            ctx.wait_until(lambda go=go: ctx.now_ns() >= go, p.foreperiod_s + 1)
            ctx.enter("go")
            ctx.enter("active")
            ctx.run_for(p.press_s)
        ctx.enter("rest")
        ctx.run_for(RELEASE_S)
        ctx.enter("done")

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The instructed finger holds the target from a simple reaction time after the go cue;
        each other pad gets the profile's enslaved share of it (plus its own rest noise)."""
        p: FingerIndividuationParams = ctx.params
        index = sum(1 for c in ctx.cues.cues if c.kind == "go") - 1
        finger = p.fingers[index]
        start = go_t_ns + round(person.profile.reaction.simple_rt_ms * 1e6)
        instructed = person.force_profile("hold", start, p.press_s, p.target_force_n, finger)
        traces = {finger_pad(ctx.config, finger): instructed}
        for other in p.fingers:
            if other != finger:
                traces[finger_pad(ctx.config, other)] = person.force_profile("enslaved", instructed)
        for pad, trace in traces.items():
            ctx.rig.sim_pads[pad].force = trace
        truth = ctx.sim_truth if isinstance(ctx.sim_truth, list) else []
        truth.append(
            SimPress(
                go_t_ns,
                start,
                p.press_s,
                finger,
                min(p.target_force_n, person.profile.force.max_force_for(finger)),
                person.profile.force.enslaving_fraction,
                traces,
            )
        )
        ctx.sim_truth = truth

    # -- scoring (pure) --------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_finger_individuation(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        names = ["enslaving_mean_percent"] + [f"enslaving_{f}_percent" for f in PAD_FINGERS]
        return mean_metrics(trials, names)


def _mean_in(t: np.ndarray, f: np.ndarray, t0: int, t1: int) -> float | None:
    sel = in_window(t, t0, t1)
    return float(f[sel].mean()) if sel.any() else None


def score_finger_individuation(data: TrialData) -> list[Metric]:
    """Metrics of one individuation trial (see the module docstring)."""
    params = data.params
    fingers = list(params.get("fingers", PAD_FINGERS))
    pads = {role.split(":", 1)[1]: ch for ch, role in data.roles.items() if role.startswith("pad:")}
    forces = {finger: pad_force(data, pad) for finger, pad in pads.items()}
    settle_ns = round(float(params.get("settle_s", 1.0)) * NS_PER_S)
    press_ns = round(float(params.get("press_s", 4.0)) * NS_PER_S)
    baseline_ns = round(float(params.get("baseline_s", 0.5)) * NS_PER_S)
    gos = go_cues(data)
    if not gos:
        return [Metric("enslaving_mean_percent", None, "%", "no go cue recorded")]
    metrics: list[Metric] = []
    per_finger: list[float] = []
    for i, (go, cue_finger) in enumerate(gos):
        finger = cue_finger or (fingers[i] if i < len(fingers) else None)
        if finger is None or finger not in forces:
            continue
        rise: dict[str, float | None] = {}
        for name, (t, f) in forces.items():
            during = _mean_in(t, f, go + settle_ns, go + press_ns)
            before = _mean_in(t, f, go - baseline_ns, go)
            rise[name] = None if during is None or before is None else during - before
        instructed = rise[finger]
        metrics.append(
            Metric(
                f"instructed_force_{finger}_n",
                instructed,
                "N",
                "" if instructed is not None else "no samples",
            )
        )
        if instructed is None or instructed < MIN_INSTRUCTED_RISE_N:
            why = "the instructed finger did not press"
            metrics.append(Metric(f"enslaving_{finger}_percent", None, "%", why))
            continue
        shares: list[float] = []
        for other in (o for o in forces if o != finger):
            value = rise[other]
            share = None if value is None else 100.0 * value / instructed
            metrics.append(
                Metric(
                    f"enslaving_{finger}_to_{other}_percent",
                    share,
                    "%",
                    "" if share is not None else "no samples",
                )
            )
            if share is not None:
                shares.append(share)
        mean_share = float(np.mean(shares)) if shares else None
        metrics.append(Metric(f"enslaving_{finger}_percent", mean_share, "%"))
        if mean_share is not None:
            per_finger.append(mean_share)
    metrics.insert(
        0,
        Metric(
            "enslaving_mean_percent",
            float(np.mean(per_finger)) if per_finger else None,
            "%",
            f"mean over {len(per_finger)} instructed fingers" if per_finger else "no valid press",
        ),
    )
    return metrics
