"""Finger Tapping Test: scoring against hand-computed fixtures, the fepsy.com rule for more
trials, and end to end on the simulator against the virtual participant's script."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware.sim.participant import VirtualParticipant
from station.engine import run_trial
from station.protocols.base import ProtocolError
from station.protocols.finger_tapping import (
    FingerTapping,
    FingerTappingParams,
    score_finger_tapping,
)
from station.records import EventRecord, Metric, TrialData
from station.rig import Rig

MS = 1_000_000
S = 1_000_000_000


def trial(
    taps_ns: list[int],
    *,
    go_ns: int = 0,
    end_ns: int | None = None,
    status: str = "complete",
    practice: bool = False,
    **params: object,
) -> TrialData:
    """A hand-built trial: presses (each released 50 ms later) on the index button."""
    events: list[EventRecord] = []
    for t in taps_ns:
        events += [EventRecord(t, "btn_index", 1), EventRecord(t + 50 * MS, "btn_index", 0)]
    events.sort(key=lambda e: e.t_ns)
    return TrialData(
        protocol="finger_tapping",
        version="1.0",
        params=dataclasses.asdict(FingerTappingParams(**params)),  # type: ignore[arg-type]
        hand="right",
        practice=practice,
        start_t_ns=go_ns - 3 * S,
        end_t_ns=end_ns if end_ns is not None else go_ns + 30 * S,
        go_t_ns=go_ns,
        events=events,
        samples={},
        cues=[],
        roles={"btn_index": "button:index"},
        status=status,
    )


def values(metrics: list[Metric]) -> dict[str, float | None]:
    return {m.name: m.value for m in metrics}


# -- scoring: hand-computed fixtures -------------------------------------------------------------
def test_five_taps_hand_computed() -> None:
    # go at 0; taps at 100, 300, 510, 700, 900 ms; the window opens at the first tap (100 ms).
    # ITIs 200, 210, 190, 200 ms -> mean 200 ms; deviations 0, 10, -10, 0 -> SD = sqrt(200 / 3)
    # = 8.16497 ms; CV = 8.16497 / 200 = 0.0408248.
    # Fatigue slope: ITI on the opening tap's time x = 0, 0.2, 0.41, 0.6 s (mean 0.3025):
    # dx = -0.3025, -0.1025, 0.1075, 0.2975; dy = 0, 10, -10, 0;
    # sum dx dy = -1.025 - 1.075 = -2.1; sum dx^2 = 0.202075 -> slope = -10.39218 ms/s.
    m = values(score_finger_tapping(trial([100 * MS, 300 * MS, 510 * MS, 700 * MS, 900 * MS])))
    assert m["taps"] == 5
    assert m["first_tap_latency_ms"] == 100
    assert m["presses_before_go"] == 0
    assert m["iti_mean_ms"] == pytest.approx(200.0)
    assert m["iti_sd_ms"] == pytest.approx((200 / 3) ** 0.5)
    assert m["iti_sd_ms"] == pytest.approx(8.164966, abs=1e-6)
    assert m["iti_cv"] == pytest.approx(0.0408248, abs=1e-7)
    assert m["fatigue_slope_ms_per_s"] == pytest.approx(-2.1 / 0.202075)
    assert m["fatigue_slope_ms_per_s"] == pytest.approx(-10.39218, abs=1e-5)
    # all within the first 5 s [100, 5100) ms and none in the last 5 s [5100, 10100) ms
    assert m["taps_first_5s"] == 5 and m["taps_last_5s"] == 0


def test_fatigue_slope_of_an_exactly_linear_slowing() -> None:
    # ITI = 100 ms + 0.1 x (opening tap time): taps at 0, 100, 210, 331, 464.1 ms give ITIs
    # 100, 110, 121, 133.1 ms opened at 0, 100, 210, 331 ms -> slope 0.1 ms/ms = 100 ms/s.
    taps = [0, 100 * MS, 210 * MS, 331 * MS, 464_100_000]
    m = values(score_finger_tapping(trial(taps)))
    assert m["fatigue_slope_ms_per_s"] == pytest.approx(100.0)
    assert m["iti_mean_ms"] == pytest.approx((100 + 110 + 121 + 133.1) / 4)


def test_window_edges_with_the_go_rule() -> None:
    # go at 1 s, window [1000, 11000) ms; first 5 s [1000, 6000), last 5 s [6000, 11000).
    # 900 ms: before go (not counted); 1000 and 5999: first 5 s; 6000 and 10999: last 5 s;
    # 11000: after the window.
    taps = [900 * MS, 1000 * MS, 5999 * MS, 6000 * MS, 10999 * MS, 11000 * MS]
    m = values(score_finger_tapping(trial(taps, go_ns=1 * S, start_rule="go")))
    assert m["presses_before_go"] == 1
    assert m["taps"] == 4
    assert m["taps_first_5s"] == 2 and m["taps_last_5s"] == 2
    assert m["first_tap_latency_ms"] == 0
    # ITIs 4999, 1, 4999 ms
    assert m["iti_mean_ms"] == pytest.approx(3333.0)


def test_first_tap_rule_shifts_the_window() -> None:
    # first tap at 2 s -> window [2, 12) s: the tap at 11.999 s counts, the one at 12 s does not
    taps = [2 * S, 11_999 * MS, 12 * S]
    m = values(score_finger_tapping(trial(taps)))
    assert m["taps"] == 2
    assert m["first_tap_latency_ms"] == 2000
    assert m["iti_mean_ms"] == pytest.approx(9999.0)
    assert m["iti_sd_ms"] is None  # one interval only
    assert m["fatigue_slope_ms_per_s"] is None


def test_no_taps() -> None:
    m = values(score_finger_tapping(trial([], start_rule="go")))
    assert m["taps"] == 0
    assert m["iti_mean_ms"] is None and m["iti_cv"] is None
    assert m["first_tap_latency_ms"] is None
    # with the first-tap rule there is no window at all
    metrics = score_finger_tapping(trial([]))
    assert values(metrics)["taps"] is None
    assert "no tap" in next(x.detail for x in metrics if x.name == "taps")


def test_one_tap() -> None:
    m = values(score_finger_tapping(trial([300 * MS])))
    assert m["taps"] == 1 and m["taps_first_5s"] == 1
    assert m["iti_mean_ms"] is None and m["fatigue_slope_ms_per_s"] is None


def test_incomplete_trial_and_short_recording_have_no_count() -> None:
    assert values(score_finger_tapping(trial([100 * MS], status="timeout")))["taps"] is None
    short = trial([100 * MS, 300 * MS], end_ns=5 * S)  # window would close at 10.1 s
    assert values(score_finger_tapping(short))["taps"] is None


def test_params_are_checked() -> None:
    with pytest.raises(ProtocolError, match="finger"):
        FingerTapping.make_params({"finger": "toe"})
    with pytest.raises(ProtocolError, match="start_rule"):
        FingerTapping.make_params({"start_rule": "whenever"})
    with pytest.raises(ProtocolError, match="best_n"):
        FingerTapping.make_params({"best_n": 6, "max_trials": 5})


# -- the fepsy.com rule: spread > 5 taps -> more trials (up to 10), best 5 ------------------------
def counted(*taps: float, status: str = "complete", practice: bool = False):
    return [
        (trial([], status=status, practice=practice), [Metric("taps", float(n), "1")]) for n in taps
    ]


def test_fewer_than_five_valid_trials_need_more() -> None:
    protocol = FingerTapping()
    assert protocol.needs_more_trials(counted(50, 51, 52, 53))
    # an invalid trial does not count as one of the five (it is replaced)
    trials = counted(50, 51, 52, 53) + counted(40, status="invalid")
    assert protocol.needs_more_trials(trials)
    # practice trials are ignored altogether
    assert protocol.needs_more_trials(counted(10, 80, practice=True) + counted(50, 51, 52, 53))


def test_spread_within_five_taps_needs_no_more() -> None:
    protocol = FingerTapping()
    trials = counted(50, 52, 53, 54, 55)  # spread 55 - 50 = 5: not more than 5
    assert not protocol.needs_more_trials(trials)
    m = {x.name: x for x in protocol.summarize(trials)}
    assert m["mean_taps"].value == pytest.approx((50 + 52 + 53 + 54 + 55) / 5)  # 52.8
    assert m["trials_used"].value == 5 and "trials 1, 2, 3, 4, 5 of 5" in m["trials_used"].detail
    assert m["taps_spread"].value == 5


def test_spread_over_five_taps_asks_for_more_and_uses_the_best_five() -> None:
    protocol = FingerTapping()
    trials = counted(48, 52, 53, 54, 55)  # spread 7 > 5
    assert protocol.needs_more_trials(trials)
    trials += counted(51)  # best 5: 55, 54, 53, 52, 51 -> spread 4
    assert not protocol.needs_more_trials(trials)
    m = {x.name: x for x in protocol.summarize(trials)}
    assert m["mean_taps"].value == pytest.approx((52 + 53 + 54 + 55 + 51) / 5)  # 53.0
    assert "trials 2, 3, 4, 5, 6 of 6" in m["mean_taps"].detail
    assert m["taps_spread"].value == 4 and m["trials_valid"].value == 6


def test_at_most_ten_trials_then_the_best_five_anyway() -> None:
    protocol = FingerTapping()
    trials = counted(40, 60, 41, 59, 42, 58, 43, 57, 44)  # 9 trials, best 5 spread 60 - 44 = 16
    assert protocol.needs_more_trials(trials)
    trials += counted(45, status="invalid")  # the tenth trial given: no more, valid or not
    assert not protocol.needs_more_trials(trials)
    m = {x.name: x for x in protocol.summarize(trials)}
    # best 5: 60, 59, 58, 57, 44 (trials 2, 4, 6, 8, 9) -> mean 278 / 5 = 55.6
    assert m["mean_taps"].value == pytest.approx(55.6)
    assert "trials 2, 4, 6, 8, 9 of 10" in m["mean_taps"].detail
    assert "still spread by 16" in m["mean_taps"].detail


def test_ties_prefer_earlier_trials_and_no_valid_trial_has_no_score() -> None:
    protocol = FingerTapping()
    trials = counted(50, 50, 50, 50, 50, 50, 49)
    assert "trials 1, 2, 3, 4, 5 of 7" in protocol.summarize(trials)[0].detail
    assert protocol.summarize(counted(50, status="timeout"))[0].value is None


# -- end to end on the simulator -----------------------------------------------------------------
def window_taps(out, duration_s: float = 10.0) -> list[int]:
    """The script's physical presses inside the scored window (the first press after go + d)."""
    onsets = [t for t in out.ctx.sim_truth.onsets_t_ns if t >= out.data.go_t_ns]
    return [t for t in onsets if t < onsets[0] + round(duration_s * S)]


