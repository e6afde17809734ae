"""The clinician's pages: participant list (search, pages), a participant's progress charts, a
session's trials with their raw data drawn, station status. Data recorded by the real engine
(``run_battery`` on the simulated station) and the synthetic store of conftest."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hardware.sim.participant import VirtualParticipant
from station.assess import run_battery
from station.battery import load_battery
from station.config import load_config, reference_config_path
from station.norms import NORM_COLUMNS
from station.records import Metric
from station.rig import Rig
from station.selftest import (
    LAST_REPORT_FILENAME,
    run_selftest,
    save_last_report,
    selftest_report,
)
from station.store import Store
from station.store import schema as sc
from station.store.store import PIN_BLOCK_AFTER, PIN_LOCK_AFTER, PIN_LOCKOUT_S
from tests.web.conftest import (
    PASSWORDS,
    AuthActions,
    Filled,
    accounts_of,
    make_app,
    state_of,
    synthetic_trial,
)
from web import close_app
from web.trial_plots import MAX_TRACE_POINTS

HOSTILE = '<script>alert("x")</script>'
REAL_CODE = "R001"
BOTH_HANDS = '["dominant", "non_dominant"]'


def step(protocol: str, hands: str = '["dominant"]', **params: object) -> str:
    """One ``[[step]]`` of a battery file: one trial of ``protocol`` per hand (9HPT without
    practice), with ``params``."""
    lines = ["[[step]]", f'protocol = "{protocol}"', f"hands = {hands}", "trials = 1"]
    if protocol == "nine_hole_peg":
        lines.append("practice = 0")
    if params:
        lines += ["[step.params]", *(f"{k} = {json.dumps(v)}" for k, v in params.items())]
    return "\n".join(lines) + "\n"


QUICK_BATTERY = 'name = "quick"\n' + "".join(
    (
        step("nine_hole_peg", BOTH_HANDS),
        step("finger_tapping", best_n=1, duration_s=5.0),
        step("sync_continuation", n_sync=8, n_continuation=8),
        step("reaction_time", mode="simple", n_stimuli=6),
        step("force_tracking", duration_s=4.0, lead_in_s=1.0, period_s=2.0),
        step("force_steadiness", hold_s=5.0, settle_s=1.0),
    )
)
NHPT_BATTERY = 'name = "nhpt"\n' + step("nine_hole_peg", BOTH_HANDS)


# -- helpers ----------------------------------------------------------------------------------------

SVG_RE = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
SVG_NS = "{http://www.w3.org/2000/svg}"


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of a page, parsed as XML (fails on malformed markup)."""
    return [ET.fromstring(m.group(0)) for m in SVG_RE.finditer(html)]


def with_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def marks(root: ET.Element, kind: str) -> list[ET.Element]:
    return [m for m in with_class(root, "mark") if m.get("data-kind") == kind]


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.data[:300])
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# -- data recorded by the real engine --------------------------------------------------------------


