"""A small store for the reports: one participant with two sessions written through
:class:`station.store.Store` with the real protocols' metric names (no simulator, so it is
fast), holding what the reports must handle: practice, invalid and interrupted trials, a missing
value, force samples, the simulated and the real backend, a reliable change, and what
self-guided mode records (pain and fatigue ratings, notes added after a session)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from station.records import EventRecord, Metric, PadSamples, TrialData
from station.store import Store

#: The session clock anchor: monotonic 5 s is 2025-03-04T10:00:00Z (session A's start).
ANCHOR_MONO_NS = 5_000_000_000
SESSION_A_START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
SESSION_B_START = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
INVALID_REASON = "dropped peg <3> & lost"
#: Session B's ratings: (scale, timing, value 0-10, minutes after the session's start).
RATINGS_B = (
    ("pain", "before", 3, -2),
    ("fatigue", "before", 2, -1),
    ("pain", "after", 4, 30),
    ("fatigue", "after", 6, 31),
)
#: A self-guided visit stopped by a pain rating of 8 (no session ran).
STOPPED_AT = datetime(2025, 4, 8, 9, 0, tzinfo=UTC)
SESSION_NOTE = "tired <after> work & travel"
TRIAL_NOTE = "peg dropped once, picked up"


@dataclass
class Filled:
    data_dir: Path
    sessions: dict[str, int] = field(default_factory=dict)
    #: trial ids by label: "A:9hpt:right:practice", "A:9hpt:left:2" (invalid), ...
    trials: dict[str, int] = field(default_factory=dict)
    #: rating ids by label: "B:pain:before", ..., "stopped:pain:before" (no session)
    ratings: dict[str, int] = field(default_factory=dict)


def _wall_ns(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


def force_pad(name: str, peak_n_code: int = 12_000) -> PadSamples:
    """A press: 2 s at 860 Hz rising to a plateau and back (codes, converted by the pad)."""
    n = 1720
    t_ns = 6_000_000_000 + np.arange(n, dtype=np.int64) * 1_162_790
    shape = np.clip(np.minimum(np.arange(n), n - np.arange(n)) / 300.0, 0.0, 1.0)
    code = (shape * peak_n_code).astype(np.int16)
    return PadSamples(name, t_ns, code, 1.0, 3.3, 10_000.0, 25_000.0, -0.05, True, [])


def trial(
    protocol: str,
    hand: str,
    *,
    practice: bool = False,
    status: str = "complete",
    start_s: float = 6.0,
    samples: dict[str, PadSamples] | None = None,
    roles: dict[str, str] | None = None,
) -> TrialData:
    start = ANCHOR_MONO_NS + round((start_s - 5.0) * 1e9)
    return TrialData(
        protocol=protocol,
        version="1.0",
        params={},
        hand=hand,
        practice=practice,
        start_t_ns=start,
        end_t_ns=start + 20_000_000_000,
        go_t_ns=start + 1_000_000,
        events=[EventRecord(start + 2_000_000, "hole1", 1, 0, 0)],
        samples=samples or {},
        cues=[],
        roles=roles or {"hole1": "hole"},
        status=status,
    )


def nine_hole(total_s: float) -> list[Metric]:
    return [
        Metric("total_time_s", total_s, "s"),
        Metric("placement_time_s", total_s / 2, "s"),
        Metric("removal_time_s", total_s / 2, "s"),
        Metric("reaction_time_s", 0.25, "s"),
        Metric("pegs_per_s", 9 / total_s, "/s"),
        Metric("insert_interval_cv", None, "1", "fewer than 3 intervals"),
    ]


class _Writer:
    def __init__(self, store: Store, filled: Filled, sid: int, label: str) -> None:
        self.store, self.filled, self.sid, self.label = store, filled, sid, label
        self.seq = 0

    def add(
        self,
        key: str,
        data: TrialData,
        metrics: list[Metric],
        index: int,
        invalid_reason: str | None = None,
    ) -> int:
        tid = self.store.start_trial(
            self.sid, self.seq, data.protocol, data.version, "sha256:p", data.hand,
            data.practice, index, data.params, data.roles, data.start_t_ns,
        )  # fmt: skip
        self.seq += 1
        if data.status == "running":
            self.filled.trials[f"{self.label}:{key}"] = tid
            return tid
        self.store.finish_trial(tid, data, metrics, {}, [], [], invalid_reason=invalid_reason)
        self.filled.trials[f"{self.label}:{key}"] = tid
        return tid


def fill(data_dir: Path) -> Filled:
    filled = Filled(data_dir)
    with Store.open(data_dir) as store:
        store.add_participant("P001", 1960, "female", "right", "left", "stroke, left side")
        store.add_participant("P002")  # no sessions

        # session A: simulated backend
        sid = store.start_session(
            "P001", "standard", "sha256:b", "station-7", {}, ANCHOR_MONO_NS,
            _wall_ns(SESSION_A_START), "0.1.0", "sim", "gpio-driver", started_utc=SESSION_A_START,
        )  # fmt: skip
        filled.sessions["A"] = sid
        w = _Writer(store, filled, sid, "A")
        w.add(
            "9hpt:right:practice",
            trial("nine_hole_peg", "right", practice=True),
            nine_hole(25.0),
            1,
        )
        w.add("9hpt:right:1", trial("nine_hole_peg", "right", start_s=60.0), nine_hole(18.0), 1)
        w.add("9hpt:right:2", trial("nine_hole_peg", "right"), nine_hole(17.0), 2)
        w.add("9hpt:left:1", trial("nine_hole_peg", "left"), nine_hole(20.0), 1)
        w.add(
            "9hpt:left:2",
            trial("nine_hole_peg", "left", status="invalid"),
            nine_hole(30.0),
            2,
            invalid_reason=INVALID_REASON,
        )
        pads = {"pad_index": force_pad("pad_index"), "pad_home": force_pad("pad_home", 30_000)}
        roles = {"pad_index": "pad:index", "pad_home": "pad:home"}
        w.add(
            "force:right:1",
            trial("max_force", "right", samples=pads, roles=roles),
            [
                Metric("max_force_n", 30.5, "N"),
                Metric("best_effort", 2.0, "1"),
                Metric("efforts", 3.0, "1"),
            ],
            1,
        )
        w.add("force:left:1", trial("max_force", "left", status="incomplete"), [], 1)
        store.add_session_metrics(
            sid,
            [
                ("nine_hole_peg", "right", Metric("mean_total_time_s", 17.5, "s", "mean of 2 trials")),
                ("nine_hole_peg", "right", Metric("mean_placement_time_s", 8.75, "s")),
                ("nine_hole_peg", "right", Metric("mean_pegs_per_s", 0.5147, "/s")),
                ("nine_hole_peg", "left", Metric("mean_total_time_s", 20.0, "s", "mean of 1 trials")),
                ("nine_hole_peg", "left", Metric("mean_placement_time_s", None, "s", "no value")),
                ("max_force", "right", Metric("best_max_force_n", 30.5, "N", "best of 1 trials")),
            ],
        )  # fmt: skip
        store.end_session(sid, "complete")

        # session B: real backend, faster (a reliable change against session A)
        sid = store.start_session(
            "P001", "nine_hole_peg", "sha256:c", "station-7", {}, ANCHOR_MONO_NS,
            _wall_ns(SESSION_B_START), "0.1.0", "pi", "gpio-driver", started_utc=SESSION_B_START,
        )  # fmt: skip
        filled.sessions["B"] = sid
        w = _Writer(store, filled, sid, "B")
        for hand, times in (("right", (14.0, 13.0)), ("left", (16.0, 15.0))):
            for i, total in enumerate(times, start=1):
                w.add(f"9hpt:{hand}:{i}", trial("nine_hole_peg", hand), nine_hole(total), i)
        store.add_session_metrics(
            sid,
            [
                ("nine_hole_peg", "right", Metric("mean_total_time_s", 13.5, "s")),
                ("nine_hole_peg", "left", Metric("mean_total_time_s", 15.5, "s")),
            ],
        )
        store.end_session(sid, "complete")
        # self-guided mode's records: ratings before and after session B, notes added after it,
        # and a visit stopped by the pain rating (linked to no session)
        for scale, timing, value, minute in RATINGS_B:
            r = store.add_rating(
                "P001", scale, timing, value, session_id=sid, t_utc=_at(SESSION_B_START, minute)
            )
            filled.ratings[f"B:{scale}:{timing}"] = r.id
        r = store.add_rating("P001", "pain", "before", 8, t_utc=STOPPED_AT)
        filled.ratings["stopped:pain:before"] = r.id
        store.add_session_note(sid, SESSION_NOTE, "alice", t_utc=_at(SESSION_B_START, 40))
        store.add_trial_note(
            filled.trials["B:9hpt:right:1"], TRIAL_NOTE, "station", t_utc=_at(SESSION_B_START, 41)
        )
    return filled


def _at(start: datetime, minutes: int) -> datetime:
    return start + timedelta(minutes=minutes)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill(tmp_path_factory.mktemp("reports") / "data")


@pytest.fixture
def filled(_template: Filled) -> Filled:
    return _template


@pytest.fixture
def store(filled: Filled) -> Iterator[Store]:
    """The filled store, opened read-only beside nothing (as the web server opens it)."""
    with Store.open(filled.data_dir, recover=False) as s:
        yield s
