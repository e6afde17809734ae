"""The consumers' own threads (the real-hardware path), on the host clock.

These wait for work to be done, with a generous deadline; they assert what happened and in
which order, never how fast.
"""

from __future__ import annotations

import threading

from hardware.adc import AdsReader
from hardware.clock import MonotonicClock
from hardware.sim.ads1x15 import Ads1x15Model
from hardware.sim.i2c import FakeI2C
from station.cues import CueScheduler

DEADLINE_S = 10.0
MS = 1_000_000


def test_adc_reader_thread_samples_and_stops() -> None:
    clock = MonotonicClock()
    bus = FakeI2C(clock)
    bus.attach(
        0x48, Ads1x15Model(clock, chip="ADS1115", inputs=lambda ch, t: 1.0 if ch == 0 else 0.0)
    )
    got: list[tuple[int, int, int]] = []
    enough = threading.Event()

    def on_sample(t_ns: int, ch: int, code: int) -> None:
        got.append((t_ns, ch, code))
        if len(got) >= 50:
            enough.set()

    reader = AdsReader(
        name="adc0",
        i2c=bus,
        chip="ADS1115",
        address=0x48,
        gain=1,
        data_rate_sps=860,
        channels=[0],
        clock=clock,
        on_sample=on_sample,
        on_fault=lambda m: None,
        on_gap=lambda *a: None,
    )
    assert reader.mode == "poll" and reader.open()
    reader.start()
    try:
        assert enough.wait(DEADLINE_S), "the reader thread delivered no samples"
    finally:
        reader.stop()
    n = len(got)
    times = [t for t, _, _ in got]
    assert times == sorted(times)
    assert {ch for _, ch, _ in got} == {0}
    assert all(abs(code - 8000) <= 1 for _, _, code in got)  # 1.0 V at +-4.096 V full scale
    assert len(got) == n  # stopped: nothing arrives after stop() returned


class _Line:
    def __init__(self, log: list[tuple[str, bool]], name: str):
        self.log, self.name = log, name

    def on(self) -> None:
        self.log.append((self.name, True))

    def off(self) -> None:
        self.log.append((self.name, False))


def test_cue_thread_fires_in_order_never_early() -> None:
    clock = MonotonicClock()
    log: list[tuple[str, bool]] = []
    cues = CueScheduler(clock, {"led": _Line(log, "led"), "buzzer": _Line(log, "buzzer")})
    cues.start()
    try:
        t0 = clock.now_ns() + 30 * MS
        scheduled = [
            cues.schedule("led", t0, 10 * MS),
            cues.schedule("buzzer", t0 + 20 * MS, 10 * MS),
        ]
        done = threading.Event()
        deadline = clock.now_ns() + int(DEADLINE_S * 1e9)
        while not all(c.actual_off_ns for c in scheduled) and clock.now_ns() < deadline:
            done.wait(0.01)
    finally:
        cues.stop()
    assert log == [("led", True), ("led", False), ("buzzer", True), ("buzzer", False)]
    for c in scheduled:
        assert c.actual_on_ns is not None and c.actual_on_ns >= c.scheduled_on_ns
        assert c.actual_off_ns is not None and c.actual_off_ns >= c.scheduled_off_ns


def test_several_producer_threads_never_fake_a_gap() -> None:
    """The GPIO driver's thread and ADC readers (pad crossings) feed one core at once."""
    from station.timing import FLAG_GAP_BEFORE, EventCore

    clock = MonotonicClock()
    core = EventCore(clock, capacity=1_000_000)  # room for everything: no real drops here
    names = [f"ch{i}" for i in range(4)]
    for name in names:
        core.add_channel(name, 0, 0, t_ns=0)
    events = []
    core.subscribe(events.append)
    core.start(poll_s=0.001)
    n_per_thread = 20_000

    def produce(name: str) -> None:
        cb = core.ingress(name)
        for k in range(n_per_thread):
            cb((k + 1) * MS, (k + 1) & 1)

    threads = [threading.Thread(target=produce, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = clock.now_ns() + int(DEADLINE_S * 1e9)
    while len(events) < 4 * n_per_thread and clock.now_ns() < deadline:
        threading.Event().wait(0.01)
    core.stop()
    assert core.lost == 0
    assert len(events) == 4 * n_per_thread
    assert not any(e.flags & FLAG_GAP_BEFORE for e in events)
