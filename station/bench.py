"""``station bench timing``: throughput, latency and cost of the timing path, measured here.

Figures (all on the machine it runs on; record them in docs/benchmarks.md):

``events_per_s`` / ``lost``
    The highest offered edge rate (paced, from a producer thread standing in for the GPIO
    driver's callback thread) that the timing core sustained with zero lost edges and its backlog
    drained, with the standard 65,536-edge queue; ``lost`` is the loss at that rate.
``latency_p50_ms`` / ``latency_p99_ms``
    From the driver callback handing an edge to the core, to a subscriber on the consumer thread
    receiving the debounced event (1,000 edges/s). Edges are stamped with the time they were due
    (as a driver stamps the physical edge), and every edge is matched to its event:
    ``latency_lost`` and ``latency_timestamp_error_max_ns`` stay 0.
``adc_cpu_fraction_of_core``
    CPU time per force sample through the unmodified adafruit driver on the simulated bus (register
    model included, so an upper bound), times four ADS1115 at 860 samples/s.
``gil_*``
    While a busy thread holds the GIL (standing in for UI rendering), edges at known true times:
    our recorded timestamps against the usual ``Button.when_pressed`` + ``time.monotonic()``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S, MonotonicClock, VirtualClock, ns_to_ticks
from station.timing import FLAG_SHORT, EventCore

N_CHANNELS = 8
#: Synthetic spacing of edges on one channel in the throughput run: well above the debounce time,
#: so every edge is a real transition and must come out as an event.
SYNTH_EDGE_SPACING_NS = 10_000_000


def _throughput_run(rate_per_s: int, duration_s: float, capacity: int = 65_536) -> dict[str, Any]:
    clock = MonotonicClock()
    core = EventCore(clock, capacity=capacity, chatter_edges_per_s=1e12)
    callbacks = []
    for i in range(N_CHANNELS):
        core.add_channel(f"ch{i}", 5_000_000, 5_000_000, t_ns=0)
        callbacks.append(core.ingress(f"ch{i}"))
    delivered = [0]

    def count(_ev: object) -> None:
        delivered[0] += 1

    core.subscribe(count)
    core.start(poll_s=0.001)
    n_total = int(rate_per_s * duration_s)
    burst = max(1, rate_per_s // 1000)  # one burst per millisecond
    t_start = time.monotonic_ns()
    sent = 0
    while sent < n_total:
        due = t_start + (sent * NS_PER_S) // rate_per_s
        while time.monotonic_ns() < due:
            pass
        for _ in range(min(burst, n_total - sent)):
            ch = sent % N_CHANNELS
            k = sent // N_CHANNELS
            callbacks[ch]((k + 1) * SYNTH_EDGE_SPACING_NS, (k + 1) & 1)
            sent += 1
    t_sent = time.monotonic_ns()
    # Wait for the consumer to drain the queue (every edge either became an event or was lost;
    # after a loss, levels can repeat and produce no event, so count the queue, not events).
    while (
        core.pending_edges() or delivered[0] + core.lost < n_total
    ) and time.monotonic_ns() - t_sent < 10 * NS_PER_S:
        if core.pending_edges() == 0 and core.lost:
            break
        time.sleep(0.0005)
    t_done = time.monotonic_ns()
    core.stop()
    return {
        "offered_per_s": rate_per_s,
        "edges": n_total,
        "delivered": delivered[0],
        "lost": core.lost,
        "achieved_per_s": round(delivered[0] * NS_PER_S / max(1, t_done - t_start)),
        "drain_ms": round((t_done - t_sent) / 1e6, 2),
    }


def bench_throughput(
    duration_s: float = 1.0, rates: tuple[int, ...] = (100_000, 150_000, 200_000, 300_000, 400_000)
) -> dict[str, Any]:
    runs = []
    best: dict[str, Any] | None = None
    for rate in rates:
        run = _throughput_run(rate, duration_s)
        runs.append(run)
        ok = run["lost"] == 0 and run["delivered"] == run["edges"] and run["drain_ms"] < 50
        if ok:
            best = run
        else:
            break
    return {
        "events_per_s": best["achieved_per_s"] if best else runs[0]["achieved_per_s"],
        "sustained_offered_per_s": best["offered_per_s"] if best else 0,
        "lost": best["lost"] if best else runs[0]["lost"],
        "runs": runs,
    }


Driver = Callable[[int, int, int, Callable[[int, int], None]], None]
"""``driver(i, t_ns, level, callback)``: hands synthetic edge ``i`` to the core's callback."""


