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
    LiveValues,
    RunController,
    RunSnapshot,
)
from tests.batteries import every_protocol_battery

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
    notes = store.session_notes(snap.session_id)  # a note between trials: on the trial shown
    assert [(n.trial_id, n.author, n.text) for n in notes] == [
        (trials[1].id, "clinician", "second try was fine")
    ]
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
    aborted: list[RunSnapshot] = []

    def abort_in_the_foreperiod(snap: RunSnapshot) -> None:  # worker thread: inside the trial
        if snap.state == RUNNING and snap.phase_kind == "ready" and not aborted:
            aborted.append(snap)
            run.abort()

    run = start(clinician, auto=False, listener=abort_in_the_foreperiod)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    snap = run.wait_for(lambda s: False, TIMEOUT_S)
    assert aborted, "the trial never reached its foreperiod"
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


# -- live values of every protocol, faults, the screen's sound cues ------------------------------
EVERY_PROTOCOL_TOML = every_protocol_battery(
    "everyui", "Every protocol but the Purdue board, short"
)


def test_every_protocol_publishes_the_live_values_its_feedback_needs(
    clinician: AppController,
) -> None:
    from collections import defaultdict

    (clinician.config.data_dir / "batteries" / "everyui.toml").write_text(EVERY_PROTOCOL_TOML)
    clinician.choose_battery("everyui")
    seen: dict[str, list[RunSnapshot]] = defaultdict(list)

    def keep(snap: RunSnapshot) -> None:
        if snap.state in (READY, RUNNING):
            seen[snap.protocol].append(snap)

    run = start(clinician, auto=True, listener=keep, host_clock=ticking().__next__)
    assert run.wait(240) and run.snapshot().state == FINISHED

    def live(protocol: str) -> list[LiveValues]:
        return [s.live for s in seen[protocol] if s.state == RUNNING]

    def sound_kinds(protocol: str) -> list[str]:
        return [c.kind for c in max((lv.sounds for lv in live(protocol)), key=len)]

    # every protocol: its instructions and parameters (the drawing's details) before it starts
    for protocol, snaps in seen.items():
        ready = next(s for s in snaps if s.state == READY)
        assert ready.instructions and ready.params, protocol
    assert "The order is: index, middle, ring, little." in next(
        s.instructions for s in seen["finger_sequence"] if s.state == READY
    )

    # the pegboard: holes lighting; a countdown to the go beep, then the beep sounds
    peg = live("nine_hole_peg")
    assert max(lv.holes_filled for lv in peg) == 9 and len(peg[-1].holes) == 9
    counting = [lv.go_in_s for lv in peg if lv.countdown and lv.go_in_s is not None]
    assert counting and counting == sorted(counting, reverse=True) and max(counting) > 0.5
    assert sound_kinds("nine_hole_peg")[0] == "go"
    # tapping: the count, the finger pressed, the go and stop beeps
    tap = live("finger_tapping")
    assert max(lv.taps for lv in tap) >= 5 and any("index" in lv.pressed for lv in tap)
    assert sound_kinds("finger_tapping") == ["go", "stop"]
    # the metronome: its clicks sound, each once, in order
    sync = live("sync_continuation")
    clicks = [c for c in max((lv.sounds for lv in sync), key=len) if c.kind == "click"]
    assert len(clicks) == 6 and [c.index for c in clicks] == sorted({c.index for c in clicks})
    assert all(c.duration_s == pytest.approx(0.01) for c in clicks)
    # reaction time: the lit finger, the lights counted; no countdown and no sound (visual task)
    rt = live("reaction_time")
    assert {lv.cue_finger for lv in rt} - {None} <= {"index", "middle", "ring", "little"}
    assert any(lv.cue_finger for lv in rt)
    assert max(lv.stimuli_done for lv in rt) == 4 and rt[-1].stimuli_total == 4
    assert not any(lv.countdown for lv in rt) and not any(lv.sounds for lv in rt)
    # finger sequences: the order, the taps, the guiding light
    seq = live("finger_sequence")
    assert seq[-1].sequence == ("index", "middle", "ring", "little")
    assert max(lv.taps for lv in seq) >= 4 and any(lv.cue_finger for lv in seq)
    # maximal force: a force on the index pad, no target; the newest sample's time
    mf = live("max_force")
    assert max(lv.forces_n.get("pad_index", 0.0) for lv in mf) > 5.0
    assert all(lv.target_n is None for lv in mf)
    assert any(lv.sample_t_ns is not None for lv in mf)
    assert all(lv.sample_host_ns is None for lv in mf)  # not paced: no host time to map to
    # steadiness: a target inside its band
    st = [lv for lv in live("force_steadiness") if lv.band_n is not None]
    assert st and all(lv.band_n[0] < lv.target_n < lv.band_n[1] for lv in st)  # type: ignore[index, operator]
    # tracking: the target moves
    targets = [lv.target_n for lv in live("force_tracking") if lv.target_n is not None]
    assert max(targets) - min(targets) > 2.0
    # individuation: every finger pad, and the bar follows the cued finger's pad
    ind = live("finger_individuation")
    pads = dict(ind[-1].pad_fingers)
    assert set(pads) == {"index", "middle"}
    cued_middle = [lv for lv in ind if lv.cue_finger == "middle"]
    assert cued_middle and all(lv.force_pad == pads["middle"] for lv in cued_middle)
    assert any(lv.target_n is not None for lv in cued_middle)


