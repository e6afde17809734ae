"""PDF reports: well-formed files whose (uncompressed, in the test) page text holds the
participant code, the metric names and values, the flags and the charts' titles."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.reports import ReportError
from station.reports.pdf import participant_pdf, session_pdf
from station.store import Store
from tests.reports.conftest import (
    INVALID_REASON,
    RATINGS_B,
    SESSION_NOTE,
    TRIAL_NOTE,
    Filled,
)

NOW = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)
_BLOCK = re.compile(rb"BT(.*?)ET", re.S)
_SHOW = re.compile(rb"\(((?:\\.|[^\\)])*)\) Tj( T\*)?")


def page_count(pdf: bytes) -> int:
    """Pages by the page objects, which must agree with the page tree's count."""
    pages = len(re.findall(rb"/Type /Page\b(?!s)", pdf))
    (count,) = re.findall(rb"/Count (\d+)", pdf)
    assert pages == int(count)
    return pages


def pdf_text(pdf: bytes) -> str:
    """The text shown on the pages (uncompressed streams): each text block's strings, a space
    where a line ends, blocks one a line."""
    lines = []
    for block in _BLOCK.findall(pdf):
        parts = []
        for raw, newline in _SHOW.findall(block):
            text = re.sub(rb"\\(.)", rb"\1", raw).decode("latin-1")
            parts.append(text + (" " if newline else ""))
        lines.append("".join(parts).strip())
    return "\n".join(lines)


def check_structure(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    (startxref,) = re.findall(rb"startxref\s+(\d+)", pdf)
    assert pdf[int(startxref) :].startswith(b"xref")  # the cross-reference table is where it says
    assert b"/BaseFont /Helvetica" in pdf and b"/FontFile" not in pdf  # built-in fonts only


def test_the_session_report(store: Store, filled: Filled) -> None:
    pdf = session_pdf(store, filled.sessions["A"], compress=False, now=NOW)
    check_structure(pdf)
    assert 1 <= page_count(pdf) <= 4
    text = pdf_text(pdf)
    assert "Session report: participant P001" in text
    assert "SIMULATED" in text
    assert "2025-03-04 10:00 UTC" in text and "standard" in text and "station-7" in text
    assert "Nine-Hole Peg Test (nine_hole_peg 1.0)" in text
    assert "Maximal finger force (max_force 1.0)" in text
    for name in ("mean_total_time_s", "total_time_s", "placement_time_s", "max_force_n"):
        assert name in text, name
    assert "17.5 s" in text and "30.5 N" in text and "mean of 2 trials" in text
    assert f"invalid: {INVALID_REASON}" in " ".join(text.split())  # escaped for the markup
    # charts: per-trial bars (labels and values) and the force trace of the force protocol
    assert "nine_hole_peg: total_time_s (s) per trial" in text
    assert re.search(r"^R1$", text, re.M) and re.search(r"^L2$", text, re.M)
    assert "max_force: force (N) over time (s) - right R1 pad pad_index" in text
    assert "participant P001, session 1 - 2025-05-02 08:00 UTC" in text  # the footer


def test_the_session_report_of_a_real_backend_is_not_marked_simulated(
    store: Store, filled: Filled
) -> None:
    text = pdf_text(session_pdf(store, filled.sessions["B"], compress=False))
    assert "SIMULATED" not in text and "Session report: participant P001" in text
    assert "Maximal finger force" not in text


def test_the_session_report_lists_ratings_and_added_notes(store: Store, filled: Filled) -> None:
    text = " ".join(pdf_text(session_pdf(store, filled.sessions["B"], compress=False)).split())
    assert "Pain and fatigue ratings" in text
    # each rating: its time, scale, before/after and value, in time order
    rows = re.findall(
        r"2025-04-01 (\d\d:\d\d) UTC (pain|fatigue) (before|after) the session (\d+)", text
    )
    assert rows == [
        (f"{(30 + m) // 60 + 9:02d}:{(30 + m) % 60:02d}", scale, timing, str(value))
        for scale, timing, value, m in RATINGS_B
    ]
    assert "pain: 0 = no pain, 10 = worst pain imaginable" in text
    assert "Notes added" in text
    assert f"alice session {SESSION_NOTE}" in text  # author, what about, the text (escaped)
    assert f"station Nine-Hole Peg Test, right hand, trial 1 {TRIAL_NOTE}" in text
    # session A has neither
    other = pdf_text(session_pdf(store, filled.sessions["A"], compress=False))
    assert "Pain and fatigue ratings" not in other and "Notes added" not in other


def test_the_progress_report(store: Store, filled: Filled) -> None:
    pdf = participant_pdf(store, "P001", data_dir=filled.data_dir, compress=False, now=NOW)
    check_structure(pdf)
    text = " ".join(pdf_text(pdf).split())
    assert "Progress report: participant P001" in text
    assert "born 1960, sex female, dominant hand right, affected side left" in text
    assert "mean_total_time_s (s) by session date (UTC)" in text
    assert "best_max_force_n (N) by session date (UTC)" in text
    # values of both sessions, the change from baseline and the 9HPT's 20% rule
    assert "17.5 s" in text and "13.5 s" in text and "15.5 s" in text
    assert "baseline" in text and "-22.9%" in text and "-22.5%" in text
    assert text.count("RELIABLE CHANGE (>= 20%)") == 2
    assert "2025-03-04" in text and "2025-04-01" in text  # date labels
    # without the data folder: no change columns filled
    plain = " ".join(pdf_text(participant_pdf(store, "P001", compress=False)).split())
    assert "RELIABLE CHANGE" not in plain and "13.5 s" in plain


def test_a_broken_threshold_file_leaves_the_change_out_not_the_report(
    store: Store, tmp_path: Path
) -> None:
    (tmp_path / "change.toml").write_text("[[threshold]]\nprotocol = 1\n")
    text = " ".join(
        pdf_text(participant_pdf(store, "P001", data_dir=tmp_path, compress=False)).split()
    )
    assert "Change from baseline is not shown" in text and "13.5 s" in text


def test_a_participant_without_sessions(store: Store) -> None:
    text = pdf_text(participant_pdf(store, "P002", compress=False))
    assert "Progress report: participant P002" in text and "No sessions recorded yet." in text


def test_compressed_by_default(store: Store, filled: Filled) -> None:
    pdf = session_pdf(store, filled.sessions["A"])
    check_structure(pdf)
    assert b"/FlateDecode" in pdf and b"mean_total_time_s" not in pdf
    assert len(pdf) < len(session_pdf(store, filled.sessions["A"], compress=False))


def test_unknown_ids_are_refused(store: Store) -> None:
    with pytest.raises(ReportError, match="no session 999"):
        session_pdf(store, 999)
    with pytest.raises(ReportError, match="no participant 'P404'"):
        participant_pdf(store, "P404")
