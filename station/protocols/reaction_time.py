"""Simple and choice reaction time with the cue LEDs and the finger buttons.

Procedure: the hand rests with the fingers on the buttons. ``n_stimuli`` times, after a random
foreperiod drawn uniformly from ``[foreperiod_min_s, foreperiod_max_s]``, a cue LED lights:

* ``mode = "simple"``: always the LED of ``simple_finger``; the participant presses that button
  as fast as possible;
* ``mode = "choice"``: the LED of a finger drawn at random from ``choice_fingers``; the participant
  presses that finger's button.

The next foreperiod starts at the response (the first press after the cue) or, without one, at
the cue plus ``response_timeout_s``. Foreperiods and (choice) the finger sequence come from a
seeded RNG; the seed is a parameter and is stored with the trial, so a trial can be replayed.
With ``seed = -1`` (the default) each trial draws a fresh seed and stores it: a repeated sequence
would be learned, which is what serial reaction-time tasks measure (Nissen & Bullemer 1987, via
clinical-tests.md). On the simulated backend the fresh seed derives from the virtual
participant's seed, so a simulated session stays reproducible.

Issue 3 (the station's protocol specification) fixes the metrics: median RT, errors, and
anticipations (< 100 ms) excluded. Other numbers here (foreperiods, timeout, cue length, number of
stimuli) are station settings; clinical-tests.md gives none for this task.

Scoring (pure; each cue's measured onset, :attr:`~station.records.CueRecord.onset_ns`; the cued
finger from the cue's kind ``stimulus:<finger>``): for each stimulus,

* a press between the previous stimulus's response (or timeout) and the cue, or a first press less
  than ``anticipation_ms`` after the cue, is an **anticipation**;
* else no press within ``response_timeout_s`` of the cue is a **miss** (a later press counts as an
  anticipation of the next stimulus);
* else a first press on another finger's button is an **error** (choice only);
* else RT = first press - cue onset.

Anticipations, misses and errors are excluded from the RT statistics: ``median_rt_ms``,
``mean_rt_ms``, ``sd_rt_ms`` (ddof 1), counts ``valid``, ``errors``, ``anticipations``,
``misses``, and ``rt_<i>_ms`` per stimulus (None, with the reason, when excluded).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import FINGERS, StationConfig
from station.protocols.base import (
    Phase,
    Protocol,
    ProtocolError,
    TrialContext,
    mean_metrics,
    param,
)
from station.records import Metric, TrialData

MODES = ("simple", "choice")
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class ReactionTimeParams:
    mode: str = param("simple", 'task: "simple" (one known cue) or "choice" (one of several)')
    n_stimuli: int = param(20, "cues per trial; station setting")
    simple_finger: str = param("index", "finger cued in simple mode")
    choice_fingers: tuple[str, ...] = param(
        ("index", "middle", "ring", "little"), "fingers cued at random in choice mode"
    )
    foreperiod_min_s: float = param(1.0, "shortest foreperiod (response to next cue), s")
    foreperiod_max_s: float = param(3.0, "longest foreperiod, s; drawn uniformly in between")
    response_timeout_s: float = param(1.5, "no press within this long after a cue is a miss, s")
    anticipation_ms: float = param(
        100.0, "a press sooner than this after its cue is an anticipation, ms (issue 3: < 100 ms)"
    )
    stimulus_s: float = param(0.5, "how long the cue LED stays lit, s")
    seed: int = param(
        -1,
        "seed of the foreperiods and the choice sequence; -1: a fresh seed each trial, stored "
        "with the trial",
    )

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'mode must be "simple" or "choice", got {self.mode!r}')
        if self.n_stimuli < 1:
            raise ValueError("n_stimuli must be >= 1")
        for finger in (self.simple_finger, *self.choice_fingers):
            if finger not in FINGERS:
                raise ValueError(f"unknown finger {finger!r} (known: {', '.join(FINGERS)})")
        if len(set(self.choice_fingers)) != len(self.choice_fingers):
            raise ValueError("choice_fingers has a finger twice")
        if self.mode == "choice" and len(self.choice_fingers) < 2:
            raise ValueError("choice mode needs at least two choice_fingers")
        if not 0 < self.foreperiod_min_s <= self.foreperiod_max_s:
            raise ValueError("needs 0 < foreperiod_min_s <= foreperiod_max_s")
        if self.response_timeout_s <= 0 or self.stimulus_s <= 0:
            raise ValueError("response_timeout_s and stimulus_s must be > 0")
        if not 0 <= self.anticipation_ms < self.response_timeout_s * 1000:
            raise ValueError("anticipation_ms must be >= 0 and shorter than the timeout")
        if self.seed < -1:
            raise ValueError("seed must be >= 0, or -1 for a fresh seed each trial")

    @property
    def fingers(self) -> tuple[str, ...]:
        """The fingers whose buttons take part."""
        return (self.simple_finger,) if self.mode == "simple" else self.choice_fingers


def stimulus_plan(p: ReactionTimeParams) -> list[tuple[float, str]]:
    """``(foreperiod_s, finger)`` of each stimulus, from the seed (which must be >= 0)."""
    if p.seed < 0:
        raise ValueError("stimulus_plan needs a seed >= 0")
    rng = np.random.default_rng(p.seed)
    foreperiods = rng.uniform(p.foreperiod_min_s, p.foreperiod_max_s, p.n_stimuli)
    if p.mode == "simple":
        fingers = [p.simple_finger] * p.n_stimuli
    else:
        picks = rng.integers(len(p.choice_fingers), size=p.n_stimuli)
        fingers = [p.choice_fingers[int(k)] for k in picks]
    return [(float(fp), finger) for fp, finger in zip(foreperiods, fingers, strict=True)]


class ReactionTime(Protocol):
    name = "reaction_time"
    version = "1.0"
    title = "Reaction time (simple and choice)"
    key_metrics = ("median_rt_ms", "errors", "anticipations", "misses")
    Params = ReactionTimeParams
    default_practice = 0
    default_trials = 1
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Rest your fingers on the buttons. When a light comes on, press the button under it as "
            "fast as you can. Do not press before the light.",
        ),
        Phase("ready", "ready", "Get ready."),
        Phase("active", "active"),
        Phase("done", "done", "Done."),
    )

    def __init__(self, params: Any = None):
        super().__init__(params)
        self._requested_seed: int = self.params.seed
        self._trials_run = 0

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        roles: dict[str, str] = {}
        for finger in self.params.fingers:
            button = next((b for b in config.buttons if b.finger == finger), None)
            if button is None or button.led is None:
                raise ProtocolError(
                    f"reaction time needs a button with a cue LED for the {finger} finger"
                )
            roles[button.name] = f"button:{finger}"
        return roles

    # -- running ---------------------------------------------------------------------------------
    def _resolve_seed(self, ctx: TrialContext) -> ReactionTimeParams:
        """The trial's parameters with a concrete seed; they become ``self.params`` so that the
        stored trial carries the seed used."""
        p: ReactionTimeParams = ctx.params
        if self._requested_seed < 0:
            if ctx.person is not None:
                mode = MODES.index(p.mode)
                state = np.random.SeedSequence([int(ctx.person.seed), mode, self._trials_run])
                seed = int(state.generate_state(1)[0] & 0x7FFFFFFF)
            else:
                seed = secrets.randbits(31)
            p = dataclasses.replace(p, seed=seed)
        self._trials_run += 1
        self.params = p
        ctx.params = p
        return p

    def run(self, ctx: TrialContext) -> None:
        p = self._resolve_seed(ctx)
        roles = self.roles(ctx.config, ctx.hand)
        buttons = list(roles)
        led = {finger: ctx.config.input(ch).led for ch, finger in self._fingers(roles).items()}
        ctx.enter("instructions")
        ctx.enter("ready")
        ctx.enter("active")
        if ctx.person is not None:
            ctx.sim_truth = []
        stimulus_ns = round(p.stimulus_s * NS_PER_S)
        for foreperiod_s, finger in stimulus_plan(p):
            t_cue = ctx.now_ns() + round(foreperiod_s * NS_PER_S)
            ctx.cues.schedule(led[finger], t_cue, stimulus_ns, f"stimulus:{finger}")
            if ctx.go_t_ns is None:
                ctx.go_t_ns = t_cue
            if ctx.person is not None:
                self.simulate(ctx, ctx.person, t_cue)

            def responded(t_cue: int = t_cue) -> bool:
                return any(e.t_ns >= t_cue for ch in buttons for e in ctx.events(ch, 1))

            ctx.wait_until(responded, foreperiod_s + p.response_timeout_s)
        ctx.run_for(0.1)  # let the last press settle into an event
        ctx.enter("done")

    @staticmethod
    def _fingers(roles: dict[str, str]) -> dict[str, str]:
        return {ch: role.split(":", 1)[1] for ch, role in roles.items()}

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The participant responds to the cue at ``go_t_ns`` (its finger read from the cue)."""
        p: ReactionTimeParams = ctx.params
        cue = next(
            c
            for c in reversed(ctx.cues.cues)
            if c.scheduled_on_ns == go_t_ns and c.kind.startswith("stimulus:")
        )
        target = cue.kind.split(":", 1)[1]
        script = person.reaction(go_t_ns, p.mode == "choice", target=target, alternatives=p.fingers)
        roles = self.roles(ctx.config, ctx.hand)
        button = next(ch for ch, role in roles.items() if role == f"button:{script.finger}")
        spec = ctx.config.input(button)
        ctx.rig.world.play_edges(spec.gpio, script.edges, active_low=spec.active_low)
        truth = ctx.sim_truth if isinstance(ctx.sim_truth, list) else []
        truth.append(script)
        ctx.sim_truth = truth

    # -- scoring (pure) --------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_reaction_time(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        return mean_metrics(
            trials,
            ["median_rt_ms", "mean_rt_ms", "sd_rt_ms", "errors", "anticipations", "misses"],
        )