def test_paced_trials_map_each_sample_to_host_time(clinician: AppController) -> None:
    """In real time on the simulated backend, a sample's host time is its virtual time through
    the trial's one virtual-to-host origin, and it is never published before that time."""
    import time

    clinician.realtime = True
    published: list[tuple[int, LiveValues]] = []

    def keep(snap: RunSnapshot) -> None:
        if snap.protocol == "force_steadiness" and snap.state == RUNNING:
            published.append((time.monotonic_ns(), snap.live))

    run = start(clinician, auto=False, listener=keep)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    run.abort()
    assert run.wait(TIMEOUT_S)
    mapped = [(t, lv) for t, lv in published if lv.sample_host_ns is not None]
    assert len(mapped) > 10
    offsets = {lv.sample_host_ns - lv.sample_t_ns for _, lv in mapped}  # type: ignore[operator]
    assert len(offsets) == 1  # one origin per trial
    assert all(lv.sample_host_ns <= t for t, lv in mapped)  # type: ignore[operator]


def test_a_live_adc_fault_is_shown_flagged_and_the_run_carries_on(
    clinician: AppController,
) -> None:
    from station.ui.errors import fault_message

    world = clinician.rig.world
    adc0 = clinician.config.adc("adc0").address
    faults_seen: list[tuple[str, ...]] = []
    unplugged: list[bool] = []

    def unplug_in_the_hold(snap: RunSnapshot) -> None:  # worker thread
        if snap.state == RUNNING and snap.live.faults:
            faults_seen.append(snap.live.faults)
        if snap.phase_kind == "active" and snap.protocol == "force_steadiness" and not unplugged:
            unplugged.append(True)
            world.unplug_adc(adc0)

    run = start(clinician, auto=False, listener=unplug_in_the_hold, host_clock=ticking().__next__)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    assert faults_seen, "the fault was on screen while the trial ran"
    message = fault_message(faults_seen[0][0])
    assert "cable" in message.what_to_do and "flagged" in message.what_to_do
    trial = snap.last_trial
    assert trial is not None and trial.status == "complete" and trial.faults
    stored = clinician.store.trial(trial.trial_id)
    assert stored.faults and "recorded with faults" in stored.notes  # flagged in the store
    world.replug_adc(adc0)
    run.keep()  # the run carries on with the next test
    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    assert snap.protocol == "sync_continuation"
    run.abort()
    assert run.wait(TIMEOUT_S)


def test_a_chattering_button_is_flagged_and_the_trial_carries_on(
    clinician: AppController,
) -> None:
    """Bounce injected on the tapped button (300 edges in 0.6 s, above the 200 per second the
    timing core calls chatter): the fault is live, stored, and the trial ends normally."""
    (clinician.config.data_dir / "batteries" / "everyui.toml").write_text(EVERY_PROTOCOL_TOML)
    clinician.choose_battery("everyui")
    world = clinician.rig.world
    gpio = clinician.config.input("btn_index").gpio
    live_faults: list[str] = []
    injected: list[int] = []

    def chatter(snap: RunSnapshot) -> None:  # worker thread, between simulation steps
        if snap.protocol != "finger_tapping" or snap.state != RUNNING:
            return
        live_faults.extend(f for f in snap.live.faults if f not in live_faults)
        if snap.phase_kind == "active" and not injected:
            now = clinician.rig.clock.now_ns()
            injected.append(now)
            edges = [(now + 1_000_000 + k * 2_000_000, k % 2) for k in range(300)]
            world.play_edges(gpio, edges)

    run = start(clinician, auto=False, listener=chatter, host_clock=ticking().__next__)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.skip()  # the pegboard
    run.wait_for(lambda s: s.state == READY and s.protocol == "finger_tapping", TIMEOUT_S)
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    assert injected and any("chattering" in f for f in live_faults)
    trial = snap.last_trial
    assert trial is not None and trial.status in ("complete", "timeout")
    assert any("bouncing" in advice for _f, advice in trial.faults)
    assert any("chattering" in f for f in clinician.store.trial(trial.trial_id).faults)
    run.abort()
    assert run.wait(TIMEOUT_S)


def test_a_button_held_at_the_start_is_a_live_fault(clinician: AppController) -> None:
    """The clinician's panel holds the index button down as the trial starts (a stuck button):
    the fault says so; released, the trial goes on."""
    (clinician.config.data_dir / "batteries" / "everyui.toml").write_text(EVERY_PROTOCOL_TOML)
    clinician.choose_battery("everyui")
    virtual = clinician.virtual
    assert virtual is not None
    faults: list[str] = []

    def release_when_told(snap: RunSnapshot) -> None:
        if snap.state == RUNNING and snap.live.faults and not faults:
            faults.extend(snap.live.faults)
            virtual.release_button("index")

    run = clinician.start_run(listener=release_when_told, host_clock=ticking().__next__)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.skip()  # the pegboard
    run.wait_for(lambda s: s.state == READY and s.protocol == "finger_tapping", TIMEOUT_S)
    virtual.press_button("index")  # stuck down before the trial: the worker waits (idle) for
    clinician.rig.world.run_for(0.01)  # the start, so the edge is delivered here, beforehand
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    assert faults and "held down or stuck" in faults[0]
    trial = snap.last_trial
    assert trial is not None and any("Release the button" in a for _f, a in trial.faults)
    run.abort()
    assert run.wait(TIMEOUT_S)
