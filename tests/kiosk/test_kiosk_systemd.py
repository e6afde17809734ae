"""The kiosk under systemd: ``station kiosk`` as its own process on the Xvfb display, with a
notify socket as systemd gives one (``Type=notify``, ``WatchdogSec=``). It says ``READY=1`` once
its screen is up, beats ``WATCHDOG=1`` from its event loop, and on SIGTERM (``systemctl stop``,
a shutdown) stops cleanly: ``STOPPING=1``, exit status 0, the demonstration's session ended and
nothing left for the next start to recover. Waits are bounded by events (a message on the
socket, the process ending), never asserted as durations."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from station.selftest import load_last_report
from station.store import INTERRUPTED_FAULT, Store

REPO = Path(__file__).resolve().parents[2]
#: Upper bound for any one event (a slow, loaded CI machine).
EVENT_TIMEOUT_S = 60.0


def next_message(sock: socket.socket, proc: subprocess.Popen[bytes], log: Path) -> list[str]:
    try:
        return sock.recv(4096).decode().splitlines()
    except TimeoutError:
        status = proc.poll()
        pytest.fail(
            f"no message from the kiosk in {EVENT_TIMEOUT_S} s (status {status}):\n"
            + log.read_text(errors="replace")
        )


def test_kiosk_is_ready_beats_and_stops_cleanly_on_sigterm(
    kivy_window: Any, notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, path = notify_socket
    data_dir = Path(os.environ["STATION_DATA_DIR"])
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        NOTIFY_SOCKET=path,
        WATCHDOG_USEC="400000",  # a beat every 0.2 s
        SDL_AUDIODRIVER="dummy",
    )
    env.pop("KIVY_HOME", None)  # the kiosk's own, under its data folder
    log = tmp_path / "kiosk.log"
    argv = [sys.executable, "-c", "from station.cli import main; raise SystemExit(main())"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "kiosk", "--demo", "--size", "800x480"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        first = next_message(sock, proc, log)
        assert first[0] == "READY=1", first
        assert first[1].startswith("STATUS=kiosk of station ") and "simulated" in first[1]
        beats = 0
        while beats < 3:
            message = next_message(sock, proc, log)
            assert message == ["WATCHDOG=1"], message
            beats += 1
        # The demonstration is running a battery; a stop signal ends it cleanly.
        proc.send_signal(signal.SIGTERM)
        while (message := next_message(sock, proc, log)) == ["WATCHDOG=1"]:
            pass
        assert message == ["STOPPING=1", "STATUS=stopping (SIGTERM)"]
        assert proc.wait(timeout=EVENT_TIMEOUT_S) == 0, log.read_text(errors="replace")
        sock.settimeout(0)
        with pytest.raises(BlockingIOError):  # said once
            sock.recv(4096)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = Store.open(data_dir)
    try:
        assert store.recovered == [], "the stop left a session or trial running"
        # the device check the kiosk ran as it started: every simulated device ok
        report = load_last_report(data_dir)
        assert report is not None and report["ok"] is True and report["devices"] == 31
        assert store.integrity_check() == "ok"
        with store.engine.connect() as conn:
            sessions = conn.exec_driver_sql("SELECT status FROM sessions").all()
            trials = conn.exec_driver_sql("SELECT status, faults FROM trials").all()
        # the demonstration had started its battery: the session is ended as aborted, a trial
        # cut short is stored incomplete without the "interrupted" flag of a crash
        assert sessions == [("aborted",)]
        assert all(status in ("complete", "incomplete") for status, _ in trials), trials
        assert not any(INTERRUPTED_FAULT in faults for _, faults in trials), trials
    finally:
        store.close()


def test_without_systemd_the_kiosk_sends_nothing() -> None:
    from station.watchdog import Heartbeat

    sent: list[str] = []
    beat = Heartbeat(env={"WATCHDOG_USEC": "400000"}, notify=lambda m: sent.append(m) or True)
    assert not beat.enabled and beat.interval_s is None
    assert not beat.ready("up") and not beat.beat() and not beat.stopping("bye")
    assert sent == []
