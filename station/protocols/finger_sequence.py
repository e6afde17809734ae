"""Finger sequences on the button array, in the natural or a mismatched order.

The participant presses the finger buttons in a given order (``sequence``, e.g.
``"index,middle,ring,little"`` or the mismatched ``"index,ring,middle,little"``) over and over,
as fast and accurately as possible, for ``duration_s``. Sequence tapping is one of the tasks of
sensorized finger devices (Dextrain, Teremetz 2015, via clinical-tests.md); the reference notes
give no standard duration: 30 s is the station's specification (issue 3), not a published
standard. With ``guided = true`` the cue LED of the next expected finger flashes after each
press (and at the go cue), so the task becomes a sequence of cued choices.

The window opens at the first press after the go cue (``start_rule = "first_press"``) or at the
go cue (``"go"``); a stop beep marks its end. Every button of the array is listened to: a press of
a finger outside the sequence (e.g. the thumb) is an error like any other wrong press.

Scoring (pure; :class:`SequenceTracker`, the same rule the guided LEDs follow):

* each press is judged by its transition from the previous one: it is correct when it is the
  finger that follows the previous press in the sequence (cyclically; the first press should be
  the sequence's first finger), otherwise it is an error. The participant is taken to be at the
  place the pressed finger stands for: for a correct press the expected one; for a wrong press the
  nearest occurrence of that finger at or after the expected place (cyclically), or, for a finger
  not in the sequence, the expected place. So one slip (a wrong finger, a skipped or repeated
  one) costs one or two errors, never a cascade;
* a correct sequence is a full cycle, from the first element to the last, without an error;
* per-finger accuracy: of the presses made while a finger was expected, the percentage that were
  that finger.

Metrics: ``presses``, ``correct_presses``, ``errors``, ``accuracy_pct``, ``correct_sequences``,
``sequence_time_mean_ms`` (first to last press of the correct sequences), the inter-press
intervals ``ipi_mean_ms``, ``ipi_sd_ms``, ``ipi_cv``, ``{finger}_accuracy_pct`` for each finger of
the sequence, and ``first_press_latency_ms`` (go cue to the first press).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Phase, Protocol, ProtocolError, TrialContext, mean_metrics, param
from station.records import Metric, TrialData

NS_PER_MS = 1_000_000
FINGERS = ("thumb", "index", "middle", "ring", "little")
#: Fingers of the virtual participant's model (it has no thumb).
SIM_FINGERS = ("index", "middle", "ring", "little")


def parse_sequence(text: str) -> tuple[str, ...]:
    """``"index, ring,middle"`` -> ``("index", "ring", "middle")``; raises ValueError."""
    fingers = tuple(f.strip() for f in text.split(",") if f.strip())
    if len(fingers) < 2:
        raise ValueError(f"sequence needs at least 2 fingers, got {text!r}")
    bad = [f for f in fingers if f not in FINGERS]
    if bad:
        raise ValueError(f"sequence: unknown finger {bad[0]!r} (known: {', '.join(FINGERS)})")
    return fingers


@dataclass(frozen=True)
class FingerSequenceParams:
    sequence: str = param(
        "index,middle,ring,little", "the order of fingers, comma-separated (repeated cyclically)"
    )
    duration_s: float = param(
        30.0, "length of the window, s (the station's specification, not a published standard)"
    )
    guided: bool = param(False, "flash the cue LED of the next expected finger after each press")
    guide_flash_ms: float = param(300.0, "how long a guiding LED flash lasts, ms")
    start_rule: str = param(
        "first_press", 'when the window opens: "first_press" (after go) or "go"'
    )
    foreperiod_s: float = param(2.0, "from 'ready' to the go cue, s (a setting)")
    ready_timeout_s: float = param(30.0, "how long to wait for all buttons to be released, s")
    first_press_timeout_s: float = param(
        10.0, 'with start_rule "first_press": the trial stops (timeout) without a press by then, s'
    )

    def __post_init__(self) -> None:
        parse_sequence(self.sequence)
        if self.start_rule not in ("first_press", "go"):
            raise ValueError(f'start_rule must be "first_press" or "go", got {self.start_rule!r}')
        if min(self.duration_s, self.guide_flash_ms, self.ready_timeout_s) <= 0:
            raise ValueError("duration_s, guide_flash_ms and ready_timeout_s must be > 0")
        if self.first_press_timeout_s <= 0 or self.foreperiod_s < 0:
            raise ValueError("first_press_timeout_s must be > 0 and foreperiod_s >= 0")


@dataclass
class SequenceTracker:
    """Judges presses one by one against a cyclic sequence (the rule in the module docstring)."""

    sequence: tuple[str, ...]
    pos: int = 0
    errors: int = 0
    correct: int = 0
    correct_sequences: int = 0
    expected_count: dict[str, int] = field(default_factory=dict)
    correct_count: dict[str, int] = field(default_factory=dict)
    sequence_times_ns: list[int] = field(default_factory=list)
    _cycle_start_ns: int | None = None  # first press of the current error-free cycle

    @property
    def expected(self) -> str:
        return self.sequence[self.pos]

    def press(self, finger: str, t_ns: int = 0) -> bool:
        """Judge a press of ``finger`` at ``t_ns``; True when correct."""
        n = len(self.sequence)
        expected = self.expected
        self.expected_count[expected] = self.expected_count.get(expected, 0) + 1
        if finger == expected:
            self.correct += 1
            self.correct_count[expected] = self.correct_count.get(expected, 0) + 1
            if self.pos == 0:
                self._cycle_start_ns = t_ns
            if self.pos == n - 1 and self._cycle_start_ns is not None:
                self.correct_sequences += 1
                self.sequence_times_ns.append(t_ns - self._cycle_start_ns)
                self._cycle_start_ns = None
            self.pos = (self.pos + 1) % n
            return True
        self.errors += 1
        self._cycle_start_ns = None
        if finger in self.sequence:
            ahead = next(k for k in range(n) if self.sequence[(self.pos + k) % n] == finger)
            self.pos = (self.pos + ahead + 1) % n
        else:
            self.pos = (self.pos + 1) % n
        return False


class FingerSequence(Protocol):
    name = "finger_sequence"
    version = "1.0"
    title = "Finger sequences"
    key_metrics = ("correct_sequences", "errors", "accuracy_pct", "ipi_mean_ms")
    Params = FingerSequenceParams
    default_practice = 0
    default_trials = 1
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Press the buttons in the order you are given, over and over, as quickly and as "
            "accurately as you can, until the stop beep.",
        ),
        Phase("ready", "ready", "Hold your fingers just above the buttons."),
        Phase("go", "go", "Go!"),
        Phase("active", "active"),
        Phase("done", "done", "Stop."),
    )

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        sequence = parse_sequence(self.params.sequence)
        wired = {b.finger: b.name for b in config.buttons if b.finger is not None}
        missing = [f for f in sequence if f not in wired]
        if missing:
            raise ProtocolError(
                f"the finger sequence needs a button for the {missing[0]} finger; none is wired"
            )
        return {b.name: f"button:{b.finger}" for b in config.buttons if b.finger is not None}

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: FingerSequenceParams = ctx.params
        sequence = parse_sequence(p.sequence)
        roles = self.roles(ctx.config, ctx.hand)
        finger_of = {ch: role.split(":", 1)[1] for ch, role in roles.items()}
        ctx.enter("instructions")
        ctx.say("The order is: " + ", ".join(sequence) + ".")
        ctx.enter("ready")
        if not ctx.wait_until(lambda: all(ctx.level(ch) == 0 for ch in roles), p.ready_timeout_s):
            ctx.notes.append("a button was held down at the go cue")
        led = _led(ctx.config, sequence[0]) if p.guided else None
        buzzer = _buzzer(ctx.config)
        go = ctx.go(p.foreperiod_s, output=buzzer, led=led)
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        ctx.enter("active")

        def presses() -> list[tuple[int, str]]:
            return [
                (e.t_ns, finger_of[e.channel])
                for e in ctx.events()
                if e.level == 1 and e.channel in finger_of and e.t_ns >= go
            ]

        start = go
        if p.start_rule == "first_press":
            if not ctx.wait_until(lambda: bool(presses()), p.first_press_timeout_s):
                ctx.status = "timeout"
                ctx.notes.append(f"no press within {p.first_press_timeout_s:g} s of the go cue")
                _drain_simulation(ctx)
                ctx.enter("done")
                return
            start = presses()[0][0]
        end = start + round(p.duration_s * NS_PER_S)
        ctx.cues.schedule(buzzer, max(end, ctx.now_ns()), round(0.2 * NS_PER_S), "stop")
        if p.guided:
            self._guide(ctx, sequence, presses, end)
        ctx.wait_until(lambda: ctx.now_ns() >= end, max(0, end - ctx.now_ns()) / NS_PER_S + 1)
        ctx.run_for(0.1)  # let the last press settle into an event
        _drain_simulation(ctx)
        ctx.enter("done")

    def _guide(
        self,
        ctx: TrialContext,
        sequence: tuple[str, ...],
        presses: Callable[[], list[tuple[int, str]]],
        end: int,
    ) -> None:
        """Guided: after each press flash the LED of the finger now expected (until ``end``)."""
        p: FingerSequenceParams = ctx.params
        tracker = SequenceTracker(sequence)
        judged = 0
        while ctx.now_ns() < end:
            ctx.wait_until(
                lambda n=judged: len(presses()) > n or ctx.now_ns() >= end, p.duration_s + 1
            )
            new = presses()[judged:]
            if not new:
                continue
            for t_ns, finger in new:
                tracker.press(finger, t_ns)
            judged += len(new)
            now = ctx.now_ns()
            if now >= end:
                break
            ctx.cues.schedule(
                _led(ctx.config, tracker.expected), now, round(p.guide_flash_ms * NS_PER_MS), "led"
            )
            if ctx.person is not None:
                self._sim_respond(ctx, ctx.person, now, tracker.expected)

    # -- simulation --------------------------------------------------------------------------------
    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The virtual participant's presses; ``ctx.sim_truth`` is a :class:`SequenceTruth`.

        Unguided: press times from the tapping model (Wing-Kristofferson, starting a mean simple
        reaction time after go, going on a reaction time past the window), each intended press
        aimed at the next finger of the sequence as the participant believes it; with the
        profile's choice_error_prob a wrong finger (of index..little, the model has no thumb) is
        pressed instead, unnoticed (the wrong-finger draw is the reaction model's choice error,
        its timing unused). A missed tap is a press that did not close the contact; an extra tap
        presses the same finger again. Guided: each LED flash gets a choice reaction
        (``_sim_respond``).
        """
        p: FingerSequenceParams = ctx.params
        sequence = parse_sequence(p.sequence)
        if "thumb" in sequence:
            raise ProtocolError("the virtual participant has no thumb: use index..little only")
        truth = SequenceTruth()
        ctx.sim_truth = truth
        if p.guided:
            self._sim_respond(ctx, person, go_t_ns, sequence[0])
            return
        reaction = person.profile.reaction
        start_ns = go_t_ns + round(reaction.simple_rt_ms * NS_PER_MS)
        script = person.tapping(start_ns, duration_s=p.duration_s + reaction.simple_rt_ms / 1000)
        aim = 0  # where the participant believes it is in the sequence
        last: str | None = None
        for tap in script.taps:
            if tap.intended:
                target = sequence[aim % len(sequence)]
                aim += 1
                response = person.reaction(
                    tap.onset_t_ns, choice=True, target=target, alternatives=SIM_FINGERS
                )
                finger = response.finger
            else:
                finger = last or sequence[0]
            truth.presses.append((tap.onset_t_ns, tap.release_t_ns, finger))
            last = finger
        truth.missed_t_ns = list(script.missed_t_ns)
        by_finger: dict[str, list[tuple[int, int]]] = {}
        for on, off, finger in truth.presses:
            by_finger.setdefault(finger, []).append((on, off))
        for finger, spans in by_finger.items():
            gpio = ctx.config.input(_button(ctx.config, finger)).gpio
            edges: list[tuple[int, int]] = []
            for i, (on, off) in enumerate(spans):
                until = spans[i + 1][0] if i + 1 < len(spans) else None
                edges += person.switch_edges(on, off, until_t_ns=until)
            ctx.rig.world.play_edges(gpio, edges)
            truth.edges += edges

    def _sim_respond(self, ctx: TrialContext, person: Any, cue_ns: int, target: str) -> None:
        """Guided, simulated: a choice reaction to the LED of ``target``; an anticipation is
        moved after the previous press (one finger cannot press before it has lifted)."""
        truth: SequenceTruth = ctx.sim_truth
        response = person.reaction(cue_ns, choice=True, target=target, alternatives=SIM_FINGERS)
        edges = list(response.edges)
        previous_off = max((off for _, off, _ in truth.presses), default=None)
        if previous_off is not None and response.onset_t_ns <= previous_off + 20 * NS_PER_MS:
            on = previous_off + 20 * NS_PER_MS
            off = on + (response.release_t_ns - response.onset_t_ns)
            edges = person.switch_edges(on, off)
            truth.presses.append((on, off, response.finger))
        else:
            truth.presses.append((response.onset_t_ns, response.release_t_ns, response.finger))
        gpio = ctx.config.input(_button(ctx.config, response.finger)).gpio
        ctx.rig.world.play_edges(gpio, edges)
        truth.edges += edges

    # -- scoring (pure) ----------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_finger_sequence(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        """The mean over trials of the counts, accuracies and intervals."""
        valid = [m for d, m in trials if not d.practice and d.status == "complete"]
        per_finger = [
            m.name for m in (valid[0] if valid else []) if m.name.endswith("_accuracy_pct")
        ]
        return mean_metrics(
            trials,
            [
                "correct_sequences",
                "errors",
                "accuracy_pct",
                "ipi_mean_ms",
                "ipi_cv",
                "sequence_time_mean_ms",
                *per_finger,
            ],
        )


