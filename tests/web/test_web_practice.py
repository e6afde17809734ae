"""Graded practice on the clinic server: a clinician prescribes in the browser, the participant
practises (real sessions through ``station.programs.run`` on the simulated station), and the
clinician sees the adherence, the symptoms, the level over time and every decision with its
reason and inputs. Times follow a virtual clock (the app's ``PRACTICE_CLOCK`` and the runner's
``now_utc``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from hardware.sim.participant import VirtualParticipant
from station.programs.history import adherence, session_record
from station.programs.metrics import format_value
from station.programs.run import PracticeRun, run_practice
from station.rig import Rig
from station.store import Store
from tests.programs.conftest import MINI
from tests.web.conftest import PASSWORDS, AuthActions, Filled, accounts_of, csrf_of, make_app
from tests.web.conftest import state_of as state_of_app
from web import close_app

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday
HOSTILE = '<script>alert("x")</script>'
#: Values no form field should take, and must never cause a 500.
HOSTILE_VALUES = [
    "", " ", "-1", "0", "1e3", "0x10", "1.5", "+2", "٣", "１", "9" * 30, "NaN", "inf",
    HOSTILE, "\x00", "a\x00b", "%00", "' OR 1=1 --", "x" * 5000, "\ud800".encode("utf-8",
    "surrogatepass").decode("utf-8", "replace"), "end ", "PAUSE", "mini ", "../mini",
]  # fmt: skip


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def papp(data_dir: Path, filled: Filled, clock: Clock) -> Iterator[Flask]:
    """The app on the filled store, with the small test program as the clinic's own and the
    virtual clock."""
    (data_dir / "programs").mkdir()
    (data_dir / "programs" / "mini.toml").write_text(MINI)
    app = make_app(data_dir, PRACTICE_CLOCK=clock)
    accounts_of(app).add_user("alice", "clinician", PASSWORDS["alice"])
    accounts_of(app).add_user("root", "admin", PASSWORDS["root"])
    yield app
    assert state_of_app(app).internal_errors == 0, "a request reached the last-resort 500 handler"
    close_app(app)


@pytest.fixture
def client(papp: Flask) -> FlaskClient:
    client = papp.test_client()
    assert AuthActions(client).sign_in().status_code == 303
    return client


def store_of(app: Flask) -> Store:
    return state_of_app(app).store  # type: ignore[no-any-return]


def post(client: FlaskClient, url: str, **form: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_of(client), **form})


def prescribe(client: FlaskClient, code: str = "P001", **form: Any) -> Any:
    values = {"program": "mini", "level": "1", "per_week": "4", "daily_cap": "1", "note": ""}
    values.update(form)
    return post(client, f"/participants/{code}/practice/prescribe", **values)


SVG_RE = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of a page, parsed as XML (fails on malformed markup)."""
    return [ET.fromstring(m.group(0)) for m in SVG_RE.finditer(html)]


