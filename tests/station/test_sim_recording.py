"""End to end on the simulated backend: the virtual participant acts, the recorder keeps exact times."""

from __future__ import annotations

import numpy as np

from hardware.sim.ads1x15 import conversion_period_ns
from hardware.sim.participant import VirtualParticipant
from station.calibration import PadCalibration
from station.recorder import Recorder
from station.rig import Rig

MS = 1_000_000


def true_calibration(rig: Rig, pad: str) -> PadCalibration:
    sim = rig.sim_pads[pad]
    slope = 1.0 / sim.sensitivity_s_per_n
    return PadCalibration(slope, -sim.leak_s * slope, True)


def test_tapping_events_equal_the_scripted_onsets(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=[])
    rec.start()
    person = VirtualParticipant("healthy", seed=11)
    script = person.tapping(sim_rig.clock.now_ns() + 200 * MS, n_taps=60)
    sim_rig.world.play_edges(sim_rig.config.input("btn_index").gpio, script.edges)
    rec.run_for((script.taps[-1].release_t_ns - sim_rig.clock.now_ns()) / 1e9 + 0.5)
    rec.stop()
    downs = [e.t_ns for e in rec.events if e.channel == "btn_index" and e.level == 1]
    ups = [e.t_ns for e in rec.events if e.channel == "btn_index" and e.level == 0]
    assert downs == [tap.onset_t_ns for tap in script.taps]
    assert ups == [tap.release_t_ns for tap in script.taps]
    assert rec.core.lost == 0 and not rec.core.gaps
    summary = rec.summary()
    assert summary["provenance"]["backend"] == "sim"
    assert summary["provenance"]["timestamp_source"] == "virtual"
    rec.close()


def test_pegboard_holes_report_insert_and_remove_times(sim_rig: Rig) -> None:
    holes = [h.name for h in sim_rig.config.holes]
    rec = Recorder(sim_rig, pads=["pad_home", "pad_dish"])
    for pad in ("pad_home", "pad_dish"):
        rec.pads[pad].calibration = true_calibration(sim_rig, pad)
    rec.start()
    person = VirtualParticipant("healthy", seed=5)
    script = person.pegboard(sim_rig.clock.now_ns() + 100 * MS, holes)
    for hole in holes:
        sim_rig.world.play_edges(sim_rig.config.input(hole).gpio, script.hole_edges[hole])
    sim_rig.sim_pads["pad_home"].force = script.home_force
    sim_rig.sim_pads["pad_dish"].force = script.dish_force
    rec.run_for((script.home_return_ns - sim_rig.clock.now_ns()) / 1e9 + 1.0)
    rec.stop()
    for hole in holes:
        evs = [(e.t_ns, e.level) for e in rec.events if e.channel == hole]
        assert evs == [(script.insert_ns[hole], 1), (script.remove_ns[hole], 0)], hole
    # The home pad: the resting hand's force falls below the offset threshold on the way to
    # lift-off; the event is at that crossing, to within one conversion period.
    period = conversion_period_ns(860)
    offset_n = sim_rig.config.pad("pad_home").offset_n
    grid = np.arange(script.start_t_ns, script.home_liftoff_ns + 1, 10_000, dtype=np.int64)
    crossing = int(grid[np.argmax(script.home_force(grid) <= offset_n)])
    home_off = [e.t_ns for e in rec.events if e.channel == "pad_home" and e.level == 0]
    assert home_off and 0 <= home_off[0] - crossing <= period + 10_000
    dish_on = [e.t_ns for e in rec.events if e.channel == "pad_dish" and e.level == 1]
    assert len(dish_on) >= 1
    rec.close()


def test_force_samples_carry_rdy_times_and_the_true_force(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=["pad_index"], inputs=[])
    rec.pads["pad_index"].calibration = true_calibration(sim_rig, "pad_index")
    person = VirtualParticipant("healthy", seed=2)
    start = sim_rig.clock.now_ns() + 100 * MS
    trace = person.force_profile("hold", start, 3.0, 5.0, "index")
    sim_rig.sim_pads["pad_index"].force = trace
    rec.start()
    rec.run_for(3.5)
    rec.stop()
    stream = rec.pads["pad_index"]
    t, codes = stream.arrays()
    period = conversion_period_ns(860)
    # the first sample is the single-shot conversion that selected the channel
    assert set(np.diff(t)[1:].tolist()) == {period}, "every sample is stamped at its RDY edge"
    assert abs(stream.achieved_sps() - 860) < 1
    assert not stream.gaps
    force = stream.force_n(codes)
    hold = (t > start + 500 * MS) & (t < start + 2_900 * MS)
    expected = trace(t[hold])
    # ADS1115 quantization and the divider keep force within a few mN of the truth
    assert np.max(np.abs(force[hold] - expected)) < 0.02
    assert abs(force[hold].mean() - 5.0) < 0.15
    # the tremor is in the recording at the profile's frequency
    x = force[hold] - force[hold].mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), d=period / 1e9)
    band = (freqs > 3) & (freqs < 20)
    assert abs(freqs[band][np.argmax(spectrum[band])] - 10.0) < 0.5
    rec.close()


def test_pad_press_events_from_force_thresholds(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=["pad_middle"], inputs=[])
    rec.pads["pad_middle"].calibration = true_calibration(sim_rig, "pad_middle")
    person = VirtualParticipant("healthy", seed=4)
    t0 = sim_rig.clock.now_ns() + 100 * MS
    presses = [person.force_profile("press", t0 + i * 300 * MS, 120.0, 4.0) for i in range(5)]
    trace = presses[0]
    for p in presses[1:]:
        trace = trace + p
    sim_rig.sim_pads["pad_middle"].force = trace
    rec.start()
    rec.run_for(2.0)
    rec.stop()
    evs = [e for e in rec.events if e.channel == "pad_middle"]
    assert [e.level for e in evs] == [1, 0] * 5
    period = conversion_period_ns(860)
    onset_n = sim_rig.config.pad("pad_middle").onset_n
    for e in evs[::2]:  # onset: force just crossed the threshold
        assert trace(e.t_ns) >= onset_n * 0.98
        assert trace(e.t_ns - period) < onset_n * 1.02
    rec.close()


def test_wall_anchor_maps_monotonic_to_utc(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=[], inputs=[])
    a = rec.anchor
    assert a.uncertainty_ns == 0  # virtual clock
    assert a.to_utc_ns(a.mono_ns + 5 * MS) == a.wall_ns + 5 * MS
    rec.close()
