"""Fixtures for the clinic server, after Flask's tutorial (flaskr): an app on a temporary data
folder, its test client, and sign-in actions. The store is filled by writing a few sessions with
small synthetic trials through :class:`station.store.Store` (no simulator)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from station.records import CueRecord, EventRecord, Metric, PadSamples, TrialData
from station.store import Store
from web import close_app, create_app
from web.accounts import Accounts
from web.settings import ensure_secret_key
from web.state import state

#: Cheap scrypt parameters for tests (production uses werkzeug's default, n=32768).
FAST_HASH = "scrypt:1024:8:1"
PASSWORDS = {"alice": "alice-password-1", "root": "root-password-12"}


@dataclass
class Filled:
    """What the ``filled`` fixture wrote: participant codes, session and trial ids."""

    codes: list[str] = field(default_factory=list)
    sessions: dict[str, list[int]] = field(default_factory=dict)
    trials: list[int] = field(default_factory=list)
    pads_trial: int = 0


def _pad(name: str, n: int, *, gain: float = 1.0) -> PadSamples:
    t_ns = 1_000_000_000 + np.arange(n, dtype=np.int64) * 1_162_790
    code = ((np.arange(n) * 37) % 20_000).astype(np.int16)
    return PadSamples(name, t_ns, code, gain, 3.3, 10_000.0, 25_000.0, -0.05, True, [])


def synthetic_trial(hand: str, *, n_samples: int = 40) -> TrialData:
    events = [
        EventRecord(1_000_100_000 + i * 50_000_000, f"hole{i % 3 + 1}", i % 2, 0, i)
        for i in range(12)
    ]
    cues = [CueRecord("led1", "led", 1_000_000_000, 1_200_000_000, 1_000_050_000, 1_200_040_000)]
    return TrialData(
        protocol="nine_hole_peg",
        version="1.0",
        params={"time_limit_s": 300.0},
        hand=hand,
        practice=False,
        start_t_ns=1_000_000_000,
        end_t_ns=21_000_000_000,
        go_t_ns=1_000_050_000,
        events=events,
        samples={"home": _pad("home", n_samples), "dish": _pad("dish", n_samples // 2, gain=2 / 3)},
        cues=cues,
        roles={"hole1": "hole", "hole2": "hole", "hole3": "hole", "home": "pad:home"},
    )


def _session(store: Store, code: str, started: datetime, total_s: float, filled: Filled) -> int:
    sid = store.start_session(
        code,
        "standard",
        "sha256:abc",
        "station-1",
        {"config_path": "/etc/station.toml"},
        123_456_789,
        1_700_000_000_000_000_000,
        "0.1.0",
        "sim",
        "gpio-driver",
        started_utc=started,
    )
    for seq, hand in enumerate(("right", "left")):
        data = synthetic_trial(hand)
        tid = store.start_trial(
            sid, seq, data.protocol, data.version, "sha256:p", hand, False, 1, data.params,
            data.roles, data.start_t_ns,
        )  # fmt: skip
        metrics = [
            Metric("total_time", total_s + seq, "s"),
            Metric("peg_interval_cv", None, "%", "fewer than 3 intervals"),
        ]
        store.finish_trial(tid, data, metrics, {"sim_seed": 7}, [], [])
        filled.trials.append(tid)
        store.add_session_metrics(
            sid, [("nine_hole_peg", hand, Metric("total_time", total_s + seq, "s"))]
        )
    store.end_session(sid, "complete")
    filled.sessions.setdefault(code, []).append(sid)
    return sid


def fill_store(data_dir: Path) -> Filled:
    filled = Filled()
    with Store.open(data_dir) as store:
        for code, birth, notes in (
            ("P001", 1960, "stroke, left side"),
            ("P002", 1985, ""),
            ("P003", None, "no sessions yet"),
        ):
            store.add_participant(code, birth, "female", "right", "left", notes)
            filled.codes.append(code)
        _session(store, "P001", datetime(2025, 3, 4, 10, 0, tzinfo=UTC), 20.0, filled)
        _session(store, "P001", datetime(2025, 4, 1, 10, 0, tzinfo=UTC), 16.0, filled)
        _session(store, "P002", datetime(2025, 3, 5, 9, 0, tzinfo=UTC), 18.0, filled)
    filled.pads_trial = filled.trials[0]
    return filled


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data folder: the same as $STATION_DATA_DIR set by the suite's autouse fixture."""
    return tmp_path / "data"


@pytest.fixture(scope="session")
def _filled_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Filled]:
    folder = tmp_path_factory.mktemp("web-store") / "data"
    return folder, fill_store(folder)


@pytest.fixture
def filled(data_dir: Path, _filled_template: tuple[Path, Filled]) -> Filled:
    """The store of :func:`fill_store` in ``data_dir`` (written once, copied for each test)."""
    template, filled = _filled_template
    shutil.copytree(template, data_dir)
    return filled


def make_app(data_dir: Path, **overrides: Any) -> Flask:
    ensure_secret_key(data_dir)
    return create_app(
        {"TESTING": True, "DATA_DIR": str(data_dir), "PASSWORD_HASH_METHOD": FAST_HASH, **overrides}
    )


@pytest.fixture
def app(data_dir: Path, filled: Filled) -> Iterator[Flask]:
    app = make_app(data_dir)
    accounts = accounts_of(app)
    accounts.add_user("alice", "clinician", PASSWORDS["alice"])
    accounts.add_user("root", "admin", PASSWORDS["root"])
    yield app
    assert state_of(app).internal_errors == 0, "a request reached the last-resort 500 handler"
    close_app(app)


def state_of(app: Flask) -> Any:
    with app.app_context():
        return state()


def accounts_of(app: Flask) -> Accounts:
    return state_of(app).accounts  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(client: FlaskClient) -> str:
    """The client's session CSRF token (made by visiting the sign-in page if needed)."""
    with client.session_transaction() as sess:
        token = sess.get("csrf")
    if token is None:
        client.get("/auth/sign-in")
        with client.session_transaction() as sess:
            token = sess["csrf"]
    return str(token)


class AuthActions:
    def __init__(self, client: FlaskClient):
        self._client = client

    def sign_in(self, name: str = "alice", password: str | None = None) -> TestResponse:
        return self._client.post(
            "/auth/sign-in",
            data={
                "name": name,
                "password": PASSWORDS.get(name, "") if password is None else password,
                "csrf_token": csrf_of(self._client),
            },
        )

    def sign_out(self) -> TestResponse:
        return self._client.post("/auth/sign-out", data={"csrf_token": csrf_of(self._client)})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clinician_token(app: Flask) -> str:
    return accounts_of(app).create_token("alice", "tests")[1]


@pytest.fixture
def admin_token(app: Flask) -> str:
    return accounts_of(app).create_token("root", "tests")[1]