def with_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.data[:300])
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def error_text(html: str) -> str:
    found = re.findall(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    assert found, "no error message on the page"
    return found[0]


# -- prescribing ----------------------------------------------------------------------------------


def test_prescribing_in_the_browser(papp: Flask, client: FlaskClient, clock: Clock) -> None:
    html = page(client, "/participants/P001/practice")
    assert "No program prescribed yet" in html
    assert 'name="csrf_token"' in html
    # the shipped programs and the clinic's own are offered
    for name in ("nerve_distal", "musician_timing", "mini"):
        assert f'<option value="{name}"' in html
    assert "the clinic's own" in html

    response = prescribe(client, level="1", per_week="4", daily_cap="1", note="after the splint")
    assert response.status_code == 303
    (rx,) = store_of(papp).prescriptions("P001")
    assert response.headers["Location"] == f"/participants/P001/practice#rx-{rx.id}"
    assert (rx.program_name, rx.start_level, rx.current_level) == ("mini", 1, 1)
    assert (rx.sessions_per_week, rx.daily_cap, rx.status) == (4, 1, "active")
    assert rx.created_by == "alice" and rx.created_utc == T0 and rx.note == "after the splint"
    (created,) = store_of(papp).prescription_changes(rx.id)
    assert created.kind == "created" and created.author == "alice"

    html = page(client, "/participants/P001/practice")
    assert "Prescribed mini v1.0: level 1 of 2, 4 sessions a week, at most 1 a day." in html
    assert f'id="rx-{rx.id}"' in html and 'data-level="1"' in html
    assert "Level 1: Slow" in html and "Goal: Even taps" in html
    assert "3 sets x 8 repetitions in one trial, rest 30 s" in html  # the metronome's dose
    assert "timing spread with the clicks (SD): at most 60 ms; 120 ms" in html
    assert "n_sync = 8, n_continuation = 6" in html
    # nothing done yet: this week prescribed 4 (Wednesday: 5 days left at 1 a day)
    assert re.search(r'data-week="2026-03-02" data-prescribed="4" data-done="0"', html)
    # the participant page links to it with a summary
    html = page(client, "/participants/P001")
    assert "Graded practice" in html and 'href="/participants/P001/practice"' in html
    assert "mini</a> v1.0" in html and "level 1 of 2, 4 sessions a week, at most 1 a day" in html

    entries, _ = accounts_of(papp).audit_entries(user_name="alice")
    actions = [e.action for e in entries]
    assert actions[:3] == ["participant.view", "practice.view", "practice.prescribe"]
    assert entries[2].participant_code == "P001"
    assert entries[2].detail["prescription_id"] == rx.id and entries[2].detail["program"] == "mini"
    assert entries[1].detail["prescriptions"] == [rx.id]


# (form values, words of the message)
BAD_PRESCRIPTIONS = [
    ({"program": ""}, "program: nothing is not one of"),
    ({"program": "nope"}, "program: &#39;nope&#39; is not one of"),
    ({"program": "../mini"}, "is not one of"),
    ({"level": "0"}, "start level: 0 is outside 1-2"),
    ({"level": "3"}, "start level: 3 is outside 1-2"),
    ({"level": ""}, "start level: give a whole number from 1 to 2"),
    ({"level": "1.5"}, "start level: &#39;1.5&#39; is not a whole number"),
    ({"level": "-1"}, "not a whole number"),
    ({"level": "٣"}, "not a whole number"),
    ({"per_week": "0"}, "sessions a week: 0 is outside 1-14"),
    ({"per_week": "15"}, "sessions a week: 15 is outside 1-14"),
    ({"per_week": "99999999999999999999"}, "sessions a week"),
    ({"daily_cap": "11"}, "daily cap: 11 is outside 1-10"),
    ({"daily_cap": "abc"}, "daily cap: &#39;abc&#39; is not a whole number"),
    ({"per_week": "8", "daily_cap": "1"}, "8 cannot be done at most 1 a day (7 a week at most)"),
    ({"note": "x" * 4001}, "note: longer than 4000 characters"),
    ({"note": "a\x00b"}, "note: contains control characters"),
]


@pytest.mark.parametrize(("form", "words"), BAD_PRESCRIPTIONS)
def test_bad_prescriptions_are_400_with_the_message_in_the_page(
    papp: Flask, client: FlaskClient, form: dict[str, str], words: str
) -> None:
    response = prescribe(client, **form)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert words in error_text(html)
    assert 'id="form-prescribe"' in html  # the form again, to correct
    assert store_of(papp).prescriptions("P001") == []


def test_a_field_given_twice_and_a_second_open_prescription_are_refused(
    papp: Flask, client: FlaskClient
) -> None:
    response = client.post(
        "/participants/P001/practice/prescribe",
        data={
            "csrf_token": csrf_of(client),
            "program": ["mini", "nerve_distal"],
            "level": "1",
            "per_week": "3",
            "daily_cap": "1",
        },
    )
    assert response.status_code == 400
    assert "program: given more than once" in response.get_data(as_text=True)
    assert prescribe(client).status_code == 303
    response = prescribe(client, level="2", per_week="6", daily_cap="2", note="kept")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "already has a prescription of &#39;mini&#39;" in error_text(html)
    # what was typed is kept in the form
    assert 'name="per_week" min="1" max="14" required value="6"' in html
    assert ">kept</textarea>" in html
    assert len(store_of(papp).prescriptions("P001")) == 1


def test_pause_resume_override_and_dose_are_in_the_change_log(
    papp: Flask, client: FlaskClient, clock: Clock
) -> None:
    prescribe(client)
    (rx,) = store_of(papp).prescriptions("P001")
    base = f"/participants/P001/practice/{rx.id}"

    clock.now = T0 + timedelta(days=1)
    response = post(client, f"{base}/status", action="pause", reason="holiday")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#rx-{rx.id}")
    assert store_of(papp).prescription(rx.id).status == "paused"
    assert "mini: paused." in page(client, "/participants/P001/practice")
    # pausing again changes nothing
    assert post(client, f"{base}/status", action="pause").status_code == 303
    assert "already paused, nothing changed" in page(client, "/participants/P001/practice")

    response = post(client, f"{base}/level", level="2", reason="  ")
    assert response.status_code == 400
    assert "reason: required" in error_text(response.get_data(as_text=True))
    response = post(client, f"{base}/level", level="3", reason="too high")
    assert response.status_code == 400
    assert "level: 3 is outside 1-2" in response.get_data(as_text=True)
    clock.now = T0 + timedelta(days=2)
    assert post(client, f"{base}/level", level="2", reason="does it at home").status_code == 303
    assert post(client, f"{base}/status", action="resume").status_code == 303
    clock.now = T0 + timedelta(days=3)
    response = post(client, f"{base}/dose", per_week="5", daily_cap="2", note="", reason="more")
    assert response.status_code == 303
    rx2 = store_of(papp).prescription(rx.id)
    assert (rx2.current_level, rx2.status, rx2.sessions_per_week, rx2.daily_cap) == (
        2, "active", 5, 2,
    )  # fmt: skip

    changes = store_of(papp).prescription_changes(rx.id)
    got = [(c.kind, c.before, c.after, c.reason, c.author) for c in changes]
    assert got[1:] == [
        ("status", {"status": "active"}, {"status": "paused"}, "holiday", "alice"),
        ("level", {"current_level": 1}, {"current_level": 2}, "does it at home", "alice"),
        ("status", {"status": "paused"}, {"status": "active"}, "", "alice"),
        (
            "dose",
            {"sessions_per_week": 4, "daily_cap": 1},
            {"sessions_per_week": 5, "daily_cap": 2},
            "more",
            "alice",
        ),
    ]
    assert changes[2].t_utc == T0 + timedelta(days=2)
    html = page(client, "/participants/P001/practice")
    log = re.findall(r'<tr class="change" data-kind="(\w+)" data-author="(\w+)">', html)
    assert log == [
        ("dose", "alice"),
        ("status", "alice"),
        ("level", "alice"),
        ("status", "alice"),
        ("created", "alice"),
    ]
    assert "does it at home" in html and "holiday" in html
    # the level chart marks the clinician's change and the pause
    (chart,) = [c for c in svgs(html) if c.get("data-chart") == "levels"]
    kinds = [m.get("data-kind") for m in with_class(chart, "mark")]
    assert sorted(kinds) == ["override", "prescribed"]
    assert any(s.get("data-kind") == "paused" for s in with_class(chart, "span"))

    entries, _ = accounts_of(papp).audit_entries(user_name="alice", action="practice.level")
    assert entries[0].detail == {
        "prescription_id": rx.id,
        "before": 1,
        "after": 2,
        "reason": "does it at home",
    }

    # ended: final; the forms are gone and a change is refused with the reason
    assert post(client, f"{base}/status", action="end", reason="done").status_code == 303
    assert store_of(papp).prescription(rx.id).status == "ended"
    html = page(client, "/participants/P001/practice")
    assert f'id="form-dose-{rx.id}"' not in html
    response = post(client, f"{base}/dose", per_week="3", daily_cap="1")
    assert response.status_code == 400
    assert "has ended" in response.get_data(as_text=True)


def test_prescriptions_of_others_and_unknown_things_are_404(
    papp: Flask, client: FlaskClient, filled: Filled
) -> None:
    prescribe(client, code="P002")
    (other,) = store_of(papp).prescriptions("P002")
    page(client, "/participants/NOPE/practice", 404)
    page(client, "/participants/bad%20code/practice", 404)
    for url in (
        f"/participants/P001/practice/{other.id}/dose",  # P002's prescription
        "/participants/P001/practice/424242/status",
        f"/participants/P001/practice/{2**70}/level",
    ):
        response = post(client, url, per_week="3", daily_cap="1", action="pause")
        assert response.status_code == 404, url
    assert store_of(papp).prescription(other.id).status == "active"
    assert post(client, "/participants/P001/practice/abc/dose").status_code == 404
    assessment = filled.sessions["P001"][0]
    html = page(client, f"/practice/sessions/{assessment}", 404)
    assert f"session {assessment} is not a practice session" in html
    page(client, "/practice/sessions/424242", 404)
    page(client, f"/practice/sessions/{2**64}", 404)
    page(client, "/participants/P001/practice?x=1", 400)


def test_anonymous_and_forged_requests_change_nothing(papp: Flask) -> None:
    anonymous = papp.test_client()
    response = anonymous.get("/participants/P001/practice")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/")
    response = prescribe(anonymous)
    assert response.status_code == 302 and b"P001" not in response.data
    signed_in = papp.test_client()
    AuthActions(signed_in).sign_in()
    response = signed_in.post(
        "/participants/P001/practice/prescribe",
        data={"program": "mini", "level": "1", "per_week": "3", "daily_cap": "1"},
    )
    assert response.status_code == 400 and b"CSRF" in response.data
    assert store_of(papp).prescriptions("P001") == []


def test_an_admin_prescribes_too(papp: Flask) -> None:
    client = papp.test_client()
    AuthActions(client).sign_in("root")
    assert prescribe(client).status_code == 303
    (rx,) = store_of(papp).prescriptions("P001")
    assert rx.created_by == "root"


def test_hostile_text_is_escaped(papp: Flask, client: FlaskClient) -> None:
    assert prescribe(client, note=HOSTILE).status_code == 303
    (rx,) = store_of(papp).prescriptions("P001")
    base = f"/participants/P001/practice/{rx.id}"
    assert post(client, f"{base}/level", level="2", reason=HOSTILE).status_code == 303
    response = post(client, f"{base}/dose", per_week="3", daily_cap="1", reason=HOSTILE)
    assert response.status_code == 303
    html = page(client, "/participants/P001/practice")
    assert HOSTILE not in html and str(escape(HOSTILE)) in html
    response = prescribe(client, program=HOSTILE)
    assert response.status_code == 400
    assert HOSTILE not in response.get_data(as_text=True)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_in_every_field_never_reach_a_500(
    papp: Flask, client: FlaskClient, value: str
) -> None:
    prescribe(client, program="nerve_distal")
    (rx,) = store_of(papp).prescriptions("P001")
    base = f"/participants/P001/practice/{rx.id}"
    fields = {
        "/participants/P001/practice/prescribe": ("program", "level", "per_week", "daily_cap",
                                                  "note"),
        f"{base}/dose": ("per_week", "daily_cap", "note", "reason"),
        f"{base}/status": ("action", "reason"),
        f"{base}/level": ("level", "reason"),
    }  # fmt: skip
    good = {"program": "mini", "level": "1", "per_week": "3", "daily_cap": "1", "note": "",
            "reason": "why", "action": "pause"}  # fmt: skip
    for url, names in fields.items():
        for name in names:
            response = post(client, url, **{**good, name: value})
            assert response.status_code in (303, 400), (url, name, value)
            if response.status_code == 400:
                assert "Not saved: " in response.get_data(as_text=True)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(["prescribe", "dose", "status", "level"]),
    form=st.dictionaries(
        st.sampled_from(["program", "level", "per_week", "daily_cap", "note", "reason", "action"]),
        st.one_of(st.text(max_size=30), st.integers(-5, 20).map(str)),
        max_size=7,
    ),
)
def test_generated_forms_never_reach_a_500(
    papp: Flask, client: FlaskClient, route: str, form: dict[str, str]
) -> None:
    found = store_of(papp).prescriptions("P001")
    if not found:
        prescribe(client, program="nerve_distal")
        found = store_of(papp).prescriptions("P001")
    rx = found[0]
    url = (
        "/participants/P001/practice/prescribe"
        if route == "prescribe"
        else f"/participants/P001/practice/{rx.id}/{route}"
    )
    response = post(client, url, **form)
    assert response.status_code in (303, 400), (url, form, response.data[:300])
    assert state_of_app(papp).internal_errors == 0


