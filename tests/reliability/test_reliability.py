"""The reliability harness (scripts/reliability.py) at small counts: each part passes on the
station as it is, and the checks fail when something is lost or unclear (docs/reliability.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from station.records import PadSamples

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rel() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reliability", REPO / "scripts" / "reliability.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_power_loss_kill_9_of_station_assess(rel: ModuleType, tmp_path: Path) -> None:
    res = rel.power_loss(5, work_dir=tmp_path, between_trials_every=2)
    assert res["ok"], res["problems"]
    assert res["kills"] + res["finished_before_kill"] == 5 and res["kills"] >= 3
    assert res["kills_between_trials"] >= 1  # runs 2 and 4: killed as a result is printed
    assert res["lost"] == 0 and res["integrity_failures"] == 0
    # where each random kill lands (inside a trial, between two, after the end) is up to the
    # machine's speed, so no count of interrupted trials is required here: "ok" says nothing
    # reported was lost and nothing was left running; test_a_kill_inside_a_held_trial... below
    # kills inside a trial every time


#: ``station assess`` held inside its first trial: the trial's row is committed ``running``
#: (``Store.start_trial`` has returned), then it waits for the kill. Its own output goes to
#: stderr; the one line the harness waits for (``== ...``) comes only once the trial is held.
HELD_TRIAL = """
import signal, sys
from station.cli import main
from station.store import Store

real_start_trial = Store.start_trial

def start_and_hold(self, *args, **kwargs):
    trial_id = real_start_trial(self, *args, **kwargs)
    sys.__stdout__.write(f"== held inside trial {trial_id}\\n")
    sys.__stdout__.flush()
    while True:
        signal.pause()

Store.start_trial = start_and_hold
sys.stdout = sys.stderr
raise SystemExit(main(sys.argv[1:]))
"""


def test_a_kill_inside_a_held_trial_leaves_it_flagged(rel: ModuleType, tmp_path: Path) -> None:
    """A real ``station assess`` killed while its trial is certainly running (held there)."""

    def held(code: str, seed: int) -> list[str]:
        station_args = rel.assess_command(code, seed)[len(rel.station_cmd()) :]
        return [sys.executable, "-c", HELD_TRIAL, *station_args]

    res = rel.power_loss(
        1, work_dir=tmp_path, max_delay_s=0.5, between_trials_every=0, command=held
    )
    assert res["ok"], res["problems"]
    assert res["kills"] == 1 and res["reported_trials"] == 0
    assert res["interrupted_flagged"] == 1 and res["lost"] == 0


def test_power_loss_counts_a_reported_trial_that_is_not_stored(
    rel: ModuleType, tmp_path: Path
) -> None:
    """A child that claims a finished trial but stores nothing: counted as lost, not ok."""
    liar = (  # both lines in one write: the kill cannot come between them
        "import signal, sys; sys.stdout.write('== Nine-Hole Peg Test: right hand ==\\n"
        "   complete: total_time_s 15 s\\n'); sys.stdout.flush(); signal.pause()"
    )
    res = rel.power_loss(
        1,
        work_dir=tmp_path,
        max_delay_s=0.5,
        between_trials_every=0,
        command=lambda _code, _seed: [sys.executable, "-c", liar],
    )
    assert res["kills"] == 1 and res["lost"] == 1 and not res["ok"]
    assert "not in the store" in res["problems"][0]


def _pad(t_ns: np.ndarray, gaps: list[dict]) -> PadSamples:
    code = np.zeros(t_ns.size, dtype=np.int16)
    return PadSamples(
        "pad_index", t_ns.astype(np.int64), code, 1, 3.3, 10_000.0, 1.0, 0.0, True, gaps
    )


def test_pad_accounting_finds_samples_missing_without_a_gap(rel: ModuleType) -> None:
    period = 1_162_790  # 860 samples/s
    t = np.arange(1000, dtype=np.int64) * period
    holed = np.delete(t, np.arange(400, 420))  # 20 conversions gone
    gap = {"reason": "i2c_error", "count": 20, "t_first_ns": int(t[400]), "t_last_ns": int(t[419])}
    assert rel._pad_accounting(SimpleNamespace(samples={"p": _pad(t, [])}), False) == []
    assert rel._pad_accounting(SimpleNamespace(samples={"p": _pad(holed, [gap])}), True) == []
    [problem] = rel._pad_accounting(SimpleNamespace(samples={"p": _pad(holed, [])}), True)
    assert "980 samples + 0 in gaps, expected 1000" in problem
    # no samples at all: only acceptable in a trial flagged with faults
    empty = SimpleNamespace(samples={"p": _pad(np.zeros(0, dtype=np.int64), [])})
    assert rel._pad_accounting(empty, True) == []
    assert rel._pad_accounting(empty, False)


@pytest.mark.slow
def test_hardware_faults_continue_flagged_with_nothing_lost(
    rel: ModuleType, tmp_path: Path
) -> None:
    res = rel.hardware_faults(work_dir=tmp_path)
    assert res["ok"], res["problems"]
    assert set(res["detail"]) == {
        "i2c_errors_1pct",
        "pad_unplugged",
        "chattering_switch",
        "stuck_button",
    }
    for name, detail in res["detail"].items():
        assert detail["session_status"] == "complete", name
        assert detail["trials_flagged"] >= 1 and detail["events"] > 0, name


@pytest.mark.slow
def test_full_disk_refuses_or_stops_with_a_clear_message(rel: ModuleType, tmp_path: Path) -> None:
    res = rel.full_disk(work_dir=tmp_path)
    assert res["ok"], res["problems"]
    no_room, one_trial = res["detail"]["no_room"], res["detail"]["room_for_one_trial"]
    assert no_room["exit_status"] == 1 and no_room["trials_stored"] == []
    assert "the disk may be full" in no_room["message"]
    # it stopped in the middle of the battery: what was reported is kept, the rest is incomplete
    assert one_trial["exit_status"] == 1 and one_trial["trials_reported"] >= 1
    assert one_trial["sessions"] == ["incomplete"]
    assert "incomplete" in one_trial["trials_stored"]


@pytest.mark.slow
def test_bad_input_gets_a_clear_message(
    rel: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = (REPO / "station" / "data" / "reference_station.toml").read_text()
    monkeypatch.setitem(rel.BAD_FILES, "config_good", ("station.toml", good))
    res = rel.bad_input(work_dir=tmp_path)
    # the valid configuration is accepted: the harness says so (it is no bad input)
    assert res["problems"] == [
        "config_good: exit status 0 (expected (1, 2))",
        "config_good: no message saying 'error'",
    ]
    assert res["cases"] == len(rel.BAD_FILES) + 4 and res["clear"] == res["cases"] - 1
    for name, detail in res["detail"].items():
        if name != "config_good":
            assert detail["exit_status"] in (1, 2) and detail["message"], name
    assert "not valid TOML" in res["detail"]["config_syntax"]["message"]
    for case in ("database_pages", "database_header"):  # what it is, and what to do
        message = res["detail"][f"{case}: participants list"]["message"]
        assert "damaged" in message and "station restore" in message, message


@pytest.mark.slow
def test_the_script_runs_a_part_and_prints_a_table_and_json(tmp_path: Path) -> None:
    import json
    import subprocess

    out = tmp_path / "r.json"
    proc = subprocess.run(
        [str(REPO / "scripts" / "reliability"), "--parts", "disk", "-q", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("part     result figures\ndisk     ok ")
    assert json.loads(out.read_text())["disk"]["ok"] is True
    bad = subprocess.run(
        [str(REPO / "scripts" / "reliability"), "--parts", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown part(s) nope" in bad.stderr
