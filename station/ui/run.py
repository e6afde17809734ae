"""Running a battery from the kiosk: trial by trial, in a worker thread, with a live snapshot.

:class:`RunController` drives :class:`station.assess.BatteryRun` (the step runner that
``station assess`` uses; the trial itself is :func:`station.engine.run_trial`) on its own thread,
so the screen never waits for a trial and a trial never waits for the screen. The screen reads
:meth:`RunController.snapshot`, an immutable :class:`RunSnapshot` published under a lock, and
sends commands: :meth:`~RunController.start_trial`, :meth:`~RunController.keep`,
:meth:`~RunController.mark_invalid` (the trial is stored invalid with the reason and repeated),
:meth:`~RunController.skip`, :meth:`~RunController.abort`, :meth:`~RunController.add_note`.

On the simulated backend each trial runs in real time (a :class:`LivePacer`, one per trial so the
time spent between trials is not made up afterwards) or, with ``realtime=False``, as fast as the
host allows; either way the live values (holes, taps, forces, target band, metronome beats, cue
finger) are taken on the worker thread between simulation steps, where the recording is
consistent. On real hardware they are read when the screen asks (``wait_until`` does not pace).

:class:`LiveValues` holds what each protocol's feedback needs (see docs/kiosk.md): holes, taps,
pressed fingers, every finger pad's force (the bar follows the cued finger's pad), target and
band, metronome beats, the lit finger, the countdown to a go beep, the buzzer cues that have
sounded (the screen plays them), the faults so far, and the newest force sample's time with the
host time it corresponds to (the sample-to-screen benchmark). When pacing, the values are
published after the pacer has waited for the host clock, so none is shown before its time.

Self-guided mode (``self_guided=True``, :mod:`station.ui.selfguided`): the participant starts each
trial, every trial is kept as it ends (no review), and with ``rest_s`` a rest (state ``REST``,
counting down in ``RunSnapshot.rest_*``; :meth:`~RunController.skip_rest` ends it once
``rest_min_s`` has passed) comes before each new block (protocol and hand) after the first.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hardware.clock import NS_PER_S
from station.assess import BatteryRun, PlannedTrial, TrialResult, fmt, headline
from station.battery import Battery
from station.errors import StationError
from station.protocols.base import Pacer, Phase, TrialContext
from station.rig import Rig
from station.ui.errors import Message, fault_advice, message_for
from station.ui.rest import MIN_REST_S, RestTimer

log = logging.getLogger("station.ui.run")

#: The worker publishes live values at most this often (host time), s.
LIVE_PERIOD_S = 1 / 60
#: The force bar's scale when the protocol names no maximal force, N.
DEFAULT_FORCE_SCALE_N = 20.0
#: Lines of the runner's own text kept for the screen.
LOG_LINES = 8

# Run states (RunSnapshot.state)
STARTING = "starting"  # opening the session
READY = "ready"  # a trial is planned: the clinician starts it (its instructions on screen)
RUNNING = "running"  # a trial is running (phase in RunSnapshot.phase_*)
REVIEW = "review"  # a trial ended: keep it, mark it invalid (it is repeated), skip, abort
FINISHED = "finished"  # every trial done; the session is complete
ABORTED = "aborted"  # the clinician stopped the session
FAILED = "failed"  # an error stopped the session (RunSnapshot.message says what and what to do)
REST = "rest"  # self-guided: a rest before the next block (RunSnapshot.rest_* count down)
ENDED = (FINISHED, ABORTED, FAILED)


class TrialAbortedError(StationError):
    """The clinician aborted the session while a trial was running."""


@dataclass(frozen=True)
class LiveValues:
    """What a trial shows while it runs (virtual time on the simulated backend)."""

    t_s: float = 0.0  # since the trial's recording started
    elapsed_s: float = 0.0  # since the go cue (0 before it)
    holes: tuple[bool, ...] = ()  # a peg in each hole, in order
    taps: int = 0  # presses after the go cue on the tapped button(s)
    forces_n: dict[str, float] = field(default_factory=dict)  # pad -> last force
    force_pad: str | None = None  # the pad the protocol asks for
    target_n: float | None = None
    band_n: tuple[float, float] | None = None
    force_max_n: float = 20.0  # the top of the force bar
    beat_age_s: float | None = None  # since the last metronome click began
    next_beat_in_s: float | None = None  # until the next click (None: no more clicks)
    beat_interval_s: float | None = None  # between the last click and the next
    beats_done: int = 0
    beats_total: int = 0
    beat_times_s: tuple[float, ...] = ()  # every click's onset, s since the recording started
    cue_finger: str | None = None  # the finger whose cue LED is lit
    faults: tuple[str, ...] = ()
    go_in_s: float | None = None  # until the go cue, when one is scheduled and still to come
    countdown: bool = False  # the go cue is a beep the screen may count down to (not a stimulus)
    sounds: tuple[SoundCue, ...] = ()  # the buzzer's cues that have sounded, in order
    pressed: tuple[str, ...] = ()  # fingers whose button is down now
    pad_fingers: tuple[tuple[str, str], ...] = ()  # (finger, pad) of the finger pads in use
    stimuli_done: int = 0  # stimulus cues (reaction time) shown so far
    stimuli_total: int = 0
    sequence: tuple[str, ...] = ()  # the fingers' order (finger sequences)
    #: The newest sample of ``force_pad``: its time on the rig's clock, and the host's
    #: CLOCK_MONOTONIC time it corresponds to (real hardware: the same; the simulated backend in
    #: real time: through the pacer's virtual-to-host mapping; as fast as possible: None).
    sample_t_ns: int | None = None
    sample_host_ns: int | None = None

    @property
    def holes_filled(self) -> int:
        return sum(self.holes)


@dataclass(frozen=True)
class SoundCue:
    """A buzzer cue that has sounded: the screen plays the same sound (see station.kiosk.audio)."""

    index: int  # its place among the trial's cues (the screen plays each index once)
    kind: str  # "go" | "stop" | "click" | ...
    duration_s: float
    onset_s: float  # since the recording started


@dataclass(frozen=True)
class TrialSummary:
    """A finished trial as the review screen shows it."""

    trial_id: int
    protocol: str
    title: str
    hand: str
    label: str
    status: str
    headline: str
    metrics: tuple[tuple[str, str], ...]  # (name, formatted value) of the key metrics
    notes: str
    faults: tuple[tuple[str, str], ...]  # (fault, what to do)


@dataclass(frozen=True)
class RunSnapshot:
    state: str = STARTING
    session_id: int | None = None
    battery_title: str = ""
    protocol: str = ""
    protocol_title: str = ""
    hand: str = ""
    trial_label: str = ""
    practice: bool = False
    instructions: str = ""
    phase_name: str = ""
    phase_kind: str = ""
    phase_text: str = ""
    blocks_done: int = 0  # (protocol, hand) blocks begun before this one
    blocks_total: int = 0
    live: LiveValues = field(default_factory=LiveValues)
    last_trial: TrialSummary | None = None
    message: Message | None = None
    log: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    simulated: bool = False
    rest_total_s: float = 0.0  # state REST: the rest's length, what is left, when it may end
    rest_left_s: float = 0.0
    rest_skip_in_s: float = 0.0
    rest_next: str = ""  # what comes after the rest, e.g. "Finger Tapping Test, left hand"
    trial_serial: int = 0  # counts the trials this run has started (the screen's sounds, etc.)
    params: dict[str, Any] = field(default_factory=dict)  # the planned trial's parameters


class LivePacer(Pacer):
    """The engine's pacer (real time, or none) with a hook run between simulation steps."""

    def __init__(self, realtime: bool, on_step: Callable[[int], None]):
        super().__init__()
        self.realtime = realtime
        self.on_step = on_step

    def pace(self, virtual_now_ns: int) -> None:
        # wait for the host clock first: live values are published when their virtual time is
        # real, never a simulation step ahead of it (the sample-to-screen delay stays honest)
        if self.realtime:
            super().pace(virtual_now_ns)
        self.on_step(virtual_now_ns)

    def host_ns(self, virtual_ns: int) -> int | None:
        """The host's CLOCK_MONOTONIC time at which virtual time ``virtual_ns`` is (or was)
        real, once pacing has begun; None when not pacing (as fast as possible)."""
        if not self.realtime or self._origin is None:
            return None
        v0, h0 = self._origin
        return h0 + (virtual_ns - v0)