def test_simulated_trial_matches_the_script(sim_rig: Rig) -> None:
    person = VirtualParticipant("healthy", 7)
    protocol = FingerTapping()
    out = run_trial(protocol, sim_rig, hand="right", person=person, say=lambda s: None)
    assert out.data.status == "complete" and out.faults == []
    m = values(protocol.score(out.data))
    truth = np.array(window_taps(out), dtype=np.int64)
    # Exact: each press is reported at its first contact edge, so counts and times are the
    # script's own (times to the ns, hence 1e-9 ms).
    assert m["taps"] == truth.size
    iti = np.diff(truth) / MS
    assert m["iti_mean_ms"] == pytest.approx(iti.mean(), abs=1e-9)
    assert m["iti_sd_ms"] == pytest.approx(iti.std(ddof=1), abs=1e-9)
    assert m["first_tap_latency_ms"] == pytest.approx(person.profile.reaction.simple_rt_ms)
    # Against the profile (healthy: preferred ITI 200 ms, fatigue 0.5 ms/s, so about 202.5 ms at
    # mid-window). The mean ITI telescopes to (last - first) / (n - 1): the timing model alone
    # gives an error of sqrt(n x clock_sd^2 + 2 motor_sd^2) / (n - 1) = 1.8 ms; with missed and
    # extra taps the SD over 40 seeds was 2.9 ms, so 10 ms is over 3 SD. The count is about
    # 10 s / 202.5 ms + 1/2 (the phase of the last tap in the window) = 49.9; its SD over those
    # seeds was 0.8 taps, so +-2.5 taps is over 3 SD.
    assert abs(m["iti_mean_ms"] - 202.5) < 10.0
    assert abs(m["taps"] - (10_000 / 202.5 + 0.5)) <= 2.5


