"""A simulated installation for the operations tests: a data folder as a station leaves it.

The store holds a participant with one ended session, the clinic server's accounts database one
user, plus the secret key, a self-signed certificate, a calibration, a clinic battery and Kivy's
folder (which a backup leaves out). The folder is the one ``$STATION_DATA_DIR`` names (the
autouse fixture of tests/conftest.py), so ``station ...`` commands use it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.store import Store
from web.accounts import Accounts
from web.settings import ensure_secret_key
from web.tls import ensure_self_signed

#: Cheap scrypt parameters for tests (as tests/web/conftest.py).
FAST_HASH = "scrypt:1024:8:1"


@dataclass
class Install:
    data_dir: Path
    session_id: int


def add_session(store: Store, code: str, started: datetime | None = None) -> int:
    session_id = store.start_session(
        code,
        "standard",
        "0" * 64,
        "reference-01",
        {"test": True},
        0,
        0,
        "0.1.0",
        "sim",
        "kernel",
        started_utc=started,
    )
    store.end_session(session_id, "complete")
    return session_id


@pytest.fixture
def install() -> Install:
    data_dir = Path(os.environ["STATION_DATA_DIR"])
    with Store.open(data_dir) as store:
        store.add_participant("P001", birth_year=1960)
        session_id = add_session(store, "P001", datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    with Accounts.open(data_dir, hash_method=FAST_HASH) as accounts:
        accounts.add_user("alice", "admin", "alice-password-1")
    ensure_secret_key(data_dir)
    ensure_self_signed(data_dir, hostname="station", addresses=[ipaddress.ip_address("127.0.0.1")])
    (data_dir / "calibration.json").write_text('{"pads": {}}\n')
    (data_dir / "batteries").mkdir()
    (data_dir / "batteries" / "clinic.toml").write_text("# a clinic's battery\n")
    (data_dir / "kivy").mkdir()
    (data_dir / "kivy" / "config.ini").write_text("[kivy]\n")
    return Install(data_dir, session_id)