class _Live:
    """Live values of one running trial, computed from its context (worker thread).

    :param host_ns: maps a time on the rig's clock to the host's CLOCK_MONOTONIC (None: unknown).
    """

    def __init__(self, ctx: TrialContext, host_ns: Callable[[int], int | None] | None = None):
        self.ctx = ctx
        self.host_ns = host_ns
        rec = ctx.recorder
        cfg = ctx.config
        roles = ctx.protocol.roles(cfg, ctx.hand)
        self.holes = [ch for ch, r in roles.items() if r == "hole" or r.startswith("hole:")]
        self.buttons = [ch for ch, r in roles.items() if r.startswith("button")]
        self.button_fingers = {
            ch: b.finger for b in cfg.buttons if (ch := b.name) in self.buttons and b.finger
        }
        self.pads = list(rec.pads)
        finger_pads = [ch for ch, r in roles.items() if r.startswith("pad:") and ch in rec.pads]
        finger_pads = [p for p in finger_pads if roles[p] not in ("pad:home", "pad:dish")]
        self.pad_of = {roles[p].split(":", 1)[1]: p for p in finger_pads}
        self.force_pad = finger_pads[0] if finger_pads else None
        self.leds = {b.led: b.finger for b in cfg.buttons if b.led and b.finger}
        self.buzzers = {o.name for o in cfg.outputs if o.kind == "buzzer"}
        self.start_ns = rec.anchor.mono_ns
        self._event_pos = 0
        self._taps = 0
        params = ctx.params
        top = getattr(params, "max_force_n", 0.0) or getattr(params, "fallback_max_force_n", 0.0)
        top = float(top) if top else DEFAULT_FORCE_SCALE_N
        # the bar's scale, fixed for the trial: twice the highest target, else the maximal force
        peak = getattr(params, "target_force_n", None)
        if peak is None and hasattr(params, "high_percent"):
            peak = params.high_percent / 100.0 * top
        self.force_max_n = 2.0 * float(peak) if peak else top
        self.stimuli_total = int(getattr(params, "n_stimuli", 0) or 0)
        sequence = getattr(params, "sequence", "")
        self.sequence = (
            tuple(f.strip() for f in sequence.split(",") if f.strip())
            if isinstance(sequence, str)
            else ()
        )

    def compute(self, now_ns: int) -> LiveValues:
        ctx = self.ctx
        rec = ctx.recorder
        go = ctx.go_t_ns
        events = rec.events
        n = len(events)
        if go is not None and self.buttons:
            for e in events[self._event_pos : n]:
                if e.level == 1 and e.channel in self.buttons and e.t_ns >= go:
                    self._taps += 1
            self._event_pos = n
        forces = {name: float(rec.pads[name].last_force_n) for name in self.pads}
        target = band = None
        protocol = ctx.protocol
        phase = ctx.phase
        scale_n = self.force_max_n
        beat_age = next_in = interval = None
        beats_done = beats_total = stimuli_done = 0
        last_on = None
        beat_times: list[float] = []
        sounds: list[SoundCue] = []
        countdown = False
        for index, cue in enumerate(ctx.cues.cues):
            kind = cue.kind
            if cue.output in self.buzzers and cue.actual_on_ns is not None:
                sounds.append(
                    SoundCue(
                        index,
                        kind,
                        (cue.scheduled_off_ns - cue.scheduled_on_ns) / NS_PER_S,
                        (cue.actual_on_ns - self.start_ns) / NS_PER_S,
                    )
                )
            if kind == "go" and cue.scheduled_on_ns == go:
                countdown = True
            if kind.startswith("stimulus") and cue.scheduled_on_ns <= now_ns:
                stimuli_done += 1
            if kind != "click":
                continue
            beats_total += 1
            beat_times.append((cue.scheduled_on_ns - self.start_ns) / NS_PER_S)
            if cue.scheduled_on_ns <= now_ns:
                beats_done += 1
                last_on = cue.scheduled_on_ns
                beat_age = (now_ns - cue.scheduled_on_ns) / NS_PER_S
            elif next_in is None:
                next_in = (cue.scheduled_on_ns - now_ns) / NS_PER_S
                if last_on is not None:
                    interval = (cue.scheduled_on_ns - last_on) / NS_PER_S
        cue_finger = None
        for led, finger in self.leds.items():
            out = rec.outputs.get(led)
            if out is not None and out.is_on:
                cue_finger = finger
                break
        force_pad = self.force_pad
        if cue_finger is not None and cue_finger in self.pad_of:
            force_pad = self.pad_of[cue_finger]  # several pads (individuation): the cued one
        if (
            force_pad is not None
            and hasattr(protocol, "target_n")
            and phase is not None
            and phase.kind in ("go", "active")
        ):
            target = float(protocol.target_n(now_ns))
            band_fn = getattr(protocol, "band_n", None)
            band = tuple(float(x) for x in band_fn(now_ns)) if band_fn is not None else None
        sample_t = sample_host = None
        if force_pad is not None:
            sample_t = rec.pads[force_pad].last_t_ns
            if sample_t is not None and self.host_ns is not None:
                sample_host = self.host_ns(sample_t)
        pressed = tuple(finger for ch, finger in self.button_fingers.items() if rec.core.level(ch))
        return LiveValues(
            t_s=max(0, now_ns - self.start_ns) / NS_PER_S,
            elapsed_s=max(0, now_ns - go) / NS_PER_S if go is not None else 0.0,
            holes=tuple(bool(rec.core.level(h)) for h in self.holes),
            taps=self._taps,
            forces_n=forces,
            force_pad=force_pad,
            target_n=target,
            band_n=band,  # type: ignore[arg-type]
            force_max_n=max(scale_n, 1.2 * forces.get(force_pad or "", 0.0)),
            beat_age_s=beat_age,
            next_beat_in_s=next_in,
            beat_interval_s=interval,
            beats_done=beats_done,
            beats_total=beats_total,
            beat_times_s=tuple(beat_times),
            cue_finger=cue_finger,
            faults=tuple(f.message for f in rec.faults),
            go_in_s=(go - now_ns) / NS_PER_S if go is not None and go > now_ns else None,
            countdown=countdown,
            sounds=tuple(sounds),
            pressed=pressed,
            pad_fingers=tuple(self.pad_of.items()),
            stimuli_done=stimuli_done,
            stimuli_total=max(self.stimuli_total, stimuli_done),
            sequence=self.sequence,
            sample_t_ns=sample_t,
            sample_host_ns=sample_host,
        )


