"""Finger sequences: the transition rule, counts and accuracies against hand-computed fixtures;
end to end on the simulator against the virtual participant's presses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware.sim.participant import ParticipantProfile, VirtualParticipant, load_profile
from station.engine import run_trial
from station.protocols.base import ProtocolError
from station.protocols.finger_sequence import (
    FingerSequence,
    FingerSequenceParams,
    SequenceTracker,
    parse_sequence,
    score_finger_sequence,
)
from station.records import EventRecord, Metric, TrialData
from station.rig import Rig

MS = 1_000_000
S = 1_000_000_000
BUTTONS = {f: f"btn_{f}" for f in ("thumb", "index", "middle", "ring", "little")}


def seq_trial(
    presses: list[tuple[float, str]],
    *,
    go_ms: float = 1000.0,
    end_ms: float = 60_000.0,
    status: str = "complete",
    **params: object,
) -> TrialData:
    """A hand-built trial: presses ``(ms, finger)``, each released 60 ms later."""
    events: list[EventRecord] = []
    for t, finger in presses:
        on = round(t * MS)
        events += [
            EventRecord(on, BUTTONS[finger], 1),
            EventRecord(on + 60 * MS, BUTTONS[finger], 0),
        ]
    events.sort(key=lambda e: e.t_ns)
    return TrialData(
        protocol="finger_sequence",
        version="1.0",
        params=dataclasses.asdict(FingerSequenceParams(**params)),  # type: ignore[arg-type]
        hand="right",
        practice=False,
        start_t_ns=0,
        end_t_ns=round(end_ms * MS),
        go_t_ns=round(go_ms * MS),
        events=events,
        samples={},
        cues=[],
        roles={ch: f"button:{f}" for f, ch in BUTTONS.items()},
        status=status,
    )


def values(metrics: list[Metric]) -> dict[str, float | None]:
    return {m.name: m.value for m in metrics}


def every_200_ms(fingers: str, start_ms: float = 1500.0) -> list[tuple[float, str]]:
    """Presses 200 ms apart from ``start_ms``; fingers by initial (I M R L T)."""
    names = {"I": "index", "M": "middle", "R": "ring", "L": "little", "T": "thumb"}
    return [(start_ms + 200.0 * i, names[c]) for i, c in enumerate(fingers)]


def test_natural_order_by_hand() -> None:
    # Sequence I M R L. Presses (every 200 ms from 1.5 s, go at 1 s):
    #   1 I  2 M  3 R  4 L    correct, a whole cycle: sequence 1 (1500 -> 2100 ms: 600 ms)
    #   5 I                   correct (a new cycle starts)
    #   6 R                   error: M expected; R stands for place 3, so L is expected next
    #   7 L                   correct (follows R), but the cycle had an error: no sequence
    #   8 I  9 M 10 R 11 L    correct, sequence 2 (600 ms)
    #  12 T                   error: I expected; the thumb is not in the sequence, it stands for
    #                         the expected place (I), so M is expected next
    #  13 M 14 R 15 L         correct, but the cycle began with an error: no sequence
    # 15 presses, 2 errors, 13 correct (86.667%), 2 correct sequences of 600 ms.
    # Expected finger at each press: I at 1, 5, 8, 12 (3 right: 75%); M at 2, 6, 9, 13 (75%);
    # R at 3, 10, 14 (100%); L at 4, 7, 11, 15 (100%). Inter-press intervals all 200 ms.
    m = values(score_finger_sequence(seq_trial(every_200_ms("IMRLIRLIMRLTMRL"))))
    assert m["presses"] == 15 and m["errors"] == 2 and m["correct_presses"] == 13
    assert m["accuracy_pct"] == pytest.approx(1300 / 15)
    assert m["correct_sequences"] == 2
    assert m["sequence_time_mean_ms"] == pytest.approx(600.0)
    assert m["index_accuracy_pct"] == pytest.approx(75.0)
    assert m["middle_accuracy_pct"] == pytest.approx(75.0)
    assert m["ring_accuracy_pct"] == 100.0 and m["little_accuracy_pct"] == 100.0
    assert m["ipi_mean_ms"] == pytest.approx(200.0)
    assert m["ipi_sd_ms"] == pytest.approx(0.0) and m["ipi_cv"] == pytest.approx(0.0)
    assert m["first_press_latency_ms"] == pytest.approx(500.0)
    assert "thumb_accuracy_pct" not in m


def test_mismatched_order_by_hand() -> None:
    # Sequence I R M L. I R M L: sequence 1. Then I, M (error: R expected; M stands for place 3,
    # so L is next), L (correct). 7 presses, 1 error; R expected once (at the error): 0%.
    m = values(
        score_finger_sequence(
            seq_trial(every_200_ms("IRMLIML"), sequence="index,ring,middle,little")
        )
    )
    assert m["presses"] == 7 and m["errors"] == 1 and m["correct_sequences"] == 1
    assert m["ring_accuracy_pct"] == pytest.approx(50.0)  # expected at presses 2 and 6
    assert m["middle_accuracy_pct"] == 100.0  # expected at press 3 only


def test_one_slip_costs_at_most_two_errors() -> None:
    cases = {
        "IMRLIIMRL": 1,  # a repeated I: it stands for I again, M follows
        "IMRLIRLIM": 1,  # M skipped: R stands for place 3, L follows
        "IMRLILRLI": 2,  # L instead of M (unnoticed): L -> R is wrong, R -> L is right
    }
    for fingers, errors in cases.items():
        m = values(score_finger_sequence(seq_trial(every_200_ms(fingers))))
        assert m["errors"] == errors, fingers


def test_tracker_with_a_repeated_finger_in_the_sequence() -> None:
    # I M I R: after a wrong R at place 2 (M expected) the nearest R at or after place 2 is
    # place 4, so I (place 1) is expected next.
    tracker = SequenceTracker(("index", "middle", "index", "ring"))
    assert tracker.press("index") and not tracker.press("ring")
    assert tracker.expected == "index"


def test_window_and_edge_cases() -> None:
    # start_rule "go": window [1000, 31000) ms; the press before go and the one at 31 s are out
    presses = [(900.0, "index"), (1000.0, "index"), (30_999.0, "middle"), (31_000.0, "ring")]
    m = values(score_finger_sequence(seq_trial(presses, start_rule="go")))
    assert m["presses"] == 2 and m["errors"] == 0 and m["first_press_latency_ms"] == 0
    # no press at all
    m = values(score_finger_sequence(seq_trial([], start_rule="go")))
    assert m["presses"] == 0 and m["correct_sequences"] == 0
    assert m["accuracy_pct"] is None and m["ipi_mean_ms"] is None
    assert m["index_accuracy_pct"] is None
    assert values(score_finger_sequence(seq_trial([])))["correct_sequences"] is None
    # one press
    m = values(score_finger_sequence(seq_trial([(1200.0, "index")])))
    assert m["presses"] == 1 and m["accuracy_pct"] == 100.0 and m["ipi_mean_ms"] is None
    # the first press wrong: the sequence starts with its first finger
    m = values(score_finger_sequence(seq_trial(every_200_ms("MRLIMRL"))))
    assert m["errors"] == 1 and m["correct_sequences"] == 1
    # incomplete trial, or a recording that ended before the window closed
    done = seq_trial(every_200_ms("IMRL"), status="incomplete")
    assert values(score_finger_sequence(done))["correct_sequences"] is None
    short = seq_trial(every_200_ms("IMRL"), end_ms=10_000.0)
    assert values(score_finger_sequence(short))["correct_sequences"] is None


def test_summary_is_the_mean_over_trials() -> None:
    protocol = FingerSequence()
    first = seq_trial(every_200_ms("IMRLIMRL"))  # 2 sequences, 0 errors, index 100%
    second = seq_trial(every_200_ms("IMRLIRLI"))  # 1 sequence, 1 error, middle 50%
    trials = [(d, protocol.score(d)) for d in (first, second)]
    m = values(protocol.summarize(trials))
    assert m["mean_correct_sequences"] == pytest.approx(1.5)
    assert m["mean_errors"] == pytest.approx(0.5)
    assert m["mean_middle_accuracy_pct"] == pytest.approx(75.0)
    assert m["mean_accuracy_pct"] == pytest.approx((100.0 + 700 / 8) / 2)


def test_params_are_checked() -> None:
    with pytest.raises(ProtocolError, match="unknown finger"):
        FingerSequence.make_params({"sequence": "index,toe"})
    with pytest.raises(ProtocolError, match="at least 2"):
        FingerSequence.make_params({"sequence": "index"})
    p = FingerSequence.make_params({"sequence": "index, ring ,middle,little", "guided": True})
    assert p.guided and parse_sequence(p.sequence) == ("index", "ring", "middle", "little")


# -- end to end on the simulator -----------------------------------------------------------------
def profile(error_prob: float, slips: bool) -> ParticipantProfile:
    """The healthy preset with a chosen wrong-finger probability; with ``slips`` False also
    without missed and extra taps."""
    base = load_profile("healthy")
    tapping = base.tapping
    if not slips:
        tapping = dataclasses.replace(tapping, extra_tap_prob=0.0, missed_tap_prob=0.0)
    reaction = dataclasses.replace(base.reaction, choice_error_prob=error_prob)
    return dataclasses.replace(base, tapping=tapping, reaction=reaction)


def truth_in_window(out, duration_s: float = 30.0) -> list[tuple[int, str]]:
    presses = [(on, f) for on, _, f in out.ctx.sim_truth.presses if on >= out.data.go_t_ns]
    end = presses[0][0] + round(duration_s * S)
    return [(t, f) for t, f in presses if t < end]


def transition_errors(fingers: list[str], sequence: list[str]) -> int:
    """Errors counted the simple way for a sequence of distinct fingers: a press is right when
    it is the successor of the previous press (the first press: the first finger)."""
    errors = 0
    for i, f in enumerate(fingers):
        want = sequence[0] if i == 0 else sequence[(sequence.index(fingers[i - 1]) + 1) % 4]
        errors += f != want
    return errors


def test_error_free_participant(sim_rig: Rig) -> None:
    protocol = FingerSequence()
    person = VirtualParticipant(profile(0.0, slips=False), 4)
    out = run_trial(protocol, sim_rig, hand="right", person=person, say=lambda s: None)
    assert out.data.status == "complete" and out.faults == []
    m = values(protocol.score(out.data))
    truth = truth_in_window(out)
    # Exact: every scripted press is recorded at its time on its button, nothing else.
    assert m["presses"] == len(truth) and m["errors"] == 0
    assert m["correct_sequences"] == len(truth) // 4
    for finger in ("index", "middle", "ring", "little"):
        assert m[f"{finger}_accuracy_pct"] == 100.0
    ipi = np.diff([t for t, _ in truth]) / MS
    assert m["ipi_mean_ms"] == pytest.approx(ipi.mean(), abs=1e-9)
    # The unguided timing is the tapping model: preferred ITI 200 ms + fatigue 0.5 ms/s x 15 s at
    # mid-window = 207.5 ms; the mean of ~145 intervals telescopes (SD about 1.8 ms by the model,
    # 0.9 ms over 20 seeds), so 5 ms is about 3 SD or more.
    assert m["ipi_mean_ms"] == pytest.approx(207.5, abs=5.0)


def test_participant_with_errors_mismatched_order(sim_rig: Rig) -> None:
    sequence = ["index", "ring", "middle", "little"]
    protocol = FingerSequence(FingerSequenceParams(sequence=",".join(sequence)))
    person = VirtualParticipant(profile(0.1, slips=True), 8)
    out = run_trial(protocol, sim_rig, hand="left", person=person, say=lambda s: None)
    m = values(protocol.score(out.data))
    truth = truth_in_window(out)
    recorded = sorted(
        (e.t_ns, out.data.roles[e.channel].split(":")[1])
        for e in out.data.events
        if e.level == 1 and out.data.go_t_ns <= e.t_ns < truth[0][0] + 30 * S
    )
    assert recorded == truth  # presses and fingers exactly as scripted
    fingers = [f for _, f in truth]
    assert m["presses"] == len(truth)
    assert m["errors"] == transition_errors(fingers, sequence) > 0
    # Each wrong-finger draw (10%) costs one or two errors, a missed or extra tap one or two:
    # over 20 seeds the error rate was 18.5% of presses (SD 3.6%, range 11-25%); the bounds 5%
    # and 35% are over 3.5 SD away.
    assert 0.05 * len(truth) <= m["errors"] <= 0.35 * len(truth)
    tracker = SequenceTracker(tuple(sequence))
    for t, f in truth:
        tracker.press(f, t)
    assert m["correct_sequences"] == tracker.correct_sequences


def test_guided_sequence_flashes_the_expected_finger(sim_rig: Rig) -> None:
    sequence = ("index", "ring", "middle", "little")
    protocol = FingerSequence(
        FingerSequenceParams(sequence=",".join(sequence), guided=True, duration_s=20.0)
    )
    person = VirtualParticipant("healthy", 6)
    out = run_trial(protocol, sim_rig, hand="right", person=person, say=lambda s: None)
    assert out.data.status == "complete" and out.faults == []
    data = out.data
    m = values(protocol.score(data))
    truth = truth_in_window(out, 20.0)
    assert m["presses"] == len(truth)
    # after each press in the window, the next flash lights the finger the tracker expects
    flashes = sorted((c.scheduled_on_ns, c.output) for c in data.cues if c.output != "buzzer")
    led_of = {f: f"led_{f}" for f in sequence}
    assert flashes[0] == (data.go_t_ns, "led_index")  # the go cue shows the first finger
    tracker = SequenceTracker(sequence)
    for t, f in truth[:-1]:
        tracker.press(f, t)
        nxt = next(flash for flash in flashes if flash[0] >= t)
        assert nxt[1] == led_of[tracker.expected]
        assert nxt[0] - t <= 10 * MS  # flashed within one 10 ms step of the run loop
    # Each press is a choice reaction to the flash after the previous one: the interval is the
    # choice RT (healthy: 400 ms, SD 40) plus the run loop's 0-10 ms, minus the rare
    # anticipations (2%, moved to just after the previous press); over 20 seeds the mean
    # interval was 399.7 ms with an SD of 7.2 ms, so +-25 ms is about 3.5 SD.
    assert m["ipi_mean_ms"] == pytest.approx(400.0, abs=25.0)


def test_the_virtual_participant_has_no_thumb(sim_rig: Rig) -> None:
    protocol = FingerSequence(FingerSequenceParams(sequence="thumb,index,middle"))
    with pytest.raises(ProtocolError, match="no thumb"):
        run_trial(
            protocol, sim_rig, hand="right", person=VirtualParticipant("healthy", 1), say=print
        )


def test_nobody_pressing_times_out(sim_rig: Rig) -> None:
    protocol = FingerSequence(FingerSequenceParams(guided=True))
    out = run_trial(protocol, sim_rig, hand="right", say=lambda s: None)
    assert out.data.status == "timeout"
    assert values(protocol.score(out.data))["correct_sequences"] is None
