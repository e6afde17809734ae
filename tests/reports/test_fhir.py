"""FHIR bundles: built through the fhir.resources R4B models, parsed back, and holding the
store's values with the right codes, laterality, units and statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from station.reports import ReportError, load_report_data
from station.reports.fhir import (
    FHIR_VERSION,
    LOINC,
    METRIC_SYSTEM,
    PARTICIPANT_SYSTEM,
    RATING_SYSTEM,
    SNOMED,
    UCUM,
    build_bundle,
    bundle_json,
    check_bundle,
)
from station.store import Store
from tests.reports.conftest import INVALID_REASON, RATINGS_B, STOPPED_AT, Filled

UNITS = {"s", "ms", "/s", "N", "N2", "ms2", "ms/s", "Hz", "%", "1"}


def _doc(store: Store, **selection: Any) -> dict[str, Any]:
    bundle = build_bundle(load_report_data(store, **selection))
    text = bundle_json(bundle)
    parsed = Bundle.model_validate_json(text)  # round trip through the R4B model
    assert parsed.model_dump(mode="json") == bundle.model_dump(mode="json")
    check_bundle(parsed)
    doc: dict[str, Any] = json.loads(text)
    return doc


def _resources(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == kind]


def _codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


def _by_identifier(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["identifier"][0]["value"]: o for o in _resources(doc, "Observation")}


def test_the_models_are_r4b() -> None:
    assert FHIR_VERSION == "4.3.0"
    from fhir.resources import R4B

    assert R4B.__fhir_version__ == FHIR_VERSION


def test_a_session_bundle_round_trips_and_holds_one_patient(store: Store, filled: Filled) -> None:
    doc = _doc(store, session_id=filled.sessions["A"])
    assert doc["resourceType"] == "Bundle" and doc["type"] == "collection"
    assert [e["resource"]["resourceType"] for e in doc["entry"][:2]] == ["Patient", "Device"]
    urls = [e["fullUrl"] for e in doc["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
    for entry in doc["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    # 6 non-practice trials and 3 (protocol, hand) summaries; the practice trial is left out
    observations = _resources(doc, "Observation")
    assert len(observations) == 6 + 3
    assert filled.trials["A:9hpt:right:practice"] not in {
        int(v.rsplit("/", 1)[1]) for v in _by_identifier(doc) if "/trial/" in v
    }


def test_the_patient_carries_only_the_pseudonymous_code(store: Store) -> None:
    doc = _doc(store, participant_code="P001")
    (patient,) = _resources(doc, "Patient")
    assert set(patient) == {"resourceType", "id", "identifier"}
    assert patient["identifier"] == [{"system": PARTICIPANT_SYSTEM, "value": "P001"}]
    assert "stroke" not in json.dumps(doc)  # the participant's notes never leave
    with_year = build_bundle(
        load_report_data(store, participant_code="P001"), include_birth_year=True
    )
    patient = with_year.model_dump(mode="json")["entry"][0]["resource"]
    assert patient["birthDate"] == "1960"
    subject = {"reference": doc["entry"][0]["fullUrl"]}
    assert all(o["subject"] == subject for o in _resources(doc, "Observation"))


def test_the_9hpt_summaries_hold_the_session_metrics(store: Store, filled: Filled) -> None:
    sid = filled.sessions["A"]
    session = store.session(sid)
    stored = {(sm.protocol, sm.hand, sm.metric.name): sm.metric for sm in session.metrics}
    doc = _doc(store, session_id=sid)
    obs = _by_identifier(doc)
    left = obs[f"station-7/session/{sid}/nine_hole_peg/left"]
    right = obs[f"station-7/session/{sid}/nine_hole_peg/right"]

    # the value is the store's session metric, in UCUM seconds
    for o, hand in ((left, "left"), (right, "right")):
        want = stored[("nine_hole_peg", hand, "mean_total_time_s")].value
        assert o["valueQuantity"] == {"value": want, "unit": "s", "system": UCUM, "code": "s"}
        assert o["status"] == "final"
        assert (METRIC_SYSTEM, "nine_hole_peg/mean_total_time_s") in _codes(o["code"])
        assert o["effectiveDateTime"] == "2025-03-04T10:00:00Z"
    assert left["valueQuantity"]["value"] == 20.0 and right["valueQuantity"]["value"] == 17.5
    # LOINC 83156-0 (9HPT time, left hand) only on the left hand's summary
    assert (LOINC, "83156-0") in _codes(left["code"])
    assert not any(c[0] == LOINC for c in _codes(right["code"]))
    # laterality in SNOMED CT
    assert _codes(left["bodySite"]) == {(SNOMED, "7771000")}
    assert _codes(right["bodySite"]) == {(SNOMED, "24028007")}
    # the other summary metrics are components; a missing one has a reason, not a value
    components = {c["code"]["coding"][0]["code"]: c for c in right["component"]}
    assert components["nine_hole_peg/mean_pegs_per_s"]["valueQuantity"]["value"] == 0.5147
    assert components["nine_hole_peg/mean_pegs_per_s"]["valueQuantity"]["code"] == "/s"
    missing = left["component"][0]
    assert missing["code"]["coding"][0]["code"] == "nine_hole_peg/mean_placement_time_s"
    assert "valueQuantity" not in missing and missing["dataAbsentReason"]["text"] == "no value"
    # derived from the complete trials only (not the invalid or the practice one)
    trial_url = {o["identifier"][0]["value"]: f"urn:uuid:{o['id']}" for o in obs.values()}
    right_trials = [
        trial_url[f"station-7/trial/{filled.trials[f'A:9hpt:right:{i}']}"] for i in (1, 2)
    ]
    assert [d["reference"] for d in right["derivedFrom"]] == right_trials
    assert [d["reference"] for d in left["derivedFrom"]] == [
        trial_url[f"station-7/trial/{filled.trials['A:9hpt:left:1']}"]
    ]


def test_trial_observations_carry_status_values_and_reasons(store: Store, filled: Filled) -> None:
    doc = _doc(store, session_id=filled.sessions["A"])
    obs = _by_identifier(doc)

    def of(key: str) -> dict[str, Any]:
        return obs[f"station-7/trial/{filled.trials[key]}"]

    complete = of("A:9hpt:right:2")
    assert complete["status"] == "final"
    assert complete["valueQuantity"]["value"] == 17.0
    assert (METRIC_SYSTEM, "nine_hole_peg/total_time_s") in _codes(complete["code"])
    names = [c["code"]["coding"][0]["code"] for c in complete["component"]]
    assert names[0] == "nine_hole_peg/placement_time_s" and len(names) == 5
    absent = complete["component"][-1]
    assert absent["dataAbsentReason"]["text"] == "fewer than 3 intervals"

    invalid = of("A:9hpt:left:2")
    assert invalid["status"] == "entered-in-error"
    assert any(INVALID_REASON in n["text"] for n in invalid["note"])
    assert of("A:force:left:1")["status"] == "cancelled"
    assert "dataAbsentReason" in of("A:force:left:1")
    force = of("A:force:right:1")
    assert force["valueQuantity"] == {"value": 30.5, "unit": "N", "system": UCUM, "code": "N"}
    # the trial's start on the session clock, in UTC (anchor: monotonic 5 s = session start)
    assert complete["effectiveDateTime"] == "2025-03-04T10:00:01Z"
    assert of("A:9hpt:right:1")["effectiveDateTime"] == "2025-03-04T10:00:55Z"


def _measures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The Observations of measured results (not the self-reported ratings)."""
    return [o for o in _resources(doc, "Observation") if "/rating/" not in _identifier(o)]


