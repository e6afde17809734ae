"""Exports of the store to CSV and JSON, streamed to a text file object.

What is exported
    Every participant, or one (``participant_code``), or one session (``session_id``; with a
    ``participant_code`` too, the session must be that participant's), optionally only one
    ``protocol`` (sessions with a trial of it, and only its trials and summary metrics). The
    selection is :func:`export_selection`, which the reports (:mod:`station.reports`) use too.

Tidy CSV (:func:`export_csv`)
    One row per trial and metric, plus one row per session summary metric; a trial without
    metrics (interrupted, or not scored) still gets one row with the metric columns empty. Rows
    come by participant code, then session start, then trial order (session metrics after the
    session's trials). Columns:

    ==========================  ==============================================================
    ``participant``             participant code (pseudonym)
    ``session_id``              the session's id in this store
    ``session_started_utc``     ISO 8601 UTC, e.g. ``2025-03-04T10:15:00.123Z``
    ``scope``                   ``trial`` or ``session`` (a summary over the session's trials)
    ``trial_id``                the trial's id in this store (empty for ``session`` rows)
    ``protocol``                protocol name
    ``protocol_version``        protocol version (empty for ``session`` rows)
    ``hand``                    ``right``, ``left`` or ``both``
    ``practice``                ``true`` / ``false`` (empty for ``session`` rows)
    ``trial_index``             the trial's number for its protocol, hand and practice flag
    ``trial_status``            ``complete``, ``incomplete``, ``invalid``, ``timeout``, ``running``
    ``metric``                  metric name
    ``value``                   number (shortest round-trip form); empty when missing
    ``unit``                    UCUM unit: ``s``, ``ms``, ``N``, ``Hz``, ``/s``, ``%``, ``1``
    ``detail``                  why a value is missing, or other remarks
    ``session_status``          ``complete``, ``incomplete``, ``aborted`` or ``running``
    ``hardware_backend``        ``sim`` (simulated: not a measurement of a person) or ``pi``
    ``invalid_reason``          the clinician's reason for an ``invalid`` trial (else empty)
    ==========================  ==============================================================

JSON (:func:`export_json`)
    One object: ``format`` (``"dexterity-station-export"``), ``format_version`` (1),
    ``exported_utc``, ``raw`` (whether raw data is included) and ``participants``: each with its
    fields and ``sessions``; each session with its fields, ``metrics`` (summary metrics:
    ``protocol``, ``hand``, ``name``, ``value``, ``unit``, ``detail``) and ``trials``; each trial
    with its fields (parameters, roles, times in ns on the session's monotonic clock, status,
    provenance, faults, gaps) and ``metrics`` (``name``, ``value``, ``unit``, ``detail``). With
    ``raw=True`` each trial also has ``events`` (objects ``t_ns``, ``channel``, ``level``,
    ``flags``, ``seq``), ``cues`` (the cue records) and ``samples`` (per pad: ``pad``, ``t_ns`` and
    ``code`` as integer lists, and ``gain``, ``supply_v``, ``divider_ohm``, ``slope_n_per_s``,
    ``offset_n``, ``calibrated``, ``gaps`` to convert codes to newtons). Convert ``t_ns`` to UTC
    with the session's anchor: ``utc_ns = anchor_wall_ns + (t_ns - anchor_mono_ns)``. Missing or
    non-finite values are ``null``. The file is written participant by participant and trial by
    trial, so a large store never sits in memory as one document.

    What self-guided mode records (:func:`rating_doc`, :func:`note_doc`):

    * each session has ``ratings``: the pain and fatigue ratings (0-10) linked to it, in time
      order, each ``id``, ``scale`` (``pain``, ``fatigue``), ``timing`` (``before``, ``during``
      or ``after`` the session), ``value``, ``source`` (``participant`` or ``clinician``),
      ``t_utc`` and ``trial_id`` (null unless the rating is of one trial);
    * each session has ``session_notes``: the notes made on the session or its trials after
      the fact (``Store.add_session_note``, ``Store.add_trial_note``), oldest first, each
      ``id``, ``trial_id`` (null for a note on the session), ``author``, ``text``, ``t_utc``.
      (``notes`` of a session or trial is the text stored with it when it was recorded.)
    * each participant has ``ratings_without_session``: ratings not linked to any session (a
      self-guided visit stopped by a pain rating before anything ran). Left out (an empty
      list) when the export is of one session.

    The tidy CSV holds none of these: it stays one row per trial and metric.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, TextIO

from station.records import Metric, TrialData
from station.store.store import (
    Participant,
    Rating,
    SessionInfo,
    SessionNote,
    Store,
    StoreError,
    TrialInfo,
)

CSV_COLUMNS = (
    "participant",
    "session_id",
    "session_started_utc",
    "scope",
    "trial_id",
    "protocol",
    "protocol_version",
    "hand",
    "practice",
    "trial_index",
    "trial_status",
    "metric",
    "value",
    "unit",
    "detail",
    "session_status",
    "hardware_backend",
    "invalid_reason",
)
JSON_FORMAT = "dexterity-station-export"
#: Still 1 with the self-guided additions (``ratings``, ``session_notes``,
#: ``ratings_without_session``): keys were only added, none removed or renamed.
JSON_FORMAT_VERSION = 1
_PAGE = 500


def utc_text(t: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a ``Z``; a naive time (as SQLite returns it) is UTC."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finite_number(value: float | None) -> float | None:
    """A float, or None for a missing or non-finite value (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _participants(store: Store, code: str | None) -> Iterator[Participant]:
    """The participant ``code`` (checked now, not when iterated), or every participant."""
    if code is not None:
        found = store.get_participant(code)
        if found is None:
            raise StoreError(f"participant code: no participant {code!r}", "code")
        return iter((found,))
    return _all_participants(store)


def _all_participants(store: Store) -> Iterator[Participant]:
    offset = 0
    while True:
        page = store.list_participants(limit=_PAGE, offset=offset)
        yield from page
        if len(page) < _PAGE:
            return
        offset += _PAGE


def _one_session(
    store: Store, session_id: int, participant_code: str | None, protocol: str | None
) -> tuple[Participant, list[SessionInfo]]:
    session = store.session(session_id)  # StoreError(field="session_id") when there is none
    if participant_code is not None and session.participant_code != participant_code:
        raise StoreError(
            f"session: session {session_id} is not of participant {participant_code!r}",
            "session_id",
        )
    participant = store.get_participant(session.participant_code)
    if participant is None:  # the foreign key makes this impossible; say so if it happens
        raise StoreError(f"session {session_id}: its participant is missing", "session_id")
    trials = store.session_trials(session_id)
    metrics = session.metrics
    if protocol is not None:
        trials = [t for t in trials if t.protocol == protocol]
        metrics = tuple(m for m in metrics if m.protocol == protocol)
        if not trials:
            return participant, []
    return participant, [replace(session, metrics=metrics, trials=tuple(trials))]


def export_selection(
    store: Store,
    *,
    participant_code: str | None = None,
    session_id: int | None = None,
    protocol: str | None = None,
) -> Iterator[tuple[Participant, list[SessionInfo]]]:
    """The participants an export covers, each with its sessions (oldest first, with trials).

    Raises :class:`StoreError` with ``field`` ``"code"`` for an unknown participant and
    ``"session_id"`` for an unknown session (or one of another participant), at the call, before
    anything is written.
    """
    if session_id is not None:
        return iter((_one_session(store, session_id, participant_code, protocol),))
    participants = _participants(store, participant_code)
    return (
        (p, store.participant_sessions(p.code, protocol, with_trials=True)) for p in participants
    )


def _csv_value(value: float | None) -> str:
    number = finite_number(value)
    return "" if number is None else repr(number)


def export_csv(
    store: Store,
    out: TextIO,
    *,
    participant_code: str | None = None,
    session_id: int | None = None,
    protocol: str | None = None,
    include_practice: bool = True,
) -> int:
    """Write the tidy CSV (columns in the module docstring); returns the number of data rows."""
    selection = export_selection(
        store, participant_code=participant_code, session_id=session_id, protocol=protocol
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for participant, sessions in selection:
        for session in sessions:
            head = [participant.code, session.id, utc_text(session.started_utc)]
            about_session = [session.status, session.hardware_backend]
            for trial in session.trials:
                if trial.practice and not include_practice:
                    continue
                about = [
                    "trial",
                    trial.id,
                    trial.protocol,
                    trial.protocol_version,
                    trial.hand,
                    "true" if trial.practice else "false",
                    trial.trial_index,
                    trial.status,
                ]
                metrics: tuple[Metric | None, ...] = trial.metrics or (None,)
                for m in metrics:
                    tail = (
                        ["", "", "", ""]
                        if m is None
                        else [m.name, _csv_value(m.value), m.unit, m.detail]
                    )
                    reason = trial.invalid_reason or ""
                    writer.writerow([*head, *about, *tail, *about_session, reason])
                    rows += 1
            for sm in session.metrics:
                m = sm.metric
                about = ["session", "", sm.protocol, "", sm.hand, "", "", ""]
                tail = [m.name, _csv_value(m.value), m.unit, m.detail]
                writer.writerow([*head, *about, *tail, *about_session, ""])
                rows += 1
    return rows


def metric_doc(m: Metric) -> dict[str, Any]:
    return {"name": m.name, "value": finite_number(m.value), "unit": m.unit, "detail": m.detail}


def participant_doc(p: Participant) -> dict[str, Any]:
    return {
        "code": p.code,
        "birth_year": p.birth_year,
        "sex": p.sex,
        "dominant_hand": p.dominant_hand,
        "affected_side": p.affected_side,
        "notes": p.notes,
        "created_utc": utc_text(p.created_utc),
    }


def rating_doc(r: Rating) -> dict[str, Any]:
    return {
        "id": r.id,
        "scale": r.scale,
        "timing": r.timing,
        "value": finite_number(r.value),
        "source": r.source,
        "t_utc": utc_text(r.t_utc),
        "trial_id": r.trial_id,
    }


def note_doc(n: SessionNote) -> dict[str, Any]:
    return {
        "id": n.id,
        "trial_id": n.trial_id,
        "author": n.author,
        "text": n.text,
        "t_utc": utc_text(n.t_utc),
    }


@dataclass(frozen=True)
class SelfReports:
    """What self-guided mode recorded about a participant's sessions: ratings by session id
    (``None``: not linked to a session) and the notes added to each session and its trials."""

    ratings: dict[int | None, list[Rating]]
    notes: dict[int, list[SessionNote]]

    def of_session(self, session_id: int) -> tuple[list[Rating], list[SessionNote]]:
        return self.ratings.get(session_id, []), self.notes.get(session_id, [])


def self_reports(store: Store, code: str, sessions: Iterable[SessionInfo]) -> SelfReports:
    """The ratings of participant ``code`` (all of them, grouped by session) and the notes of
    ``sessions``."""
    ratings: dict[int | None, list[Rating]] = {}
    for r in store.ratings(code):
        ratings.setdefault(r.session_id, []).append(r)
    notes = {s.id: store.session_notes(s.id) for s in sessions}
    return SelfReports(ratings, notes)


def _session_doc(s: SessionInfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "battery_name": s.battery_name,
        "battery_hash": s.battery_hash,
        "station_id": s.station_id,
        "status": s.status,
        "started_utc": utc_text(s.started_utc),
        "ended_utc": utc_text(s.ended_utc),
        "software_version": s.software_version,
        "hardware_backend": s.hardware_backend,
        "timestamp_source": s.timestamp_source,
        "anchor_mono_ns": s.anchor_mono_ns,
        "anchor_wall_ns": s.anchor_wall_ns,
        "provenance": s.provenance,
        "notes": s.notes,
        "metrics": [
            {"protocol": sm.protocol, "hand": sm.hand, **metric_doc(sm.metric)} for sm in s.metrics
        ],
    }


def _trial_doc(t: TrialInfo, data: TrialData | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": t.id,
        "seq": t.seq,
        "protocol": t.protocol,
        "protocol_version": t.protocol_version,
        "protocol_hash": t.protocol_hash,
        "hand": t.hand,
        "practice": t.practice,
        "trial_index": t.trial_index,
        "status": t.status,
        "invalid_reason": t.invalid_reason,
        "params": t.params,
        "start_t_ns": t.start_t_ns,
        "end_t_ns": t.end_t_ns,
        "go_t_ns": t.go_t_ns,
        "roles": t.roles,
        "provenance": t.provenance,
        "faults": t.faults,
        "gaps": t.gaps,
        "notes": t.notes,
        "metrics": [metric_doc(m) for m in t.metrics],
    }
    if data is not None:
        doc["events"] = [asdict(e) for e in data.events]
        doc["cues"] = [asdict(c) for c in data.cues]
        doc["samples"] = [
            {
                "pad": pad.pad,
                "t_ns": pad.t_ns.tolist(),
                "code": pad.code.tolist(),
                "gain": pad.gain,
                "supply_v": pad.supply_v,
                "divider_ohm": pad.divider_ohm,
                "slope_n_per_s": pad.slope_n_per_s,
                "offset_n": pad.offset_n,
                "calibrated": pad.calibrated,
                "gaps": pad.gaps,
            }
            for pad in data.samples.values()
        ]
    return doc


def _open_object(doc: dict[str, Any], key: str, indent: int | None) -> str:
    """``doc`` as JSON with its closing brace replaced by ``"key": [`` (the list is streamed)."""
    text = json.dumps({**doc, key: []}, indent=indent, allow_nan=False, ensure_ascii=False)
    return text.rstrip().removesuffix("}").rstrip().removesuffix("]")


def export_json(
    store: Store,
    out: TextIO,
    *,
    participant_code: str | None = None,
    session_id: int | None = None,
    protocol: str | None = None,
    raw: bool = False,
    indent: int | None = None,
) -> int:
    """Write participants -> sessions -> trials (module docstring); returns the trial count."""
    header = {
        "format": JSON_FORMAT,
        "format_version": JSON_FORMAT_VERSION,
        "exported_utc": utc_text(datetime.now(UTC)),
        "raw": raw,
    }
    trials = 0
    selection = export_selection(
        store, participant_code=participant_code, session_id=session_id, protocol=protocol
    )
    out.write(_open_object(header, "participants", indent))
    for i, (participant, sessions) in enumerate(selection):
        reports = self_reports(store, participant.code, sessions)
        unlinked = [] if session_id is not None else reports.ratings.get(None, [])
        doc = {
            **participant_doc(participant),
            "ratings_without_session": [rating_doc(r) for r in unlinked],
        }
        out.write(("," if i else "") + "\n")
        out.write(_open_object(doc, "sessions", indent))
        for j, session in enumerate(sessions):
            ratings, notes = reports.of_session(session.id)
            doc = {
                **_session_doc(session),
                "ratings": [rating_doc(r) for r in ratings],
                "session_notes": [note_doc(n) for n in notes],
            }
            out.write(("," if j else "") + "\n")
            out.write(_open_object(doc, "trials", indent))
            for k, trial in enumerate(session.trials):
                data = store.trial_data(trial.id) if raw else None
                text = json.dumps(
                    _trial_doc(trial, data), indent=indent, allow_nan=False, ensure_ascii=False
                )
                out.write(("," if k else "") + "\n" + text)
                trials += 1
            out.write("]}")
        out.write("]}")
    out.write("]}\n")
    return trials
