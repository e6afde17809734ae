"""Crash-test writer: records trials into a store in a loop until it is killed.

Run as ``python crash_writer.py DATA_DIR RUN_SEED [MAX_SECONDS [HOLD_AT]]`` (the repository
on ``PYTHONPATH``). It opens the store (taking the writer lock and recovering what a previous run
left), starts a session and then, trial after trial, commits ``start_trial``, builds a trial of
realistic size (a few hundred events, four pads at 860 samples/s for 2-15 s, cues, metrics) and
stores it with ``finish_trial``. It prints nothing, except with ``HOLD_AT`` = N: once the
start of its N-th trial (counting from 0) is committed it prints ``holding TRIAL_ID`` and waits
for a line on stdin before going on, so that a test can kill it inside a trial for certain.

Every trial is determined by the ``seed`` in its parameters, so a test can rebuild what a
complete trial must hold with :func:`make_trial_data` and :func:`make_metrics`; the counts are
in the parameters too.

It stops by itself after ``MAX_SECONDS`` (default 60) so that an orphan cannot fill the disk.

The builders are also used by ``test_store_bench.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from station.records import CueRecord, EventRecord, Metric, PadSamples, TrialData
from station.store import Store

PADS = ("index", "middle", "ring", "little")
RATE_SPS = 860
CHANNELS = ("hole1", "hole2", "hole3", "button1", "button2", "pad_home")
PARTICIPANT = "CRASH01"
PROTOCOL = "crash_test"
VERSION = "1"
NS_PER_S = 1_000_000_000


def trial_params(seed: int, duration_s: float | None = None) -> dict[str, Any]:
    """The parameters of a trial: its seed and how much data it holds."""
    rng = np.random.default_rng(seed)
    if duration_s is None:
        duration_s = float(rng.uniform(2.0, 15.0))
    return {
        "seed": seed,
        "duration_s": duration_s,
        "n_events": int(rng.integers(100, 400)),
        "n_samples": int(duration_s * RATE_SPS),
        "n_pads": len(PADS),
        "n_cues": int(rng.integers(1, 12)),
        "n_metrics": int(rng.integers(3, 12)),
    }


def make_trial_data(
    params: dict[str, Any], *, hand: str = "right", practice: bool = False
) -> TrialData:
    """The trial that ``params`` describes, rebuilt exactly from its seed."""
    rng = np.random.default_rng([params["seed"], 1])
    start_t_ns = NS_PER_S * (1000 + params["seed"] % 100_000)
    duration_ns = int(params["duration_s"] * NS_PER_S)
    event_t = np.sort(rng.integers(start_t_ns, start_t_ns + duration_ns, params["n_events"]))
    events = [
        EventRecord(int(t), CHANNELS[int(c)], i % 2, int(f), i + 1)
        for i, (t, c, f) in enumerate(
            zip(
                event_t,
                rng.integers(0, len(CHANNELS), len(event_t)),
                rng.integers(0, 4, len(event_t)),
                strict=True,
            )
        )
    ]
    period_ns = NS_PER_S // RATE_SPS
    samples = {}
    for k, pad in enumerate(PADS):
        n = params["n_samples"]
        jitter_ns = rng.integers(-20_000, 20_000, n)
        t_ns = start_t_ns + k * 1000 + np.arange(n, dtype=np.int64) * period_ns + jitter_ns
        code = rng.integers(-200, 26_000, n).astype(np.int16)
        gaps = (
            [{"reason": "late", "count": 1, "t_first_ns": int(t_ns[0]), "t_last_ns": int(t_ns[0])}]
            if k == 1
            else []
        )
        samples[pad] = PadSamples(
            pad,
            t_ns.astype(np.int64),
            code,
            1,
            3.3,
            10_000.0,
            25_000.0 + k,
            -0.01 * k,
            k % 2 == 0,
            gaps,
        )
    cues = []
    for i in range(params["n_cues"]):
        on = start_t_ns + int(rng.integers(0, duration_ns))
        cues.append(
            CueRecord(
                f"led{i % 5}",
                "led",
                on,
                on + 200_000_000,
                on + 150_000,
                on + 200_150_000,
                None if i % 3 else on + 400_000,
            )
        )
    return TrialData(
        protocol=PROTOCOL,
        version=VERSION,
        params=params,
        hand=hand,
        practice=practice,
        start_t_ns=start_t_ns,
        end_t_ns=start_t_ns + duration_ns,
        go_t_ns=start_t_ns + 1_000_000,
        events=events,
        samples=samples,
        cues=cues,
        roles={ch: ("pad:home" if ch == "pad_home" else "hole") for ch in CHANNELS},
        status="complete",
        notes=f"trial {params['seed']}",
    )


def make_metrics(params: dict[str, Any]) -> list[Metric]:
    rng = np.random.default_rng([params["seed"], 2])
    return [
        Metric(f"metric_{i}", float(rng.normal(10.0, 2.0)), "s") for i in range(params["n_metrics"])
    ]


def assert_same_trial(got: TrialData, want: TrialData) -> None:
    """Every field equal, arrays equal with integer dtypes."""
    for name in ("protocol", "version", "params", "hand", "practice", "start_t_ns", "end_t_ns"):
        assert getattr(got, name) == getattr(want, name), name
    for name in ("go_t_ns", "events", "cues", "roles", "status", "notes"):
        assert getattr(got, name) == getattr(want, name), name
    assert list(got.samples) == list(want.samples)
    for key, pad in want.samples.items():
        mine = got.samples[key]
        assert mine.t_ns.dtype == np.int64 and mine.code.dtype == np.int16
        assert np.array_equal(mine.t_ns, pad.t_ns), key
        assert np.array_equal(mine.code, pad.code), key
        for name in (
            "pad",
            "gain",
            "supply_v",
            "divider_ohm",
            "slope_n_per_s",
            "offset_n",
            "calibrated",
            "gaps",
        ):
            assert getattr(mine, name) == getattr(pad, name), (key, name)


def main(argv: list[str]) -> int:
    data_dir, run_seed = Path(argv[1]), int(argv[2])
    max_seconds = float(argv[3]) if len(argv) > 3 else 60.0
    hold_at = int(argv[4]) if len(argv) > 4 else -1
    deadline = time.monotonic() + max_seconds
    store = Store.open(data_dir)
    if store.get_participant(PARTICIPANT) is None:
        store.add_participant(PARTICIPANT, 1970, "other", "right", "none")
    session_id = store.start_session(
        PARTICIPANT,
        "crash",
        "sha256:crash",
        "crash-station",
        {"run_seed": run_seed},
        0,
        0,
        "test",
        "sim",
        "virtual",
    )
    seq = 0
    while time.monotonic() < deadline:
        params = trial_params(run_seed * 100_000 + seq)
        data = make_trial_data(params)
        trial_id = store.start_trial(
            session_id,
            seq,
            PROTOCOL,
            VERSION,
            "sha256:crash",
            "right",
            False,
            seq,
            params,
            data.roles,
            data.start_t_ns,
        )
        if seq == hold_at:
            print(f"holding {trial_id}", flush=True)
            sys.stdin.readline()
        data = make_trial_data(params)  # the "recording" happens here
        store.finish_trial(trial_id, data, make_metrics(params), {"run_seed": run_seed}, [], [])
        seq += 1
    store.end_session(session_id, "complete")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
