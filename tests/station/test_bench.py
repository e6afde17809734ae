"""`station bench timing` runs and reports every figure; values are recorded, not asserted as speeds."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from station.bench import N_CHANNELS, bench_gil, bench_latency
from station.cli import main


def test_bench_timing_json_has_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "timing", "--quick", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in (
        "events_per_s",
        "lost",
        "latency_p50_ms",
        "latency_p99_ms",
        "adc_cpu_fraction_of_core",
    ):
        assert key in figures
    assert figures["events_per_s"] > 0
    assert figures["latency_p50_ms"] <= figures["latency_p99_ms"]
    assert figures["adc_samples"] > 0


def test_driver_timestamps_survive_gil_contention() -> None:
    """Our recorded times equal the driver ticks exactly, whatever the busy thread does."""
    figures = bench_gil(duration_s=0.2, interval_ms=10.0)
    assert figures["gil_presses"] >= 5
    assert figures["gil_ours_exact"] is True
    assert figures["gil_ours_max_abs_error_ns"] == 0
    assert figures["gil_usual_error_p50_ms"] >= 0  # the usual pattern reads the clock late


# The latency run. ``wait_until`` a no-op: the producer never waits for an edge's due time and
# sends all of them in one burst, as a stalled thread catching up does (the run takes no time).
# Each channel's edges are due 8 ms apart (1,000 edges/s over 8 channels), the debounce is 1 ms.
RATE = 1000
SPACING_NS = N_CHANNELS * 1_000_000_000 // RATE


def burst(_due_ns: int) -> None:
    pass


Callback = Callable[[int, int], None]


def test_latency_run_loses_nothing_when_the_sender_bursts() -> None:
    """Edges handed over microseconds apart keep the stamps they were due at: none is taken for
    bounce, and each event carries its edge's stamp exactly."""
    figures = bench_latency(duration_s=0.2, rate_per_s=RATE, wait_until=burst)
    assert figures["latency_edges"] == 200
    assert figures["latency_events"] == 200
    assert figures["latency_lost"] == 0 and figures["latency_overflow"] == 0
    assert figures["latency_timestamp_error_max_ns"] == 0


def test_latency_run_counts_edges_a_driver_missed() -> None:
    """A driver that misses a press (both edges of it on channel 0): exactly those two are lost."""

    def missing(i: int, t_ns: int, level: int, callback: Callback) -> None:
        if i not in (2 * N_CHANNELS, 3 * N_CHANNELS):
            callback(t_ns, level)

    figures = bench_latency(duration_s=0.2, rate_per_s=RATE, wait_until=burst, driver=missing)
    assert figures["latency_lost"] == 2
    assert figures["latency_events"] == 198 and figures["latency_overflow"] == 0
    assert figures["latency_timestamp_error_max_ns"] == 0


def test_latency_run_counts_edges_the_full_queue_dropped() -> None:
    figures = bench_latency(duration_s=0.2, rate_per_s=RATE, wait_until=burst, capacity=0)
    assert figures["latency_lost"] == figures["latency_overflow"] == 200
    assert figures["latency_events"] == 0
    assert figures["latency_p99_ms"] is None and figures["latency_timestamp_error_max_ns"] is None


def test_latency_run_reports_a_wrong_stamp_as_a_timestamp_error() -> None:
    """A driver that stamps one edge 7.5 ms early (0.5 ms after the channel's previous edge, so
    within the debounce): the core reports it late, as a short transition, still with its own
    stamp; it is matched to its edge (not lost) and its stamp is 7.5 ms from the one it was due."""
    early = 2 * N_CHANNELS

    def wrong(i: int, t_ns: int, level: int, callback: Callback) -> None:
        callback(t_ns - SPACING_NS + 500_000 if i == early else t_ns, level)

    figures = bench_latency(duration_s=0.2, rate_per_s=RATE, wait_until=burst, driver=wrong)
    assert figures["latency_lost"] == 0 and figures["latency_events"] == 200
    assert figures["latency_timestamp_error_max_ns"] == SPACING_NS - 500_000
