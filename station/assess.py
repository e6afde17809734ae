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
from typing import Any

from station import __version__
from station.battery import Battery
from station.engine import run_trial
from station.protocols.base import Pacer, Phase
from station.records import Metric, TrialData
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
    prov = rig.provenance
    session_id = store.start_session(
        participant_code=participant.code,
        battery_name=battery.name,
        battery_hash=battery.sha256,
        station_id=rig.config.station_id,
        provenance=prov.as_dict(),
        anchor_mono_ns=rig.clock.now_ns(),
        anchor_wall_ns=rig.clock.wall_ns(),
        software_version=__version__,
        hardware_backend=prov.backend,
        timestamp_source=prov.timestamp_source,
    )
    result = SessionResult(session_id, participant.code, battery.name, "running")
    pacer = Pacer() if realtime and rig.simulated else None
    earlier: dict[tuple[str, str], list[Metric]] = {}
    seq = 0
    try:
        for step in battery.steps:
            for hand_word in step.hands:
                hand, person_hand = resolve_hand(hand_word, participant.dominant_hand)
                params = step.protocol.adapt_params(step.params, earlier, hand)
                protocol = step.protocol(params)
                say(f"\n== {protocol.title}: {hand} hand ==")
                done: list[tuple[TrialData, list[Metric]]] = []
                plan = [True] * step.practice + [False] * step.trials
                index = 0
                while True:
                    if plan:
                        practice = plan.pop(0)
                    elif index < MAX_TRIALS_PER_HAND and protocol.needs_more_trials(done):
                        practice = False
                    else:
                        break
                    seq += 1
                    index += 1
                    label = "practice" if practice else f"trial {index - step.practice}"
                    say(f"-- {label} --")
                    trial_id = store.start_trial(
                        session_id=session_id,
                        seq=seq,
                        protocol=protocol.name,
                        version=protocol.version,
                        protocol_hash=protocol.protocol_hash(),
                        hand=hand,
                        practice=practice,
                        trial_index=index,
                        params=protocol.params_dict(),
                        roles=protocol.roles(rig.config, hand),
                        start_t_ns=rig.clock.now_ns(),
                    )
                    outcome = run_trial(
                        protocol,
                        rig,
                        hand=hand,
                        person_hand=person_hand,
                        practice=practice,
                        say=say,
                        on_phase=on_phase,
                        person=person,
                        pacer=pacer,
                    )
                    metrics = protocol.score(outcome.data)
                    store.finish_trial(
                        trial_id,
                        outcome.data,
                        metrics,
                        outcome.provenance,
                        outcome.faults,
                        outcome.gaps,
                    )
                    for fault in outcome.faults:
                        say(f"   fault: {fault}")
                    trial = TrialResult(
                        trial_id,
                        protocol.name,
                        hand,
                        index,
                        practice,
                        outcome.data.status,
                        metrics,
                        outcome.data.notes,
                        outcome.faults,
                    )
                    result.trials.append(trial)
                    say(f"   {outcome.data.status}: {headline(metrics, protocol.key_metrics)}")
                    reason = review(trial) if review is not None else None
                    if reason:
                        store.mark_invalid(trial_id, reason)
                        trial.status = outcome.data.status = "invalid"
                        say(f"   marked invalid ({reason}); the trial is repeated")
                        plan.insert(0, practice)
                    elif not practice:
                        done.append((outcome.data, metrics))
                summary = protocol.summarize(done)
                earlier[(protocol.name, hand)] = summary
                store.add_session_metrics(session_id, [(protocol.name, hand, m) for m in summary])
                result.summaries += [(protocol.name, hand, m) for m in summary]
        result.status = "complete"
    except KeyboardInterrupt:
        result.status = "aborted"
        raise
    finally:
        store.end_session(session_id, result.status if result.status != "running" else "incomplete")
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
    return f"{text} {m.unit}" if m.unit not in ("1", "") else text


def results_table(result: SessionResult) -> str:
    lines = [
        f"session {result.session_id}: participant {result.participant}, battery {result.battery}, {result.status}"
    ]
    for protocol, hand, m in result.summaries:
        lines.append(f"  {protocol:18s} {hand:6s} {m.name:28s} {fmt(m):>12s}  {m.detail}")
    return "\n".join(lines)