@dataclass
class SequenceTruth:
    """What the virtual participant did: presses ``(onset_ns, release_ns, finger)`` in time
    order (extra taps included), intended presses that missed the contact, all edges played."""

    presses: list[tuple[int, int, str]] = field(default_factory=list)
    missed_t_ns: list[int] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)


def _buzzer(config: StationConfig) -> str:
    name = next((o.name for o in config.outputs if o.kind == "buzzer"), None)
    if name is None:
        raise ProtocolError("this test needs the buzzer for its go and stop beeps; none is wired")
    return name


def _button(config: StationConfig, finger: str) -> str:
    return next(b.name for b in config.buttons if b.finger == finger)


def _led(config: StationConfig, finger: str) -> str:
    spec = config.input(_button(config, finger))
    if spec.led is None:
        raise ProtocolError(f"guided sequences need a cue LED for the {finger} button; none is set")
    return spec.led


def _drain_simulation(ctx: TrialContext) -> None:
    """Simulated: let the scripted presses still to come play out inside this recording."""
    truth = ctx.sim_truth
    if ctx.person is None or truth is None or not truth.edges:
        return
    last_ns = max(t for t, _ in truth.edges)
    ctx.wait_until(lambda: ctx.now_ns() > last_ns, max(0, last_ns - ctx.now_ns()) / NS_PER_S + 1)


