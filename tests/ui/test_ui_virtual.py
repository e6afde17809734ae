"""The virtual-hardware panel drives the simulated station exactly as switches and pads would."""

from __future__ import annotations

import pytest

from station.errors import StationError
from station.recorder import Recorder
from station.rig import Rig
from station.ui.app import AppController
from station.ui.run import FINISHED, READY, REVIEW, RUNNING
from station.ui.virtual import HeldForce, VirtualHardwareController

TIMEOUT_S = 60.0


def test_buttons_pegs_and_pads_reach_the_recording(sim_rig: Rig) -> None:
    v = VirtualHardwareController(sim_rig)
    rec = Recorder(sim_rig, pads=["pad_index", "pad_dish"])
    rec.start()
    world = sim_rig.world
    try:
        t0 = sim_rig.clock.now_ns()
        v.press_button("index")
        world.run_for(0.05)
        v.release_button("index")
        world.run_for(0.05)
        presses = [e for e in rec.events if e.channel == "btn_index"]
        assert [e.level for e in presses] == [1, 0] and presses[0].t_ns > t0
        assert v.insert_next_peg() == 0 and v.insert_next_peg() == 1
        world.run_for(0.05)
        assert rec.core.level("hole1") == 1 and rec.core.level("hole2") == 1
        assert v.remove_last_peg() == 1
        world.run_for(0.05)
        assert rec.core.level("hole2") == 0 and v.state().holes_filled[:3] == (True, False, False)
        v.press_pad("pad_index", 10.0)
        world.run_for(0.2)
        assert rec.pads["pad_index"].last_force_n == pytest.approx(10.0, rel=0.15)
        assert "pad_index" in v.state().pads_pressed
        v.release_pad("pad_index")
        world.run_for(0.2)
        assert rec.pads["pad_index"].last_force_n < 0.3
        v.drop_in_dish()
        world.run_for(0.3)
        dish = [e.level for e in rec.events if e.channel == "pad_dish"]
        assert dish == [1, 0]  # a short impact: pressed, then released
    finally:
        rec.close()


def test_keys(sim_rig: Rig) -> None:
    v = VirtualHardwareController(sim_rig)
    assert v.key_down("2") and "index" in v.state().buttons_down
    assert v.key_down("2")  # a key repeat does nothing more
    assert v.key_up("2") and not v.state().buttons_down
    assert v.key_down("spacebar") and "index" in v.state().buttons_down
    v.key_up("spacebar")
    assert v.key_down("p") and v.state().holes_filled[0]
    v.key_up("p")
    assert v.key_down("up") and v.force_level_n == 6.0
    v.key_up("up")
    assert v.key_down("q") and "pad_index" in v.state().pads_pressed
    assert v.key_up("q") and not v.state().pads_pressed
    assert v.key_down("h") and "pad_home" in v.state().pads_pressed
    assert not v.key_down("x") and not v.key_up("x")


def test_held_force_changes_at_virtual_times() -> None:
    f = HeldForce(lambda t: 0.5, 100, 5.0)
    f = HeldForce(f, 200, 0.0)
    f = HeldForce(f, 300, 7.0)
    assert [f(50), f(100), f(250), f(300), f(10**12)] == [0.5, 5.0, 0.0, 7.0, 7.0]
    for t in range(400, 1000, 10):
        f = HeldForce(f, t, float(t))
    assert len(f.changes) <= HeldForce.MAX_CHANGES + 1 and f(10**12) == 990.0


def test_only_on_the_simulated_backend(sim_rig: Rig) -> None:
    class Real:
        simulated = False

    with pytest.raises(StationError, match="simulated backend only"):
        VirtualHardwareController(Real())
    with pytest.raises(StationError, match="no button"):
        VirtualHardwareController(sim_rig).press_button("sixth")


PEG_BATTERY = """
name = "pegs"
[[step]]
protocol = "nine_hole_peg"
hands = ["dominant"]
practice = 0
trials = 1
[step.params]
foreperiod_s = 0.5
"""


def test_a_person_at_the_panel_completes_a_nine_hole_peg_trial(controller: AppController) -> None:
    """No virtual participant: the panel alone, in real time, as a person at a desktop would."""
    (controller.config.data_dir / "batteries" / "pegs.toml").write_text(PEG_BATTERY)
    controller.set_first_pin("1234", "1234")
    controller.participants.create("P002", dominant_hand="right")
    controller.choose_battery("pegs")
    controller.realtime = True
    v = controller.virtual
    assert v is not None and v.home_pad is not None
    run = controller.start_run()
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    v.press_pad(v.home_pad, 3.0)  # the hand rests on the home pad
    run.start_trial()
    run.wait_for(lambda s: s.state == RUNNING and s.phase_kind == "active", TIMEOUT_S)
    v.release_pad(v.home_pad)  # lift-off
    for _ in range(9):
        v.insert_next_peg()
    snap = run.wait_for(lambda s: s.live.holes_filled == 9, TIMEOUT_S)
    assert snap.state == RUNNING and snap.live.holes == (True,) * 9
    for _ in range(9):
        v.remove_last_peg()
    run.wait_for(lambda s: s.live.holes_filled == 0, TIMEOUT_S)
    v.drop_in_dish()
    snap = run.wait_for(lambda s: s.state == REVIEW, TIMEOUT_S)
    assert snap.last_trial is not None and snap.last_trial.status == "complete"
    metrics = dict(snap.last_trial.metrics)
    assert metrics["total_time_s"].endswith(" s")
    run.keep()
    assert run.wait_for(lambda s: False, TIMEOUT_S).state == FINISHED
