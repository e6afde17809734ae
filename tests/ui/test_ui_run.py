"""RunController: a battery trial by trial in a worker thread through the same step runner as
`station assess`, with live values, review (invalid + repeat), notes, skip, abort and faults."""

from __future__ import annotations

import itertools

import pytest

from station.assess import run_battery
from station.errors import StationError
from station.ui.app import AppController
from station.ui.run import (
    ABORTED,
    FAILED,
    FINISHED,
    READY,
    REVIEW,
    RUNNING,
    RunController,
    RunSnapshot,
)

TIMEOUT_S = 60.0


def ticking() -> itertools.count[float]:
    return itertools.count(0.0, 1.0)


def start(app: AppController, *, auto: bool, **kwargs) -> RunController:  # type: ignore[no-untyped-def]
    person = app.virtual_participant("healthy", 7)
    return app.start_run(person=person, auto=auto, **kwargs)


def test_auto_run_stores_exactly_what_station_assess_stores(clinician: AppController) -> None:
    run = start(clinician, auto=True)
    assert run.wait(TIMEOUT_S)
    snap = run.snapshot()
    assert snap.state == FINISHED and snap.session_id is not None
    store = clinician.store
    assert store.session(snap.session_id).status == "complete"
    kiosk_trials = store.session_trials(snap.session_id)
    assert [t.protocol for t in kiosk_trials] == ["force_steadiness", "sync_continuation"]

    # the terminal runner, same participant profile and seed: identical metrics
    participant = store.get_participant("P001")
    result = run_battery(
        clinician.rig,
        store,
        participant,
        clinician.battery,
        person=clinician.virtual_participant("healthy", 7),
        say=lambda _t: None,
    )
    assessed = store.session_trials(result.session_id)
    for k, a in zip(kiosk_trials, assessed, strict=True):
        assert [m.name for m in k.metrics] == [m.name for m in a.metrics]
        assert k.status == a.status == "complete"
    kiosk_summary = store.session(snap.session_id).metrics
    assessed_summary = store.session(result.session_id).metrics
    assert [(m.protocol, m.metric.name) for m in kiosk_summary] == [
        (m.protocol, m.metric.name) for m in assessed_summary
    ]


def test_clinician_controls_invalid_repeat_note_skip(clinician: AppController) -> None:
    run = start(clinician, auto=False)
    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    assert snap.protocol == "force_steadiness" and snap.trial_label == "trial 1"
    assert "press the pad" in snap.instructions
    with pytest.raises(StationError, match="not now"):
        run.keep()
    run.add_note("participant wore a splint")  # before the trial: stored with it
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    first = snap.last_trial
    assert first is not None and first.status == "complete" and first.metrics
    with pytest.raises(StationError, match="reason"):
        run.mark_invalid("  ")
    run.mark_invalid("distracted")
    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    # repeated (numbered on, as `station assess` numbers a repeated trial)
    assert snap.protocol == "force_steadiness" and snap.trial_label == "trial 2"
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    run.add_note("second try was fine")  # between trials: to the participant's record
    run.keep()
    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    assert snap.protocol == "sync_continuation"
    run.skip()
    snap = run.wait_for(lambda s: s.state in (FINISHED, ABORTED, FAILED), TIMEOUT_S)
    assert snap.state == FINISHED

    store = clinician.store
    trials = store.session_trials(snap.session_id)
    assert [(t.protocol, t.status) for t in trials] == [
        ("force_steadiness", "invalid"),
        ("force_steadiness", "complete"),
    ]
    assert trials[0].invalid_reason == "distracted"
    assert "clinician: participant wore a splint" in trials[0].notes
    participant = store.get_participant("P001")
    assert f"[session {snap.session_id}, after trial {trials[1].id}] second try was fine" in (
        participant.notes
    )
    summary = {(m.protocol, m.metric.name) for m in store.session(snap.session_id).metrics}
    assert ("force_steadiness", "mean_mean_force_n") in summary  # from the kept trial only
    assert not any(p == "sync_continuation" for p, _ in summary)  # skipped


