"""Hardware faults on the simulated backend: a clear message, a flagged stream, and no crash.

Each fault of issue 2 point 8 is injected on the simulated rig (virtual time only): I2C errors,
an ADC vanishing mid-stream and coming back, a button held down at start, a chattering switch,
and an ADC missing at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hardware.adc import LOST_AFTER_ERRORS
from hardware.clock import NS_PER_S
from station.recorder import Fault, Recorder
from station.rig import Rig
from station.timing import FLAG_CHATTER, FLAG_SHORT

NS_PER_MS = 1_000_000


def messages(rec: Recorder, source: str) -> list[str]:
    return [f.message for f in rec.faults if f.source == source]


def fault_at(rec: Recorder, source: str, text: str) -> Fault:
    found = [f for f in rec.faults if f.source == source and text in f.message]
    assert found, f"no {source} fault containing {text!r} in {rec.faults}"
    return found[0]


def samples_after(rec: Recorder, pad: str, t_ns: int) -> int:
    t, _ = rec.pads[pad].arrays()
    return int((t > t_ns).sum())


def gap_reasons(rec: Recorder, pad: str) -> list[str]:
    return [g.reason for g in rec.pads[pad].gaps]


@contextmanager
def held_closed(rig: Rig, gpio: int, t_ns: int) -> Iterator[None]:
    """A switch closed to ground before the station opens its line (the simulated contact holds
    the line low against the pull-up, as a real one does)."""
    pin = rig.factory.mock_pin(gpio)
    pin.drive_at(False, t_ns)
    yield
    assert pin.state is False  # still closed after the station opened it


# -- (a) I2C errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pads", "mode"), [(["pad_index"], "rdy"), (["pad_index", "pad_home"], "scan")]
)
def test_i2c_error_mid_recording_is_reported_and_sampling_continues(
    sim_rig: Rig, pads: list[str], mode: str
) -> None:
    rec = Recorder(sim_rig, pads=pads, inputs=[])
    rec.start()
    assert rec.readers["adc0"].mode == mode
    rec.run_for(0.2)
    assert rec.faults == []
    before = rec.pads["pad_index"].n_samples
    t_fault = sim_rig.clock.now_ns()
    sim_rig.i2c.fail_next(2)
    rec.run_for(0.3)

    [first, *_] = messages(rec, "adc0")
    assert "adc0" in first and "ADS1115" in first and "0x48" in first
    assert "I2C read failed" in first and "flagged" in first
    for pad in pads:
        gaps = [g for g in rec.pads[pad].gaps if g.reason == "i2c_error"]
        assert gaps, f"{pad}: no gap recorded"
        assert all(g.t_first_ns >= t_fault for g in gaps)
    assert not any("lost" in m for m in messages(rec, "adc0"))
    assert rec.readers["adc0"].stats.errors >= 1
    assert samples_after(rec, "pad_index", t_fault + 100 * NS_PER_MS) > 50
    assert rec.pads["pad_index"].n_samples > before
    summary = rec.summary()
    assert summary["pads"]["pad_index"]["gaps"] >= 1
    assert summary["adcs"]["adc0"]["errors"] >= 1
    assert any("0x48" in m for m in summary["faults"])
    rec.close()


def test_random_i2c_errors_are_each_accounted_for(sim_rig: Rig) -> None:
    """1% of transactions fail (the bus's seeded generator): every conversion is either a
    sample or a gap, none disappears silently."""
    rec = Recorder(sim_rig, pads=["pad_index"], inputs=[])
    rec.start()
    rec.run_for(0.1)
    n0 = rec.pads["pad_index"].n_samples
    t0 = sim_rig.clock.now_ns()
    sim_rig.i2c.error_rate = 0.01
    rec.run_for(1.0)
    sim_rig.i2c.error_rate = 0.0
    t1 = sim_rig.clock.now_ns()
    rec.run_for(0.2)

    reader = rec.readers["adc0"]
    errors = [g for g in rec.pads["pad_index"].gaps if g.reason == "i2c_error"]
    assert 3 <= len(errors) == reader.stats.errors <= 30
    assert all(t0 <= g.t_first_ns <= t1 for g in errors)
    failures = messages(rec, "adc0")
    assert failures and all("adc0 (ADS1115 at 0x48)" in m for m in failures)
    # Each conversion period is a sample or a gap (allowing a few at the window edges).
    t, _ = rec.pads["pad_index"].arrays()
    in_window = int(((t >= t0) & (t <= t1)).sum())
    conversions = (t1 - t0) * 860 // NS_PER_S
    assert abs(in_window + len(errors) - conversions) <= 3
    assert rec.pads["pad_index"].n_samples - n0 > 800
    assert samples_after(rec, "pad_index", t1) > 100
    rec.close()


@pytest.mark.parametrize(
    ("pads", "mode"), [(["pad_index"], "rdy"), (["pad_index", "pad_home"], "scan")]
)
def test_consecutive_i2c_errors_lose_the_chip_then_it_comes_back(
    sim_rig: Rig, pads: list[str], mode: str
) -> None:
    rec = Recorder(sim_rig, pads=pads, inputs=[])
    rec.start()
    assert rec.readers["adc0"].mode == mode
    rec.run_for(0.2)
    sim_rig.i2c.fail_next(LOST_AFTER_ERRORS + 1)
    rec.run_for(2.0)

    lost = fault_at(rec, "adc0", "in a row; chip lost")
    back = fault_at(rec, "adc0", "back after")
    assert "adc0 (ADS1115 at 0x48)" in lost.message
    assert f"{LOST_AFTER_ERRORS} reads failed" in lost.message
    assert "adc0 (ADS1115 at 0x48)" in back.message and "missing" in back.message
    assert lost.t_ns < back.t_ns
    assert len(messages(rec, "adc0")) == 3  # first failure, lost, back: no flood
    for pad in pads:
        reasons = gap_reasons(rec, pad)
        assert reasons.count("i2c_error") == LOST_AFTER_ERRORS
        assert "chip_lost" in reasons
    reader = rec.readers["adc0"]
    assert reader.stats.recoveries == 1
    assert samples_after(rec, "pad_index", back.t_ns) > 100
    rec.close()


# -- (b) an ADC vanishing mid-stream --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pads", "mode", "symptom"),
    [
        (["pad_index", "pad_ring"], "rdy", "no conversions"),
        (["pad_index", "pad_home", "pad_ring"], "scan", "no device acknowledged"),
    ],
)
def test_adc_unplugged_mid_stream_then_replugged(
    sim_rig: Rig, pads: list[str], mode: str, symptom: str
) -> None:
    rec = Recorder(sim_rig, pads=pads, inputs=[])
    rec.start()
    assert rec.readers["adc0"].mode == mode
    t0 = sim_rig.clock.now_ns()
    t_unplug = t0 + 300 * NS_PER_MS
    t_replug = t0 + 1_000 * NS_PER_MS
    sim_rig.world.schedule(t_unplug, lambda: sim_rig.world.unplug_adc(0x48))
    sim_rig.world.schedule(t_replug, lambda: sim_rig.world.replug_adc(0x48))
    rec.run_for(0.9)

    silent = fault_at(rec, "adc0", symptom)
    assert "adc0 (ADS1115 at 0x48)" in silent.message
    assert t_unplug <= silent.t_ns < t_unplug + 100 * NS_PER_MS
    assert samples_after(rec, "pad_index", t_unplug + 5 * NS_PER_MS) == 0
    # The other chip never noticed.
    assert samples_after(rec, "pad_ring", t_unplug + 100 * NS_PER_MS) > 400
    assert messages(rec, "adc2") == []

    rec.run_for(1.6)
    back = fault_at(rec, "adc0", "back after")
    assert back.t_ns >= t_replug and "0x48" in back.message
    for pad in [p for p in pads if p != "pad_ring"]:
        lost = [g for g in rec.pads[pad].gaps if g.reason == "chip_lost"]
        assert len(lost) == 1
        assert lost[0].t_first_ns <= t_unplug + 100 * NS_PER_MS
        assert lost[0].t_last_ns >= t_replug
        assert lost[0].count > 100
    assert samples_after(rec, "pad_index", back.t_ns) > 200
    assert rec.readers["adc0"].stats.recoveries == 1
    assert rec.pads["pad_ring"].gaps == []
    rec.close()


def test_adc_unplugged_for_good_keeps_the_rest_running(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=["pad_index", "pad_middle"], inputs=[])
    rec.start()
    rec.run_for(0.1)
    sim_rig.world.unplug_adc(0x49)
    rec.run_for(3.0)
    assert any("0x49" in m for m in messages(rec, "adc1"))
    assert not any("back after" in m for m in messages(rec, "adc1"))
    assert len(messages(rec, "adc1")) <= 2  # reported once, not on every retry
    assert samples_after(rec, "pad_middle", sim_rig.clock.now_ns() - 2 * NS_PER_S) == 0
    assert samples_after(rec, "pad_index", sim_rig.clock.now_ns() - 2 * NS_PER_S) > 1500
    rec.close()


# -- (c) a button held down at start -------------------------------------------------------------


def test_button_held_down_at_start(sim_rig: Rig) -> None:
    spec = sim_rig.config.input("btn_index")
    t_start = sim_rig.clock.now_ns()
    with held_closed(sim_rig, spec.gpio, t_start):
        rec = Recorder(sim_rig, pads=[])
    rec.start()

    [message] = messages(rec, "btn_index")
    assert "closed at start" in message and "btn_index" in message
    assert rec.core.level("btn_index") == 1
    assert all(rec.core.level(s.name) == 0 for s in sim_rig.config.inputs if s.name != "btn_index")
    rec.run_for(0.2)
    assert rec.events == []  # no invented press

    t_release = sim_rig.clock.now_ns() + 100 * NS_PER_MS
    t_press = t_release + 300 * NS_PER_MS
    sim_rig.world.play_edges(
        spec.gpio, [(t_release, 0), (t_press, 1), (t_press + 80 * NS_PER_MS, 0)]
    )
    rec.run_for(0.6)
    got = [(e.channel, e.t_ns, e.level) for e in rec.events]
    assert got == [
        ("btn_index", t_release, 0),
        ("btn_index", t_press, 1),
        ("btn_index", t_press + 80 * NS_PER_MS, 0),
    ]
    assert rec.core.level("btn_index") == 0
    assert len(messages(rec, "btn_index")) == 1
    rec.close()


def test_peg_in_a_hole_at_start(sim_rig: Rig) -> None:
    spec = sim_rig.config.input("hole4")
    with held_closed(sim_rig, spec.gpio, sim_rig.clock.now_ns()):
        rec = Recorder(sim_rig, pads=[])
    [message] = messages(rec, "hole4")
    assert "peg is already in it" in message
    assert rec.core.level("hole4") == 1
    rec.close()


# -- (d) a chattering switch ---------------------------------------------------------------------


def test_chattering_switch_is_flagged_once_and_real_presses_still_count(sim_rig: Rig) -> None:
    spec = sim_rig.config.input("btn_thumb")
    rec = Recorder(sim_rig, pads=[], inputs=["btn_thumb", "btn_index"])
    rec.start()
    t0 = sim_rig.clock.now_ns()
    press1 = (t0 + 100 * NS_PER_MS, t0 + 180 * NS_PER_MS)
    chatter_start, chatter_end = t0 + 300 * NS_PER_MS, t0 + 1_600 * NS_PER_MS
    press2 = (t0 + 2_700 * NS_PER_MS, t0 + 2_790 * NS_PER_MS)  # over a second after the chatter
    edges = [(press1[0], 1), (press1[1], 0)]
    closed = 1
    t = chatter_start
    while t < chatter_end:  # an edge every 300 us for 1.3 s: a worn contact
        edges.append((t, closed))
        closed ^= 1
        t += 300_000
    if not closed:
        edges.append((t, 0))  # it settles open
    edges += [(press2[0], 1), (press2[1], 0)]
    sim_rig.world.play_edges(spec.gpio, edges)
    rec.run_for(3.0)

    [message] = messages(rec, "btn_thumb")
    assert "btn_thumb is chattering" in message
    chatter_fault = fault_at(rec, "btn_thumb", "chattering")
    assert chatter_start <= chatter_fault.t_ns < chatter_start + 100 * NS_PER_MS
    stats = rec.core.stats("btn_thumb")
    assert not stats.chattering  # calm again by the time of the last real press
    assert stats.raw_edges == len(edges)
    assert stats.bounce_edges > 1000
    assert not rec.core.stats("btn_index").chattering

    thumb = [e for e in rec.events if e.channel == "btn_thumb"]
    assert [(e.t_ns, e.level, e.flags) for e in thumb[:2]] == [
        (press1[0], 1, 0),
        (press1[1], 0, 0),
    ]
    # The later real press still counts, at its exact times, unflagged: the chatter is over.
    assert [(e.t_ns, e.level, e.flags) for e in thumb[-2:]] == [
        (press2[0], 1, 0),
        (press2[1], 0, 0),
    ]
    during = thumb[2:-2]
    flagged_from = chatter_fault.t_ns
    assert all(e.flags & FLAG_CHATTER for e in during if e.t_ns > flagged_from)
    assert any(e.t_ns > flagged_from for e in during)
    assert all(chatter_start <= e.t_ns <= chatter_end + 5 * NS_PER_MS for e in during)
    # Debouncing holds: during the chatter, at most one transition per 5 ms.
    assert len(during) <= (chatter_end - chatter_start) // (5 * NS_PER_MS) + 1
    assert all(e.flags & ~(FLAG_SHORT | FLAG_CHATTER) == 0 for e in during)
    # Once reported, the channel's events carry the chatter flag.
    flagged = [e for e in during if e.t_ns > chatter_fault.t_ns]
    assert len(flagged) > 100 and all(e.flags & FLAG_CHATTER for e in flagged)
    assert [e.level for e in thumb] == [i % 2 ^ 1 for i in range(len(thumb))]
    assert rec.core.lost == 0
    rec.close()


def test_ordinary_bounce_is_not_chatter(sim_rig: Rig) -> None:
    """A healthy switch bounces a little on each press: never flagged."""
    spec = sim_rig.config.input("btn_thumb")
    rec = Recorder(sim_rig, pads=[], inputs=["btn_thumb"])
    rec.start()
    t0 = sim_rig.clock.now_ns()
    edges: list[tuple[int, int]] = []
    for k in range(8):  # 8 presses in 2 s, each bouncing 4 edges on contact and release
        on = t0 + k * 250 * NS_PER_MS
        off = on + 100 * NS_PER_MS
        edges += [
            (on, 1),
            (on + 200_000, 0),
            (on + 500_000, 1),
            (on + 900_000, 0),
            (on + 1_200_000, 1),
        ]
        edges += [(off, 0), (off + 300_000, 1), (off + 700_000, 0)]
    sim_rig.world.play_edges(spec.gpio, edges)
    rec.run_for(2.5)
    assert rec.faults == []
    assert not rec.core.stats("btn_thumb").chattering
    assert len(rec.events) == 16
    rec.close()


# -- (e) an ADC missing at start ------------------------------------------------------------------


def test_adc_missing_at_start(sim_rig: Rig) -> None:
    sim_rig.world.unplug_adc(0x49)
    rec = Recorder(sim_rig, inputs=[], pads=["pad_index", "pad_middle", "pad_ring", "pad_little"])
    rec.start()
    rec.run_for(0.5)

    [message] = messages(rec, "adc1")
    assert "adc1 (ADS1115 at 0x49)" in message and "no answer on I2C" in message
    assert not rec.readers["adc1"].answering
    assert rec.pads["pad_middle"].n_samples == 0
    for pad in ("pad_index", "pad_ring", "pad_little"):
        assert rec.pads[pad].n_samples > 400, pad
        assert not rec.pads[pad].gaps, pad
    assert [f.source for f in rec.faults] == ["adc1"]
    rec.stop()
    # never answered: the whole recording is one gap on its pad, not silence
    [gap] = rec.pads["pad_middle"].gaps
    assert gap.reason == "chip_lost" and gap.count > 400
    summary = rec.summary()
    assert summary["pads"]["pad_middle"]["samples"] == 0
    assert any("0x49" in m for m in summary["faults"])
    rec.close()


def test_adc_plugged_in_after_start_is_picked_up(sim_rig: Rig) -> None:
    sim_rig.world.unplug_adc(0x49)
    rec = Recorder(sim_rig, inputs=[], pads=["pad_middle"])
    rec.start()
    sim_rig.world.schedule(
        sim_rig.clock.now_ns() + 300_000_000, lambda: sim_rig.world.replug_adc(0x49)
    )
    rec.run_for(2.5)
    rec.stop()
    assert rec.readers["adc1"].answering
    assert any("back after" in m for m in messages(rec, "adc1"))
    stream = rec.pads["pad_middle"]
    assert stream.n_samples > 860  # at least a second of samples once it answered
    assert [g.reason for g in stream.gaps] == ["chip_lost"]
    rec.close()