# -- real practice sessions -----------------------------------------------------------------------


def practise(
    app: Flask, rig: Rig, data_dir: Path, when: datetime, seed: int, pain: tuple[int, int] = (2, 2)
) -> Any:
    table = {
        ("pain", "before"): pain[0],
        ("fatigue", "before"): 1,
        ("pain", "after"): pain[1],
        ("fatigue", "after"): 3,
        ("borg_cr10", "after"): 4.5,
    }
    run = PracticeRun(
        rig,
        store_of(app),
        "P001",
        data_dir=data_dir,
        person=VirtualParticipant("healthy", seed),
        say=lambda _text: None,
        now_utc=lambda: when,
    )
    return run_practice(run, lambda scale, timing: table[(scale, timing)],
                        sensations=lambda: "warm <fingers>")  # fmt: skip


def test_real_sessions_advance_and_the_clinician_sees_why(
    papp: Flask, client: FlaskClient, clock: Clock, sim_rig: Rig, data_dir: Path
) -> None:
    assert prescribe(client, per_week="4", daily_cap="1").status_code == 303
    (rx,) = store_of(papp).prescriptions("P001")
    noon = T0.replace(hour=12)
    outcomes = [
        practise(papp, sim_rig, data_dir, noon + timedelta(days=day), seed=10 + day)
        for day in range(3)  # Wednesday, Thursday, Friday
    ]
    # a second try on Friday: the daily cap holds it; Saturday: pain stops it before it starts
    outcomes.append(practise(papp, sim_rig, data_dir, noon + timedelta(days=2, hours=3), 20))
    outcomes.append(practise(papp, sim_rig, data_dir, noon + timedelta(days=3), 21, (8, 8)))
    kinds = [o.decision.kind for o in outcomes]
    assert kinds == ["stay", "advance", "stay", "hold", "stop"]  # advance_sessions = 2
    store = store_of(papp)
    assert store.prescription(rx.id).current_level == 2

    clock.now = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # the next Monday
    html = page(client, "/participants/P001/practice")
    assert 'data-level="2"' in html and "Level 2: Faster" in html

    # every decision, newest first, with its levels and its plain-language reason
    decisions = store.decisions(rx.id)
    rows = re.findall(
        r'<tr class="decision decision-\w+" data-decision="(\d+)" data-kind="(\w+)" '
        r'data-from="(\d+)" data-to="(\d+)">(.*?)</tr>',
        html,
        re.S,
    )
    assert [(int(i), k, int(a), int(b)) for i, k, a, b, _ in rows] == [
        (d.id, d.kind, d.level_before, d.level_after) for d in reversed(decisions)
    ]
    for (*_, cells), d in zip(rows, reversed(decisions), strict=True):
        assert f'<td class="reason">{escape(d.reason)}</td>' in cells
        if d.session_id is not None:
            assert f'href="/practice/sessions/{d.session_id}"' in cells
    advance = next(d for d in decisions if d.kind == "advance")
    assert "Up to level 2" in advance.reason
    assert "1 → 2" in html
    assert "Please contact your therapist" in html  # the stop's reason
    # the inputs, readably: each criterion's set values, median and goal
    first_tap = advance.inputs["sessions"][0]["criteria"][0]
    assert "asynchrony_sd_ms" in html and "set values" in html and "level since (UTC)" in html
    assert ", ".join(f"{v:.4g}" for v in first_tap["set_values"]) in html
    assert "every input" in html and "as stored (JSON)" in html

    # adherence: the numbers of station.programs.history, in the table and the chart
    expected = adherence(
        store.prescription(rx.id),
        store.practice_sessions(rx.id),
        store.prescription_changes(rx.id),
        now_utc=clock.now,
    )
    got = re.findall(
        r'<tr data-week="([\d-]+)" data-prescribed="(\d+)" data-done="(\d+)" data-started="(\d+)">',
        html,
    )
    assert got == [
        (w.week_start.isoformat(), str(w.prescribed), str(w.done), str(w.started)) for w in expected
    ]
    assert [(w.prescribed, w.done) for w in expected] == [(4, 3), (4, 0)]
    assert 'data-done="3" data-prescribed="8">3 of 8 sessions' in html
    charts = {c.get("data-chart"): c for c in svgs(html)}
    done = [p for p in with_class(charts["adherence"], "point") if p.get("data-series") == "done"]
    assert [float(p.get("data-y", "nan")) for p in done] == [3.0, 0.0]

    # the level over time: a marker per decision, by kind
    level_marks = [m.get("data-kind") for m in with_class(charts["levels"], "mark")]
    assert sorted(level_marks) == sorted(["prescribed", *kinds])
    # the symptom trend: pain, fatigue before and after, effort per session
    symptoms = charts["practice-symptoms"]
    series = {p.get("data-series") for p in with_class(symptoms, "point")}
    assert series == {"pain-before", "pain-after", "fatigue-before", "fatigue-after", "effort"}
    effort = [p for p in with_class(symptoms, "point") if p.get("data-series") == "effort"]
    assert [float(p.get("data-y", "nan")) for p in effort] == [4.5, 4.5, 4.5]
    assert "2 / - / 2" in html and "1 / 3" in html  # pain before/during/after, fatigue
    assert "warm &lt;fingers&gt;" in html

    # each practice session has a page: its sets, ratings, the decision after it
    sessions = store.practice_sessions(rx.id)
    assert [s.session_id for s in sessions] == [o.session_id for o in outcomes[:3]]
    for info, decision in zip(sessions, decisions[:3], strict=True):
        assert f'href="/practice/sessions/{info.session_id}"' in html
        spage = page(client, f"/practice/sessions/{info.session_id}")
        assert f'data-kind="{decision.kind}"' in spage and str(escape(decision.reason)) in spage
        assert "SIMULATED" in spage and "warm &lt;fingers&gt;" in spage
        record = session_record(info)
        for block in record.blocks:
            section = re.search(
                rf'data-exercise="{block.exercise}" data-hand="{block.hand}">(.*?)</section>',
                spage,
                re.S,
            )
            assert section is not None
            sets = re.findall(r'<tr class="set" data-set="(\d+)">', section.group(1))
            assert [int(s) for s in sets] == [s.set_index for s in block.sets]
            metric = "asynchrony_sd_ms" if block.exercise == "tap" else "accuracy_pct"
            unit = "ms" if metric == "asynchrony_sd_ms" else "%"
            median = format_value(block.session_value(metric), unit)
            assert f'<td class="num">{median}</td>' in section.group(1)
        for t in info.trials:
            assert f'href="/sessions/{info.session_id}#trial-{t.trial_id}"' in spage
        # the session page (raw data) works for a practice session and links back
        raw = page(client, f"/sessions/{info.session_id}")
        assert f'href="/practice/sessions/{info.session_id}"' in raw
        assert raw.count('class="badge valid"') + raw.count('class="badge invalid"') == len(
            info.trials
        )

    entries, _ = accounts_of(papp).audit_entries(user_name="alice")
    views = [e for e in entries if e.action == "practice.session_view"]
    assert {e.detail["session_id"] for e in views} == {s.session_id for s in sessions}
    (view,) = [e for e in entries if e.action == "practice.view"][:1]
    assert view.detail["sessions"] == [s.session_id for s in sessions]
    assert view.detail["decisions"] == len(decisions)
