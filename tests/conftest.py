"""Shared fixtures: the reference station on the simulated backend, data in a temporary folder."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from station import cli
from station.config import StationConfig, load_config, reference_config_path
from station.rig import Rig, open_rig

REPO = Path(__file__).resolve().parent.parent

# Property tests draw the same examples on every run (a CI failure reproduces, and a run never
# fails on an example no other run saw). Here, before any test module is imported, so their own
# @settings inherit what they leave unset. HYPOTHESIS_PROFILE=default (or --hypothesis-profile)
# for Hypothesis' own random exploration on a workstation.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test: simulated hardware, data in its own folder, no config from the machine."""
    monkeypatch.setenv("STATION_HARDWARE", "sim")
    monkeypatch.setenv("STATION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STATION_CONFIG", raising=False)


@pytest.fixture
def ref_config() -> StationConfig:
    return load_config(reference_config_path())


@pytest.fixture
def sim_rig(ref_config: StationConfig) -> Iterator[Rig]:
    rig = open_rig(ref_config)
    yield rig
    rig.close()


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config file from the reference with text substitutions; returns its path."""

    def make(*replacements: tuple[str, str], append: str = "", name: str = "station.toml") -> Path:
        text = reference_config_path().read_text()
        for old, new in replacements:
            assert old in text, f"fixture: {old!r} not in the reference config"
            text = text.replace(old, new, 1)
        path = tmp_path / name
        path.write_text(text + append)
        return path

    return make


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``station ARGV``; returns (exit status, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


#: How long a test waits for a message on :func:`notify_socket` (a slow, loaded CI machine).
NOTIFY_TIMEOUT_S = 60.0


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A socket that receives sd_notify(3) messages as systemd's would (``$NOTIFY_SOCKET``):
    (the socket, its path); a receive waits at most :data:`NOTIFY_TIMEOUT_S`."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(NOTIFY_TIMEOUT_S)
    yield sock, path
    sock.close()
