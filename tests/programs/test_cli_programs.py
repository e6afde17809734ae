"""``station programs``, ``prescribe``, ``prescription`` and ``practice`` from the command line:
what they print, what they store, and one clear line (never a traceback) for bad input."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.store import Store
from tests.conftest import run_cli
from tests.programs.conftest import MINI

Capsys = pytest.CaptureFixture[str]

# a fixed wall clock, mid-day and mid-week (a Wednesday), so a run never crosses a day or a week
NOON_WEDNESDAY = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def data_dir() -> Path:
    return Path(os.environ["STATION_DATA_DIR"])


@pytest.fixture
def mini_installed() -> Path:
    folder = data_dir() / "programs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mini.toml"
    path.write_text(MINI)
    return path


def ok(argv: list[str], capsys: Capsys) -> str:
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    return out


def test_list_show_and_check(capsys: Capsys, mini_installed: Path, tmp_path: Path) -> None:
    out = ok(["programs", "list"], capsys)
    assert "nerve_distal" in out and "musician_timing" in out and "mini" in out
    out = ok(["programs", "show", "nerve_distal"], capsys)
    assert "Level 1: Slow and accurate" in out
    assert "Schwid 2002; Feys 2017" in out and "product default" in out
    assert "3 sets x 15 reps, rest 60 s" in out
    summary = json.loads(ok(["programs", "show", "musician_timing", "--json"], capsys))
    assert summary["name"] == "musician_timing" and len(summary["levels"]) == 5
    assert summary["levels"][0]["exercises"][0]["params"]["n_sync"] == 20
    out = ok(["programs", "check", str(mini_installed)], capsys)
    assert "ok: program 'mini' v1.0, 2 levels, 3 exercises" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(MINI.replace("rest_s = 30", "rest_s = -5", 1))
    code, out, err = run_cli(["programs", "check", str(bad)], capsys)
    assert code == 1 and "Traceback" not in err
    line = 1 + bad.read_text().splitlines().index("rest_s = -5")
    assert err.strip().startswith(f"station: error: {bad}, line {line}: level 1, exercise 'tap':")
    code, _, err = run_cli(["programs", "check", str(tmp_path / "none.toml")], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(["programs", "show", "nope"], capsys)
    assert code == 2 and "no program named 'nope'" in err


def test_a_clinic_program_that_does_not_load_is_listed_as_invalid(capsys: Capsys) -> None:
    folder = data_dir() / "programs"
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text('name = "broken"\n')
    out = ok(["programs", "list"], capsys)
    assert "broken" in out and "INVALID" in out and "nerve_distal" in out


def test_prescribe_adjust_and_errors(capsys: Capsys) -> None:
    ok(["participants", "add", "P1", "--affected-side", "left"], capsys)
    out = ok(
        ["prescribe", "P1", "nerve_distal", "--level", "2", "--per-week", "4", "--daily-cap", "2"],
        capsys,
    )
    assert "prescribed nerve_distal v1.0 to P1" in out and "level 2 of 4" in out
    code, _, err = run_cli(["prescribe", "P1", "nerve_distal"], capsys)
    assert code == 1 and "already has a prescription of 'nerve_distal'" in err
    code, _, err = run_cli(["prescribe", "P9", "nerve_distal"], capsys)
    assert code == 2 and "no participant 'P9'" in err
    code, _, err = run_cli(["prescribe", "P1", "musician_timing", "--level", "9"], capsys)
    assert code == 2 and "--level 9: musician_timing has levels 1-5" in err
    code, _, err = run_cli(["prescribe", "P1", "nerve_distal", "--per-week", "0"], capsys)
    assert code == 2 and "must be 1-14" in err

    out = ok(["prescription", "P1", "--pause", "--reason", "flare-up"], capsys)
    assert "paused" in out
    out = ok(["prescription", "P1", "--resume", "--per-week", "5"], capsys)
    assert "active" in out and "5 sessions a week" in out
    code, _, err = run_cli(["prescription", "P1", "--level", "3"], capsys)
    assert code == 2 and "--level needs --reason" in err
    out = ok(["prescription", "P1", "--level", "3", "--reason", "seen in clinic"], capsys)
    assert "level 3 of 4" in out
    code, _, err = run_cli(["prescription", "P1"], capsys)
    assert code == 2 and "say what to change" in err
    code, _, err = run_cli(["prescription", "P1", "musician_timing", "--pause"], capsys)
    assert code == 2 and "has no prescription of musician_timing" in err
    with Store.open(data_dir(), recover=False) as store:
        (rx,) = store.prescriptions("P1")
        kinds = [c.kind for c in store.prescription_changes(rx.id)]
        assert kinds == ["created", "status", "dose", "status", "level"]


@pytest.fixture
def fixed_wall(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The store's clock and ``station practice``'s wall clock ("today", "this week") stopped at
    :data:`NOON_WEDNESDAY`: the CLI has no clock option, so its practice run is given the
    injectable ``now_utc`` here."""
    import station.programs.run as practice_run
    import station.store.store as store_module

    real = practice_run.PracticeRun

    class AtNoonWednesday(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("now_utc", lambda: NOON_WEDNESDAY)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(store_module, "_now_utc", lambda: NOON_WEDNESDAY)
    monkeypatch.setattr(practice_run, "PracticeRun", AtNoonWednesday)
    return NOON_WEDNESDAY


def test_practice_from_the_command_line_and_its_history(
    capsys: Capsys, mini_installed: Path, fixed_wall: datetime
) -> None:
    ok(["participants", "add", "P1", "--affected-side", "right"], capsys)
    ok(["prescribe", "P1", "mini", "--per-week", "5", "--daily-cap", "2"], capsys)
    ratings = ["--pain-before", "2", "--fatigue-before", "1", "--pain-after", "2"]
    ratings += ["--fatigue-after", "3", "--effort", "2.5", "--sensations", "tingling"]
    code, out, err = run_cli(
        ["practice", "P1", "--fast", "--seed", "4", "--json", *ratings], capsys
    )
    assert code == 0, err
    assert "SIMULATED" in err
    result = json.loads(out)
    assert result["status"] == "complete" and result["decision"]["kind"] == "stay"
    assert result["plan"]["level"] == 1 and len(result["feedback"]) == 6
    out = ok(["practice", "P1", "--fast", "--quiet", *ratings], capsys)
    assert out.lstrip().startswith("Decision: ")
    assert "Next goal:" in out
    # the daily cap (2) is reached: held, without asking for ratings
    out = ok(["practice", "P1", "--fast"], capsys)
    assert "No more practice today" in out

    history = ok(["programs", "history", "P1"], capsys)
    assert "mini v1.0 (prescription 1), active" in history
    assert "prescribed (level 1) (clinician): prescribed" in history
    assert "hold (level" in history and "No more practice today" in history
    assert "pain 2/2, fatigue 1/3, effort 2.5; felt: tingling" in history
    report = json.loads(ok(["programs", "history", "P1", "--json"], capsys))
    (item,) = report
    assert item["levels"][0]["what"] == "prescribed"
    assert len(item["symptoms"]) == 2
    assert item["adherence"][0]["done"] == 2
    assert item["adherence"][0]["week_start"] == "2026-03-02"  # the fixed wall clock's week
    assert {s["started_utc"] for s in item["symptoms"]} == {fixed_wall.isoformat()}


def test_practice_errors_are_one_clear_line(capsys: Capsys, mini_installed: Path) -> None:
    code, _, err = run_cli(["practice", "P404", "--fast"], capsys)
    assert code == 2 and "no participant 'P404'" in err
    ok(["participants", "add", "P1"], capsys)
    code, _, err = run_cli(["practice", "P1", "--fast"], capsys)
    assert code == 1 and "P1 has no practice program prescribed" in err
    ok(["prescribe", "P1", "mini"], capsys)
    code, _, err = run_cli(["practice", "P1", "--fast"], capsys)  # no terminal to ask
    assert code == 2 and "give --pain-before, --fatigue-before, --pain-after" in err
    partial = ["--pain-before", "1", "--fatigue-before", "1", "--pain-after", "1"]
    code, _, err = run_cli(["practice", "P1", "--fast", *partial], capsys)
    assert code == 2 and "give --fatigue-after 0-10" in err
    with Store.open(data_dir(), recover=False) as store:  # refused before anything ran
        assert store.practice_sessions(store.prescriptions("P1")[0].id) == []
        assert store.ratings("P1") == []
    code, _, err = run_cli(["practice", "P1", "--pain-before", "11"], capsys)
    assert code == 2 and "a rating is 0-10" in err
    code, _, err = run_cli(["practice", "P1", "--program", "nerve_distal", "--fast"], capsys)
    assert code == 2 and "has no prescription of nerve_distal" in err
    code, out, err = run_cli(
        ["practice", "P1", "--fast", "--pain-before", "8", "--fatigue-before", "2"], capsys
    )
    assert code == 0 and "Stopped: you rated your pain 8 of 10 before practice" in out
    ok(["prescription", "P1", "--pause"], capsys)
    code, _, err = run_cli(["practice", "P1", "--fast"], capsys)
    assert code == 1 and "is paused" in err
    assert "Traceback" not in err