def test_live_values_while_a_force_trial_and_the_metronome_run(clinician: AppController) -> None:
    seen: list[RunSnapshot] = []
    run = start(clinician, auto=True, listener=seen.append, host_clock=ticking().__next__)
    assert run.wait(TIMEOUT_S) and run.snapshot().state == FINISHED
    force = [s for s in seen if s.protocol == "force_steadiness" and s.phase_kind == "active"]
    assert force, "no live values during the hold"
    holding = [s.live for s in force if s.live.forces_n.get("pad_index", 0.0) > 1.0]
    assert holding and all(lv.force_pad == "pad_index" for lv in holding)
    target = holding[-1].target_n
    low, high = holding[-1].band_n  # type: ignore[misc]
    assert target is not None and low < target < high
    assert any(low <= lv.forces_n["pad_index"] <= high for lv in holding)
    assert any(lv.cue_finger == "index" for lv in holding)  # the LED is lit during the hold
    assert max(lv.elapsed_s for lv in holding) > 1.0
    sync = [s.live for s in seen if s.protocol == "sync_continuation" and s.state == RUNNING]
    assert max(lv.beats_total for lv in sync) == 6
    beats = max((lv.beat_times_s for lv in sync), key=len)
    assert [round(b - a, 3) for a, b in itertools.pairwise(beats)] == [0.4] * 5
    assert any(lv.beat_age_s is not None and lv.beat_age_s < 0.05 for lv in sync)
    assert max(lv.taps for lv in sync) >= 8  # with the clicks and after them


def test_abort_during_a_trial_stops_it_and_keeps_the_record(clinician: AppController) -> None:
    clinician.realtime = True  # so the trial is still running when the abort comes
    run = start(clinician, auto=False)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    run.wait_for(lambda s: s.state == RUNNING and s.phase_kind == "ready", TIMEOUT_S)
    run.abort()
    snap = run.wait_for(lambda s: False, TIMEOUT_S)
    assert snap.state == ABORTED
    store = clinician.store
    assert store.session(snap.session_id).status == "aborted"
    assert [t.status for t in store.session_trials(snap.session_id)] == ["incomplete"]
    assert run.wait(TIMEOUT_S)


def test_an_adc_fault_during_a_trial_is_shown_with_what_to_do(clinician: AppController) -> None:
    world = clinician.rig.world
    adc0 = clinician.config.adc("adc0").address
    unplugged = []

    def unplug_in_the_hold(snap: RunSnapshot) -> None:  # runs on the worker thread
        if snap.phase_kind == "active" and not unplugged:
            unplugged.append(True)
            world.unplug_adc(adc0)

    run = start(clinician, auto=False, listener=unplug_in_the_hold)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    trial = snap.last_trial
    assert trial is not None and trial.faults, "the fault reaches the review"
    _fault, advice = trial.faults[0]
    assert "cable" in advice
    stored = clinician.store.trial(trial.trial_id)
    assert stored.faults  # flagged in the store
    world.replug_adc(adc0)
    run.abort()
    assert run.wait(TIMEOUT_S)


def test_an_error_in_the_worker_becomes_a_message(
    clinician: AppController, monkeypatch: pytest.MonkeyPatch
) -> None:
    from station.protocols.force_steadiness import ForceSteadiness

    def broken(self, data):  # type: ignore[no-untyped-def]
        raise ValueError("scoring exploded")

    monkeypatch.setattr(ForceSteadiness, "score", broken)
    run = start(clinician, auto=True)
    assert run.wait(TIMEOUT_S)
    snap = run.snapshot()
    assert snap.state == FAILED and snap.message is not None
    assert "scoring exploded" in snap.message.text and "Force steadiness" in snap.message.text
    assert clinician.store.session(snap.session_id).status == "incomplete"
    # the app carries on: a new run can start
    monkeypatch.undo()
    run = start(clinician, auto=True)
    assert run.wait(TIMEOUT_S) and run.snapshot().state == FINISHED


def test_one_run_at_a_time(clinician: AppController) -> None:
    clinician.realtime = True
    run = start(clinician, auto=False)
    with pytest.raises(StationError, match="already running"):
        start(clinician, auto=False)
    run.abort()
    assert run.wait(TIMEOUT_S)


def test_the_step_runner_numbers_trials_without_gaps_after_a_skip(
    clinician: AppController,
) -> None:
    from station.assess import BatteryRun

    store = clinician.store
    run = BatteryRun(
        clinician.rig,
        store,
        store.get_participant("P001"),
        clinician.battery,
        person=clinician.virtual_participant("healthy", 3),
        say=lambda _t: None,
    )
    run.start()
    planned = run.next_trial()
    assert planned is not None and planned.protocol.name == "force_steadiness"
    assert planned.seq == 1
    run.skip_rest_of_hand()  # skipped before it ran
    planned = run.next_trial()
    assert planned is not None and planned.protocol.name == "sync_continuation"
    assert planned.seq == 1
    trial = run.run(planned, notes=lambda: ["clinician: fine"])
    run.review(None)
    assert run.next_trial() is None
    run.finish("complete")
    stored = store.trial(trial.trial_id)
    assert stored.notes.endswith("clinician: fine") and stored.status == "complete"
    assert {m.protocol for m in store.session(run.session_id).metrics} == {"sync_continuation"}
