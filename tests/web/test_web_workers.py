"""``station serve --workers N``: several server processes on one socket, restarted when one
dies, all stopped by SIGTERM; and the store's side-by-side readers the threads of each use."""

from __future__ import annotations

import os
import queue
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from station.config import reference_config_path
from station.errors import StationError
from station.store import Store
from tests.web.conftest import Filled, bearer, make_app
from web import close_app, tls, workers
from web.state import state

#: Deadline for the server to say something (starting Python processes on a busy CI machine).
SAY_DEADLINE_S = 60.0


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rpartition(")")[2].split()[0] != "Z"


class _Lines:
    """A process's output lines, read in a thread, waited for with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout

        def read() -> None:
            for line in stream:
                self.lines.put(line.rstrip("\n"))

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()

    def until(self, pattern: str) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=SAY_DEADLINE_S)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; said: {self.seen}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found is not None:
                return found


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        return response.status, response.read()


@pytest.fixture
def token(data_dir: Path, filled: Filled) -> str:
    app = make_app(data_dir)  # the secret key and the accounts
    with app.app_context():
        state().accounts.add_user("alice", "clinician", "alice-password-1")
        _, secret = state().accounts.create_token("alice", "workers")
    close_app(app)
    return secret


def test_two_worker_processes_serve_restart_and_stop(data_dir: Path, token: str) -> None:
    proc, lines = _serve(data_dir, "--workers", "2", "--threads", "2")
    try:
        pids = [
            int(p)
            for p in lines.until(r"2 server processes of 2 threads each \(pids (.*)\)")[1].split(
                ", "
            )
        ]
        base = lines.until(r"clinic server: (http://127\.0\.0\.1:\d+)/ \(plain HTTP")[1]
        lines.until("Ctrl-C stops")
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        for _ in range(6):  # the processes share the socket: any of them answers
            status, body = _get(f"{base}/api/v1/participants", bearer(token))
            assert status == 200 and b'"total":3' in body.replace(b" ", b"")

        os.kill(pids[0], signal.SIGKILL)  # one worker dies: it is started again
        found = lines.until(
            r"server worker \d \(pid (\d+)\) exited with signal 9; started it again \(pid (\d+)\)"
        )
        assert int(found[1]) == pids[0]
        new_pid = int(found[2])
        assert new_pid not in pids and _alive(new_pid) and _alive(pids[1])
        for _ in range(6):
            assert _get(f"{base}/auth/sign-in")[0] == 200

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SAY_DEADLINE_S) == 0
        lines.until("clinic server stopped")
        assert not any(_alive(p) for p in (new_pid, pids[1]))
    finally:
        _finish(proc, lines)


def _serve(
    data_dir: Path, *flags: str, own_group: bool = False
) -> tuple[subprocess.Popen[str], _Lines]:
    env = dict(os.environ, STATION_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env.pop("STATION_CONFIG", None)
    command = [sys.executable, "-m", "station.cli", "--config", str(reference_config_path())]
    proc = subprocess.Popen(
        [*command, "serve", "--port", "0", "--no-mdns", *flags],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=own_group,  # a terminal's process group, for Ctrl-C to all of it
    )
    return proc, _Lines(proc)


def _ended(pid: int, timeout_s: float) -> bool:
    """Whether process ``pid`` (not a child of ours) ends within ``timeout_s``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable) or not _alive(pid)
    finally:
        os.close(fd)


def _finish(proc: subprocess.Popen[str], lines: _Lines) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    lines.reader.join(SAY_DEADLINE_S)
    assert proc.stdout is not None
    proc.stdout.close()
    while not lines.lines.empty():  # what was said after the last line waited for
        lines.seen.append(lines.lines.get_nowait())


def test_ctrl_c_in_the_terminal_stops_everything_cleanly(data_dir: Path, token: str) -> None:
    """Ctrl-C reaches the terminal's whole process group: the parent stops the workers (they
    are in a group of their own), no traceback."""
    proc, lines = _serve(data_dir, "--workers", "2", "--threads", "2", own_group=True)
    try:
        pids = _pids(lines.until(r"2 server processes of 2 threads each \(pids (.*)\)"))
        lines.until("Ctrl-C stops")
        assert all(os.getpgid(p) != proc.pid for p in pids)  # not in the terminal's group
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=SAY_DEADLINE_S) == 0
        lines.until("clinic server stopped")
        assert all(_ended(p, SAY_DEADLINE_S) for p in pids)
    finally:
        _finish(proc, lines)
    assert not any("Traceback" in line for line in lines.seen), lines.seen


