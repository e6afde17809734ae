"""Synchronization-continuation tapping: beat matching, asynchrony, continuation and
Wing-Kristofferson scoring against hand-computed fixtures; end to end on the simulator against
the virtual participant's script and its model parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware.sim.participant import ParticipantProfile, VirtualParticipant, load_profile
from station.engine import run_trial
from station.protocols.base import ProtocolError
from station.protocols.sync_continuation import (
    SyncContinuation,
    SyncContinuationParams,
    match_taps,
    score_sync_continuation,
    wing_kristofferson,
)
from station.records import CueRecord, EventRecord, Metric, TrialData
from station.rig import Rig

MS = 1_000_000
S = 1_000_000_000


def sync_trial(
    beats_ms: list[float],
    taps_ms: list[float],
    *,
    delay_ms: float = 2.0,
    unfired: int = 0,
    status: str = "complete",
    **params: object,
) -> TrialData:
    """A hand-built trial: clicks scheduled at ``beats_ms`` that fired ``delay_ms`` late (the
    last ``unfired`` never fired), a go beep before them, presses at ``taps_ms``."""
    cues = [CueRecord("buzzer", "go", -2 * S, -2 * S + 200 * MS, -2 * S, -2 * S + 200 * MS)]
    for i, b in enumerate(beats_ms):
        on = round(b * MS)
        fired = i < len(beats_ms) - unfired
        actual = on + round(delay_ms * MS) if fired else None
        cues.append(CueRecord("buzzer", "click", on, on + 10 * MS, actual, actual))
    events: list[EventRecord] = []
    for t in taps_ms:
        on = round(t * MS)
        events += [EventRecord(on, "btn_index", 1), EventRecord(on + 40 * MS, "btn_index", 0)]
    events.sort(key=lambda e: e.t_ns)
    p = SyncContinuationParams(**params)  # type: ignore[arg-type]
    return TrialData(
        protocol="sync_continuation",
        version="1.0",
        params={
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(p).items()
        },
        hand="right",
        practice=False,
        start_t_ns=-5 * S,
        end_t_ns=60 * S,
        go_t_ns=-2 * S,
        events=events,
        samples={},
        cues=cues,
        roles={"btn_index": "button:index"},
        status=status,
    )


def values(metrics: list[Metric]) -> dict[str, float | None]:
    return {m.name: m.value for m in metrics}


def details(metrics: list[Metric]) -> dict[str, str]:
    return {m.name: m.detail for m in metrics}


# Beats scheduled at 1000, 1500, 2000, 2500 ms, fired 2 ms late: onsets 1002, 1502, 2002, 2502;
# windows [onset - 250, onset + 250): [752, 1252), [1252, 1752), [1752, 2252), [2252, 2752).
BEATS = [1000.0, 1500.0, 2000.0, 2500.0]
SYNC_TAPS = [
    740.0,  # before the first window: not part of the trial's synchronization, not extra
    752.0,  # in beat 1's window, but 982 is nearer: extra
    982.0,  # beat 1: -20 ms
    1482.0,  # beat 2: -20 ms
    1532.0,  # beat 2's window, farther (+30) than 1482 (-20): extra
    # nothing in [1752, 2252): beat 3 missed
    2262.0,  # beat 4's window, -240 ms: farther than 2492, extra
    2492.0,  # beat 4: -10 ms
]
# Continuation from 2752 ms (the end of the last window): ITIs 510, 510, 490, 490, 510, 490
# (mean 500, deviations +-10), then one tap more than n_continuation = 7.
CONT_TAPS = [3000.0, 3510.0, 4020.0, 4510.0, 5000.0, 5510.0, 6000.0, 6500.0]


def test_matching_by_hand() -> None:
    onsets = [round((b + 2) * MS) for b in BEATS]
    taps = [round(t * MS) for t in SYNC_TAPS]
    match = match_taps(onsets, taps, 500 * MS)
    assert [(b // MS, t // MS) for b, t in match.pairs] == [(1002, 982), (1502, 1482), (2502, 2492)]
    assert [b // MS for b in match.missed] == [2002]
    assert sorted(t // MS for t in match.extra) == [752, 1532, 2262]


def test_a_tie_goes_to_the_earlier_tap() -> None:
    match = match_taps([1000 * MS], [950 * MS, 1050 * MS], 500 * MS)
    assert match.pairs == [(1000 * MS, 950 * MS)] and match.extra == [1050 * MS]


def test_synchronization_and_continuation_by_hand() -> None:
    data = sync_trial(
        BEATS, SYNC_TAPS + CONT_TAPS, n_sync=4, skip_beats=0, n_continuation=7, wk_detrend=False
    )
    m = values(score_sync_continuation(data))
    assert m["beats"] == 4 and m["beats_scored"] == 4
    assert m["matched_beats"] == 3 and m["missed_beats"] == 1 and m["extra_taps"] == 3
    # asynchronies -20, -20, -10 (against the measured onsets, not the schedule):
    # mean -50/3 = -16.667 ms; deviations -3.333, -3.333, +6.667 -> SD = sqrt(66.667 / 2) = 5.7735
    assert m["asynchrony_mean_ms"] == pytest.approx(-50 / 3)
    assert m["asynchrony_sd_ms"] == pytest.approx((200 / 3 / 2) ** 0.5)
    # continuation: the first 7 taps from 2752 ms, ITIs 510, 510, 490, 490, 510, 490
    assert m["continuation_taps"] == 7
    assert m["continuation_iti_mean_ms"] == pytest.approx(500.0)
    # deviations +-10: sum of squares 600, / 5 -> SD sqrt(120) = 10.954 ms
    assert m["continuation_iti_sd_ms"] == pytest.approx(120**0.5)
    assert m["continuation_iti_cv"] == pytest.approx(120**0.5 / 500)
    # drift: ITI on index 0..5 (mean 2.5): sum dx dy = 10 x (-2.5 - 1.5 + 0.5 - 0.5 + 1.5 - 2.5)
    # ... = -50; sum dx^2 = 17.5 -> -50 / 17.5 = -20/7 = -2.857 ms per tap
    assert m["continuation_drift_ms_per_tap"] == pytest.approx(-20 / 7)
    assert m["continuation_irregular_itis"] == 0
    # Wing-Kristofferson without detrending, d = +10, +10, -10, -10, +10, -10 (N = 6):
    # variance = 600 / 6 = 100; acov1 = (100 - 100 + 100 - 100 - 100) / 6 = -16.667;
    # autocorrelation -1/6; motor 16.667; clock = 100 - 2 x 16.667 = 66.667 ms^2
    assert m["wk_variance_ms2"] == pytest.approx(100.0)
    assert m["wk_acov1_ms2"] == pytest.approx(-100 / 6)
    assert m["wk_lag1_autocorrelation"] == pytest.approx(-1 / 6)
    assert m["wk_motor_variance_ms2"] == pytest.approx(100 / 6)
    assert m["wk_clock_variance_ms2"] == pytest.approx(100 - 200 / 6)


def test_skipped_beats_leave_their_taps_out() -> None:
    data = sync_trial(BEATS, SYNC_TAPS, n_sync=4, skip_beats=1, n_continuation=0)
    m = values(score_sync_continuation(data))
    # beats 2..4 scored: 1482 -> -20, beat 3 missed, 2492 -> -10; extra 1532 and 2262 only
    assert m["beats_scored"] == 3 and m["matched_beats"] == 2 and m["missed_beats"] == 1
    assert m["extra_taps"] == 2
    assert m["asynchrony_mean_ms"] == pytest.approx(-15.0)
    assert m["asynchrony_sd_ms"] == pytest.approx(50**0.5)  # deviations -5, +5, / 1
    assert m["continuation_taps"] == 0 and m["continuation_iti_mean_ms"] is None
    assert m["wk_motor_variance_ms2"] is None


def test_detrended_wing_kristofferson_by_hand() -> None:
    # ITIs 510, 510, 490, 490, 510, 490: trend -20/7 ms per tap; residuals r = d - slope x dx,
    # in sevenths of a ms: 20, 40, -80, -60, 100, -20. sum r^2 = 22400 / 49,
    # sum r_n r_(n+1) = (800 - 3200 + 4800 - 6000 - 2000) / 49 = -5600 / 49. With N = 6:
    # variance 22400 / 294 = 76.19, acov1 -5600 / 294 = -19.05, autocorrelation -0.25,
    # motor 19.05, clock (22400 - 11200) / 294 = 38.10 ms^2
    iti = np.array([510.0, 510.0, 490.0, 490.0, 510.0, 490.0])
    m = values(wing_kristofferson(iti, detrend=True))
    assert m["wk_variance_ms2"] == pytest.approx(22400 / 294)
    assert m["wk_acov1_ms2"] == pytest.approx(-5600 / 294)
    assert m["wk_lag1_autocorrelation"] == pytest.approx(-0.25)
    assert m["wk_motor_variance_ms2"] == pytest.approx(5600 / 294)
    assert m["wk_clock_variance_ms2"] == pytest.approx(11200 / 294)


def test_positive_lag1_autocovariance_is_clamped() -> None:
    # ITIs 510, 510, 490, 490 (no detrending): d = 10, 10, -10, -10; variance 400 / 4 = 100;
    # acov1 = (100 - 100 + 100) / 4 = +25 > 0: outside the model -> motor 0 (noted), clock 100
    metrics = wing_kristofferson(np.array([510.0, 510.0, 490.0, 490.0]), detrend=False)
    m = values(metrics)
    assert m["wk_acov1_ms2"] == pytest.approx(25.0)
    assert m["wk_motor_variance_ms2"] == 0.0
    assert "outside the Wing-Kristofferson model" in details(metrics)["wk_motor_variance_ms2"]
    assert m["wk_clock_variance_ms2"] == pytest.approx(100.0)


def test_autocorrelation_below_minus_half_clamps_the_clock_variance() -> None:
    # ITIs 500, 520, 480, 520, 480 detrended (slope -4 ms per tap): residuals -8, 16, -20, 24, -12;
    # variance 1440 / 5 = 288; acov1 = (-128 - 320 - 480 - 288) / 5 = -243.2 (r = -0.844):
    # clock = 288 - 486.4 < 0 -> 0, noted
    metrics = wing_kristofferson(np.array([500.0, 520.0, 480.0, 520.0, 480.0]))
    m = values(metrics)
    assert m["wk_variance_ms2"] == pytest.approx(288.0)
    assert m["wk_acov1_ms2"] == pytest.approx(-243.2)
    assert m["wk_motor_variance_ms2"] == pytest.approx(243.2)
    assert m["wk_clock_variance_ms2"] == 0.0
    assert "< -0.5" in details(metrics)["wk_clock_variance_ms2"]


def test_too_few_intervals_for_wing_kristofferson() -> None:
    m = values(wing_kristofferson(np.array([500.0, 510.0, 490.0])))
    assert m["wk_motor_variance_ms2"] is None and m["wk_clock_variance_ms2"] is None


def test_the_estimator_recovers_model_variances_on_a_long_series() -> None:
    # I_n = C_n + D_n - D_(n-1) with C ~ N(500, 12), D ~ N(0, 7): motor 49, clock 144 ms^2.
    # With 200,000 intervals the estimates' SDs are about 0.5 and 1 ms^2: 3% is several SD.
    rng = np.random.default_rng(0)
    c = rng.normal(500.0, 12.0, 200_000)
    d = rng.normal(0.0, 7.0, 200_001)
    m = values(wing_kristofferson(c + d[1:] - d[:-1]))
    assert m["wk_motor_variance_ms2"] == pytest.approx(49.0, rel=0.03)
    assert m["wk_clock_variance_ms2"] == pytest.approx(144.0, rel=0.03)


def test_unfired_clicks_are_not_beats_and_incomplete_trials_have_no_score() -> None:
    data = sync_trial(BEATS, SYNC_TAPS, unfired=1, n_sync=4, skip_beats=0, n_continuation=0)
    m = values(score_sync_continuation(data))
    assert m["beats"] == 3 and m["missed_beats"] == 1  # beat 3 (2002) is still missed
    timeout = sync_trial(BEATS, SYNC_TAPS, status="incomplete", n_sync=4, skip_beats=0)
    assert values(score_sync_continuation(timeout))["asynchrony_mean_ms"] is None


def test_ladder_steps_are_prefixed_and_kept_apart() -> None:
    # step 1 at 500 ms: clicks 0, 500, 1000; taps -10, 490, 995 -> asynchronies -10, -10, -5;
    # continuation from 1250: 1500, 2000 (n_continuation 3, but the step ends where step 2's
    # first window opens, 5000 - 200 = 4800, so the tap at 4850 is not step 1's third).
    # step 2 at 400 ms: clicks 5000, 5400, 5800; taps 4850 (extra), 4990, 5390, 5790
    # (-10 each); continuation from 6000: 6200, 6600, 7000 (ITIs 400, 400).
    data = sync_trial(
        [0.0, 500.0, 1000.0, 5000.0, 5400.0, 5800.0],
        [
            -10.0,
            490.0,
            995.0,
            1500.0,
            2000.0,
            4850.0,
            4990.0,
            5390.0,
            5790.0,
            6200.0,
            6600.0,
            7000.0,
        ],
        delay_ms=0.0,
        ladder_intervals_ms=(500.0, 400.0),
        n_sync=3,
        skip_beats=0,
        n_continuation=3,
    )
    m = values(score_sync_continuation(data))
    assert "asynchrony_mean_ms" not in m
    assert m["step1_interval_ms"] == 500 and m["step2_interval_ms"] == 400
    assert m["step1_asynchrony_mean_ms"] == pytest.approx(-25 / 3)
    assert m["step1_extra_taps"] == 0 and m["step1_continuation_taps"] == 2
    assert m["step1_continuation_iti_mean_ms"] == pytest.approx(500.0)
    assert m["step1_continuation_iti_sd_ms"] is None  # one interval only
    assert m["step2_asynchrony_mean_ms"] == pytest.approx(-10.0)
    assert m["step2_asynchrony_sd_ms"] == pytest.approx(0.0)
    assert m["step2_extra_taps"] == 1 and m["step2_missed_beats"] == 0
    assert m["step2_continuation_taps"] == 3
    assert m["step2_continuation_iti_mean_ms"] == pytest.approx(400.0)


def test_params_are_checked() -> None:
    with pytest.raises(ProtocolError, match="intervals"):
        SyncContinuation.make_params({"ladder_intervals_ms": [500, -1]})
    with pytest.raises(ProtocolError, match="skip_beats"):
        SyncContinuation.make_params({"n_sync": 4, "skip_beats": 4})
    p = SyncContinuation.make_params({"ladder_intervals_ms": [600, 400]})
    assert p.ladder_intervals_ms == (600, 400) and p.step_intervals_ms == (600.0, 400.0)


# -- end to end on the simulator -----------------------------------------------------------------
def clean(name: str = "healthy", *, fatigue: bool = False) -> ParticipantProfile:
    """A preset without extra and missed taps (and without fatigue unless asked): these tests
    check timing estimates against the model, not the handling of slips."""
    profile = load_profile(name)
    tapping = dataclasses.replace(
        profile.tapping,
        extra_tap_prob=0.0,
        missed_tap_prob=0.0,
        fatigue_iti_slope_ms_per_s=profile.tapping.fatigue_iti_slope_ms_per_s if fatigue else 0.0,
    )
    return dataclasses.replace(profile, tapping=tapping)


def test_simulated_trial_matches_the_script(sim_rig: Rig) -> None:
    protocol = SyncContinuation()
    p = protocol.params
    out = run_trial(
        protocol, sim_rig, hand="right", person=VirtualParticipant("healthy", 3), say=lambda s: None
    )
    assert out.data.status == "complete" and out.faults == []
    (script,) = out.ctx.sim_truth
    assert not script.missed_t_ns and all(t.intended for t in script.taps)  # this seed: clean
    m = values(protocol.score(out.data))
    assert m["beats"] == p.n_sync and m["matched_beats"] == p.n_sync - p.skip_beats
    assert m["missed_beats"] == 0 and m["extra_taps"] == 0
    # The clicks fire at their scheduled times on the simulator and presses are reported at
    # their first contact edge, so asynchronies are the script's own (to the ns: 1e-6 ms).
    asyncs = np.array(script.asynchronies_ms[p.skip_beats :])
    assert m["asynchrony_mean_ms"] == pytest.approx(asyncs.mean(), abs=1e-6)
    assert m["asynchrony_sd_ms"] == pytest.approx(asyncs.std(ddof=1), abs=1e-6)
    cont = np.array(script.intended_t_ns[p.n_sync : p.n_sync + p.n_continuation])
    assert m["continuation_taps"] == p.n_continuation
    iti = np.diff(cont) / MS
    assert m["continuation_iti_mean_ms"] == pytest.approx(iti.mean(), abs=1e-6)
    assert m["continuation_iti_sd_ms"] == pytest.approx(iti.std(ddof=1), abs=1e-6)
    assert values(wing_kristofferson(iti))["wk_acov1_ms2"] == pytest.approx(
        m["wk_acov1_ms2"], abs=1e-6
    )


@pytest.mark.slow
def test_long_run_recovers_the_model_parameters(sim_rig: Rig) -> None:
    # 300 clicks and 2,500 continuation taps at 250 ms (about 11 min of virtual time, a few s).
    # Tolerances from the spread over seeds of the same runs (8 seeds at 300 beats; 100 seeds of
    # the script alone at 2,000 continuation taps, scaled to 2,500):
    # - mean asynchrony (profile -30 ms): SD 1.4 ms -> 5 ms is 3.5 SD;
    # - asynchrony SD: the phase-correction model (participant.py) gives
    #   var = (clock^2 + alpha^2 motor^2) / (1 - (1 - alpha)^2) + motor^2 = 257.3 -> 16.04 ms;
    #   SD over seeds 0.5 ms -> 15% (2.4 ms) is about 5 SD;
    # - Wing-Kristofferson motor variance 49 ms^2: SD 4.8 ms^2 -> 30% (14.7) is 3 SD;
    #   clock variance 144 ms^2: SD 8.8 ms^2 -> 30% (43) is about 5 SD.
    protocol = SyncContinuation(
        SyncContinuationParams(interval_ms=250.0, n_sync=300, n_continuation=2500, skip_beats=0)
    )
    person = VirtualParticipant(clean(), 5)
    out = run_trial(protocol, sim_rig, hand="right", person=person, say=lambda s: None)
    t = person.profile.tapping
    m = values(protocol.score(out.data))
    assert m["matched_beats"] == 300 and m["continuation_taps"] == 2500
    assert m["asynchrony_mean_ms"] == pytest.approx(t.sync_asynchrony_ms, abs=5.0)
    a = t.sync_correction_gain
    model_var = (t.clock_sd_ms**2 + a**2 * t.motor_sd_ms**2) / (1 - (1 - a) ** 2) + t.motor_sd_ms**2
    assert m["asynchrony_sd_ms"] == pytest.approx(model_var**0.5, rel=0.15)
    assert m["wk_motor_variance_ms2"] == pytest.approx(t.motor_sd_ms**2, rel=0.30)
    assert m["wk_clock_variance_ms2"] == pytest.approx(t.clock_sd_ms**2, rel=0.30)
    assert -0.5 <= m["wk_lag1_autocorrelation"] <= 0
    assert m["continuation_iti_mean_ms"] == pytest.approx(250.0, abs=2.0)


def test_continuation_drift_follows_the_fatigue_slope(sim_rig: Rig) -> None:
    # The model lengthens the interval by fatigue 0.5 ms/s from the last beat: at 500 ms per tap
    # that is 0.25 ms per tap. 200 taps: the slope's SE is about SD(ITI) sqrt(12 / N^3) =
    # 15.6 x sqrt(12 / 199^3) = 0.019 ms per tap; 0.1 ms per tap is 5 SE.
    protocol = SyncContinuation(SyncContinuationParams(n_sync=10, n_continuation=200))
    person = VirtualParticipant(clean(fatigue=True), 11)
    out = run_trial(protocol, sim_rig, hand="left", person=person, say=lambda s: None)
    m = values(protocol.score(out.data))
    expected = person.profile.tapping.fatigue_iti_slope_ms_per_s * 0.5
    assert m["continuation_drift_ms_per_tap"] == pytest.approx(expected, abs=0.1)


def test_tempo_ladder_on_the_simulator(sim_rig: Rig) -> None:
    ladder = (600.0, 400.0, 250.0)
    protocol = SyncContinuation(
        SyncContinuationParams(ladder_intervals_ms=ladder, n_sync=12, n_continuation=15)
    )
    person = VirtualParticipant(clean("musician"), 2)
    out = run_trial(protocol, sim_rig, hand="right", person=person, say=lambda s: None)
    assert out.data.status == "complete" and out.faults == []
    m = values(protocol.score(out.data))
    assert len(out.ctx.sim_truth) == 3
    for k, (interval, script) in enumerate(zip(ladder, out.ctx.sim_truth, strict=True), 1):
        assert m[f"step{k}_interval_ms"] == interval
        assert m[f"step{k}_beats"] == 12 and m[f"step{k}_missed_beats"] == 0
        assert m[f"step{k}_extra_taps"] == 0
        asyncs = np.array(script.asynchronies_ms[3:])
        assert m[f"step{k}_asynchrony_mean_ms"] == pytest.approx(asyncs.mean(), abs=1e-6)
        assert m[f"step{k}_continuation_taps"] == 15
        # the mean of 14 ITIs telescopes: SE about sqrt(14 x 6^2 + 2 x 4^2) / 14 = 1.7 ms
        # (musician); 8 ms is over 4 SE
        assert m[f"step{k}_continuation_iti_mean_ms"] == pytest.approx(interval, abs=8.0)
    summary = values(protocol.summarize([(out.data, protocol.score(out.data))]))
    assert summary["mean_step2_asynchrony_mean_ms"] == m["step2_asynchrony_mean_ms"]


def test_nobody_tapping(sim_rig: Rig) -> None:
    # no participant: every beat is missed and the continuation ends after max_pause_s
    protocol = SyncContinuation(SyncContinuationParams(n_sync=5, skip_beats=0, n_continuation=4))
    out = run_trial(protocol, sim_rig, hand="right", say=lambda s: None)
    assert out.data.status == "complete"
    assert "ended after 0 of 4 taps" in out.data.notes
    m = values(protocol.score(out.data))
    assert m["beats"] == 5 and m["missed_beats"] == 5 and m["matched_beats"] == 0
    assert m["asynchrony_mean_ms"] is None and m["continuation_taps"] == 0
