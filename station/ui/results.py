"""A participant's results for the screen: each metric of a session beside the norm (when one is
loaded), the participant's baseline and the change from it, with the reliable-change flag.

The figures come from :func:`station.results.participant_results`, as ``station results`` shows
them; this module only arranges them in rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.records import unit_text
from station.results import participant_results


@dataclass(frozen=True)
class ResultRow:
    protocol: str
    hand: str
    metric: str
    value: str  # formatted with its unit
    norm: str  # "z +0.40 (mean 18.2 s, n 100)" or "-"
    baseline: str  # "baseline" for the first session's value, else the baseline value or "-"
    change: str  # "+12.5%" or "-"
    reliable: bool  # the change is beyond the reliable-change threshold


@dataclass(frozen=True)
class SessionResults:
    session_id: int
    started_utc: str
    battery: str
    status: str
    simulated: bool
    rows: tuple[ResultRow, ...]


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:.4g}"
    return text if unit in ("1", "") else f"{text} {unit_text(unit)}"


class ResultsController:
    """Results of one participant (sessions oldest first)."""

    def __init__(self, store: Any, data_dir: Path):
        self.store = store
        self.data_dir = Path(data_dir)

    def report(self, code: str) -> dict[str, Any]:
        return participant_results(self.store, code, self.data_dir)

    def sessions(self, code: str) -> list[SessionResults]:
        report = self.report(code)
        baselines: dict[tuple[str, str, str], str] = {}
        out: list[SessionResults] = []
        for s in report["sessions"]:
            rows = []
            for r in s["metrics"]:
                key = (r["protocol"], r["hand"], r["metric"])
                value = _value(r["value"], r["unit"])
                if r.get("baseline"):
                    baselines[key] = value
                    baseline = "baseline"
                else:
                    baseline = baselines.get(key, "-")
                norm = "-"
                if "z" in r:
                    n = r["norm"]
                    norm = f"z {r['z']:+.2f} (mean {n['mean']:.4g}, n {n['n']})"
                change = f"{r['change_percent']:+.1f}%" if "change_percent" in r else "-"
                rows.append(
                    ResultRow(
                        r["protocol"],
                        r["hand"],
                        r["metric"],
                        value,
                        norm,
                        baseline,
                        change,
                        bool(r.get("reliable_change")),
                    )
                )
            out.append(
                SessionResults(
                    s["session_id"],
                    s["started_utc"],
                    s["battery"],
                    s["status"],
                    s["backend"] == "sim",
                    tuple(rows),
                )
            )
        return out

    def session(self, code: str, session_id: int | None = None) -> SessionResults | None:
        """One session's results (default: the latest)."""
        sessions = self.sessions(code)
        if not sessions:
            return None
        if session_id is None:
            return sessions[-1]
        return next((s for s in sessions if s.session_id == session_id), None)

    def norms_loaded(self, code: str) -> int:
        return int(self.report(code)["norms_loaded"])
