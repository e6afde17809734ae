"""``station bench-server`` (web/loadbench.py): a tiny run end to end, and its arithmetic.

The end-to-end tests build a benchmark folder of a dozen sessions (two tapping sessions recorded
by ``station assess`` on the simulated rig, the rest replicas), start the real server in a
subprocess and send a few dozen requests from 3 clients; they check that the harness works and
that its numbers are consistent, never how fast anything was (speed is in docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from station import cli
from station.store import Store
from web import loadbench
from web.accounts import Accounts
from web.workers import default_workers

TEMPLATES = "tapping:healthy:right,tapping:healthy:left"
SESSIONS = 12
PARTICIPANTS = 4


@dataclass
class Run:
    status: int
    out: str
    err: str

    @property
    def result(self) -> dict[str, Any]:
        return json.loads(self.out)  # type: ignore[no-any-return]


def bench(*argv: str) -> Run:
    """``station bench-server ARGV`` through station.cli.main (the plugin entry point)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(["bench-server", *argv])
        except SystemExit as exc:
            status = int(exc.code or 0)
    return Run(status, out.getvalue(), err.getvalue())


@dataclass
class Built:
    data_dir: Path
    run: Run


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One run that builds its folder and measures (3 clients, 60 requests, quick timing)."""
    data_dir = tmp_path_factory.mktemp("bench") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STATION_HARDWARE", "sim")
        mp.setenv("STATION_DATA_DIR", str(data_dir.parent / "station-data"))
        mp.delenv("STATION_CONFIG", raising=False)
        run = bench(
            "--data-dir", str(data_dir), "--sessions", str(SESSIONS),
            "--participants", str(PARTICIPANTS), "--templates", TEMPLATES,
            "--samples-every", "3", "--build-jobs", "2",
            "--clients", "3", "--requests", "60", "--think", "0", "--timing", "quick",
            "--url", "home=/", "--json",
        )  # fmt: skip
    yield Built(data_dir, run)


def check_stats(name: str, s: dict[str, Any], wall_s: float) -> None:
    assert s["requests"] > 0, name
    assert 0 <= s["errors"] <= s["requests"], name
    assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"], name
    assert s["requests_per_s"] == pytest.approx(s["requests"] / wall_s, rel=0.01, abs=0.1), name


@pytest.mark.slow
def test_a_tiny_run_end_to_end(built: Built) -> None:
    run = built.run
    assert run.status == 0, run.err
    assert "recording tapping:healthy:right" in run.err
    assert "sessions replicated" in run.err
    r = run.result
    assert r["ok"] is True and r["failed_requests"] == 0
    assert r["data"]["sessions"] == SESSIONS and r["data"]["participants"] == PARTICIPANTS
    assert r["data"]["built_now"] is True
    # the server as station serve runs it by default: its processes, their CPU time summed
    assert r["server"]["workers"] == default_workers() and r["server"]["threads"] == 4
    assert r["server"]["cpu_s"] is not None and r["server"]["cpu_s"] > 0

    load = r["load"]
    groups = load["groups"]
    assert set(groups) == {g.name for g in loadbench.DEFAULT_GROUPS} | {"home"}
    # Every request is counted once: in its group, in its kind's total, and in the grand total.
    assert sum(g["requests"] for g in groups.values()) == 60
    assert load["totals"]["all"]["requests"] == 60
    for kind in ("api", "dashboard"):
        members = [g for g in groups.values() if g["kind"] == kind]
        assert load["totals"][kind]["requests"] == sum(g["requests"] for g in members)
    for name, g in groups.items():
        assert sum(g["status_counts"].values()) == g["requests"], name
        if g["requests"]:
            check_stats(name, g, load["wall_s"])
    for name, total in load["totals"].items():
        check_stats(name, total, load["wall_s"])
    # "/" answers 200 only to a signed-in session: the clients' sign-in worked.
    assert set(groups["home"]["status_counts"]) == {"200"}
    assert groups["api_participant"]["kind"] == "api" and groups["home"]["kind"] == "dashboard"

    assert r["targets"]["api"] in ("PASS", "MISS")
    timing = r["timing"]
    for phase in ("idle", "load"):
        assert timing[phase]["lost"] == 0
        assert timing[phase]["timestamp_exact"] is True
        assert timing[phase]["timestamp_error_max_ns"] == 0
        assert timing[phase]["latency_p50_ms"] <= timing[phase]["latency_p99_ms"]
    assert timing["difference"]["latency_p99_ms"] == pytest.approx(
        timing["load"]["latency_p99_ms"] - timing["idle"]["latency_p99_ms"], abs=1e-3
    )
    assert 0.0 <= timing["load_overlap"] <= 1.0

    text = loadbench.format_results(r)
    assert "api_trial_raw" in text and "result: OK" in text
    assert f"p95 target < {loadbench.API_P95_TARGET_MS:g} ms: {r['targets']['api']}" in text


@pytest.mark.slow
def test_the_data_are_replicas_of_recorded_sessions(built: Built) -> None:
    marker = json.loads((built.data_dir / loadbench.MARKER_FILENAME).read_text())
    assert marker["state"] == "ready"
    recorded = [s["session_id"] for s in marker["recorded_sessions"]]
    assert len(recorded) == 2 and len(marker["session_ids"]) == SESSIONS
    with Store.open(built.data_dir, recover=False) as store:
        participants = store.list_participants()
        assert len(participants) == PARTICIPANTS
        sessions = [s for p in participants for s in store.participant_sessions(p.code)]
        assert sorted(s.id for s in sessions) == sorted(marker["session_ids"])
        replicas = [s for s in sessions if s.id not in recorded]
        assert all(s.provenance["bench_replica_of_session"] in recorded for s in replicas)
        for replica in replicas:
            original = store.session(replica.provenance["bench_replica_of_session"])
            owner = store.get_participant(replica.participant_code)
            recorded_for = store.get_participant(original.participant_code)
            assert owner is not None and recorded_for is not None
            assert owner.dominant_hand == recorded_for.dominant_hand
            assert replica.metrics == original.metrics
            assert replica.status == "complete" and replica.ended_utc is not None
            assert replica.ended_utc > replica.started_utc
            ours, theirs = store.session_trials(replica.id), store.session_trials(original.id)
            assert [(t.protocol, t.hand, t.metrics) for t in ours] == [
                (t.protocol, t.hand, t.metrics) for t in theirs
            ]
            assert store.trial_data(ours[0].id).events == store.trial_data(theirs[0].id).events
        # Replicas are spread over time, each participant's in order.
        for p in participants:
            history = [s for s in store.participant_sessions(p.code) if s.id not in recorded]
            assert [s.started_utc for s in history] == sorted(s.started_utc for s in history)
        assert len({s.started_utc.date() for s in replicas}) == len(replicas)
        # The raw data requested are the trials of the sessions stored with their samples.
        raw_sessions = {store.trial(t).session_id for t in marker["raw_trial_ids"]}
        assert set(recorded) <= raw_sessions
        assert len(raw_sessions) == marker["sessions_with_samples"]
    with Accounts.open(built.data_dir) as accounts:
        tokens = accounts.list_tokens(loadbench.BENCH_USER)
        assert tokens and not any(t.active for t in tokens)  # revoked after the run


@pytest.mark.slow
def test_a_wrong_url_is_counted_as_errors_and_fails_the_run(built: Built) -> None:
    run = bench(
        "--data-dir", str(built.data_dir), "--clients", "2", "--requests", "30", "--think", "0",
        "--groups", "api_participant", "--url", "bad=/api/v1/participants/NO{code}",
        "--timing", "off", "--json",
    )  # fmt: skip
    assert run.status == 1, run.err
    assert "reusing the benchmark data" in run.err and "recording" not in run.err
    r = run.result
    groups = r["load"]["groups"]
    assert set(groups) == {"api_participant", "bad"}
    bad, good = groups["bad"], groups["api_participant"]
    assert bad["requests"] + good["requests"] == 30
    assert bad["requests"] > 0 and bad["errors"] == bad["requests"]
    assert bad["status_counts"] == {"404": bad["requests"]}
    assert good["errors"] == 0
    assert r["failed_requests"] == bad["requests"] and r["ok"] is False
    assert r["targets"]["api"] == "ERRORS" and r["targets"]["dashboard"] is None
    assert r["timing"] is None
    text = loadbench.format_results(r)
    assert f"HTTP 404 x{bad['requests']}" in text
    assert f"result: FAILED: {bad['requests']} requests failed" in text


@pytest.mark.slow
def test_a_built_folder_refuses_other_parameters(built: Built) -> None:
    run = bench("--data-dir", str(built.data_dir), "--sessions", "99", "--timing", "off")
    assert run.status == 2
    assert "built with sessions 12, not 99" in run.err
    run = bench("--data-dir", str(built.data_dir), "--templates", "standard:healthy:right")
    assert run.status == 2 and "other --templates" in run.err


@pytest.mark.slow
def test_a_recording_under_load_is_stored_whole(built: Built, tmp_path: Path) -> None:
    """``--record``: station assess records into the served folder while the load runs."""
    data_dir = tmp_path / "data"
    shutil.copytree(built.data_dir, data_dir)  # the recording adds a session: not to the shared one
    run = bench(
        "--data-dir", str(data_dir), "--clients", "2", "--duration", "30", "--think", "0.2",
        "--timing", "off", "--record", "--json",
    )  # fmt: skip
    assert run.status == 0, run.err
    rec = run.result["recording"]
    assert rec["ok"] is True and rec["problems"] == []
    # written while the server was under load (a 30 s load; the recording takes about 15 s)
    assert rec["share_during_load"] >= 0.5, rec
    assert rec["trials"] >= 6 and rec["events"] > 0 and rec["samples"] > 0
    with Store.open(data_dir, recover=False) as store:
        session = store.session(rec["session_id"])
        assert session.status == "complete" and session.participant_code == rec["participant"]
        assert session.battery_name == "nine_hole_peg"
        assert len(store.session_trials(session.id)) == rec["trials"]
    text = loadbench.format_results(run.result)
    assert "every trial complete, no fault, no gap" in text and "result: OK" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "nothing"], "is not NAME=PATH"),
        (["--url", "x=api/v1/me"], "must start with '/'"),
        (["--url", "x=/api/v1/trials/{trial}"], "unknown placeholder {trial}"),
        (["--url", "api_session=/"], "already in the mix"),
        (["--groups", "api_session,nope"], "unknown group 'nope'"),
        (["--templates", "standard"], "is not battery:profile:hand"),
        (["--templates", "standard:healthy:middle"], "the hand is right or left"),
        (["--duration", "5", "--requests", "5"], "not allowed with argument"),
        (["--clients", "0"], "must be at least 1"),
        (["--server-workers", "17"], "give 1-16 processes"),
        (["--duration", "nan"], "must be a number > 0"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(argv: list[str], message: str) -> None:
    run = bench(*argv)
    assert run.status == 2
    assert message in run.err
    assert "Traceback" not in run.err


def test_a_folder_that_is_not_a_benchmark_is_never_used(tmp_path: Path) -> None:
    (tmp_path / "station.sqlite").write_text("a station's data")
    run = bench("--data-dir", str(tmp_path), "--timing", "off")
    assert run.status == 2
    assert "holds no benchmark" in run.err
    assert (tmp_path / "station.sqlite").read_text() == "a station's data"
    assert not (tmp_path / loadbench.MARKER_FILENAME).exists()


def test_an_unfinished_build_is_not_reused(tmp_path: Path) -> None:
    (tmp_path / loadbench.MARKER_FILENAME).write_text(json.dumps({"state": "building"}))
    run = bench("--data-dir", str(tmp_path), "--timing", "off")
    assert run.status == 2 and "did not finish" in run.err


def test_summary_counts_non_2xx_and_orders_percentiles() -> None:
    groups = [
        loadbench.Group("a", "api", "/api/v1/a"),
        loadbench.Group("p", "dashboard", "/p"),
        loadbench.Group("unused", "api", "/api/v1/u"),
    ]
    ms = 1_000_000
    records = {
        "group": [0, 0, 0, 0, 1, 1, 1],
        "status": [200, 204, 404, 0, 200, 303, 500],
        "start_ns": [0, 10 * ms, 20 * ms, 30 * ms, 0, 5 * ms, 50 * ms],
        "latency_ns": [4 * ms, 1 * ms, 3 * ms, 2 * ms, 10 * ms, 30 * ms, 50 * ms],
        "size": [10, 0, 5, 0, 100, 0, 7],
    }
    s = loadbench.summarize_load(groups, records)
    assert s["wall_s"] == pytest.approx(0.1)  # first start to last end
    a, p, unused = s["groups"]["a"], s["groups"]["p"], s["groups"]["unused"]
    assert (a["requests"], a["errors"]) == (4, 2)  # 404 and no answer
    assert a["status_counts"] == {"0": 1, "200": 1, "204": 1, "404": 1}
    assert (p["requests"], p["errors"]) == (3, 2)  # a redirect is not a page
    assert unused["requests"] == 0 and unused["p95_ms"] is None
    assert a["p50_ms"] == pytest.approx(2.5) and a["max_ms"] == pytest.approx(4.0)
    assert a["p50_ms"] <= a["p95_ms"] <= a["p99_ms"] <= a["max_ms"]
    assert a["requests_per_s"] == pytest.approx(40.0)
    totals = s["totals"]
    assert totals["api"]["requests"] == 4 and totals["dashboard"]["requests"] == 3
    assert totals["all"]["requests"] == 7 and totals["all"]["errors"] == 4
    assert loadbench._verdict(totals["api"], 100.0) == "ERRORS"
    assert loadbench._verdict(loadbench.summarize_load(groups[:1], {
        "group": [0], "status": [200], "start_ns": [0], "latency_ns": [150 * ms], "size": [1],
    })["totals"]["api"], 100.0) == "MISS"  # fmt: skip
    assert loadbench._overlap({"t_start_ns": 0, "t_end_ns": 100}, [50, 500]) == 0.5
    assert loadbench._overlap({"t_start_ns": 0, "t_end_ns": 100}, [200, 500]) == 0.0


def test_timing_figures_take_lost_edges_and_stamp_errors_from_the_matched_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lost edges of the latency run are its edges that no event reported (not edges minus
    events), and a stamp error in the latency run fails ``timestamp_exact`` like one under GIL
    load. The bench functions (station.bench, ours) are replaced by fixed results."""
    import station.bench

    through = {"events_per_s": 1, "sustained_offered_per_s": 1, "lost": 3}
    latency = {
        "latency_edges": 400, "latency_events": 399, "latency_lost": 2, "latency_overflow": 0,
        "latency_p50_ms": 0.1, "latency_p99_ms": 0.2, "latency_max_ms": 0.3,
        "latency_timestamp_error_max_ns": 7, "latency_sender_lag_max_ms": 0.1,
    }  # fmt: skip
    gil = {
        "gil_presses": 5, "gil_ours_exact": True, "gil_ours_max_abs_error_ns": 0,
        "gil_usual_error_p99_ms": 1.0,
    }  # fmt: skip
    monkeypatch.setattr(station.bench, "bench_throughput", lambda **_: through)
    monkeypatch.setattr(station.bench, "bench_latency", lambda **_: latency)
    monkeypatch.setattr(station.bench, "bench_gil", lambda **_: gil)
    t = loadbench.timing_figures(0.2)
    assert (t["latency_edges"], t["latency_lost"], t["throughput_lost"]) == (400, 2, 3)
    assert t["lost"] == 5
    assert t["timestamp_exact"] is False and t["timestamp_error_max_ns"] == 7
    latency["latency_timestamp_error_max_ns"] = 0
    t = loadbench.timing_figures(0.2)
    assert t["timestamp_exact"] is True and t["timestamp_error_max_ns"] == 0