def score_finger_sequence(data: TrialData) -> list[Metric]:
    """Metrics of one finger-sequence trial from its events (see the module docstring)."""
    params = data.params
    sequence = parse_sequence(str(params.get("sequence", "index,middle,ring,little")))
    duration_ns = round(float(params.get("duration_s", 30.0)) * NS_PER_S)
    finger_of = {
        ch: role.split(":", 1)[1] for ch, role in data.roles.items() if role.startswith("button:")
    }
    go = data.go_t_ns
    if go is None:
        return [Metric("correct_sequences", None, "1", "no go cue recorded")]
    presses = sorted(
        (e.t_ns, e.seq, finger_of[e.channel])
        for e in data.events
        if e.channel in finger_of and e.level == 1 and e.t_ns >= go
    )
    metrics: list[Metric] = [
        Metric(
            "first_press_latency_ms",
            (presses[0][0] - go) / NS_PER_MS if presses else None,
            "ms",
            "" if presses else "no press after the go cue",
        )
    ]
    if data.status != "complete":
        why = f"trial did not complete ({data.status})"
        return [*metrics, Metric("correct_sequences", None, "1", why)]
    if params.get("start_rule", "first_press") == "first_press":
        if not presses:
            return [*metrics, Metric("correct_sequences", None, "1", "no press after the go cue")]
        start = presses[0][0]
    else:
        start = go
    end = start + duration_ns
    if data.end_t_ns < end:
        why = "the recording ended before the window closed"
        return [*metrics, Metric("correct_sequences", None, "1", why)]
    window = [(t, finger) for t, _, finger in presses if start <= t < end]
    tracker = SequenceTracker(sequence)
    for t, finger in window:
        tracker.press(finger, t)
    n = len(window)
    seq_ms = np.array(tracker.sequence_times_ns, dtype=np.int64) / NS_PER_MS
    ipi_ms = np.diff(np.array([t for t, _ in window], dtype=np.int64)) / NS_PER_MS
    ipi_mean = float(ipi_ms.mean()) if ipi_ms.size else None
    ipi_sd = float(ipi_ms.std(ddof=1)) if ipi_ms.size >= 2 else None
    metrics += [
        Metric("presses", float(n), "1"),
        Metric("correct_presses", float(tracker.correct), "1"),
        Metric("errors", float(tracker.errors), "1"),
        Metric(
            "accuracy_pct",
            100.0 * tracker.correct / n if n else None,
            "%",
            "" if n else "no press in the window",
        ),
        Metric("correct_sequences", float(tracker.correct_sequences), "1"),
        Metric(
            "sequence_time_mean_ms",
            float(seq_ms.mean()) if seq_ms.size else None,
            "ms",
            "" if seq_ms.size else "no correct sequence",
        ),
        Metric(
            "ipi_mean_ms", ipi_mean, "ms", "" if ipi_mean is not None else "fewer than 2 presses"
        ),
        Metric("ipi_sd_ms", ipi_sd, "ms", "" if ipi_sd is not None else "fewer than 3 presses"),
        Metric(
            "ipi_cv",
            ipi_sd / ipi_mean if ipi_sd is not None and ipi_mean else None,
            "1",
            "" if ipi_sd is not None else "fewer than 3 presses",
        ),
    ]
    for finger in dict.fromkeys(sequence):
        expected = tracker.expected_count.get(finger, 0)
        metrics.append(
            Metric(
                f"{finger}_accuracy_pct",
                100.0 * tracker.correct_count.get(finger, 0) / expected if expected else None,
                "%",
                "" if expected else "never expected",
            )
        )
    return metrics
