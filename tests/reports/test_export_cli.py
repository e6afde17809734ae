"""``station export``: the formats, the selection by participant and session, where the output
goes, and one clear line for every mistake."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from station.store.export import CSV_COLUMNS
from tests.conftest import run_cli
from tests.reports.conftest import RATINGS_B, SESSION_NOTE, STOPPED_AT, TRIAL_NOTE, Filled


@pytest.fixture(autouse=True)
def _data(monkeypatch: pytest.MonkeyPatch, filled: Filled) -> None:
    monkeypatch.setenv("STATION_DATA_DIR", str(filled.data_dir))


def test_csv_and_json_of_one_session(capsys: pytest.CaptureFixture[str], filled: Filled) -> None:
    sid = filled.sessions["B"]
    code, out, err = run_cli(["export", "--format", "csv", "--session", str(sid)], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["session_id"] for r in rows} == {str(sid)}
    assert {r["hardware_backend"] for r in rows} == {"pi"}
    assert len(rows) == 4 * 6 + 2  # four trials of six metrics, two summary metrics
    code, out, _ = run_cli(["export", "--format", "json", "--session", str(sid)], capsys)
    doc = json.loads(out)
    (p,) = doc["participants"]
    assert p["code"] == "P001" and [s["id"] for s in p["sessions"]] == [sid]


def test_json_holds_ratings_and_added_notes_per_session(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    code, out, err = run_cli(["export", "--format", "json", "--participant", "P001"], capsys)
    assert code == 0, err
    (p,) = json.loads(out)["participants"]
    a, b = p["sessions"]
    assert a["ratings"] == [] and a["session_notes"] == []
    assert [(r["scale"], r["timing"], r["value"]) for r in b["ratings"]] == [
        (scale, timing, value) for scale, timing, value, _ in RATINGS_B
    ]
    first = b["ratings"][0]
    assert first == {
        "id": filled.ratings["B:pain:before"],
        "scale": "pain",
        "timing": "before",
        "value": 3.0,
        "source": "participant",
        "t_utc": "2025-04-01T09:28:00.000Z",
        "trial_id": None,
    }
    session_note, trial_note = b["session_notes"]
    assert (session_note["trial_id"], session_note["author"], session_note["text"]) == (
        None,
        "alice",
        SESSION_NOTE,
    )
    assert trial_note["trial_id"] == filled.trials["B:9hpt:right:1"]
    assert (trial_note["author"], trial_note["text"]) == ("station", TRIAL_NOTE)
    assert trial_note["t_utc"] == "2025-04-01T10:11:00.000Z"
    # the visit stopped by the pain rating belongs to no session
    (stopped,) = p["ratings_without_session"]
    assert stopped["value"] == 8.0 and stopped["t_utc"].startswith(STOPPED_AT.strftime("%Y-%m-%d"))
    # one session's export: its ratings, not the participant's others
    code, out, _ = run_cli(["export", "--format", "json", "--session", str(b["id"])], capsys)
    (p,) = json.loads(out)["participants"]
    assert p["ratings_without_session"] == [] and len(p["sessions"][0]["ratings"]) == 4
    # the tidy CSV stays one row per trial and metric: no rating or note rows
    code, out, _ = run_cli(["export", "--format", "csv", "--session", str(b["id"])], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["scope"] for r in rows} == {"trial", "session"}
    assert not any("pain" in r["metric"] or "fatigue" in r["metric"] for r in rows)


def test_the_invalid_reason_and_backend_are_in_the_csv(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    code, out, _ = run_cli(["export", "--participant", "P001"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    invalid = [r for r in rows if r["trial_status"] == "invalid"]
    assert invalid and {r["invalid_reason"] for r in invalid} == {"dropped peg <3> & lost"}
    assert {r["hardware_backend"] for r in rows} == {"sim", "pi"}
    assert {r["session_status"] for r in rows} == {"complete"}


def test_fhir_and_pdf_to_files(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    target = tmp_path / "p001.fhir.json"
    code, _, err = run_cli(
        ["export", "--format", "fhir", "--participant", "P001", "-o", str(target)], capsys
    )
    assert code == 0 and f"wrote {target}" in err
    bundle = Bundle.model_validate_json(target.read_text())
    patient = bundle.entry[0].resource
    assert patient.identifier[0].value == "P001" and patient.birthDate is None
    code, _, _ = run_cli(
        ["export", "--format", "fhir", "--session", str(filled.sessions["A"]), "--birth-year",
         "-o", str(target)],
        capsys,
    )  # fmt: skip
    assert code == 0
    doc = json.loads(target.read_text())
    assert doc["entry"][0]["resource"]["birthDate"] == "1960"

    pdf = tmp_path / "session.pdf"
    code, _, _ = run_cli(
        ["export", "--format", "pdf", "--session", str(filled.sessions["A"]), "-o", str(pdf)],
        capsys,
    )
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF-")
    code, _, _ = run_cli(
        ["export", "--format", "pdf", "--participant", "P001", "-o", str(pdf)], capsys
    )
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF-")
    assert not list(tmp_path.glob(".*.part"))


def test_pdf_to_a_pipe(capsysbinary: pytest.CaptureFixture[bytes], filled: Filled) -> None:
    from station import cli

    assert cli.main(["export", "--format", "pdf", "--session", str(filled.sessions["B"])]) == 0
    out, _ = capsysbinary.readouterr()
    assert out.startswith(b"%PDF-") and out.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "fhir"], "--format fhir needs --participant CODE or --session ID"),
        (["--format", "pdf"], "--format pdf needs --participant CODE"),
        (["--format", "csv", "--raw"], "--raw is for --format json only"),
        (["--format", "json", "--birth-year"], "--birth-year is for --format fhir only"),
        (["--session", "abc"], "--session: 'abc' is not a session id"),
        (["--session", "0"], "--session: '0' is not a session id"),
        (["--session", "99999999999999999999"], "is not a session id"),
        (["--format", "pdf", "--session", "999", "-o", "x.pdf"], "no session 999"),
        (["--format", "fhir", "--participant", "P404"], "no participant 'P404'"),
        (["--participant", "P404"], "no participant 'P404'"),
        (["--format", "json", "--participant", "P002", "--session", "1"], "not of participant"),
        (["-o", "/nonexistent-folder/x.csv"], "the folder /nonexistent-folder does not exist"),
        (["-o", "/"], "is a folder"),
    ],
)
def test_mistakes_get_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_cli(["export", *args], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("station: error: ") and message in err and "Traceback" not in err


def test_an_unknown_format_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["export", "--format", "xml"], capsys)
    assert code == 2 and "invalid choice: 'xml'" in err


def test_pdf_is_not_written_to_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, _, err = run_cli(["export", "--format", "pdf", "--participant", "P001"], capsys)
    assert code == 2 and "give -o FILE.pdf" in err


def test_a_failed_export_leaves_no_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("kept\n")
    code, _, _ = run_cli(["export", "--participant", "P404", "-o", str(target)], capsys)
    assert code == 2 and target.read_text() == "kept\n"
    assert not list(tmp_path.glob(".*.part"))
