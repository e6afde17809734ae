"""A participant's results over time: each session's summary metrics beside the norm (when a
matching norm is loaded) and the change from their own baseline, with reliable-change flags."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.errors import StationError
from station.norms import change_from_baseline, find_norm, load_norms, load_thresholds


def participant_results(
    store: Any, code: str, data_dir: Path, sessions: Sequence[Any] | None = None
) -> dict[str, Any]:
    """``sessions``: the participant's sessions (``store.participant_sessions(code)``) when
    the caller has read them already."""
    participant = store.get_participant(code)
    if participant is None:
        raise StationError(f"no participant with code {code!r} (see `station participants`)")
    if sessions is None:
        sessions = store.participant_sessions(code)
    norms = load_norms(data_dir)
    thresholds = load_thresholds(data_dir)
    baseline: dict[tuple[str, str, str], tuple[int, float]] = {}
    out_sessions = []
    for s in sessions:
        age = None
        if participant.birth_year is not None:
            age = s.started_utc.year - participant.birth_year
        rows = []
        for sm in s.metrics:
            m = sm.metric
            key = (sm.protocol, sm.hand, m.name)
            row: dict[str, Any] = {
                "protocol": sm.protocol,
                "hand": sm.hand,
                "metric": m.name,
                "value": m.value,
                "unit": m.unit,
            }
            if m.value is not None and s.status == "complete" and key not in baseline:
                baseline[key] = (s.id, m.value)
                row["baseline"] = True
            elif key in baseline:
                change = change_from_baseline(
                    thresholds, sm.protocol, m.name, baseline[key][1], m.value
                )
                if change is not None:
                    row["change_percent"] = round(change.percent, 1)
                    row["reliable_change"] = change.reliable
                    if change.threshold is not None:
                        row["threshold_percent"] = change.threshold.percent
                        row["threshold_source"] = change.threshold.source
            norm = find_norm(
                norms, sm.protocol, m.name, age, participant.sex, sm.hand, participant.dominant_hand
            )
            if norm is not None and m.value is not None:
                row["z"] = round(norm.z(m.value), 2)
                row["norm"] = {
                    "mean": norm.mean,
                    "sd": norm.sd,
                    "n": norm.n,
                    "citation": norm.citation,
                }
            rows.append(row)
        out_sessions.append(
            {
                "session_id": s.id,
                "started_utc": _iso(s.started_utc),
                "battery": s.battery_name,
                "status": s.status,
                "backend": s.hardware_backend,
                "metrics": rows,
            }
        )
    return {
        "participant": {
            "code": participant.code,
            "birth_year": participant.birth_year,
            "sex": participant.sex,
            "dominant_hand": participant.dominant_hand,
            "affected_side": participant.affected_side,
        },
        "sessions": out_sessions,
        "norms_loaded": len(norms),
    }


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.isoformat(timespec="seconds")


def render_results(report: dict[str, Any]) -> str:
    p = report["participant"]
    lines = [
        f"participant {p['code']}: born {p['birth_year'] or '-'}, sex {p['sex'] or '-'}, "
        f"dominant hand {p['dominant_hand'] or '-'}, affected side {p['affected_side'] or '-'}"
    ]
    if not report["sessions"]:
        lines.append("no sessions yet")
    for s in report["sessions"]:
        sim = " (SIMULATED)" if s["backend"] == "sim" else ""
        lines.append(
            f"\nsession {s['session_id']}  {s['started_utc']}  {s['battery']}  {s['status']}{sim}"
        )
        for r in s["metrics"]:
            value = (
                "-"
                if r["value"] is None
                else f"{r['value']:.4g} {r['unit'] if r['unit'] != '1' else ''}".rstrip()
            )
            extra = []
            if r.get("baseline"):
                extra.append("baseline")
            if "change_percent" in r:
                flag = "  RELIABLE CHANGE" if r.get("reliable_change") else ""
                extra.append(f"{r['change_percent']:+.1f}% vs baseline{flag}")
            if "z" in r:
                extra.append(f"z {r['z']:+.2f}")
            lines.append(
                f"  {r['protocol']:18s} {r['hand']:6s} {r['metric']:28s} {value:>14s}  {'; '.join(extra)}"
            )
    if report["norms_loaded"] == 0:
        lines.append("\n(no norm sets loaded: z-scores appear once a clinic imports one)")
    return "\n".join(lines)
