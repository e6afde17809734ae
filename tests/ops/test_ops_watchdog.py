"""``station watchdog``: sd_notify over a real Unix socket, and the probe supervising a real
child HTTP server (answering, hanging, exiting). Waits are bounded by timeouts on events (a
message on the socket, a process ending), never asserted as durations."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.watchdog import probe, sd_notify, watchdog_interval_s

#: Upper bound for any one event to happen (a slow, loaded CI machine).
EVENT_TIMEOUT_S = 60.0
#: The watchdog's probe timeout for a child that answers: generous, so that a slow answer on a
#: loaded machine is not taken for a hang.
ANSWERING_PROBE_TIMEOUT_S = 5.0
#: The probe timeout where a hang is what is tested (the hang lasts an hour).
HANG_PROBE_TIMEOUT_S = 0.5

CHILD = textwrap.dedent(
    """
    import http.server, os, sys, json, time
    port, mode, record = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(record, "w") as fh:
        json.dump({"pid": os.getpid(), "env": dict(os.environ)}, fh)
    answered = 0

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            global answered
            answered += 1
            if mode == "hang" and answered > 1:
                time.sleep(3600)
            self.send_response(302 if mode == "redirect" else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            if mode == "exit3":
                os._exit(3)

        def log_message(self, *args):
            pass

    class Server(http.server.HTTPServer):
        allow_reuse_port = True  # the port the test holds for it (bound, never listening)

    Server(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port of 127.0.0.1 where nothing listens, for the test's duration: a socket bound to it
    but never listening holds it (nobody else can bind it) and connections are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@pytest.fixture
def child_port() -> Iterator[int]:
    """A port of 127.0.0.1 held for the child server, for the test's duration: bound with
    SO_REUSEPORT but never listening, so that no other program and no outgoing connection can
    take it, while the child (which also sets SO_REUSEPORT) can listen on it and gets every
    connection. The watchdog needs the probe address before the child starts, so the child
    cannot pick a free port of its own (``--port 0``)."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def messages_until(sock: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    while wanted not in seen:
        seen.extend(sock.recv(4096).decode().splitlines())
    return seen


def start_watchdog(
    tmp_path: Path,
    notify_path: str,
    port: int,
    mode: str,
    *extra_env: tuple[str, str],
    probe_timeout_s: float = ANSWERING_PROBE_TIMEOUT_S,
) -> tuple[subprocess.Popen[bytes], Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    record = tmp_path / f"child-{mode}.json"
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, **dict(extra_env))
    argv = [
        sys.executable,
        "-c",
        "from station.cli import main; raise SystemExit(main())",
        "watchdog",
        "--probe",
        f"http://127.0.0.1:{port}/",
        "--interval",
        "0.2",
        "--probe-timeout",
        str(probe_timeout_s),
        "--failures",
        "2",
        "--start-timeout",
        "60",
        "--",
        sys.executable,
        str(script),
        str(port),
        mode,
        str(record),
    ]
    with open(tmp_path / f"watchdog-{mode}.log", "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, record


def child_alive(record: Path) -> bool:
    """Is the server the watchdog started still running (a zombie counts as ended)?"""
    pid = json.loads(record.read_text())["pid"]
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_sd_notify_path_and_abstract_sockets(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    assert sd_notify("READY=1", env={"NOTIFY_SOCKET": path})
    assert sock.recv(100) == b"READY=1"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"dexterity-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.settimeout(EVENT_TIMEOUT_S)
    try:
        assert sd_notify("WATCHDOG=1", env={"NOTIFY_SOCKET": "@" + name})
        assert abstract.recv(100) == b"WATCHDOG=1"
    finally:
        abstract.close()
    assert not sd_notify("READY=1", env={})  # not under systemd: nothing sent
    assert not sd_notify("READY=1", env={"NOTIFY_SOCKET": str(Path(path).parent / "gone")})


def test_watchdog_interval_from_systemd() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "90000000"}) == 45.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "90000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


def test_probe_counts_any_answer_below_500_as_alive(refusing_port: int) -> None:
    assert probe(f"http://127.0.0.1:{refusing_port}/", 1.0) is not None  # nothing listens


def test_ready_then_pings_then_a_clean_stop(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], child_port: int
) -> None:
    sock, path = notify_socket
    proc, record = start_watchdog(
        tmp_path, path, child_port, "redirect", ("LISTEN_PID", "1"), ("LISTEN_FDS", "1")
    )
    try:
        seen = messages_until(sock, "READY=1")
        seen += messages_until(sock, "WATCHDOG=1")
        assert seen.index("READY=1") < len(seen) - 1
        child_env = json.loads(record.read_text())["env"]
        # cheroot would take fd 3 as its socket if LISTEN_PID reached the server
        for name in ("LISTEN_PID", "LISTEN_FDS", "NOTIFY_SOCKET"):
            assert name not in child_env
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=EVENT_TIMEOUT_S) == 0
        assert not child_alive(record)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_hanging_server_is_stopped_so_systemd_restarts_it(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], child_port: int
) -> None:
    sock, path = notify_socket
    proc, record = start_watchdog(
        tmp_path, path, child_port, "hang", probe_timeout_s=HANG_PROBE_TIMEOUT_S
    )
    try:
        messages_until(sock, "READY=1")
        assert proc.wait(timeout=EVENT_TIMEOUT_S) == 1
        out = (tmp_path / "watchdog-hang.log").read_text()
        assert "did not answer" in out and "so that systemd restarts it" in out
        assert not child_alive(record)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_servers_exit_status_is_passed_on(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], child_port: int
) -> None:
    _sock, path = notify_socket
    proc, _record = start_watchdog(tmp_path, path, child_port, "exit3")
    try:
        assert proc.wait(timeout=EVENT_TIMEOUT_S) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watchdog_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import run_cli

    code, _, err = run_cli(["watchdog", "--probe", "http://127.0.0.1:1/"], capsys)
    assert code == 2 and "give the command after --" in err
    code, _, err = run_cli(["watchdog", "--probe", "ftp://x/", "--", "true"], capsys)
    assert code == 2 and "http:// or https://" in err