def test_workers_end_with_their_parent_even_when_it_is_killed(data_dir: Path, token: str) -> None:
    """SIGKILL (or the OOM killer) gives the parent no chance to stop them: the kernel tells
    them (PR_SET_PDEATHSIG), so nothing is left serving the port unwatched."""
    proc, lines = _serve(data_dir, "--workers", "2", "--threads", "2")
    try:
        pids = _pids(lines.until(r"2 server processes of 2 threads each \(pids (.*)\)"))
        proc.kill()  # at once, before the parent even says where it serves
        proc.wait()
        assert all(_ended(p, SAY_DEADLINE_S) for p in pids)
    finally:
        _finish(proc, lines)


def _pids(found: re.Match[str]) -> list[int]:
    return [int(p) for p in found[1].split(", ")]


def test_worker_processes_speak_https_with_the_certificate(data_dir: Path, token: str) -> None:
    info, _ = tls.ensure_self_signed(data_dir)
    proc, lines = _serve(data_dir, "--workers", "2", "--threads", "2", "--tls")
    try:
        base = lines.until(r"clinic server: (https://127\.0\.0\.1:\d+)/ \(HTTPS")[1]
        lines.until("Ctrl-C stops")
        trusting = ssl.create_default_context(cafile=str(info.cert_path))
        for _ in range(4):
            request = urllib.request.Request(f"{base}/api/v1/participants", headers=bearer(token))
            with urllib.request.urlopen(request, timeout=30, context=trusting) as answer:
                assert answer.status == 200 and b"P001" in answer.read()
        with pytest.raises(urllib.error.URLError) as untrusted:  # really this certificate
            urllib.request.urlopen(f"{base}/auth/sign-in", timeout=30)
        assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SAY_DEADLINE_S) == 0
    finally:
        _finish(proc, lines)


def test_workers_that_keep_exiting_stop_the_server() -> None:
    sock = workers.listen_socket("127.0.0.1", 0)
    said: list[str] = []
    pool = workers.WorkerPool(
        sock, 2, lambda fd: [sys.executable, "-c", "raise SystemExit(3)"], say=said.append
    )
    try:
        pool.start()
        with pytest.raises(StationError) as failed:
            pool.serve()
    finally:
        pool.stop()
    message = str(failed.value)
    assert f"exited {workers.RESTART_LIMIT} times" in message and "code 3" in message
    assert len(said) == workers.RESTART_LIMIT - 1  # each restart before giving up was reported
    assert all("exited with code 3; started it again" in line for line in said)
    assert sock.fileno() == -1  # closed


def test_a_taken_port_is_refused_clearly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(StationError, match=f"cannot listen on http://127.0.0.1:{port}/"):
            workers.listen_socket("127.0.0.1", port)


def test_the_pool_refuses_a_silly_number_of_workers() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock, pytest.raises(StationError, match="1-16"):
        workers.WorkerPool(sock, 0, lambda fd: [])


@pytest.mark.parametrize("readers", [1, 3])
def test_store_reads_side_by_side(data_dir: Path, filled: Filled, readers: int) -> None:
    """With readers, a read does not wait for another thread's read to finish (the single
    connection of the recording station makes it wait)."""
    store = Store.open(data_dir, recover=False, readers=readers)
    done = threading.Event()
    listed: list[Any] = []

    def other() -> None:
        listed.extend(store.list_participants())
        done.set()

    try:
        with store._read():  # one thread in the middle of a read
            thread = threading.Thread(target=other, daemon=True)
            thread.start()
            # readers > 1: it finishes meanwhile (a failure bound); 1: it stays blocked
            finished_meanwhile = done.wait(SAY_DEADLINE_S if readers > 1 else 0.5)
        thread.join(30)
    finally:
        store.close()
    assert finished_meanwhile == (readers > 1)
    assert sorted(p.code for p in listed) == sorted(filled.codes)
