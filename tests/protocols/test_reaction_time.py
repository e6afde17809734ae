"""Reaction time: scoring against hand-computed fixtures, and end to end on the simulator."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hardware.sim.participant import VirtualParticipant, load_profile
from station.engine import run_trial
from station.protocols.base import ProtocolError
from station.protocols.reaction_time import (
    ReactionTime,
    ReactionTimeParams,
    score_reaction_time,
    stimulus_plan,
)
from station.records import CueRecord, EventRecord, Metric, TrialData
from station.rig import Rig

MS = 1_000_000
S = 1_000_000_000


def trial(
    cues: list[CueRecord],
    presses: list[tuple[float, str]],
    *,
    params: dict | None = None,
    roles: dict[str, str] | None = None,
    end_s: float = 20.0,
) -> TrialData:
    """A hand-built trial: ``presses`` are (time in s, button channel); each press is released
    80 ms later."""
    events: list[EventRecord] = []
    for t_s, channel in presses:
        t = round(t_s * S)
        events += [EventRecord(t, channel, 1), EventRecord(t + 80 * MS, channel, 0)]
    events.sort(key=lambda e: e.t_ns)
    return TrialData(
        protocol="reaction_time",
        version="1.0",
        params={"response_timeout_s": 1.5, "anticipation_ms": 100.0, **(params or {})},
        hand="right",
        practice=False,
        start_t_ns=0,
        end_t_ns=round(end_s * S),
        go_t_ns=cues[0].scheduled_on_ns if cues else None,
        events=events,
        samples={},
        cues=cues,
        roles=roles or {"btn_index": "button:index"},
    )


def stimulus(t_s: float, finger: str = "index", measured_s: float | None = None) -> CueRecord:
    t = round(t_s * S)
    measured = round(measured_s * S) if measured_s is not None else None
    return CueRecord(f"led_{finger}", f"stimulus:{finger}", t, t + 500 * MS, measured, None, None)


def by_name(metrics: list[Metric]) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


# -- scoring: hand-computed fixtures ------------------------------------------------------------
def test_simple_rt_fixture() -> None:
    cues = [
        # scheduled at 0.998 s, measured on at 1.000 s: RT counts from the measured onset
        stimulus(0.998, measured_s=1.000),
        stimulus(3.0),
        stimulus(5.0),
        stimulus(7.0),
        stimulus(9.0),
        stimulus(12.0),
    ]
    presses = [
        (1.250, "btn_index"),  # 1: 1.250 - 1.000 = 250 ms
        (3.300, "btn_index"),  # 2: 300 ms
        (5.050, "btn_index"),  # 3: 50 ms < 100 ms: anticipation
        (6.950, "btn_index"),  # 4: before its cue: anticipation ...
        (7.200, "btn_index"),  #    ... and this press after the cue only closes stimulus 4
        # 5: no press within 1.5 s of 9.0 s: miss
        (12.280, "btn_index"),  # 6: 280 ms
    ]
    m = by_name(score_reaction_time(trial(cues, presses)))
    # valid RTs 250, 300, 280 ms: median 280; mean 830 / 3 = 276.667;
    # SD: deviations -26.667, 23.333, 3.333 -> squares 711.11 + 544.44 + 11.11 = 1266.67,
    # / (3 - 1) = 633.33, sqrt = 25.166 ms
    assert m["median_rt_ms"].value == pytest.approx(280.0)
    assert m["mean_rt_ms"].value == pytest.approx(276.6667, abs=1e-3)
    assert m["sd_rt_ms"].value == pytest.approx(25.166, abs=1e-3)
    assert m["stimuli"].value == 6
    assert m["valid"].value == 3
    assert m["anticipations"].value == 2
    assert m["misses"].value == 1
    assert m["errors"].value == 0
    assert m["rt_1_ms"].value == pytest.approx(250.0)
    assert m["rt_3_ms"].value is None and "anticipation" in m["rt_3_ms"].detail
    assert m["rt_4_ms"].value is None and "before the cue" in m["rt_4_ms"].detail
    assert m["rt_5_ms"].value is None and "miss" in m["rt_5_ms"].detail
    assert m["rt_6_ms"].value == pytest.approx(280.0)


def test_choice_rt_errors_fixture() -> None:
    roles = {"btn_index": "button:index", "btn_middle": "button:middle"}
    cues = [stimulus(1.0, "middle"), stimulus(4.0, "index"), stimulus(7.0, "middle")]
    presses = [
        (1.420, "btn_middle"),  # right finger: 420 ms
        (4.380, "btn_middle"),  # wrong finger: error
        (7.460, "btn_middle"),  # 460 ms
    ]
    m = by_name(score_reaction_time(trial(cues, presses, roles=roles, params={"mode": "choice"})))
    # valid 420, 460: median = mean = 440; SD = |460 - 420| / sqrt(2) = 28.284 ms
    assert m["median_rt_ms"].value == pytest.approx(440.0)
    assert m["mean_rt_ms"].value == pytest.approx(440.0)
    assert m["sd_rt_ms"].value == pytest.approx(28.2843, abs=1e-3)
    assert m["errors"].value == 1 and m["valid"].value == 2
    assert "error: middle for index" in m["rt_2_ms"].detail


def test_anticipation_threshold_is_strictly_below() -> None:
    # 99 ms is an anticipation, 100 ms is a response (issue 3: anticipations are < 100 ms)
    cues = [stimulus(1.0), stimulus(4.0)]
    m = by_name(score_reaction_time(trial(cues, [(1.099, "btn_index"), (4.100, "btn_index")])))
    assert m["anticipations"].value == 1
    assert m["rt_2_ms"].value == pytest.approx(100.0)


def test_no_response_at_all() -> None:
    m = by_name(score_reaction_time(trial([stimulus(1.0), stimulus(4.0)], [])))
    assert m["misses"].value == 2 and m["valid"].value == 0
    assert m["median_rt_ms"].value is None and m["median_rt_ms"].detail == "no valid response"
    assert m["sd_rt_ms"].value is None


def test_a_late_press_is_a_miss_then_an_anticipation_of_the_next_cue() -> None:
    # cue 1 at 1.0 s, timeout 1.5 s: a press at 2.6 s is too late (miss) and falls before cue 2
    m = by_name(score_reaction_time(trial([stimulus(1.0), stimulus(4.0)], [(2.6, "btn_index")])))
    assert m["misses"].value == 1 and m["anticipations"].value == 1


def test_no_stimulus_recorded() -> None:
    m = by_name(score_reaction_time(trial([], [])))
    assert m["stimuli"].value == 0 and m["median_rt_ms"].value is None


# -- parameters and plan -----------------------------------------------------------------------
def test_plan_is_reproducible_from_the_seed() -> None:
    p = ReactionTimeParams(mode="choice", n_stimuli=30, seed=123)
    plan = stimulus_plan(p)
    assert plan == stimulus_plan(p)
    assert all(1.0 <= fp <= 3.0 for fp, _ in plan)
    assert {f for _, f in plan} <= set(p.choice_fingers)
    assert stimulus_plan(dataclasses.replace(p, seed=124)) != plan
    simple = stimulus_plan(ReactionTimeParams(seed=5, n_stimuli=4))
    assert [f for _, f in simple] == ["index"] * 4


def test_params_from_toml_values() -> None:
    p = ReactionTime.make_params({"mode": "choice", "choice_fingers": ["index", "ring"]})
    assert p.choice_fingers == ("index", "ring") and p.fingers == ("index", "ring")
    with pytest.raises(ProtocolError, match="mode"):
        ReactionTime.make_params({"mode": "go-no-go"})
    with pytest.raises(ProtocolError, match="two"):
        ReactionTime.make_params({"mode": "choice", "choice_fingers": ["index"]})


# -- end to end on the simulator ---------------------------------------------------------------
def run(rig: Rig, params: ReactionTimeParams, person: VirtualParticipant):
    protocol = ReactionTime(params)
    out = run_trial(protocol, rig, hand="right", person=person, say=lambda s: None)
    return protocol, out


def test_simple_rt_on_the_simulator(sim_rig: Rig) -> None:
    person = VirtualParticipant("healthy", 21)
    protocol, out = run(sim_rig, ReactionTimeParams(n_stimuli=20), person)
    assert out.data.status == "complete" and not out.faults
    assert protocol.pads(sim_rig.config, "right") == []
    assert out.data.params["seed"] >= 0, "the seed drawn for the trial is stored"
    m = by_name(protocol.score(out.data))
    scripts = out.ctx.sim_truth
    assert len(scripts) == 20 and m["stimuli"].value == 20
    # The scripted responses come back exactly: switch edges are stamped at their scripted times
    # and each cue fires at its scheduled time on the virtual clock.
    for i, script in enumerate(scripts):
        rt = m[f"rt_{i + 1}_ms"].value
        if script.anticipation:
            assert rt is None
        else:
            assert rt == pytest.approx(script.rt_ms, abs=0.01)
    truth = [s.rt_ms for s in scripts if not s.anticipation]
    assert abs(m["median_rt_ms"].value - float(np.median(truth))) < 1.0
    assert m["anticipations"].value == sum(s.anticipation for s in scripts)
    # Against the profile: RT is log-normal with mean 250 ms and SD 40 ms, whose median is
    # mean / sqrt(1 + CV^2) = 246.9 ms; the median of n draws has SE ~ 1.2533 SD / sqrt(n)
    # = 11.2 ms for n = 20: 3 SE (34 ms) keeps a fixed seed from testing luck.
    r = person.profile.reaction
    median = r.simple_rt_ms / math.sqrt(1 + (r.rt_sd_ms / r.simple_rt_ms) ** 2)
    assert abs(m["median_rt_ms"].value - median) < 3 * 1.2533 * r.rt_sd_ms / math.sqrt(20)


def test_choice_rt_with_errors_and_anticipations_on_the_simulator(sim_rig: Rig) -> None:
    healthy = load_profile("healthy")
    profile = dataclasses.replace(
        healthy,
        reaction=dataclasses.replace(
            healthy.reaction, anticipation_prob=0.2, choice_error_prob=0.2
        ),
    )
    person = VirtualParticipant(profile, 3)
    params = ReactionTimeParams(mode="choice", n_stimuli=25, foreperiod_min_s=0.5)
    protocol, out = run(sim_rig, params, person)
    m = by_name(protocol.score(out.data))
    scripts = out.ctx.sim_truth
    n_antic = sum(s.anticipation for s in scripts)
    n_err = sum(s.error and not s.anticipation for s in scripts)
    assert n_antic >= 1 and n_err >= 1, "the seed exercises both"
    assert m["anticipations"].value == n_antic
    assert m["errors"].value == n_err
    assert m["misses"].value == 0
    valid = [s.rt_ms for s in scripts if not s.anticipation and not s.error]
    assert m["valid"].value == len(valid)
    assert m["median_rt_ms"].value == pytest.approx(float(np.median(valid)), abs=0.01)
    # the cued fingers are the plan's, from the stored seed
    plan = stimulus_plan(
        ReactionTimeParams(**{**dataclasses.asdict(params), "seed": out.data.params["seed"]})
    )
    assert [s.target for s in scripts] == [f for _, f in plan]


def test_fresh_seed_each_trial_and_fixed_seed_kept(sim_rig: Rig) -> None:
    person = VirtualParticipant("healthy", 8)
    protocol = ReactionTime(ReactionTimeParams(n_stimuli=2))
    seeds = []
    for _ in range(2):
        out = run_trial(protocol, sim_rig, hand="right", person=person, say=lambda s: None)
        seeds.append(out.data.params["seed"])
    assert seeds[0] != seeds[1] and min(seeds) >= 0
    fixed = ReactionTime(ReactionTimeParams(n_stimuli=2, seed=99))
    out = run_trial(fixed, sim_rig, hand="right", person=person, say=lambda s: None)
    assert out.data.params["seed"] == 99