def _ratings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in _resources(doc, "Observation") if "/rating/" in _identifier(o)]


def _identifier(o: dict[str, Any]) -> str:
    return str(o["identifier"][0]["value"])


def test_every_quantity_is_ucum_and_every_observation_is_coded(store: Store) -> None:
    doc = _doc(store, participant_code="P001")
    seen = 0
    for o in _measures(doc):
        assert o["category"][0]["coding"][0]["code"] == "exam"
        assert o["device"]["reference"].startswith("urn:uuid:")
        assert "method" in o and o["method"]["text"]
        for part in (o, *o.get("component", [])):
            assert any(c[0] == METRIC_SYSTEM for c in _codes(part["code"]))
            if "valueQuantity" in part:
                q = part["valueQuantity"]
                assert q["system"] == UCUM and q["code"] == q["unit"] and q["unit"] in UNITS
                seen += 1
            else:
                assert part["dataAbsentReason"]["text"]
    assert seen > 40


def test_simulated_data_is_labelled_as_test_data(store: Store, filled: Filled) -> None:
    sim = _doc(store, session_id=filled.sessions["A"])
    real = _doc(store, session_id=filled.sessions["B"])
    for o in _resources(sim, "Observation"):
        assert o["meta"]["security"][0]["code"] == "HTEST"
        assert any("SIMULATED" in n["text"] for n in o["note"])
    (device,) = _resources(sim, "Device")
    assert device["meta"]["security"][0]["code"] == "HTEST"
    assert device["identifier"][0]["value"] == "station-7"
    for o in _resources(real, "Observation"):
        assert "meta" not in o
    assert len(_ratings(real)) == len(RATINGS_B) and _ratings(sim) == []
    both = _doc(store, participant_code="P001")
    assert len(_resources(both, "Device")) == 2  # one per backend


