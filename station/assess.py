"""``station assess``: run a battery from a terminal, store everything, print the results.

On a Pi a clinician can use it (instructions printed, go cues on the hardware); on the simulated
backend the virtual participant acts (``--sim-profile``, ``--seed``), as fast as possible with
``--fast``. Each trial's row is written when it starts and its raw data, metrics and final status
in one transaction when it ends, so a crash leaves completed trials intact and the interrupted one
marked incomplete (said at the next start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from station import __version__
from station.battery import Battery
from station.engine import run_trial
from station.protocols.base import Pacer, Phase, Protocol, TrialContext
from station.records import Metric, TrialData, unit_text
from station.rig import Rig

Say = Callable[[str], None]
#: A protocol asking for more trials (the tapping test's spread rule) stops here regardless.
MAX_TRIALS_PER_HAND = 20


@dataclass
class TrialResult:
    trial_id: int
    protocol: str
    hand: str
    index: int
    practice: bool
    status: str
    metrics: list[Metric]
    notes: str = ""
    faults: list[str] = field(default_factory=list)


@dataclass
class SessionResult:
    session_id: int
    participant: str
    battery: str
    status: str
    trials: list[TrialResult] = field(default_factory=list)
    summaries: list[tuple[str, str, Metric]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def m(x: Metric) -> dict[str, Any]:
            return {
                "name": x.name,
                "value": x.value,
                "unit": x.unit,
                **({"detail": x.detail} if x.detail else {}),
            }

        return {
            "session_id": self.session_id,
            "participant": self.participant,
            "battery": self.battery,
            "status": self.status,
            "trials": [
                {
                    "trial_id": t.trial_id,
                    "protocol": t.protocol,
                    "hand": t.hand,
                    "index": t.index,
                    "practice": t.practice,
                    "status": t.status,
                    "metrics": [m(x) for x in t.metrics],
                    "notes": t.notes,
                    "faults": t.faults,
                }
                for t in self.trials
            ],
            "summary": [{"protocol": p, "hand": h, **m(x)} for p, h, x in self.summaries],
        }


def resolve_hand(hand: str, dominant: str | None) -> tuple[str, str]:
    """Battery hand word -> (recorded hand, the virtual participant's hand)."""
    dom = dominant if dominant in ("right", "left") else "right"
    other = "left" if dom == "right" else "right"
    if hand == "dominant":
        return dom, "dominant"
    if hand == "non_dominant":
        return other, "non_dominant"
    if hand == "both":
        return "both", "dominant"
    return hand, "dominant" if hand == dom else "non_dominant"


@dataclass
class PlannedTrial:
    """The next trial of a battery: which protocol (parameters adapted), hand, and place."""

    step_index: int
    protocol: Protocol
    hand: str  # recorded hand: "right" | "left" | "both"
    person_hand: str  # the virtual participant's: "dominant" | "non_dominant"
    practice: bool
    index: int  # 1-based within this protocol and hand, practice trials included
    label: str  # "practice" or "trial N"
    seq: int  # 1-based within the session


@dataclass
class _HandState:
    step_index: int
    protocol: Protocol
    hand: str
    person_hand: str
    practice_count: int
    plan: list[bool]
    done: list[tuple[TrialData, list[Metric]]] = field(default_factory=list)
    index: int = 0


class BatteryRun:
    """A battery run one trial at a time: the step runner shared by ``station assess``
    (:func:`run_battery`) and the kiosk (:mod:`station.ui.run`).

    Call :meth:`start`, then repeatedly :meth:`next_trial` and :meth:`run` (and, after a trial,
    :meth:`review` with a reason to mark it invalid and repeat it), then :meth:`finish`. Each trial's
    row is written when it starts and its raw data and metrics when it ends; a hand's summary when
    its last trial has been reviewed (on the next :meth:`next_trial`).
    """

    def __init__(
        self,
        rig: Rig,
        store: Any,
        participant: Any,
        battery: Battery,
        *,
        person: Any = None,
        say: Say = print,
        on_phase: Callable[[Phase, str], None] | None = None,
        session_kind: str = "assessment",
        started_utc: datetime | None = None,
    ):
        """``session_kind``: how the session is stored (``assessment``, or ``practice`` for a
        program's level, see :mod:`station.programs.run`); ``started_utc``: its start time
        (default now; a practice run on a virtual clock passes its own)."""
        self.rig = rig
        self.store = store
        self.session_kind = session_kind
        self.started_utc = started_utc
        self.participant = participant
        self.battery = battery
        self.person = person
        self.say = say
        self.on_phase = on_phase
        self.result: SessionResult | None = None
        self.earlier: dict[tuple[str, str], list[Metric]] = {}
        self.seq = 0
        self._hands = [
            (i, step, word) for i, step in enumerate(battery.steps) for word in step.hands
        ]
        self._next_hand = 0
        self._hand: _HandState | None = None
        self._pending: tuple[TrialResult, TrialData, bool] | None = None
        self._planned: PlannedTrial | None = None  # planned by next_trial, not yet run

    @property
    def total_hands(self) -> int:
        """How many (protocol, hand) blocks the battery has."""
        return len(self._hands)

    @property
    def hands_started(self) -> int:
        return self._next_hand

    @property
    def session_id(self) -> int:
        if self.result is None:
            raise RuntimeError("the battery run has not started")
        return self.result.session_id

    def start(self) -> SessionResult:
        """Begin the session in the store (status ``running``)."""
        rig = self.rig
        prov = rig.provenance
        session_id = self.store.start_session(
            participant_code=self.participant.code,
            battery_name=self.battery.name,
            battery_hash=self.battery.sha256,
            station_id=rig.config.station_id,
            provenance=prov.as_dict(),
            anchor_mono_ns=rig.clock.now_ns(),
            anchor_wall_ns=rig.clock.wall_ns(),
            software_version=__version__,
            hardware_backend=prov.backend,
            timestamp_source=prov.timestamp_source,
            started_utc=self.started_utc,
            kind=self.session_kind,
        )
        self.result = SessionResult(session_id, self.participant.code, self.battery.name, "running")
        return self.result

    def next_trial(self) -> PlannedTrial | None:
        """The next trial to run (a trial run but not reviewed is kept), or None when done."""
        self._accept_pending()
        while True:
            hand = self._hand
            if hand is not None:
                planned = self._plan_next(hand)
                if planned is not None:
                    return planned
                self._close_hand(hand)
            if self._next_hand >= len(self._hands):
                return None
            self._open_hand()

    def _open_hand(self) -> None:
        step_index, step, word = self._hands[self._next_hand]
        self._next_hand += 1
        hand, person_hand = resolve_hand(word, self.participant.dominant_hand)
        params = step.protocol.adapt_params(step.params, self.earlier, hand)
        protocol = step.protocol(params)
        self.say(f"\n== {protocol.title}: {hand} hand ==")
        plan = [True] * step.practice + [False] * step.trials
        self._hand = _HandState(step_index, protocol, hand, person_hand, step.practice, plan)

    def _plan_next(self, h: _HandState) -> PlannedTrial | None:
        if h.plan:
            practice = h.plan.pop(0)
        elif h.index < MAX_TRIALS_PER_HAND and h.protocol.needs_more_trials(h.done):
            practice = False
        else:
            return None
        self.seq += 1
        h.index += 1
        label = "practice" if practice else f"trial {h.index - h.practice_count}"
        self._planned = PlannedTrial(
            h.step_index, h.protocol, h.hand, h.person_hand, practice, h.index, label, self.seq
        )
        return self._planned

    def _close_hand(self, h: _HandState) -> None:
        summary = h.protocol.summarize(h.done)
        self.earlier[(h.protocol.name, h.hand)] = summary
        self.store.add_session_metrics(
            self.session_id, [(h.protocol.name, h.hand, m) for m in summary]
        )
        assert self.result is not None
        self.result.summaries += [(h.protocol.name, h.hand, m) for m in summary]
        self._hand = None

    def run(
        self,
        planned: PlannedTrial,
        *,
        pacer: Pacer | None = None,
        on_context: Callable[[TrialContext], None] | None = None,
        notes: Callable[[], list[str]] | None = None,
    ) -> TrialResult:
        """Run and store one planned trial; returns it (to be reviewed, or kept by default).

        ``notes()``, when given, is asked as the trial ends for notes to store with it (a
        clinician's notes made while it ran)."""
        self._accept_pending()
        assert self.result is not None, "start() first"
        self._planned = None
        rig, protocol = self.rig, planned.protocol
        self.say(f"-- {planned.label} --")
        trial_id = self.store.start_trial(
            session_id=self.session_id,
            seq=planned.seq,
            protocol=protocol.name,
            version=protocol.version,
            protocol_hash=protocol.protocol_hash(),
            hand=planned.hand,
            practice=planned.practice,
            trial_index=planned.index,
            params=protocol.params_dict(),
            roles=protocol.roles(rig.config, planned.hand),
            start_t_ns=rig.clock.now_ns(),
        )
        outcome = run_trial(
            protocol,
            rig,
            hand=planned.hand,
            person_hand=planned.person_hand,
            practice=planned.practice,
            say=self.say,
            on_phase=self.on_phase,
            person=self.person,
            pacer=pacer,
            on_context=on_context,
        )
        if notes is not None and (extra := notes()):
            outcome.data.notes = "; ".join(x for x in (outcome.data.notes, *extra) if x)
        metrics = protocol.score(outcome.data)
        self.store.finish_trial(
            trial_id, outcome.data, metrics, outcome.provenance, outcome.faults, outcome.gaps
        )
        for fault in outcome.faults:
            self.say(f"   fault: {fault}")
        trial = TrialResult(
            trial_id,
            protocol.name,
            planned.hand,
            planned.index,
            planned.practice,
            outcome.data.status,
            metrics,
            outcome.data.notes,
            outcome.faults,
        )
        self.result.trials.append(trial)
        self.say(f"   {outcome.data.status}: {headline(metrics, protocol.key_metrics)}")
        self._pending = (trial, outcome.data, planned.practice)
        return trial

    def review(self, reason: str | None) -> None:
        """The verdict on the trial just run: a reason marks it invalid (stored) and repeats it;
        None keeps it."""
        if self._pending is None:
            raise RuntimeError("no trial to review")
        trial, data, practice = self._pending
        if not reason:
            self._accept_pending()
            return
        self._pending = None
        self.store.mark_invalid(trial.trial_id, reason)
        trial.status = data.status = "invalid"
        self.say(f"   marked invalid ({reason}); the trial is repeated")
        if self._hand is not None:
            self._hand.plan.insert(0, practice)

    def _accept_pending(self) -> None:
        if self._pending is None:
            return
        trial, data, practice = self._pending
        self._pending = None
        if not practice and self._hand is not None:
            self._hand.done.append((data, trial.metrics))

    def skip_rest_of_hand(self) -> None:
        """Leave out the current protocol's remaining trials for this hand (its summary is over
        the trials kept so far)."""
        self._accept_pending()
        if self._planned is not None:  # planned but not run: its number is given again
            self.seq -= 1
            self._planned = None
        if self._hand is not None:
            self._hand.plan.clear()
            hand = self._hand
            self._close_hand(hand)
            self.say(f"   the rest of {hand.protocol.title} ({hand.hand} hand) is skipped")

    def finish(self, status: str, *, ended_utc: datetime | None = None) -> None:
        """End the session: ``complete``, ``incomplete`` or ``aborted`` (at ``ended_utc``,
        default now)."""
        if self.result is None:
            return
        self.result.status = status
        self.store.end_session(self.session_id, status, ended_utc=ended_utc)


def run_battery(
    rig: Rig,
    store: Any,
    participant: Any,
    battery: Battery,
    *,
    person: Any = None,
    realtime: bool = False,
    say: Say = print,
    on_phase: Callable[[Phase, str], None] | None = None,
    review: Callable[[TrialResult], str | None] | None = None,
) -> SessionResult:
    """Run every step of ``battery`` for ``participant`` (a store participant record).

    ``review(trial)``, when given, is asked after each trial; a returned reason marks the trial
    invalid (e.g. "dropped peg") and the trial is repeated.
    """
    run = BatteryRun(rig, store, participant, battery, person=person, say=say, on_phase=on_phase)
    result = run.start()
    pacer = Pacer() if realtime and rig.simulated else None
    status = "incomplete"
    try:
        while (planned := run.next_trial()) is not None:
            trial = run.run(planned, pacer=pacer)
            run.review(review(trial) if review is not None else None)
        status = "complete"
    except KeyboardInterrupt:
        status = "aborted"
        raise
    finally:
        run.finish(status)
    return result


def headline(metrics: list[Metric], keys: tuple[str, ...] = (), n: int = 4) -> str:
    ranked = sorted(metrics, key=lambda m: keys.index(m.name) if m.name in keys else len(keys))
    shown = [m for m in ranked if m.value is not None][:n]
    if not shown:
        missing = next((m for m in metrics if m.detail), None)
        return missing.detail if missing else "no metrics"
    return ", ".join(f"{m.name} {fmt(m)}" for m in shown)


def fmt(m: Metric) -> str:
    if m.value is None:
        return "-"
    v = m.value
    text = (
        f"{v:.0f}"
        if m.unit == "1" and float(v).is_integer()
        else f"{v:.3g}"
        if abs(v) < 1000
        else f"{v:.0f}"
    )
    return f"{text} {unit_text(m.unit)}" if m.unit not in ("1", "") else text


def results_table(result: SessionResult) -> str:
    lines = [
        f"session {result.session_id}: participant {result.participant}, battery {result.battery}, {result.status}"
    ]
    for protocol, hand, m in result.summaries:
        lines.append(f"  {protocol:18s} {hand:6s} {m.name:28s} {fmt(m):>12s}  {m.detail}")
    return "\n".join(lines)
