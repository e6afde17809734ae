"""FHIR bundles of a participant's or a session's results.

Built with the ``fhir.resources`` models of **FHIR R4B (4.3.0)** (``fhir.resources.R4B``): the
package's top-level models are R5, and R4B is the release closest to R4 (Patient, Observation,
Device and Bundle are the same in R4 and R4B apart from a few new optional elements this module
does not use). Every resource is constructed through its model, so a malformed element is
refused when the bundle is built; :func:`check_bundle` then checks what the models do not
(references resolve inside the bundle, the Observation status value set, invariant obs-6).

The bundle (``type = collection``)
    * one **Patient** carrying only the pseudonymous code, as an identifier with the local system
      :data:`PARTICIPANT_SYSTEM` (no name, no sex, no address). The birth year is left out unless
      asked for (``include_birth_year``): a FHIR bundle leaves the station for other systems, and
      a birth year beside exact session dates narrows who a pseudonym can be; the receiving
      system rarely needs it to read a timed test.
    * one **Device** per station and software version (identifier: the station id; a note when
      the backend was simulated);
    * per session, one **summary Observation per protocol and hand**: ``valueQuantity`` is the
      hand's main session result (the summary of the protocol's first key metric, e.g.
      ``mean_total_time_s`` for the Nine-Hole Peg Test, ``best_max_force_n`` for maximal force),
      the other session summary metrics of that protocol and hand are its **components**, and
      ``derivedFrom`` lists the Observations of the trials it was computed from;
    * one **trial Observation per scored (non-practice) trial**: ``valueQuantity`` is the
      trial's main metric (the protocol's first key metric), every other metric of the trial is
      a component. Status: ``final`` for complete trials (and ``timeout``, with a note),
      ``entered-in-error`` for trials the clinician marked invalid (the reason is in ``note``),
      ``cancelled`` for incomplete ones. Practice trials are not exported.
    * one **rating Observation per self-reported rating** (self-guided mode's pain and fatigue,
      0-10, before and after a session): ``valueInteger`` (a scale with fractions would give a
      ``valueQuantity`` in ``{score}``), ``effectiveDateTime`` the moment it was given,
      ``category`` ``survey``, ``performer`` the Patient when the participant gave it, and a
      ``note`` saying whether it was before or after the session (which session and battery)
      and what 0 and 10 mean. A session's bundle holds the ratings linked to that session; a
      participant's bundle holds all of theirs, also those linked to no session (a visit
      stopped by the pain rating before anything ran; the note says so).

Codes
    * ``code``: the local code system :data:`METRIC_SYSTEM`, code ``<protocol>/<metric>``
      exactly as in the CSV and JSON exports (e.g. ``nine_hole_peg/mean_total_time_s``), plus a
      LOINC coding where one is listed in :data:`LOINC_CODES`. The only such code is LOINC
      83156-0 (NIH Toolbox 9-Hole Pegboard, time, left hand) on the left hand's 9HPT summary;
      it was taken from the project's reference notes and **must be verified against loinc.org
      before clinical use** (the NIH Toolbox also starts its timing differently). No LOINC code
      was found for the right hand's time or for the other protocols, so they carry the local
      code only; the grip-strength codes (83173-5, 83174-3) are not used because the station
      measures finger force on a pad, not grip.
    * ratings: ``code`` is the local code system :data:`RATING_SYSTEM` only, code ``pain`` or
      ``fatigue`` (the store's scale names). The project's reference notes list no LOINC code
      for a pain or fatigue rating, so none is given; a receiver that needs one maps the local
      code itself.
    * ``bodySite``: laterality in SNOMED CT, left 7771000, right 24028007 (``both``: text only).
    * ``valueQuantity``: UCUM (``http://unitsofmeasure.org``): ``s``, ``ms``, ``/s``, ``N``,
      ``N2``, ``ms2``, ``ms/s``, ``Hz``, ``%``, ``1``. A missing value is a
      ``dataAbsentReason`` (``unknown``) whose text says why.
    * ``category``: ``exam``; ``method``: the protocol's title, name and version; ``device``:
      the station; ``effectiveDateTime``: the session's start (summary) or the trial's start
      (from the session's clock anchor).
    * Data from the simulated backend carries the security label ``HTEST`` (test health data)
      and a note, on the Observations and the Device.

Resource ids are UUIDs derived (UUID 5) from the station id, session, trial, protocol and hand
(the Patient's from its identifier, a rating's from the participant code, the rating's id and
time), so exporting the same data again gives the same resource
ids; ``fullUrl`` is ``urn:uuid:<id>``. The Bundle's own id is new each time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.patient import Patient

from station.records import Metric
from station.reports.common import (
    RATING_SCALE_TEXT,
    ReportData,
    ReportError,
    as_utc,
    group_summary,
    hand_order,
    key_metric_names,
    primary_summary_metric,
    primary_trial_metric,
    protocol_title,
    protocols_in_order,
    rating_when_text,
    trial_start_utc,
)
from station.store import Rating, SessionInfo, TrialInfo
from station.store.export import finite_number

FHIR_RELEASE: Final = "R4B"
FHIR_VERSION: Final = "4.3.0"

METRIC_SYSTEM: Final = "urn:dexterity-station:metric"
RATING_SYSTEM: Final = "urn:dexterity-station:rating"
PARTICIPANT_SYSTEM: Final = "urn:dexterity-station:participant-code"
OBSERVATION_SYSTEM: Final = "urn:dexterity-station:observation"
STATION_SYSTEM: Final = "urn:dexterity-station:station-id"
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

#: SNOMED CT laterality qualifiers (project reference notes, "Health IT").
LATERALITY: Final = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}
#: LOINC codes by (protocol, session metric, hand): only codes listed in the project's reference
#: notes, to be verified against loinc.org before clinical use.
LOINC_CODES: Final[dict[tuple[str, str, str], str]] = {
    ("nine_hole_peg", "mean_total_time_s", "left"): "83156-0",
}
#: FHIR R4 ObservationStatus.
OBSERVATION_STATUSES: Final = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
TRIAL_STATUS_TO_FHIR: Final = {
    "complete": "final",
    "timeout": "final",
    "invalid": "entered-in-error",
    "incomplete": "cancelled",
    "running": "preliminary",
}

#: The local rating codes' display texts (no LOINC code is listed for these ratings).
RATING_DISPLAY: Final = {
    "pain": "Pain intensity, 0-10 numeric rating scale, self-reported",
    "fatigue": "Fatigue, 0-10 numeric rating scale, self-reported",
}

_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dexterity-station")
_SIMULATED_NOTE: Final = (
    "SIMULATED: recorded on the simulated backend (a virtual participant), "
    "not a measurement of a person."
)
_HTEST: Final = {"system": ACT_REASON, "code": "HTEST", "display": "test health data"}


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))


def _url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def _fhir_time(t: datetime) -> str:
    return as_utc(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metric_coding(protocol: str, name: str) -> dict[str, str]:
    return {"system": METRIC_SYSTEM, "code": f"{protocol}/{name}", "display": name}


def _code(protocol: str, name: str, hand: str, text: str) -> dict[str, Any]:
    codings = []
    loinc = LOINC_CODES.get((protocol, name, hand))
    if loinc is not None:
        codings.append({"system": LOINC, "code": loinc})
    codings.append(metric_coding(protocol, name))
    return {"coding": codings, "text": text}


def _body_site(hand: str) -> dict[str, Any]:
    if hand in LATERALITY:
        code, display = LATERALITY[hand]
        return {
            "coding": [{"system": SNOMED, "code": code, "display": display}],
            "text": f"{hand} hand",
        }
    return {"text": "both hands" if hand == "both" else f"{hand} hand"}


def _absent(why: str) -> dict[str, Any]:
    return {
        "coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}],
        "text": why or "no value",
    }


def _value(m: Metric | None) -> dict[str, Any]:
    """``valueQuantity`` for a metric, or ``dataAbsentReason`` saying why there is none."""
    if m is None:
        return {"dataAbsentReason": _absent("no metric was computed")}
    number = finite_number(m.value)
    if number is None:
        return {"dataAbsentReason": _absent(m.detail)}
    unit = m.unit or "1"
    return {"valueQuantity": {"value": number, "unit": unit, "system": UCUM, "code": unit}}


def _category(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}


def _components(protocol: str, metrics: Iterable[Metric]) -> list[ObservationComponent]:
    return [
        ObservationComponent(
            code={"coding": [metric_coding(protocol, m.name)], "text": m.name}, **_value(m)
        )
        for m in metrics
    ]


class _Builder:
    def __init__(self, data: ReportData, include_birth_year: bool) -> None:
        self.data = data
        self.include_birth_year = include_birth_year
        self.entries: list[BundleEntry] = []
        self.devices: dict[tuple[str, str, str], str] = {}
        p = data.participant
        self.patient_id = _uuid("patient", PARTICIPANT_SYSTEM, p.code)

    def add(self, resource: Any) -> None:
        self.entries.append(BundleEntry(fullUrl=_url(resource.id), resource=resource))

    def patient(self) -> None:
        p = self.data.participant
        fields: dict[str, Any] = {
            "id": self.patient_id,
            "identifier": [{"system": PARTICIPANT_SYSTEM, "value": p.code}],
        }
        if self.include_birth_year and p.birth_year is not None:
            fields["birthDate"] = f"{p.birth_year:04d}"
        self.add(Patient(**fields))

    def device(self, s: SessionInfo) -> str:
        key = (s.station_id, s.software_version, s.hardware_backend)
        found = self.devices.get(key)
        if found is not None:
            return found
        device_id = _uuid("device", *key)
        fields: dict[str, Any] = {
            "id": device_id,
            "identifier": [{"system": STATION_SYSTEM, "value": s.station_id}],
            "deviceName": [
                {"name": f"Dexterity Station {s.station_id}", "type": "user-friendly-name"}
            ],
            "version": [{"value": s.software_version}],
            "note": [{"text": f"hardware backend: {s.hardware_backend}"}],
        }
        if s.hardware_backend == "sim":
            fields["meta"] = {"security": [_HTEST]}
            fields["note"].append({"text": _SIMULATED_NOTE})
        self.add(Device(**fields))
        self.devices[key] = device_id
        return device_id

    def _common(self, s: SessionInfo, hand: str, device_id: str) -> dict[str, Any]:
        common: dict[str, Any] = {
            "category": [_category("exam", "Exam")],
            "subject": {"reference": _url(self.patient_id)},
            "bodySite": _body_site(hand),
            "device": {"reference": _url(device_id)},
        }
        if s.hardware_backend == "sim":
            common["meta"] = {"security": [_HTEST]}
        return common

    def rating(self, r: Rating, s: SessionInfo | None) -> None:
        """A self-reported rating (module docstring); ``s`` is its session, if it has one."""
        code = self.data.participant.code
        where = f"{s.station_id if s else f'participant/{code}'}/rating/{r.id}"
        if r.session_id is None:
            about = (
                f"rated {r.timing} a self-guided session that did not run (linked to no "
                "session; e.g. the visit was stopped by this pain rating)"
            )
        else:
            about = f"rated {rating_when_text(r)}: session {r.session_id}"
            about += f", battery {s.battery_name}" if s is not None else ""
            about += f", trial {r.trial_id}" if r.trial_id is not None else ""
        notes = [about, f"{r.scale}: {RATING_SCALE_TEXT.get(r.scale, 'scale 0-10')}"]
        notes.append(
            "given by the participant" if r.source == "participant" else f"entered by {r.source}"
        )
        display = RATING_DISPLAY.get(r.scale, r.scale)
        fields: dict[str, Any] = {
            "id": _uuid("rating", PARTICIPANT_SYSTEM, code, r.id, _fhir_time(r.t_utc)),
            "identifier": [{"system": OBSERVATION_SYSTEM, "value": where}],
            "status": "final",
            "category": [_category("survey", "Survey")],
            "code": {
                "coding": [{"system": RATING_SYSTEM, "code": r.scale, "display": display}],
                "text": display,
            },
            "subject": {"reference": _url(self.patient_id)},
            "effectiveDateTime": _fhir_time(r.t_utc),
        }
        if r.source == "participant":
            fields["performer"] = [{"reference": _url(self.patient_id)}]
        if float(r.value).is_integer():
            fields["valueInteger"] = int(r.value)
        else:
            fields["valueQuantity"] = {
                "value": float(r.value),
                "unit": "{score}",
                "system": UCUM,
                "code": "{score}",
            }
        if s is not None and s.hardware_backend == "sim":
            fields["meta"] = {"security": [_HTEST]}
            notes.append(_SIMULATED_NOTE)
        fields["note"] = [{"text": n} for n in notes]
        self.add(Observation(**fields))

    def trial(self, s: SessionInfo, t: TrialInfo, device_id: str) -> str:
        obs_id = _uuid("trial", s.station_id, s.id, t.id)
        primary = primary_trial_metric(t.protocol, t.metrics)
        if primary is not None:
            name = primary.name
        else:
            keys = key_metric_names(t.protocol)
            name = keys[0] if keys else "trial"
        title = protocol_title(t.protocol)
        notes = []
        if t.status == "invalid":
            notes.append(f"invalid: {t.invalid_reason or 'no reason given'}")
        elif t.status == "timeout":
            notes.append("timeout: the time limit was reached; not counted in the summary")
        elif t.status != "complete":
            notes.append(f"trial status: {t.status}")
        notes += [f"fault: {f}" for f in t.faults]
        if t.notes:
            notes.append(t.notes)
        if s.hardware_backend == "sim":
            notes.append(_SIMULATED_NOTE)
        others = [m for m in t.metrics if m is not primary]
        fields: dict[str, Any] = {
            "id": obs_id,
            "identifier": [{"system": OBSERVATION_SYSTEM, "value": f"{s.station_id}/trial/{t.id}"}],
            "status": TRIAL_STATUS_TO_FHIR.get(t.status, "unknown"),
            "code": _code(
                t.protocol, name, "", f"{title}: {name} ({t.hand} hand, trial {t.trial_index})"
            ),
            "effectiveDateTime": _fhir_time(trial_start_utc(s, t)),
            "method": {
                "text": f"{title} (protocol {t.protocol} version {t.protocol_version}), "
                f"trial {t.trial_index}, session {s.id}, battery {s.battery_name}"
            },
            **self._common(s, t.hand, device_id),
            **_value(primary),
        }
        if notes:
            fields["note"] = [{"text": n} for n in notes]
        if others:
            fields["component"] = _components(t.protocol, others)
        self.add(Observation(**fields))
        return obs_id

    def summary(
        self,
        s: SessionInfo,
        protocol: str,
        hand: str,
        metrics: Sequence[Metric],
        counted: Sequence[str],
        device_id: str,
    ) -> None:
        primary = primary_summary_metric(protocol, metrics)
        if primary is None:
            return
        title = protocol_title(protocol)
        notes = [f"{primary.name}: {primary.detail}"] if primary.detail else []
        if s.status != "complete":
            notes.append(f"session status: {s.status}")
        if s.hardware_backend == "sim":
            notes.append(_SIMULATED_NOTE)
        others = [m for m in metrics if m is not primary]
        fields: dict[str, Any] = {
            "id": _uuid("summary", s.station_id, s.id, protocol, hand),
            "identifier": [
                {
                    "system": OBSERVATION_SYSTEM,
                    "value": f"{s.station_id}/session/{s.id}/{protocol}/{hand}",
                }
            ],
            "status": "final",
            "code": _code(protocol, primary.name, hand, f"{title}: {primary.name} ({hand} hand)"),
            "effectiveDateTime": _fhir_time(s.started_utc),
            "method": {
                "text": f"{title} (protocol {protocol}); summary of the session's valid trials; "
                f"session {s.id}, battery {s.battery_name}"
            },
            **self._common(s, hand, device_id),
            **_value(primary),
        }
        if notes:
            fields["note"] = [{"text": n} for n in notes]
        if others:
            fields["component"] = _components(protocol, others)
        if counted:
            fields["derivedFrom"] = [{"reference": _url(i)} for i in counted]
        self.add(Observation(**fields))

    def session(self, s: SessionInfo) -> None:
        device_id = self.device(s)
        counted: dict[tuple[str, str], list[str]] = {}
        for t in s.trials:
            if t.practice:
                continue
            obs_id = self.trial(s, t, device_id)
            if t.status == "complete":
                counted.setdefault((t.protocol, t.hand), []).append(obs_id)
        summary = group_summary(s.metrics)
        for protocol in protocols_in_order(s):
            hands = sorted((h for p, h in summary if p == protocol), key=hand_order)
            for hand in hands:
                self.summary(
                    s,
                    protocol,
                    hand,
                    summary[(protocol, hand)],
                    counted.get((protocol, hand), []),
                    device_id,
                )


def build_bundle(
    data: ReportData, *, include_birth_year: bool = False, now: datetime | None = None
) -> Bundle:
    """The collection Bundle of ``data`` (module docstring), checked by :func:`check_bundle`."""
    builder = _Builder(data, include_birth_year)
    builder.patient()
    for s in data.sessions:
        builder.session(s)
    sessions = {s.id: s for s in data.sessions}
    for r in data.ratings:
        builder.rating(r, sessions.get(r.session_id or 0))
    bundle = Bundle(
        id=str(uuid.uuid4()),
        type="collection",
        timestamp=_fhir_time(now or datetime.now(UTC)),
        entry=builder.entries,
    )
    check_bundle(bundle)
    return bundle


def _references(obj: Any) -> Iterable[str]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _references(item)


def check_bundle(bundle: Bundle) -> None:
    """What the models do not check: every reference names an entry of the bundle, each
    Observation's status is in the R4 value set, and no Observation (or component) has both a
    value and a ``dataAbsentReason`` (invariants obs-6 and obs-7's value rule)."""
    doc = bundle.model_dump(mode="json", exclude_none=True)
    urls = {e["fullUrl"] for e in doc.get("entry", [])}
    for entry in doc.get("entry", []):
        resource = entry["resource"]
        where = f"{resource['resourceType']} {entry['fullUrl']}"
        for ref in _references(resource):
            if ref not in urls:
                raise ReportError(f"FHIR bundle: {where} refers to {ref}, not in the bundle")
        if resource["resourceType"] != "Observation":
            continue
        if resource["status"] not in OBSERVATION_STATUSES:
            raise ReportError(f"FHIR bundle: {where} has status {resource['status']!r}")
        parts = [resource, *resource.get("component", [])]
        for part in parts:
            has_value = any(k.startswith("value") for k in part)
            if has_value and "dataAbsentReason" in part:
                raise ReportError(f"FHIR bundle: {where} has a value and a dataAbsentReason")
            if not has_value and "dataAbsentReason" not in part:
                raise ReportError(f"FHIR bundle: {where} has neither a value nor a reason")
        codes = {(c["system"], c["code"]) for c in resource["code"].get("coding", [])}
        for component in resource.get("component", []):
            mine = {(c["system"], c["code"]) for c in component["code"].get("coding", [])}
            if mine & codes:
                raise ReportError(f"FHIR bundle: {where} repeats its code in a component")


def bundle_json(bundle: Bundle, *, indent: int | None = 2) -> str:
    """The bundle as FHIR JSON (``application/fhir+json``)."""
    text: str = bundle.model_dump_json(exclude_none=True, indent=indent)
    return text