def score_reaction_time(data: TrialData) -> list[Metric]:
    """Metrics of one reaction-time trial (see the module docstring)."""
    params = data.params
    timeout_ns = round(float(params.get("response_timeout_s", 1.5)) * NS_PER_S)
    anticipation_ns = round(float(params.get("anticipation_ms", 100.0)) * NS_PER_MS)
    finger_of = {
        ch: role.split(":", 1)[1] for ch, role in data.roles.items() if role.startswith("button:")
    }
    presses = sorted(
        (e.t_ns, finger_of[e.channel])
        for e in data.events
        if e.channel in finger_of and e.level == 1
    )
    stimuli = sorted(
        (c.onset_ns, c.kind.split(":", 1)[1]) for c in data.cues if c.kind.startswith("stimulus:")
    )
    rts: list[float] = []
    per_stimulus: list[Metric] = []
    counts = {"errors": 0, "anticipations": 0, "misses": 0}
    closed = data.start_t_ns - 1  # the previous stimulus's response (or timeout)
    for i, (onset, target) in enumerate(stimuli):
        early = [t for t, _ in presses if closed < t < onset]
        answer = next(((t, f) for t, f in presses if onset <= t <= onset + timeout_ns), None)
        closed = answer[0] if answer is not None else onset + timeout_ns
        name = f"rt_{i + 1}_ms"
        if early:
            counts["anticipations"] += 1
            per_stimulus.append(Metric(name, None, "ms", "anticipation: pressed before the cue"))
        elif answer is None:
            counts["misses"] += 1
            per_stimulus.append(Metric(name, None, "ms", "miss: no press in time"))
        elif answer[0] - onset < anticipation_ns:
            counts["anticipations"] += 1
            per_stimulus.append(
                Metric(name, None, "ms", f"anticipation: {(answer[0] - onset) / NS_PER_MS:.0f} ms")
            )
        elif answer[1] != target:
            counts["errors"] += 1
            per_stimulus.append(Metric(name, None, "ms", f"error: {answer[1]} for {target}"))
        else:
            rt_ms = (answer[0] - onset) / NS_PER_MS
            rts.append(rt_ms)
            per_stimulus.append(Metric(name, rt_ms, "ms"))
    x = np.asarray(rts)
    why = "" if x.size else ("no stimulus recorded" if not stimuli else "no valid response")
    metrics = [
        Metric("median_rt_ms", float(np.median(x)) if x.size else None, "ms", why),
        Metric("mean_rt_ms", float(x.mean()) if x.size else None, "ms", why),
        Metric(
            "sd_rt_ms",
            float(x.std(ddof=1)) if x.size >= 2 else None,
            "ms",
            "" if x.size >= 2 else "fewer than 2 valid responses",
        ),
        Metric("stimuli", float(len(stimuli)), "1"),
        Metric("valid", float(x.size), "1"),
        Metric("errors", float(counts["errors"]), "1"),
        Metric("anticipations", float(counts["anticipations"]), "1"),
        Metric("misses", float(counts["misses"]), "1"),
    ]
    return metrics + per_stimulus