def _instructions(protocol: Any) -> str:
    """What the participant is told before a trial: the protocol's instructions phase, with what
    its trial says at the start (the Purdue subtest's own words, a finger sequence's order)."""
    text = next((p.text for p in protocol.phases if p.kind == "instructions"), "")
    params = protocol.params
    if protocol.name == "purdue_pegboard":
        from station.protocols.purdue_pegboard import INSTRUCTIONS

        text = INSTRUCTIONS.get(params.subtest, text)
    sequence = getattr(params, "sequence", None)
    if isinstance(sequence, str) and sequence:
        order = ", ".join(f.strip() for f in sequence.split(",") if f.strip())
        text = f"{text} The order is: {order}."
    return text


def _same_ns(t_ns: int) -> int:
    return t_ns


def _summary(planned: PlannedTrial, trial: TrialResult) -> TrialSummary:
    protocol = planned.protocol
    keys = protocol.key_metrics
    ranked = sorted(
        trial.metrics, key=lambda m: keys.index(m.name) if m.name in keys else len(keys)
    )
    shown = tuple((m.name, fmt(m) if m.value is not None else m.detail or "-") for m in ranked[:6])
    return TrialSummary(
        trial.trial_id,
        protocol.name,
        protocol.title,
        trial.hand,
        planned.label,
        trial.status,
        headline(trial.metrics, keys),
        shown,
        trial.notes,
        tuple((f, fault_advice(f)) for f in trial.faults),
    )