def test_long_trial_recovers_the_fatigue_slope(sim_rig: Rig) -> None:
    # 120 s of tapping: the slope's standard error is about SD(ITI) / sqrt(sum dx^2) with
    # sum dx^2 = n x T^2 / 12 = 590 x 1200 s^2 -> 15.6 / 840 = 0.02 ms/s; over 15 seeds the SD
    # was 0.035 ms/s (extra and missed taps), so 0.15 ms/s is over 4 SD.
    protocol = FingerTapping(FingerTappingParams(duration_s=120.0))
    person = VirtualParticipant("healthy", 3)
    out = run_trial(protocol, sim_rig, hand="left", person=person, say=lambda s: None)
    m = values(protocol.score(out.data))
    truth = np.array(window_taps(out, 120.0), dtype=np.int64)
    assert m["taps"] == truth.size
    x = (truth[:-1] - truth[0]) / S
    y = np.diff(truth) / MS
    assert m["fatigue_slope_ms_per_s"] == pytest.approx(np.polyfit(x, y, 1)[0], abs=1e-9)
    assert m["fatigue_slope_ms_per_s"] == pytest.approx(
        person.profile.tapping.fatigue_iti_slope_ms_per_s, abs=0.15
    )


def test_five_trials_in_a_row_and_the_rule(sim_rig: Rig) -> None:
    protocol = FingerTapping()
    person = VirtualParticipant("healthy", 21)
    done = []
    while True:
        out = run_trial(
            protocol,
            sim_rig,
            hand="right",
            person_hand="non_dominant",
            person=person,
            say=lambda s: None,
        )
        metrics = protocol.score(out.data)
        done.append((out.data, metrics))
        m = values(metrics)
        # nothing left over from the previous trial: no press before go, none held at start
        assert m["presses_before_go"] == 0 and out.faults == []
        assert m["taps"] == len(window_taps(out))
        if not protocol.needs_more_trials(done):
            break
    counts = [values(ms)["taps"] for _, ms in done]
    assert 5 <= len(done) <= 10
    summary = values(protocol.summarize(done))
    best = sorted(counts, reverse=True)[:5]
    assert summary["mean_taps"] == pytest.approx(sum(best) / 5)


def test_nobody_tapping_times_out(sim_rig: Rig) -> None:
    protocol = FingerTapping()
    out = run_trial(protocol, sim_rig, hand="right", say=lambda s: None)
    assert out.data.status == "timeout" and "no tap within 10 s" in out.data.notes
    assert values(protocol.score(out.data))["taps"] is None
    assert protocol.needs_more_trials([(out.data, protocol.score(out.data))])
