"""Nine-Hole Peg Test: scoring against hand-computed fixtures, and end to end on the simulator."""

from __future__ import annotations

import pytest

from hardware.sim.participant import VirtualParticipant
from station.engine import run_trial
from station.protocols.nine_hole_peg import NineHolePeg, score_nine_hole_peg
from station.records import CueRecord, EventRecord, Metric, TrialData
from station.rig import Rig

S = 1_000_000_000
HOLES = [f"hole{i}" for i in range(1, 10)]
ROLES = {**{h: "hole" for h in HOLES}, "pad_home": "pad:home", "pad_dish": "pad:dish"}


def values(metrics: list[Metric]) -> dict[str, float | None]:
    return {m.name: m.value for m in metrics}


def fixture_trial(**params: object) -> TrialData:
    """Go at 10 s; lift-off 10.3 s; pegs in at 11, 12, ..., 19 s; out at 20, 20.5, ..., 24 s;
    each removal followed by a dish impact 0.2 s later; the last lands at 24.2 s."""
    go = 10 * S
    events = [EventRecord(go - 5 * S, "pad_home", 1), EventRecord(go + 3 * S // 10, "pad_home", 0)]
    for i, h in enumerate(HOLES):
        events.append(EventRecord((11 + i) * S, h, 1))
    for i, h in enumerate(HOLES):
        t_out = 20 * S + i * S // 2
        events.append(EventRecord(t_out, h, 0))
        events.append(EventRecord(t_out + S // 5, "pad_dish", 1))
        events.append(EventRecord(t_out + S // 5 + S // 100, "pad_dish", 0))
    events.sort(key=lambda e: e.t_ns)
    return TrialData(
        protocol="nine_hole_peg",
        version="1.0",
        params={"start_rule": "liftoff", **params},
        hand="right",
        practice=False,
        start_t_ns=0,
        end_t_ns=30 * S,
        go_t_ns=go,
        events=events,
        samples={},
        cues=[CueRecord("buzzer", "go", go, go + S // 5, go, go + S // 5)],
        roles=ROLES,
    )


def test_scoring_hand_computed() -> None:
    v = values(score_nine_hole_peg(fixture_trial()))
    # start = lift-off 10.3 s; last insert 19 s; last dish impact 24 s + 0.2 s = 24.2 s
    assert v["reaction_time_s"] == pytest.approx(0.3)
    assert v["total_time_s"] == pytest.approx(24.2 - 10.3)  # 13.9 s
    assert v["placement_time_s"] == pytest.approx(19 - 10.3)  # 8.7 s
    assert v["removal_time_s"] == pytest.approx(24.2 - 19)  # 5.2 s
    assert v["pegs_per_s"] == pytest.approx(9 / 13.9)
    # insert intervals: 11 - 10.3 = 0.7, then eight of 1.0 -> mean 8.7 / 9
    assert v["insert_interval_1_s"] == pytest.approx(0.7)
    assert v["insert_interval_mean_s"] == pytest.approx(8.7 / 9)
    # remove intervals: 20 - 19 = 1.0, then eight of 0.5 -> mean 5 / 9
    assert v["remove_interval_1_s"] == pytest.approx(1.0)
    assert v["remove_interval_mean_s"] == pytest.approx(5 / 9)
    assert v["pegs_inserted"] == 9 and v["pegs_removed"] == 9


def test_go_start_rule() -> None:
    v = values(score_nine_hole_peg(fixture_trial(start_rule="go")))
    assert v["total_time_s"] == pytest.approx(24.2 - 10.0)


def test_incomplete_trial_has_no_total() -> None:
    data = fixture_trial()
    data.events = [e for e in data.events if e.channel != "hole9"]
    metrics = score_nine_hole_peg(data)
    v = values(metrics)
    assert v["total_time_s"] is None and v["pegs_inserted"] == 8
    assert any("not all pegs" in m.detail for m in metrics if m.name == "total_time_s")


def test_without_dish_pad_stops_at_home_return() -> None:
    data = fixture_trial()
    data.roles = {k: v for k, v in ROLES.items() if k != "pad_dish"}
    data.events = [e for e in data.events if e.channel != "pad_dish"] + [
        EventRecord(25 * S, "pad_home", 1)
    ]
    assert values(score_nine_hole_peg(data))["total_time_s"] == pytest.approx(25 - 10.3)


@pytest.mark.parametrize(("profile", "hand"), [("healthy", "dominant"), ("older", "non_dominant")])
def test_end_to_end_matches_the_virtual_participant(sim_rig: Rig, profile: str, hand: str) -> None:
    protocol = NineHolePeg()
    out = run_trial(
        protocol,
        sim_rig,
        hand="right",
        person_hand=hand,
        person=VirtualParticipant(profile, 7),
        say=lambda s: None,
    )
    truth = out.ctx.sim_truth
    v = values(protocol.score(out.data))
    assert out.data.status == "complete"
    assert v["pegs_inserted"] == 9 and v["pegs_removed"] == 9
    # hole switches are exact (driver timestamps of the scripted edges)
    last_insert = max(truth.insert_ns.values())
    last_remove = max(truth.remove_ns.values())
    # start and end come from pads: the hand's force falls below the offset threshold shortly
    # before the scripted lift-off, and the dish impact is sampled at 860/s. Tolerance 100 ms.
    assert v["total_time_s"] == pytest.approx(
        (truth.dish_ns[-1] - truth.home_liftoff_ns) / S, abs=0.1
    )
    assert v["placement_time_s"] == pytest.approx(
        (last_insert - truth.home_liftoff_ns) / S, abs=0.1
    )
    assert v["removal_time_s"] == pytest.approx((truth.dish_ns[-1] - last_insert) / S, abs=0.1)
    assert last_remove < truth.dish_ns[-1]
    assert v["reaction_time_s"] == pytest.approx(
        (truth.home_liftoff_ns - out.data.go_t_ns) / S, abs=0.1
    )