@dataclass
class Recorded:
    folder: Path
    sessions: list[int]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Two sessions of participant R001 run by ``station.assess.run_battery`` on the simulated
    station: a quick battery of every kind of protocol, then the 9HPT again (older profile)."""
    folder = tmp_path_factory.mktemp("web-dashboard") / "data"
    (folder / "batteries").mkdir(parents=True)
    (folder / "batteries" / "quick.toml").write_text(QUICK_BATTERY)
    (folder / "batteries" / "nhpt.toml").write_text(NHPT_BATTERY)
    sessions: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STATION_HARDWARE", "sim")
        mp.setenv("STATION_DATA_DIR", str(folder))
        mp.delenv("STATION_CONFIG", raising=False)
        from station.rig import open_rig

        rig = open_rig(load_config(reference_config_path()))
        try:
            with Store.open(folder) as store:
                person = store.add_participant(REAL_CODE, 1960, "female", "right", "left", "")
                for name, profile, seed in (("quick", "healthy", 1), ("nhpt", "older", 2)):
                    result = run_battery(
                        rig,
                        store,
                        person,
                        load_battery(name, folder),
                        person=VirtualParticipant(profile, seed),
                        say=lambda _t: None,
                    )
                    assert result.status == "complete"
                    sessions.append(result.session_id)
        finally:
            rig.close()
    return Recorded(folder, sessions)


@pytest.fixture
def real_app(recorded: Recorded, data_dir: Path) -> Iterator[Flask]:
    shutil.copytree(recorded.folder, data_dir)
    app = make_app(data_dir)
    accounts_of(app).add_user("alice", "clinician", PASSWORDS["alice"])
    yield app
    assert state_of(app).internal_errors == 0, "a request reached the last-resort 500 handler"
    close_app(app)


@pytest.fixture
def real_client(real_app: Flask) -> FlaskClient:
    client = real_app.test_client()
    assert AuthActions(client).sign_in().status_code == 303
    return client


def test_progress_charts_from_recorded_sessions(
    real_client: FlaskClient, real_app: Flask, recorded: Recorded, data_dir: Path
) -> None:
    html = page(real_client, f"/participants/{REAL_CODE}")
    charts = svgs(html)
    by_metric = {(c.get("data-protocol"), c.get("data-metric")): c for c in charts}
    # one chart per key metric of every protocol done, all of them progress charts
    protocols = {p for p, _ in by_metric}
    assert protocols == {
        "nine_hole_peg",
        "finger_tapping",
        "sync_continuation",
        "reaction_time",
        "force_tracking",
        "force_steadiness",
    }
    assert ("nine_hole_peg", "mean_total_time_s") in by_metric
    assert ("force_tracking", "mean_rmse_n") in by_metric
    assert all(c.get("data-chart") == "progress" for c in charts)

    # the 9HPT total time: one point per session and hand, at the stored values
    chart = by_metric[("nine_hole_peg", "mean_total_time_s")]
    points = with_class(chart, "point")
    with Store.open(data_dir, recover=False) as store:
        expected = {
            (str(s.id), sm.hand): sm.metric.value
            for s in store.participant_sessions(REAL_CODE)
            for sm in s.metrics
            if sm.protocol == "nine_hole_peg" and sm.metric.name == "mean_total_time_s"
        }
    assert len(expected) == 4
    drawn = {
        (p.get("data-session"), p.get("data-hand")): float(p.get("data-y", "nan")) for p in points
    }
    assert drawn == pytest.approx(expected)
    # right and left hands: different colours and shapes, both in the legend
    right = [p for p in points if p.get("data-series") == "right"]
    left = [p for p in points if p.get("data-series") == "left"]
    assert len(right) == len(left) == 2
    assert right[0].tag != left[0].tag and right[0].get("fill") != left[0].get("fill")
    legend = " ".join(t.text or "" for t in chart.iter(f"{SVG_NS}text"))
    assert "right hand" in legend and "left hand" in legend
    labels = [e.text for e in with_class(chart, "axis-label")]
    assert labels == ["session date (UTC)", "mean total time (s)"]
    # a protocol done once: one session, one hand
    assert len(with_class(by_metric[("reaction_time", "mean_median_rt_ms")], "point")) == 1

    # sessions listed with links, downloads linked
    for sid in recorded.sessions:
        assert f'href="/sessions/{sid}"' in html
    for suffix in ("export.csv", "export.json", "export.pdf", "export.fhir.json"):
        assert f'href="/participants/{REAL_CODE}/{suffix}"' in html
    assert "SIMULATED" in html


def test_session_page_draws_each_trials_raw_data(
    real_client: FlaskClient, recorded: Recorded, data_dir: Path
) -> None:
    sid = recorded.sessions[0]
    html = page(real_client, f"/sessions/{sid}")
    charts = {int(c.get("data-trial", "0")): c for c in svgs(html)}
    with Store.open(data_dir, recover=False) as store:
        trials = list(store.iter_trials(session_id=sid, with_data=True))
    assert set(charts) == {t.id for t in trials}
    for suffix in ("export.csv", "export.json", "export.pdf", "export.fhir.json"):
        assert f'href="/sessions/{sid}/{suffix}"' in html
    seen = set()
    for t in trials:
        data = t.data
        assert data is not None
        chart = charts[t.id]
        kind = chart.get("data-chart")
        seen.add(kind)
        level1 = [e for e in data.events if e.level == 1]
        if t.protocol == "nine_hole_peg":
            assert kind == "pegboard"
            holes = {ch for ch, role in data.roles.items() if role == "hole"}
            assert len(marks(chart, "insert")) == sum(1 for e in level1 if e.channel in holes) == 9
            removals = [e for e in data.events if e.level == 0 and e.channel in holes]
            assert len(marks(chart, "remove")) == len(removals) == 9
            assert len([s for s in with_class(chart, "span") if s.get("data-kind") == "in"]) == 9
            assert [v.get("data-kind") for v in with_class(chart, "vline")] == ["go"]
        elif t.protocol in ("finger_tapping", "sync_continuation"):
            assert kind == "raster"
            taps = marks(chart, "tap") + marks(chart, "flagged-tap")
            assert len(taps) == len(level1) > 0
            clicks = [c for c in data.cues if c.kind == "click"]
            assert len(marks(chart, "beat")) == len(clicks)
            if t.protocol == "sync_continuation":
                assert len(clicks) == 8
        elif t.protocol == "reaction_time":
            assert kind == "reaction_time"
            per_stimulus = [m for m in t.metrics if re.fullmatch(r"rt_\d+_ms", m.name)]
            assert len(per_stimulus) == 6
            valid = [m for m in per_stimulus if m.value is not None]
            assert len(with_class(chart, "point")) == len(valid)
            assert len(with_class(chart, "off-scale")) == len(per_stimulus) - len(valid)
            assert {e.text for e in with_class(chart, "axis-label")} == {
                "stimulus number",
                "reaction time (ms)",
            }
        else:
            assert kind == "force"
            (trace,) = with_class(chart, "trace")
            n_samples = len(next(iter(data.samples.values())).t_ns)
            assert n_samples > MAX_TRACE_POINTS
            assert int(trace.get("data-n", "0")) <= MAX_TRACE_POINTS
            assert len(with_class(chart, "target")) == 1
            assert len(with_class(chart, "window")) == 1
            assert "force (N)" in [e.text for e in with_class(chart, "axis-label")]
    assert seen == {"pegboard", "raster", "reaction_time", "force"}
    assert "downsampled for drawing" in html
    assert html.count('class="badge valid"') == len(trials)


def test_views_are_audited(real_client: FlaskClient, real_app: Flask, recorded: Recorded) -> None:
    page(real_client, "/participants?q=R0")
    page(real_client, f"/participants/{REAL_CODE}")
    page(real_client, f"/sessions/{recorded.sessions[1]}")
    page(real_client, "/status")
    entries, _ = accounts_of(real_app).audit_entries(user_name="alice")
    actions = [e.action for e in entries]
    assert actions[:3] == ["session.view", "participant.view", "participants.list"]
    session_view, participant_view, listing = entries[:3]
    assert session_view.participant_code == participant_view.participant_code == REAL_CODE
    assert session_view.detail["session_id"] == recorded.sessions[1]
    assert session_view.route == f"/sessions/{recorded.sessions[1]}"
    assert participant_view.detail["sessions"] == recorded.sessions
    assert listing.detail["codes"] == [REAL_CODE] and listing.detail["search"] == "R0"
    assert all(e.via == "session" and e.user_name == "alice" for e in entries[:3])


# -- access, not found, bad requests -----------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client: FlaskClient, filled: Filled) -> None:
    sid = filled.sessions["P001"][0]
    for url in (
        "/",
        "/participants",
        "/participants?q=P0",
        "/participants/P001",
        f"/sessions/{sid}",
        "/status",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/auth/sign-in?next=")
        assert "P001" not in response.get_data(as_text=True)


def test_home_links_to_the_pages(client: FlaskClient, auth: AuthActions) -> None:
    auth.sign_in()
    html = page(client, "/")
    assert 'href="/participants"' in html and 'href="/status"' in html


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/participants/P999", "no participant &#39;P999&#39;"),
        ("/participants/no%20such", "a code is 1-32 letters"),
        ("/participants/" + "P" * 40, "a code is 1-32 letters"),
        ("/sessions/999999", "no session 999999"),
        ("/sessions/0", "no session 0"),
        ("/sessions/99999999999999999999999", "no session"),
        ("/sessions/abc", "no such page"),
        ("/sessions/-1", "no such page"),
        ("/participants/P001/nothing", "no such page"),
    ],
)
def test_unknown_things_are_404_pages(
    client: FlaskClient, auth: AuthActions, url: str, message: str
) -> None:
    auth.sign_in()
    html = page(client, url, 404)
    assert message in html
    assert "<h1>404" in html


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/participants?page=0", "must be from 1"),
        ("/participants?page=abc", "is not a whole number"),
        ("/participants?q=a&q=b", "given more than once"),
        ("/participants?sort=code", "unknown query parameter"),
        ("/participants?q=" + "x" * 65, "longer than 64"),
        ("/participants?q=%01", "control characters"),
        ("/participants/P001?x=1", "unknown query parameter"),
        ("/status?check=everything", "give &#39;integrity&#39;"),
    ],
)
def test_bad_queries_are_400_pages_naming_the_parameter(
    client: FlaskClient, auth: AuthActions, url: str, message: str
) -> None:
    auth.sign_in()
    html = page(client, url, 400)
    assert message in html


def test_a_hostile_code_in_the_address_is_escaped(client: FlaskClient, auth: AuthActions) -> None:
    auth.sign_in()
    html = page(client, "/participants/%3Cscript%3Ealert(1)%3B%3C%5Cscript%3E", 404)
    assert "<script>" not in html and "&lt;script&gt;" in html


# -- the participant list ----------------------------------------------------------------------------


def test_list_search_and_pages(
    app: Flask, client: FlaskClient, auth: AuthActions, data_dir: Path
) -> None:
    with Store.open(data_dir, recover=False) as store:
        for i in range(30):
            store.add_participant(f"Q{i:03d}", 1990, None, None, None, "")
    auth.sign_in()
    first = page(client, "/participants")
    codes = re.findall(r'<a href="/participants/([A-Za-z0-9_-]+)">', first)
    assert codes == ["P001", "P002", "P003"] + [f"Q{i:03d}" for i in range(22)]
    assert "Participants 1–25 of 33" in first and "page 1 of 2" in first
    assert 'href="/participants?page=2"' in first
    second = page(client, "/participants?page=2")
    assert re.findall(r'<a href="/participants/([A-Za-z0-9_-]+)">', second) == [
        f"Q{i:03d}" for i in range(22, 30)
    ]
    beyond = page(client, "/participants?page=9")
    assert "There is no page 9" in beyond

    found = page(client, "/participants?q=q02")
    assert re.findall(r'<a href="/participants/([A-Za-z0-9_-]+)">', found) == [
        f"Q{i:03d}" for i in range(20, 30)
    ]
    assert 'value="q02"' in found
    by_notes = page(client, "/participants?q=stroke")
    assert re.findall(r'<a href="/participants/([A-Za-z0-9_-]+)">', by_notes) == ["P001"]
    none = page(client, "/participants?q=zzz")
    assert "No participant matches" in none
    # the list shows how many sessions each has had
    assert re.search(r"P001</a></td>.*?<td>2</td>", first, re.DOTALL)
    entries, _ = accounts_of(app).audit_entries(action="participants.list")
    assert entries[0].detail["codes"] == []
    assert entries[0].detail["search"] == "zzz"


# -- escaping, reliable change, norms (synthetic store) -----------------------------------------------


def test_hostile_text_is_escaped_everywhere(
    client: FlaskClient, auth: AuthActions, data_dir: Path
) -> None:
    with Store.open(data_dir, recover=False) as store:
        store.add_participant("X001", 1970, None, None, None, HOSTILE)
        sid = store.start_session(
            "X001", "standard", "sha256:abc", "station-1", {}, 0, 1_700_000_000_000_000_000,
            "0.1.0", "sim", "gpio-driver", started_utc=datetime(2025, 5, 1, tzinfo=UTC),
        )  # fmt: skip
        data = synthetic_trial("right")
        data.notes = HOSTILE
        tid = store.start_trial(
            sid, 0, data.protocol, data.version, "sha256:p", "right", False, 1, data.params,
            data.roles, data.start_t_ns,
        )  # fmt: skip
        metrics = [Metric("total_time", 12.0, "s", HOSTILE), Metric(HOSTILE, 1.0, "1", HOSTILE)]
        store.finish_trial(tid, data, metrics, {}, [HOSTILE], [])
        store.mark_invalid(tid, HOSTILE)
        store.add_session_metrics(sid, [("nine_hole_peg", "right", Metric(HOSTILE, 3.0, "s"))])
        store.end_session(sid, "complete")
    auth.sign_in()
    for url in ("/participants", "/participants/X001", f"/sessions/{sid}"):
        html = page(client, url)
        assert "<script>" not in html, url
        for svg in svgs(html):  # still well-formed
            assert svg.get("data-chart")
    session_html = page(client, f"/sessions/{sid}")
    assert session_html.count("&lt;script&gt;") >= 4  # reason, fault, notes, details
    assert "Marked invalid" in session_html and 'class="badge invalid"' in session_html


def _threshold(data_dir: Path, percent: float) -> None:
    (data_dir / "change.toml").write_text(
        f'[[threshold]]\nprotocol = "nine_hole_peg"\nmetric = "total_time"\npercent = {percent}\n'
        'source = "FICTITIOUS test threshold"\n'
    )


def _progress_chart(client: FlaskClient) -> ET.Element:
    (chart,) = [
        c for c in svgs(page(client, "/participants/P001")) if c.get("data-chart") == "progress"
    ]
    return chart


def test_reliable_changes_are_ringed(
    client: FlaskClient, auth: AuthActions, data_dir: Path
) -> None:
    """P001: total time 20 -> 16 s (right, -20%) and 21 -> 17 s (left, -19.05%)."""
    auth.sign_in()
    chart = _progress_chart(client)
    assert len(with_class(chart, "point")) == 4
    assert with_class(chart, "flag-ring") == []  # no threshold for this metric: no verdict

    _threshold(data_dir, 19.5)
    chart = _progress_chart(client)
    flagged = with_class(chart, "flagged")
    assert [(p.get("data-series"), p.get("data-y")) for p in flagged] == [("right", "16.0")]
    assert len(with_class(chart, "flag-ring")) == 1
    html = page(client, "/participants/P001")
    assert "19.5% (FICTITIOUS test threshold)" in html

    _threshold(data_dir, 10.0)
    assert len(with_class(_progress_chart(client), "flag-ring")) == 2


def test_norm_band_when_a_norm_set_is_loaded(
    client: FlaskClient, auth: AuthActions, data_dir: Path
) -> None:
    auth.sign_in()
    assert "No norm set is loaded" in page(client, "/participants/P001")
    assert with_class(_progress_chart(client), "band") == []
    folder = data_dir / "norms"
    folder.mkdir()
    (folder / "fictitious.csv").write_text(
        ",".join(NORM_COLUMNS) + "\n"
        "nine_hole_peg,total_time,60,69,any,any,18.0,2.0,50,FICTITIOUS test row\n"
    )
    chart = _progress_chart(client)
    bands = with_class(chart, "band")
    assert sorted(b.get("data-series") for b in bands) == ["norm-left", "norm-right"]
    html = page(client, "/participants/P001")
    assert "Norm: FICTITIOUS test row" in html and "No norm set is loaded" not in html


def test_a_broken_norm_file_is_said_not_a_500(
    client: FlaskClient, auth: AuthActions, data_dir: Path
) -> None:
    folder = data_dir / "norms"
    folder.mkdir()
    (folder / "broken.csv").write_text("not,a,norm\n")
    auth.sign_in()
    html = page(client, "/participants/P001")
    assert "norms and reliable change are not shown" in html
    (chart,) = [c for c in svgs(html) if c.get("data-chart") == "progress"]
    assert len(with_class(chart, "point")) == 4


def test_synthetic_session_page(client: FlaskClient, auth: AuthActions, filled: Filled) -> None:
    auth.sign_in()
    html = page(client, f"/sessions/{filled.sessions['P002'][0]}")
    charts = svgs(html)
    assert len(charts) == 2 and all(c.get("data-chart") == "pegboard" for c in charts)
    # 12 events on holes 1-3, alternately out (level 0) and in (level 1)
    assert [len(marks(c, "insert")) for c in charts] == [6, 6]
    assert [len(marks(c, "remove")) for c in charts] == [6, 6]
    assert "fewer than 3 intervals" in html  # a missing value says why


# -- what self-guided mode records ------------------------------------------------------------------

#: Ratings of P001's two sessions: (session number, scale, timing, value, minutes from its start).
RATINGS = (
    (0, "pain", "before", 3, -3),
    (0, "fatigue", "before", 2, -2),
    (0, "pain", "after", 5, 30),
    (0, "fatigue", "after", 6, 31),
    (1, "pain", "before", 2, -3),
    (1, "fatigue", "before", 1, -2),
    (1, "pain", "after", 4, 30),
    (1, "fatigue", "after", 3, 31),
)
STOPPED_AT = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)  # a visit stopped by a pain rating of 9


def _self_guided_records(data_dir: Path, filled: Filled) -> None:
    """P001: ratings before and after both sessions and a stopped visit; two assignments (one
    ended) with a hostile note; a PIN."""
    sessions = filled.sessions["P001"]
    with Store.open(data_dir, recover=False) as store:
        for n, scale, timing, value, minutes in RATINGS:
            started = store.session(sessions[n]).started_utc
            at = started + timedelta(minutes=minutes)
            store.add_rating("P001", scale, timing, value, session_id=sessions[n], t_utc=at)
        store.add_rating("P001", "pain", "before", 9, t_utc=STOPPED_AT)
        old = store.add_assignment("P001", "nhpt", sessions_per_week=2, created_by="bob")
        store.end_assignment(old.id)
        store.add_assignment(
            "P001", "standard", sessions_per_week=3, rest_s=45, note=HOSTILE, created_by="alice"
        )
        store.set_participant_pin("P001", "482913")


def _pin_secrets(data_dir: Path) -> list[str]:
    with Store.open(data_dir, recover=False) as store, store.engine.connect() as conn:
        row = conn.execute(
            select(sc.self_guided.c.pin_salt_hex, sc.self_guided.c.pin_hash_hex)
        ).one()
    return [row.pin_salt_hex, row.pin_hash_hex]


def test_the_participant_page_shows_symptoms_assignments_and_the_pin_state(
    app: Flask, client: FlaskClient, auth: AuthActions, data_dir: Path, filled: Filled
) -> None:
    _self_guided_records(data_dir, filled)
    auth.sign_in()
    html = page(client, "/participants/P001")
    (chart,) = [c for c in svgs(html) if c.get("data-chart") == "symptoms"]
    points = with_class(chart, "point")
    assert len(points) == len(RATINGS) + 1 == int(chart.get("data-points", "0"))
    drawn = sorted((p.get("data-scale"), p.get("data-timing"), p.get("data-y")) for p in points)
    want = [(sc_, t, f"{float(v)}") for _, sc_, t, v, _ in RATINGS] + [("pain", "before", "9.0")]
    assert drawn == sorted(want)
    # told apart without colour: pain circles, fatigue squares; before filled, after open
    # on a dashed line
    shapes = {p.get("data-scale"): p.tag.removeprefix(SVG_NS) for p in points}
    assert shapes == {"pain": "circle", "fatigue": "rect"}
    fills = {(p.get("data-timing"), p.get("fill") == "#ffffff") for p in points}
    assert fills == {("before", False), ("after", True)}
    lines = {g.get("data-series"): g for g in with_class(chart, "series")}
    assert set(lines) == {"pain-before", "pain-after", "fatigue-before", "fatigue-after"}
    for key, g in lines.items():
        (line,) = with_class(g, "series-line")
        assert (line.get("stroke-dasharray") is not None) == key.endswith("after"), key
    # the whole 0-10 scale on the y axis, whatever the values
    ticks = [e.text for e in with_class(chart, "tick")]
    assert "0" in ticks and "10" in ticks
    legend = " ".join(t.text or "" for t in chart.iter(f"{SVG_NS}text"))
    assert "pain before" in legend and "fatigue after" in legend
    # the ratings as a table too, the stopped visit without a session
    assert html.count("<td>pain</td>") == 5 and "before (no session ran)" in html
    # assignments: battery, sessions a week, rest, the note escaped, who, active or ended
    table = html[html.index('<table class="assignments">') :]
    table = table[: table.index("</table>")]
    assert re.search(
        r"<td>standard</td>\s*<td class=\"num\">3</td>\s*<td class=\"num\">45 s", table
    )
    assert "&lt;script&gt;" in table and "<script>" not in html
    assert "by alice" in table and "by bob" in table and "ended 20" in table
    assert table.count(">active<") == 1
    # the PIN: set, never its hash or salt
    assert "PIN set" in html and "stop at pain" in html
    for secret in _pin_secrets(data_dir):
        assert secret not in html and secret.upper() not in html
    # the view is audited once, as before, with what it showed
    entries, _ = accounts_of(app).audit_entries(action="participant.view")
    assert len(entries) == 1 and entries[0].detail["ratings"] == len(RATINGS) + 1


def test_the_pin_state_says_locked_and_blocked(
    client: FlaskClient, auth: AuthActions, data_dir: Path, filled: Filled
) -> None:
    auth.sign_in()
    assert "no PIN set" in page(client, "/participants/P001")
    _self_guided_records(data_dir, filled)

    def wrong(times: int, now_utc: datetime | None = None) -> None:
        with Store.open(data_dir, recover=False) as store:
            for _ in range(times):
                assert not store.verify_participant_pin("P001", "000000", now_utc=now_utc)

    wrong(PIN_LOCK_AFTER)
    html = page(client, "/participants/P001")
    assert "locked until" in html and 'class="pin-alert"' in html
    later = datetime.now(UTC) + timedelta(seconds=PIN_LOCKOUT_S + 60)  # the lockout is over
    wrong(PIN_BLOCK_AFTER - PIN_LOCK_AFTER, later)
    html = page(client, "/participants/P001")
    assert f"blocked after {PIN_BLOCK_AFTER} wrong PINs" in html


def test_a_participant_without_self_guided_records(client: FlaskClient, auth: AuthActions) -> None:
    auth.sign_in()
    html = page(client, "/participants/P002")
    assert "No pain or fatigue ratings yet" in html and "Nothing assigned" in html
    assert not [c for c in svgs(html) if c.get("data-chart") == "symptoms"]


def test_the_session_page_shows_its_ratings_and_added_notes(
    app: Flask, client: FlaskClient, auth: AuthActions, data_dir: Path, filled: Filled
) -> None:
    _self_guided_records(data_dir, filled)
    sid = filled.sessions["P001"][0]
    with Store.open(data_dir, recover=False) as store:
        (trial, _) = store.session_trials(sid)
        started = store.session(sid).started_utc
        store.add_session_note(
            sid, f"session {HOSTILE}", "alice", t_utc=started + timedelta(hours=1)
        )
        store.add_trial_note(
            trial.id, f"trial {HOSTILE}", "station", t_utc=started + timedelta(hours=2)
        )
    auth.sign_in()
    html = page(client, f"/sessions/{sid}")
    assert "<script>" not in html
    ratings = html[html.index('<table class="ratings">') :]
    ratings = ratings[: ratings.index("</table>")]
    rows = re.findall(
        r"<td>(pain|fatigue)</td><td>(before|after) the session</td><td class=\"num\">(\d+)</td>",
        ratings,
    )
    assert rows == [(s_, t, str(v)) for n, s_, t, v, _ in RATINGS if n == 0]
    assert "2025-03-04 09:57 UTC" in ratings  # pain before: 3 minutes before the start
    # the session's note under "Notes added", the trial's in its trial's section, with author
    # and time, escaped
    notes = html[html.index('id="notes"') : html.index("<h2>Summary</h2>")]
    assert "2025-03-04 11:00 UTC, alice:</span> session &lt;script&gt;alert" in notes
    assert "trial &lt;script&gt;" not in notes
    section = html[html.index(f'id="trial-{trial.id}"') :]
    section = section[: section.index("</section>")]
    assert "Note added 2025-03-04 12:00 UTC, station:" in section
    assert "trial &lt;script&gt;alert" in section
    # the other session: its own ratings only, no notes
    other = page(client, f"/sessions/{filled.sessions['P001'][1]}")
    assert other.count("<td>pain</td>") == other.count("<td>fatigue</td>") == 2
    assert 'id="notes"' not in other
    (entry, _) = accounts_of(app).audit_entries(action="session.view")[0]
    assert entry.detail["session_id"] == filled.sessions["P001"][1]
    assert (entry.detail["ratings"], entry.detail["notes"]) == (4, 0)


# -- station status ------------------------------------------------------------------------------------


def test_status_without_a_selftest(client: FlaskClient, auth: AuthActions, filled: Filled) -> None:
    auth.sign_in()
    html = page(client, "/status")
    assert "No self-test recorded yet" in html
    latest = filled.sessions["P001"][1]  # started 2025-04-01, the latest
    assert f'href="/sessions/{latest}"' in html
    assert "P001" not in html  # no participant data on the status page
    assert re.search(r"participants</dt><dd>3</dd>", html)
    assert re.search(r"sessions</dt><dd>3 \(3 complete\)</dd>", html)
    assert re.search(r"trials</dt><dd>6 \(6 complete\)</dd>", html)
    assert "check now" in html
    checked = page(client, "/status?check=integrity")
    assert 'class="badge valid">ok</span>' in checked


def test_status_shows_the_last_selftest(
    client: FlaskClient, auth: AuthActions, data_dir: Path, sim_rig: Rig
) -> None:
    checks = run_selftest(sim_rig, sample_s=0.3)
    checks[1].ok = False  # as if a device had failed
    report = selftest_report(sim_rig, checks, at=datetime(2025, 6, 1, 8, 30, tzinfo=UTC))
    save_last_report(data_dir, report)
    auth.sign_in()
    html = page(client, "/status")
    assert f"1 of {len(checks)} devices failing: {checks[1].name}" in html
    assert "2025-06-01T08:30:00Z" in html and "SIMULATED" in html
    assert html.count("<td>ok</td>") == len(checks) - 1


def test_status_with_an_unreadable_selftest_report(
    client: FlaskClient, auth: AuthActions, data_dir: Path
) -> None:
    (data_dir / LAST_REPORT_FILENAME).write_text("{not json")
    auth.sign_in()
    html = page(client, "/status")
    assert "not valid JSON" in html and "run `station selftest`" in html
    (data_dir / LAST_REPORT_FILENAME).write_text(json.dumps({"format": "other"}))
    assert "not a self-test report" in page(client, "/status")


def test_pages_for_an_admin_via_token(app: Flask, client: FlaskClient, filled: Filled) -> None:
    _, token = accounts_of(app).create_token("root", "pages")
    headers: Any = {"Authorization": f"Bearer {token}"}
    response = client.get("/participants/P001", headers=headers)
    assert response.status_code == 200 and b"svg" in response.data
    entries, _ = accounts_of(app).audit_entries(action="participant.view")
    assert entries[0].via == "token" and entries[0].user_name == "root"
