"""Norm sets (format, import, matching, z-scores) and reliable change against the baseline.

The norm values below are FICTITIOUS test data made for these tests only; the station ships none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from station.norms import (
    NORM_COLUMNS,
    NormError,
    change_from_baseline,
    find_norm,
    import_norms,
    load_norms,
    load_thresholds,
    parse_norms,
)
from tests.conftest import run_cli

HEADER = ",".join(NORM_COLUMNS)
FICTITIOUS = (
    HEADER + "\n"
    "nine_hole_peg,mean_total_time_s,20,39,any,any,18.0,2.0,50,FICTITIOUS test row A\n"
    "nine_hole_peg,mean_total_time_s,20,39,female,dominant,17.0,1.5,25,FICTITIOUS test row B\n"
    "nine_hole_peg,mean_total_time_s,40,59,any,right,19.0,2.5,40,FICTITIOUS test row C\n"
)


def test_parse_and_match_most_specific() -> None:
    norms = parse_norms(FICTITIOUS, "t.csv")
    assert len(norms) == 3
    # a 30-year-old right-handed woman, right hand: B (sex and relative hand) beats A
    n = find_norm(norms, "nine_hole_peg", "mean_total_time_s", 30, "female", "right", "right")
    assert n is not None and n.citation.endswith("row B")
    assert n.z(20.0) == pytest.approx((20.0 - 17.0) / 1.5)
    # her left (non-dominant) hand: only A matches
    n = find_norm(norms, "nine_hole_peg", "mean_total_time_s", 30, "female", "left", "right")
    assert n is not None and n.citation.endswith("row A")
    # no age: no z-score
    assert (
        find_norm(norms, "nine_hole_peg", "mean_total_time_s", None, "female", "right", "right")
        is None
    )
    assert (
        find_norm(norms, "nine_hole_peg", "mean_total_time_s", 70, "male", "right", "right") is None
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("protocol,metric\nx,y\n", "line 1: the header must be"),
        (HEADER + "\nnine_hole_peg,t,20,30,woman,any,1,1,1,src\n", "line 2: sex must be"),
        (HEADER + "\nnine_hole_peg,t,20,30,any,any,1,0,1,src\n", "sd and n must be positive"),
        (HEADER + "\nnine_hole_peg,t,40,30,any,any,1,1,1,src\n", "age band 40-30"),
        (HEADER + "\nnine_hole_peg,t,20,30,any,any,1,1,1,\n", "needs a citation"),
        (HEADER + "\nnine_hole_peg,t,twenty,30,any,any,1,1,1,src\n", "line 2"),
    ],
)
def test_bad_norm_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(NormError, match=problem):
        parse_norms(text, "bad.csv")


def test_no_norms_are_shipped(tmp_path: Path) -> None:
    assert load_norms(tmp_path) == []


def test_thresholds_builtin_and_clinic(tmp_path: Path) -> None:
    t = load_thresholds(tmp_path)
    nhpt = next(x for x in t if x.metric == "mean_total_time_s")
    assert nhpt.percent == 20.0 and "Schwid 2002" in nhpt.source
    (tmp_path / "change.toml").write_text(
        '[[threshold]]\nprotocol = "finger_tapping"\nmetric = "mean_taps"\n'
        'percent = 15.0\nsource = "clinic audit 2026"\n'
    )
    t = load_thresholds(tmp_path)
    tap = next(x for x in t if x.protocol == "finger_tapping")
    assert tap.percent == 15.0
    c = change_from_baseline(t, "finger_tapping", "mean_taps", 50.0, 42.0)
    assert c is not None and c.percent == pytest.approx(-16.0) and c.reliable
    c = change_from_baseline(t, "nine_hole_peg", "mean_total_time_s", 20.0, 23.0)
    assert c is not None and c.percent == pytest.approx(15.0) and not c.reliable
    (tmp_path / "change.toml").write_text(
        '[[threshold]]\nprotocol = "x"\nmetric = "y"\npercent = 5\n'
    )
    with pytest.raises(NormError, match="needs protocol, metric, percent and source"):
        load_thresholds(tmp_path)


def test_imported_norms_give_z_scores_in_results(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = Path(os.environ["STATION_DATA_DIR"])
    src = tmp_path / "fictitious.csv"
    src.write_text(FICTITIOUS)
    status, out, _ = run_cli(["norms", "import", str(src)], capsys)
    assert status == 0 and "imported 3 norms" in out
    assert (data_dir / "norms" / "fictitious.csv").exists()
    dest, n = import_norms(data_dir, src)
    assert n == 3 and dest.exists()

    status, _, err = run_cli(
        [
            "participants",
            "add",
            "N1",
            "--birth-year",
            "1996",
            "--sex",
            "female",
            "--dominant-hand",
            "right",
        ],
        capsys,
    )
    assert status == 0, err
    battery = data_dir / "batteries" / "one.toml"
    battery.parent.mkdir(parents=True, exist_ok=True)
    battery.write_text(
        'name = "one"\n[[step]]\nprotocol = "nine_hole_peg"\nhands = ["dominant"]\npractice = 0\ntrials = 1\n'
    )
    status, _, err = run_cli(
        ["assess", "--participant", "N1", "--battery", "one", "--fast", "--quiet"], capsys
    )
    assert status == 0, err
    status, out, _ = run_cli(["results", "N1", "--json"], capsys)
    rows = {r["metric"]: r for r in json.loads(out)["sessions"][0]["metrics"]}
    row = rows["mean_total_time_s"]
    assert row["norm"]["citation"].endswith("row B")
    assert row["z"] == pytest.approx((row["value"] - 17.0) / 1.5, abs=0.01)
