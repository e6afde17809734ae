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

    @property
    def holes_filled(self) -> int:
        return sum(self.holes)


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


class LivePacer(Pacer):
    """The engine's pacer (real time, or none) with a hook run between simulation steps."""

    def __init__(self, realtime: bool, on_step: Callable[[int], None]):
        super().__init__()
        self.realtime = realtime
        self.on_step = on_step

    def pace(self, virtual_now_ns: int) -> None:
        self.on_step(virtual_now_ns)
        if self.realtime:
            super().pace(virtual_now_ns)


class _Live:
    """Live values of one running trial, computed from its context (worker thread)."""

    def __init__(self, ctx: TrialContext):
        self.ctx = ctx
        rec = ctx.recorder
        cfg = ctx.config
        roles = ctx.protocol.roles(cfg, ctx.hand)
        self.holes = [ch for ch, r in roles.items() if r == "hole"]
        self.buttons = [ch for ch, r in roles.items() if r.startswith("button")]
        self.pads = list(rec.pads)
        finger_pads = [ch for ch, r in roles.items() if r.startswith("pad:") and ch in rec.pads]
        finger_pads = [p for p in finger_pads if roles[p] not in ("pad:home", "pad:dish")]
        self.force_pad = finger_pads[0] if finger_pads else None
        self.leds = {b.led: b.finger for b in cfg.buttons if b.led and b.finger}
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
        if (
            self.force_pad is not None
            and hasattr(protocol, "target_n")
            and phase is not None
            and phase.kind in ("go", "active")
        ):
            target = float(protocol.target_n(now_ns))
            band_fn = getattr(protocol, "band_n", None)
            band = tuple(float(x) for x in band_fn(now_ns)) if band_fn is not None else None
        beat_age = next_in = interval = None
        beats_done = beats_total = 0
        last_on = None
        beat_times: list[float] = []
        for cue in ctx.cues.cues:
            if cue.kind != "click":
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
        return LiveValues(
            t_s=max(0, now_ns - self.start_ns) / NS_PER_S,
            elapsed_s=max(0, now_ns - go) / NS_PER_S if go is not None else 0.0,
            holes=tuple(bool(rec.core.level(h)) for h in self.holes),
            taps=self._taps,
            forces_n=forces,
            force_pad=self.force_pad,
            target_n=target,
            band_n=band,  # type: ignore[arg-type]
            force_max_n=max(scale_n, 1.2 * forces.get(self.force_pad or "", 0.0)),
            beat_age_s=beat_age,
            next_beat_in_s=next_in,
            beat_interval_s=interval,
            beats_done=beats_done,
            beats_total=beats_total,
            beat_times_s=tuple(beat_times),
            cue_finger=cue_finger,
            faults=tuple(f.message for f in rec.faults),
        )


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
    :param host_clock: monotonic seconds, for how often live values are published.
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
    ):
        self.rig = rig
        self.store = store
        self.participant = participant
        self.battery = battery
        self.person = person
        self.realtime = realtime
        self.auto = auto
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
        live = _Live(ctx)
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
                if self.auto:
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

    def _end_quietly(self, run: BatteryRun, status: str) -> None:
        try:
            if run.result is not None and run.result.status == "running":
                run.finish(status)
        except Exception as exc:
            log.error("could not end the session: %s", exc)

    def _show_planned(self, planned: PlannedTrial) -> None:
        protocol = planned.protocol
        instructions = next((p.text for p in protocol.phases if p.kind == "instructions"), "")
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
        )

    def _run_one(self, planned: PlannedTrial) -> None:
        self._publish(state=RUNNING)
        pacer = LivePacer(self.realtime and self.rig.simulated, self._on_step)
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
        """The store keeps notes of trials as they are saved and of participants; a note made
        between trials goes to the participant's record, naming the session and trial."""
        code = self.participant.code
        current = self.store.get_participant(code)
        where = f"session {snap.session_id}"
        if snap.last_trial is not None:
            where += f", after trial {snap.last_trial.trial_id}"
        line = f"[{where}] {text}"
        notes = f"{current.notes}\n{line}" if current is not None and current.notes else line
        self.store.update_participant(code, notes=notes)
