"""Cues: scheduled on the station clock, actual onsets logged, loopback read-back."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.config import load_config
from station.recorder import Recorder
from station.rig import SIM_OUTPUT_WRITE_LATENCY_NS, Rig, open_rig

MS = 1_000_000


def test_metronome_clicks_fire_on_schedule(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=[], inputs=[])
    rec.start()
    start = sim_rig.clock.now_ns() + 100 * MS
    cues = rec.cues.metronome("buzzer", start, 500 * MS, 8, click_ns=20 * MS)
    rec.run_for(5.0)
    assert [c.scheduled_on_ns for c in cues] == [start + i * 500 * MS for i in range(8)]
    assert all(c.actual_on_ns == c.scheduled_on_ns for c in cues)  # virtual clock: no write delay
    assert all(c.actual_off_ns == c.scheduled_on_ns + 20 * MS for c in cues)
    pin = sim_rig.factory.mock_pin(sim_rig.config.output("buzzer").gpio)
    assert [s.state for s in pin.states[-16:]] == [True, False] * 8
    rec.close()


def test_led_cue_and_cancel(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=[], inputs=[])
    rec.start()
    t = sim_rig.clock.now_ns() + 50 * MS
    first = rec.cues.schedule("led_index", t, 200 * MS)
    later = rec.cues.schedule("led_ring", t + 1_000 * MS, 200 * MS)
    rec.run_for(0.1)
    assert rec.outputs["led_index"].is_on
    rec.cues.cancel_pending()
    assert not rec.outputs["led_index"].is_on and first.actual_off_ns is not None
    rec.run_for(2.0)
    assert later.actual_on_ns is None
    rec.close()


def test_bad_cue_requests_are_refused(sim_rig: Rig) -> None:
    rec = Recorder(sim_rig, pads=[], inputs=[])
    with pytest.raises(KeyError, match="no output named"):
        rec.cues.schedule("nope", 0, MS)
    with pytest.raises(ValueError, match="positive duration"):
        rec.cues.schedule("buzzer", 0, 0)
    with pytest.raises(ValueError, match="shorter than the beat"):
        rec.cues.metronome("buzzer", 0, 10 * MS, 3, click_ns=10 * MS)
    rec.close()


def test_loopback_gives_the_real_onset(write_config, tmp_path: Path) -> None:
    # The reference uses every free line; free BCM 7 by dropping the little-finger LED.
    path = write_config(
        ('led = "led_little"\n', ""),
        ('[[led]]\nname = "led_little"\ngpio = 7\n', ""),
        ("# loopback_gpio = ...      # optional", "loopback_gpio = 7          # optional"),
    )
    rig = open_rig(load_config(path))
    rec = Recorder(rig, pads=[], inputs=[])
    rec.start()
    start = rig.clock.now_ns() + 100 * MS
    cues = rec.cues.metronome("buzzer", start, 250 * MS, 4, click_ns=10 * MS)
    rec.run_for(1.5)
    assert [c.loopback_on_ns - c.scheduled_on_ns for c in cues] == [SIM_OUTPUT_WRITE_LATENCY_NS] * 4
    assert [c.onset_error_ns for c in cues] == [SIM_OUTPUT_WRITE_LATENCY_NS] * 4
    rec.close()
    rig.close()