def _poll_until(due_ns: int) -> None:
    """The latency run's pacing: return once CLOCK_MONOTONIC reaches ``due_ns``."""
    while time.monotonic_ns() < due_ns:
        time.sleep(0.0001)


def _driver(_i: int, t_ns: int, level: int, callback: Callable[[int, int], None]) -> None:
    callback(t_ns, level)


def bench_latency(
    duration_s: float = 2.0,
    rate_per_s: int = 1000,
    *,
    capacity: int = 65_536,
    wait_until: Callable[[int], None] = _poll_until,
    driver: Driver = _driver,
) -> dict[str, Any]:
    """Edges at a steady rate over ``N_CHANNELS`` channels, from one producer thread.

    Edge ``i`` is due at ``t0 + i / rate_per_s``; the producer waits for that time with
    ``wait_until`` and hands the edge to the core stamped with its *due* time, as a real driver
    stamps the physical edge time whatever its thread was doing. So the stamps on a channel stay
    ``N_CHANNELS / rate_per_s`` apart (8 ms at 1,000/s, against a 1 ms debounce) even when the
    producer stalls and catches up in a burst.

    ``latency_*``: when a subscriber on the consumer thread got the event, minus when the
    producer handed its edge to the core's callback: the core's own delay (queue, consumer,
    debounce), not the producer's lag behind its schedule (that is
    ``latency_sender_lag_max_ms``). ``None`` when no event came.
    ``latency_edges``: edges sent. ``latency_events``: events delivered.
    ``latency_lost``: edges sent that no event reports, queue overflows included
    (``latency_overflow``, the core's ``lost``). Each event is matched to its edge by identity
    (the core's raw edge number; a transition reported later, ``FLAG_SHORT``, is the channel's
    edge before it; one a flush reported, the channel's edge handed over with its stamp), never
    by counting.
    ``latency_timestamp_error_max_ns``: the largest difference between an event's stamp and the
    stamp its edge was sent with (0: exact; ``None`` when no event came).
    ``latency_sender_lag_max_ms``: how late the producer handed an edge over, at most (the part
    of the latency that is the producer's, not the core's).

    ``capacity``, ``wait_until`` and ``driver`` are test seams: the core's queue size; how the
    producer waits for a due time (a no-op sends every edge at once, in one burst);
    ``driver(i, t_ns, level, callback)`` hands edge ``i`` over (one that drops or re-stamps
    edges stands in for a faulty driver).
    """
    clock = MonotonicClock()
    core = EventCore(clock, capacity=capacity)
    callbacks = []
    for i in range(N_CHANNELS):
        core.add_channel(f"ch{i}", 1_000_000, 1_000_000)
        callbacks.append(core.ingress(f"ch{i}"))
    # Consumer thread: (delivered at, stamp, channel index, raw edge number, flags) per event.
    received: list[tuple[int, int, int, int, int]] = []
    core.subscribe(
        lambda ev: received.append(
            (time.monotonic_ns(), ev.t_ns, int(ev.channel[2:]), ev.raw_seq, ev.flags)
        )
    )
    n = int(rate_per_s * duration_s)
    due_ns: list[int] = []
    # The core numbers raw edges in the order its callbacks are called (one producer here):
    # edge_of_raw[k] is the edge that the core numbered k, stamp_of_raw[k] the stamp it was given.
    edge_of_raw: list[int] = []
    stamp_of_raw: list[int] = []

    handed_ns = [0] * n  # when the producer handed each edge over (for its lag)

    def handed(i: int, ch: int) -> Callable[[int, int], None]:
        def callback(t_ns: int, level: int) -> None:
            handed_ns[i] = time.monotonic_ns()
            edge_of_raw.append(i)
            stamp_of_raw.append(t_ns)
            callbacks[ch](t_ns, level)

        return callback

    core.start(poll_s=0.01)
    t0 = time.monotonic_ns()
    for i in range(n):
        due = t0 + i * NS_PER_S // rate_per_s
        due_ns.append(due)
        wait_until(due)
        ch = i % N_CHANNELS
        driver(i, due, ((i // N_CHANNELS) + 1) & 1, handed(i, ch))
    time.sleep(0.02)
    core.stop()
    # Raw edge numbers per channel, in order, for events reported after their edge.
    raw_of_channel: list[list[int]] = [[] for _ in range(N_CHANNELS)]
    for k, i in enumerate(edge_of_raw):
        raw_of_channel[i % N_CHANNELS].append(k)
    delivered: set[int] = set()
    latencies: list[int] = []
    errors: list[int] = []
    for t_got, t_ns, ch, raw, flags in received:
        i = _edge_of_event(t_ns, raw, flags, edge_of_raw, stamp_of_raw, raw_of_channel[ch])
        delivered.add(i)
        latencies.append(t_got - handed_ns[i])
        errors.append(abs(t_ns - due_ns[i]))
    arr = np.array(latencies, dtype=np.float64) / 1e6
    lag = max((handed_ns[i] - due_ns[i] for i in edge_of_raw), default=None)
    return {
        "latency_p50_ms": round(float(np.percentile(arr, 50)), 4) if len(arr) else None,
        "latency_p99_ms": round(float(np.percentile(arr, 99)), 4) if len(arr) else None,
        "latency_max_ms": round(float(arr.max()), 4) if len(arr) else None,
        "latency_events": len(received),
        "latency_edges": n,
        "latency_lost": n - len(delivered),
        "latency_overflow": core.lost,
        "latency_timestamp_error_max_ns": max(errors) if errors else None,
        "latency_sender_lag_max_ms": None if lag is None else round(lag / 1e6, 4),
    }


def _edge_of_event(
    t_ns: int,
    raw: int,
    flags: int,
    edge_of_raw: list[int],
    stamp_of_raw: list[int],
    channel_raws: list[int],
) -> int:
    """The synthetic edge an event of the latency run reports (see :func:`bench_latency`)."""
    if raw >= 0 and not flags & FLAG_SHORT:
        return edge_of_raw[raw]  # the edge whose arrival produced it
    if raw >= 0:
        # Reported when the channel's next edge (number ``raw``) came: the edge before that one.
        return edge_of_raw[channel_raws[bisect.bisect_left(channel_raws, raw) - 1]]
    # A flush carries no edge number, only the stamp of the channel's last edge: the channel's
    # latest edge handed over with that stamp (nearest, should the core have changed it).
    k = min(reversed(channel_raws), key=lambda k: abs(stamp_of_raw[k] - t_ns))
    return edge_of_raw[k]


class _TimedPump:
    """Wraps a pump and adds up the CPU time its thread spends in it."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.cpu_ns = 0

    def pump(self, now_ns: int | None = None) -> None:
        t = time.thread_time_ns()
        self.inner.pump(now_ns)
        self.cpu_ns += time.thread_time_ns() - t

    def next_due_ns(self) -> int | None:
        return self.inner.next_due_ns()


def bench_adc_cost(
    duration_s: float = 2.0, chips: int = 4, rate_sps: int = 860
) -> dict[str, float]:
    from hardware.adc import AdsReader
    from hardware.gpio import TimedMockFactory
    from hardware.sim.ads1x15 import Ads1x15Model
    from hardware.sim.i2c import FakeI2C
    from hardware.sim.world import SimWorld
    from station.calibration import PadCalibration
    from station.config import PadSpec
    from station.force import PadStream

    clock = VirtualClock()
    factory = TimedMockFactory(clock)
    bus = FakeI2C(clock, advance_clock=True)
    world = SimWorld(clock, factory, bus)
    bus.on_unlock = None  # every chip is on its RDY path: no blocking scans to interleave with
    pumps = []
    streams = []
    for i in range(chips):
        address = 0x48 + i
        model = Ads1x15Model(
            clock, chip="ADS1115", inputs=lambda ch, t: 1.0 + 0.5 * np.sin(t / 1e8)
        )
        world.add_adc(address, model, 8 + i)
        spec = PadSpec(
            f"p{i}", "finger", f"a{i}", 0, "index", 3.3, 10_000.0, 0.5, 0.3, 20_000_000, 40_000_000
        )
        stream = PadStream(spec, 1, PadCalibration(), lambda t, lvl: None)
        streams.append(stream)
        reader = AdsReader(
            name=f"a{i}",
            i2c=bus,
            chip="ADS1115",
            address=address,
            gain=1,
            data_rate_sps=rate_sps,
            channels=[0],
            clock=clock,
            on_sample=lambda t, ch, code, s=stream: s.add(t, code),
            on_fault=lambda m: None,
            on_gap=lambda *a: None,
            rdy=(factory, 8 + i),
        )
        reader.open()
        timed = _TimedPump(reader)
        world.add_pump(timed)
        pumps.append(timed)
    world.run_for(duration_s)
    samples = sum(s.n_samples for s in streams)
    cpu_ns = sum(p.cpu_ns for p in pumps)
    # The RDY edge's own cost on our side: the input line's callback enqueueing the stamp.
    handler = factory.mock_pin(8).when_changed  # what the driver thread calls for each RDY edge
    n_cb = 20_000
    t = time.thread_time_ns()
    for i in range(n_cb):
        handler(ns_to_ticks(i), i & 1)
    callback_ns = (time.thread_time_ns() - t) / n_cb
    per_sample_us = (cpu_ns / max(1, samples) + callback_ns) / 1000
    return {
        "adc_samples": samples,
        "adc_rdy_callback_us": round(callback_ns / 1000, 2),
        "adc_cpu_us_per_sample": round(per_sample_us, 2),
        "adc_cpu_fraction_of_core": round(per_sample_us * 1e-6 * chips * rate_sps, 4),
        "adc_achieved_sps_per_chip": round(float(np.mean([s.achieved_sps() for s in streams])), 1),
    }


def bench_gil(duration_s: float = 1.0, interval_ms: float = 10.0) -> dict[str, Any]:
    """Edges at known true times while a busy thread holds the GIL: our stamps vs the usual pattern."""
    from gpiozero import Button

    from hardware.gpio import InputLine, TimedMockFactory

    clock = MonotonicClock()
    factory = TimedMockFactory(clock)
    core = EventCore(clock)
    core.add_channel("ours", 1_000_000, 1_000_000)
    line = InputLine(factory, 5, pull="up", active_low=True, on_edge=core.ingress("ours"))
    recorded: list[int] = []
    core.subscribe(lambda ev: recorded.append(ev.t_ns) if ev.level == 1 else None)
    usual: list[int] = []
    button = Button(6, pull_up=True, bounce_time=None, pin_factory=factory)
    button.when_pressed = lambda: usual.append(round(time.monotonic() * NS_PER_S))
    pin_ours = factory.mock_pin(5)
    pin_usual = factory.mock_pin(6)
    stop = threading.Event()

    def busy() -> None:  # pure-Python work: holds the GIL for whole switch intervals
        x = 0
        while not stop.is_set():
            for i in range(10_000):
                x += i * i

    true_ns: list[int] = []

    def driver() -> None:
        n = int(duration_s * 1000 / interval_ms)
        t0 = time.monotonic_ns() + 20_000_000
        for i in range(n):
            t_true = t0 + round(i * interval_ms * 1e6)
            while time.monotonic_ns() < t_true:
                time.sleep(0.0002)
            # The kernel would stamp the edge at t_true whatever Python is doing; this thread only
            # gets to deliver it once it holds the GIL, like lgpio's callback thread.
            level = i % 2 != 0
            if i % 2 == 0:
                true_ns.append(t_true)
            pin_ours.drive_at(level, t_true)
            pin_usual.drive_at(level, t_true)

    core.start()
    workers = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
    for w in workers:
        w.start()
    drv = threading.Thread(target=driver)
    drv.start()
    drv.join()
    stop.set()
    for w in workers:
        w.join()
    time.sleep(0.02)
    core.stop()
    line.close()
    button.close()
    n = min(len(true_ns), len(recorded), len(usual))
    ours_err = np.array(recorded[:n], dtype=np.int64) - np.array(true_ns[:n], dtype=np.int64)
    usual_err = (np.array(usual[:n], dtype=np.int64) - np.array(true_ns[:n], dtype=np.int64)) / 1e6
    return {
        "gil_presses": n,
        "gil_ours_exact": bool(n > 0 and np.all(ours_err == 0)),
        "gil_ours_max_abs_error_ns": int(np.max(np.abs(ours_err))) if n else None,
        "gil_usual_error_p50_ms": round(float(np.percentile(usual_err, 50)), 3) if n else None,
        "gil_usual_error_p99_ms": round(float(np.percentile(usual_err, 99)), 3) if n else None,
        "gil_usual_error_max_ms": round(float(usual_err.max()), 3) if n else None,
    }


def run_timing_bench(quick: bool = False) -> dict[str, Any]:
    scale = 0.2 if quick else 1.0
    through = bench_throughput(
        duration_s=1.0 * scale,
        rates=(100_000, 150_000) if quick else (100_000, 150_000, 200_000, 300_000, 400_000),
    )
    figures: dict[str, Any] = {
        "events_per_s": through["events_per_s"],
        "lost": through["lost"],
        "sustained_offered_per_s": through["sustained_offered_per_s"],
    }
    figures.update(bench_latency(duration_s=2.0 * scale))
    figures.update(bench_adc_cost(duration_s=2.0 * scale))
    figures.update(bench_gil(duration_s=1.0 * scale))
    figures["throughput_runs"] = through["runs"]
    figures["machine"] = _machine()
    return figures


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def format_timing(f: dict[str, Any]) -> str:
    through = f"{f['events_per_s']:,} edges/s (offered {f['sustained_offered_per_s']:,}/s, lost {f['lost']})"
    latency = (
        f"p50 {f['latency_p50_ms']} ms, p99 {f['latency_p99_ms']} ms, max {f['latency_max_ms']} ms"
    )
    adc = f"{f['adc_cpu_us_per_sample']} us CPU per sample; 4 x ADS1115 at 860/s = {f['adc_cpu_fraction_of_core']:.1%}"
    ours = f"ours exact = {f['gil_ours_exact']} (max error {f['gil_ours_max_abs_error_ns']} ns)"
    usual = (
        f"p50 {f['gil_usual_error_p50_ms']} ms, p99 {f['gil_usual_error_p99_ms']} ms, "
        f"max {f['gil_usual_error_max_ms']} ms"
    )
    return "\n".join(
        [
            f"timing core throughput, zero loss: {through}",
            f"callback -> consumer latency: {latency}",
            f"ADC: {adc} of one core",
            f"under GIL load ({f['gil_presses']} presses): {ours}; Button.when_pressed + time.monotonic(): {usual}",
        ]
    )


def bench_scoring(store: Any, session_id: int | None = None, repeats: int = 20) -> dict[str, Any]:
    """Time scoring every trial of a stored session (and its summaries) from raw data.

    Default: the most recent complete session in the store. The raw data are loaded once; the
    figure is the pure scoring time, median of ``repeats``.
    """
    from collections import defaultdict

    from station.rescore import protocol_for

    if session_id is None:
        latest = (
            store.latest_session_id(status="complete")
            if hasattr(store, "latest_session_id")
            else None
        )
        if latest is None:
            ids = [info.session_id for info in store.iter_trials()]
            latest = ids[-1] if ids else None
        session_id = latest
    if session_id is None:
        raise ValueError("the store has no sessions to score: run `station assess` first")
    infos = list(store.iter_trials(session_id=session_id, with_data=True))
    prepared = [(protocol_for(i.data), i.data) for i in infos]
    times: list[int] = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for protocol, data in prepared:
            groups[(data.protocol, data.hand)].append((data, protocol.score(data)))
        for (name, _hand), trials in groups.items():
            next(p for p, d in prepared if d.protocol == name).summarize(trials)
        times.append(time.perf_counter_ns() - t0)
    samples = sum(sum(len(s.t_ns) for s in d.samples.values()) for _, d in prepared)
    return {
        "session_id": session_id,
        "trials": len(prepared),
        "protocols": sorted({d.protocol for _, d in prepared}),
        "force_samples": samples,
        "scoring_ms_median": round(float(np.median(times)) / 1e6, 2),
        "scoring_ms_max": round(max(times) / 1e6, 2),
    }