def test_resource_ids_are_stable_across_exports(store: Store) -> None:
    data = load_report_data(store, participant_code="P001")
    first = build_bundle(data, now=datetime(2025, 5, 1, tzinfo=UTC))
    second = build_bundle(data)
    assert [e.fullUrl for e in first.entry] == [e.fullUrl for e in second.entry]
    assert first.id != second.id
    assert first.model_dump(mode="json")["timestamp"].startswith("2025-05-01T00:00:00")


def test_check_bundle_refuses_what_the_models_let_through(store: Store, filled: Filled) -> None:
    doc = json.loads(bundle_json(build_bundle(load_report_data(store, participant_code="P001"))))
    broken = json.loads(json.dumps(doc))
    broken["entry"][2]["resource"]["subject"]["reference"] = "urn:uuid:nowhere"
    with pytest.raises(ReportError, match="not in the bundle"):
        check_bundle(Bundle.model_validate(broken))
    broken = json.loads(json.dumps(doc))
    broken["entry"][2]["resource"]["status"] = "done"
    with pytest.raises(ReportError, match="status 'done'"):
        check_bundle(Bundle.model_validate(broken))
    broken = json.loads(json.dumps(doc))
    broken["entry"][2]["resource"]["dataAbsentReason"] = {"text": "both"}
    with pytest.raises(ReportError, match="value and a dataAbsentReason"):
        check_bundle(Bundle.model_validate(broken))


def test_unknown_participants_and_sessions_are_refused(store: Store, filled: Filled) -> None:
    with pytest.raises(ReportError, match="no participant 'P404'") as exc:
        load_report_data(store, participant_code="P404")
    assert exc.value.field == "code"
    with pytest.raises(ReportError, match="no session 999") as exc:
        load_report_data(store, session_id=999)
    assert exc.value.field == "session_id"
    with pytest.raises(ReportError, match="not of participant 'P002'"):
        load_report_data(store, participant_code="P002", session_id=filled.sessions["A"])
    with pytest.raises(ReportError, match="needs a participant"):
        load_report_data(store)


def test_a_participant_without_sessions_is_a_patient_alone(store: Store) -> None:
    doc = _doc(store, participant_code="P002")
    assert [e["resource"]["resourceType"] for e in doc["entry"]] == ["Patient"]


def test_ratings_are_observations_with_a_local_code_only(store: Store, filled: Filled) -> None:
    sid = filled.sessions["B"]
    doc = _doc(store, session_id=sid)
    ratings = _ratings(doc)
    # the session's four ratings, in time order; not the one of the visit stopped for pain
    assert [(o["code"]["coding"][0]["code"], o["valueInteger"]) for o in ratings] == [
        (scale, value) for scale, _, value, _ in RATINGS_B
    ]
    patient_url = doc["entry"][0]["fullUrl"]
    for o, (scale, timing, _, minute) in zip(ratings, RATINGS_B, strict=True):
        assert o["status"] == "final"
        assert _codes(o["code"]) == {(RATING_SYSTEM, scale)}  # no LOINC: none is listed
        assert o["category"][0]["coding"][0]["code"] == "survey"
        assert "valueQuantity" not in o and 0 <= o["valueInteger"] <= 10
        assert o["subject"] == {"reference": patient_url}
        assert o["performer"] == [{"reference": patient_url}]  # the participant gave it
        start = 9 * 60 + 30 + minute  # session B started 09:30 UTC
        assert o["effectiveDateTime"] == f"2025-04-01T{start // 60:02d}:{start % 60:02d}:00Z"
        notes = " ".join(n["text"] for n in o["note"])
        assert f"rated {timing} the session: session {sid}, battery nine_hole_peg" in notes
        assert "0 = no" in notes and "10 = " in notes
        assert _identifier(o) == f"station-7/rating/{filled.ratings[f'B:{scale}:{timing}']}"
        assert "bodySite" not in o and "device" not in o


def test_a_participant_bundle_holds_the_rating_that_stopped_a_visit(
    store: Store, filled: Filled
) -> None:
    doc = _doc(store, participant_code="P001")
    ratings = _ratings(doc)
    assert len(ratings) == len(RATINGS_B) + 1
    stopped = ratings[-1]  # the latest
    assert stopped["valueInteger"] == 8
    assert stopped["effectiveDateTime"] == STOPPED_AT.isoformat().replace("+00:00", "Z")
    assert (
        _identifier(stopped) == f"participant/P001/rating/{filled.ratings['stopped:pain:before']}"
    )
    assert any("did not run" in n["text"] for n in stopped["note"])
    # the same ids again: ratings are recognised when exported twice
    again = _ratings(_doc(store, participant_code="P001"))
    assert [o["id"] for o in again] == [o["id"] for o in ratings]
    assert len({o["id"] for o in ratings}) == len(ratings)