class RunController:
    """One battery session run from the kiosk (see the module docstring).

    :param auto: start each trial and keep it without waiting for the clinician (the demo).
    :param realtime: on the simulated backend, keep the trials in step with the host clock.
    :param person: the virtual participant (simulated backend), or None for a person at the
        virtual-hardware panel (or at the real station).
    :param say: also given every line the runner says (the terminal demo prints them).
    :param listener: given every snapshot as it is published, on the worker thread (tests;
        it must be quick).
    :param host_clock: monotonic seconds, for how often live values are published (and rests).
    :param self_guided: the participant runs it: each trial kept as it ends, no review.
    :param rest_s: a rest before each new block after the first (0: none).
    :param rest_min_s: the part of a rest that cannot be skipped.
    """

    def __init__(
        self,
        rig: Rig,
        store: Any,
        participant: Any,
        battery: Battery,
        *,
        person: Any = None,
        realtime: bool = True,
        auto: bool = False,
        say: Callable[[str], None] | None = None,
        listener: Callable[[RunSnapshot], None] | None = None,
        host_clock: Callable[[], float] = time.monotonic,
        self_guided: bool = False,
        rest_s: float = 0.0,
        rest_min_s: float = MIN_REST_S,
    ):
        self.rig = rig
        self.store = store
        self.participant = participant
        self.battery = battery
        self.person = person
        self.realtime = realtime
        self.auto = auto
        self.self_guided = self_guided
        self.rest_s = max(0.0, float(rest_s))
        self.rest_min_s = rest_min_s
        self._rest: RestTimer | None = None
        self._block = 0  # the block (run.hands_started) of the last trial planned
        self._trials_at_block = 0  # trials run when that block began
        self._host_clock = host_clock
        self._echo = say
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._listener = listener
        self._commands: queue.Queue[tuple[str, str]] = queue.Queue()
        self._abort = threading.Event()
        self._log: list[str] = []
        self._trial_notes: list[str] = []
        self._live: _Live | None = None
        self._last_live_s = 0.0
        self._snapshot = RunSnapshot(battery_title=battery.title, simulated=rig.simulated)
        self._run = BatteryRun(
            rig, store, participant, battery, person=person, say=self._say, on_phase=self._phase
        )
        self._planned: PlannedTrial | None = None
        self._pacer: LivePacer | None = None
        self._thread: threading.Thread | None = None

    # -- the screen's side -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise StationError("this run has already started")
        self._thread = threading.Thread(target=self._work, name="kiosk-run", daemon=True)
        self._thread.start()

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            snap = self._snapshot
            live = self._live
        if snap.state == RUNNING and live is not None and not self.rig.simulated:
            snap = replace(snap, live=live.compute(self.rig.clock.now_ns()))
        rest = self._rest
        if snap.state == REST and rest is not None:
            info = rest.info()
            snap = replace(snap, rest_left_s=info.left_s, rest_skip_in_s=info.skip_in_s)
        return snap

    @property
    def session_id(self) -> int | None:
        return self.snapshot().session_id

    @property
    def busy(self) -> bool:
        """A trial is running (the idle lock waits for it)."""
        return self.snapshot().state == RUNNING

    @property
    def ended(self) -> bool:
        return self.snapshot().state in ENDED

    def start_trial(self) -> None:
        self._command("start", (READY,))

    def keep(self) -> None:
        self._command("keep", (REVIEW,))

    def mark_invalid(self, reason: str) -> None:
        """Store the last trial as invalid with ``reason``; it is run again."""
        reason = reason.strip()
        if not reason:
            raise StationError("give a reason, e.g. 'dropped peg'")
        self._command("invalid", (REVIEW,), reason)

    def skip(self) -> None:
        """Leave out the rest of this protocol for this hand."""
        self._command("skip", (READY, REVIEW))

    def skip_rest(self) -> None:
        """End a rest between blocks early (refused before ``rest_min_s``)."""
        rest = self._rest
        if self.snapshot().state != REST or rest is None:
            raise StationError("not now: there is no rest to end")
        if not rest.can_skip:
            rest.skip()  # raises, saying how long to wait
        self._commands.put(("skip_rest", ""))

    def abort(self) -> None:
        """End the session now (a running trial is stopped and stored incomplete)."""
        state = self.snapshot().state
        if state in ENDED:
            return
        self._abort.set()
        self._commands.put(("abort", ""))

    def add_note(self, text: str) -> None:
        """A clinician's note. During a trial it is stored with that trial; otherwise in the
        participant's record, marked with the session and the last trial."""
        text = " ".join(text.split())
        if not text:
            raise StationError("the note is empty")
        snap = self.snapshot()
        with self._lock:
            if snap.state in (RUNNING, READY, STARTING):
                self._trial_notes.append(f"clinician: {text}")
                stored_later = True
            else:
                stored_later = False
        if not stored_later:
            self._note_to_participant(text, snap)
        with self._lock:
            notes = (*self._snapshot.notes, text)
        self._publish(notes=notes)

    def wait(self, timeout_s: float) -> bool:
        """Wait for the worker to end (tests, shutdown); True when it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the worker ------------------------------------------------------------------------------
    def _command(self, name: str, states: tuple[str, ...], arg: str = "") -> None:
        state = self.snapshot().state
        if state not in states:
            raise StationError(f"not now: the run is {state}")
        self._commands.put((name, arg))

    def _publish(self, **changes: Any) -> None:
        with self._lock:
            self._snapshot = snap = replace(self._snapshot, **changes)
            self._changed.notify_all()
        if self._listener is not None:
            self._listener(snap)

    def wait_for(self, predicate: Callable[[RunSnapshot], bool], timeout_s: float) -> RunSnapshot:
        """Wait until a published snapshot satisfies ``predicate`` (or the run ends); returns
        the snapshot. Raises :class:`TimeoutError` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                snap = self._snapshot
                if predicate(snap) or snap.state in ENDED:
                    return snap
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"run still {snap.state} ({snap.phase_name}) after {timeout_s} s"
                    )
                self._changed.wait(remaining)

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)
        text = text.strip()
        if not text:
            return
        with self._lock:
            self._log = [*self._log, text][-LOG_LINES:]
            log_lines = tuple(self._log)
        self._publish(log=log_lines)

    def _phase(self, phase: Phase, what: str) -> None:
        if what == "enter":
            text = phase.text
            if not text and phase.name == "active":  # "Press and hold." stays up while holding
                text = self.snapshot().phase_text
            self._publish(phase_name=phase.name, phase_kind=phase.kind, phase_text=text)
            if self._live is not None:
                self._update_live(self.rig.clock.now_ns(), force=True)

    def _on_context(self, ctx: TrialContext) -> None:
        pacer = self._pacer
        if not self.rig.simulated:
            host_ns: Callable[[int], int | None] | None = _same_ns  # the rig's clock is the host's
        else:
            host_ns = pacer.host_ns if pacer is not None else None
        live = _Live(ctx, host_ns)
        with self._lock:
            self._live = live
        self._last_live_s = 0.0

    def _on_step(self, virtual_now_ns: int) -> None:
        if self._abort.is_set():
            raise TrialAbortedError("aborted by the clinician")
        self._update_live(virtual_now_ns)

    def _update_live(self, now_ns: int, force: bool = False) -> None:
        host_s = self._host_clock()
        if not force and host_s - self._last_live_s < LIVE_PERIOD_S:
            return
        self._last_live_s = host_s
        live = self._live
        if live is not None:
            self._publish(live=live.compute(now_ns))

    def _next_command(self, allowed: tuple[str, ...]) -> tuple[str, str]:
        while True:
            name, arg = self._commands.get()
            if name in allowed or name == "abort":
                return name, arg

    def _work(self) -> None:
        run = self._run
        try:
            run.start()
            self._publish(session_id=run.session_id, blocks_total=run.total_hands)
            while not self._abort.is_set():
                planned = run.next_trial()
                if planned is None:
                    break
                self._rest_between_blocks(planned)
                if self._abort.is_set():
                    break
                self._planned = planned
                self._show_planned(planned)
                if not self.auto:
                    name, _ = self._next_command(("start", "skip"))
                    if name == "abort":
                        break
                    if name == "skip":
                        run.skip_rest_of_hand()
                        continue
                self._run_one(planned)
                if self.auto or self.self_guided:
                    continue
                name, arg = self._next_command(("keep", "invalid", "skip"))
                if name == "abort":
                    break
                if name == "invalid":
                    run.review(arg)
                elif name == "skip":
                    run.review(None)
                    run.skip_rest_of_hand()
                else:
                    run.review(None)
            if self._abort.is_set():
                run.finish("aborted")
                self._publish(state=ABORTED, phase_name="", phase_kind="", phase_text="")
            else:
                run.finish("complete")
                self._publish(state=FINISHED, phase_name="", phase_kind="", phase_text="")
        except TrialAbortedError:
            self._end_quietly(run, "aborted")
            self._publish(state=ABORTED)
        except BaseException as exc:  # the screen shows what happened, never a traceback
            doing = f"running {self._planned.protocol.title}" if self._planned else "starting"
            message = message_for(exc, doing)
            self._end_quietly(run, "incomplete")
            self._publish(state=FAILED, message=message)
            if not isinstance(exc, Exception):
                raise

    def _rest_between_blocks(self, planned: PlannedTrial) -> None:
        """Self-guided: rest before a new block when the one before had trials."""
        run = self._run
        ran = len(run.result.trials) if run.result is not None else 0
        block = run.hands_started
        if block == self._block:
            return
        rested = self.rest_s > 0 and self._block > 0 and ran > self._trials_at_block
        self._block, self._trials_at_block = block, ran
        if not rested:
            return
        hand = "both hands" if planned.hand == "both" else f"{planned.hand} hand"
        rest = RestTimer(
            self._host_clock, self.rest_s, self.rest_min_s, f"{planned.protocol.title}, {hand}"
        )
        self._rest = rest
        info = rest.info()
        self._publish(
            state=REST,
            rest_total_s=info.total_s,
            rest_left_s=info.left_s,
            rest_skip_in_s=info.skip_in_s,
            rest_next=info.next_text,
            phase_name="rest",
            phase_kind="rest",
            phase_text="Rest",
        )
        while not rest.done and not self._abort.is_set():
            try:  # host time: woken by a command, else looks at the clock again shortly
                name, _ = self._commands.get(timeout=min(0.1, max(0.01, rest.left_s)))
            except queue.Empty:
                continue
            if name == "skip_rest" and rest.can_skip:
                rest.skip()
        self._rest = None

    def _end_quietly(self, run: BatteryRun, status: str) -> None:
        try:
            if run.result is not None and run.result.status == "running":
                run.finish(status)
        except Exception as exc:
            log.error("could not end the session: %s", exc)

    def _show_planned(self, planned: PlannedTrial) -> None:
        protocol = planned.protocol
        instructions = _instructions(protocol)
        self._publish(
            state=READY,
            protocol=protocol.name,
            protocol_title=protocol.title,
            hand=planned.hand,
            trial_label=planned.label,
            practice=planned.practice,
            instructions=instructions,
            phase_name="instructions",
            phase_kind="instructions",
            phase_text=instructions,
            blocks_done=self._run.hands_started - 1,
            live=LiveValues(),
            params=protocol.params_dict(),
        )

    def _run_one(self, planned: PlannedTrial) -> None:
        with self._lock:
            serial = self._snapshot.trial_serial + 1
        self._publish(state=RUNNING, trial_serial=serial)
        pacer = LivePacer(self.realtime and self.rig.simulated, self._on_step)
        self._pacer = pacer
        trial = self._run.run(
            planned, pacer=pacer, on_context=self._on_context, notes=self._take_notes
        )
        with self._lock:
            self._live = None
        self._publish(state=REVIEW, last_trial=_summary(planned, trial))

    def _take_notes(self) -> list[str]:
        with self._lock:
            notes, self._trial_notes = self._trial_notes, []
        return notes

    def _note_to_participant(self, text: str, snap: RunSnapshot) -> None:
        """A note made between trials or after the session: a note on the trial just shown
        (the review screen's), else on the session (``Store.session_notes`` keeps both)."""
        if snap.last_trial is not None:
            self.store.add_trial_note(snap.last_trial.trial_id, text, "clinician")
        elif snap.session_id is not None:
            self.store.add_session_note(snap.session_id, text, "clinician")
        else:
            raise StationError("the session did not start: there is nothing to note on")
