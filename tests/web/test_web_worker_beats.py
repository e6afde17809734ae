"""Hung server workers: each worker beats on a pipe; the parent kills and restarts one that
goes silent (a frozen process, or all of its threads stuck). Waits are bounded by events (a
byte on a pipe, a line said, a process ending), never asserted as durations."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Filled
from web import workers

#: Upper bound for any one event (starting Python processes on a busy CI machine).
EVENT_TIMEOUT_S = 60.0

#: A worker that only beats: every 50 ms on the pipe the pool gives it.
BEATING_CHILD = textwrap.dedent(
    f"""
    import os, signal, threading
    # the pool holds stop signals back while it starts a worker (a mask survives exec)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    fd = int(os.environ[{workers.BEAT_FD_ENV!r}])
    while not threading.Event().wait(0.05):
        os.write(fd, b".")
    """
)


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _app(release: threading.Event) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == "/slow":
            assert release.wait(EVENT_TIMEOUT_S)
        start_response("200 OK", [])
        return [b"ok"]

    return app


def test_progress_is_stuck_only_when_every_thread_is_held_without_movement() -> None:
    clock = FakeClock()
    release = threading.Event()
    progress = workers.Progress(_app(release), threads=2, stuck_s=30.0, clock=clock)
    body = progress({"PATH_INFO": "/"}, lambda *a: None)
    assert list(body) == [b"ok"]
    body.close()
    held: list[threading.Thread] = []

    def slow() -> None:
        progress({"PATH_INFO": "/slow"}, lambda *a: None).close()

    def hold_one() -> None:
        before = progress.busy
        thread = threading.Thread(target=slow, daemon=True)
        thread.start()
        held.append(thread)
        while progress.busy == before:  # until it is inside the app
            assert thread.is_alive()
            threading.Event().wait(0.001)

    try:
        hold_one()
        clock.now_s += 3600.0
        assert not progress.stuck(), "one slow request while another thread is free"
        hold_one()  # every thread now held
        clock.now_s += 29.0
        assert not progress.stuck()
        clock.now_s += 1.0
        assert progress.stuck()
    finally:
        release.set()
        for thread in held:
            thread.join(EVENT_TIMEOUT_S)
    assert progress.busy == 0 and not progress.stuck()


def test_a_request_is_busy_until_the_server_closes_its_body() -> None:
    closed: list[bool] = []

    class Body(list):
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        return Body([b"a", b"b"])

    progress = workers.Progress(app, threads=1, stuck_s=0.0, clock=FakeClock())
    body = progress({}, lambda *a: None)
    assert progress.busy == 1 and progress.stuck()  # still being sent
    assert list(body) == [b"a", b"b"]
    body.close()
    body.close()  # a second close changes nothing
    assert closed == [True, True] and progress.busy == 0 and not progress.stuck()


def test_a_request_that_raises_still_counts_as_finished() -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("boom")

    progress = workers.Progress(broken, threads=1, stuck_s=0.0, clock=FakeClock())
    with pytest.raises(RuntimeError):
        progress({}, lambda *a: None)
    assert progress.busy == 0 and not progress.stuck()


def test_the_heartbeat_skips_beats_while_stuck_and_ends_when_the_parent_is_gone() -> None:
    read_fd, write_fd = os.pipe()
    stuck = iter([False, True, True, False, False])
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) > 5

    try:
        workers.beat_forever(write_fd, lambda: next(stuck), every_s=2.0, wait=wait)
        assert waits == [2.0] * 6
        assert os.read(read_fd, 100) == b"..."  # three beats of five
    finally:
        os.close(read_fd)
    # the parent closed its end: the next beat ends the loop instead of raising
    try:
        workers.beat_forever(write_fd, lambda: False, wait=lambda s: False)
    finally:
        os.close(write_fd)


def test_the_pool_kills_and_restarts_a_worker_that_stops_beating(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(BEATING_CHILD)
    sock = workers.listen_socket("127.0.0.1", 0)
    said: list[str] = []
    restarted = threading.Event()

    def say(line: str) -> None:
        said.append(line)
        restarted.set()

    pool = workers.WorkerPool(
        sock, 2, lambda fd: [sys.executable, str(script)], say=say, hang_timeout_s=3.0
    )
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            pool.serve()
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    pool.start()
    watcher = threading.Thread(target=serve, daemon=True)
    try:
        first, second = pool.pids()
        watcher.start()
        os.kill(first, signal.SIGSTOP)  # frozen: alive, but silent
        assert restarted.wait(EVENT_TIMEOUT_S), "the silent worker was not restarted"
        assert len(said) == 1, said
        assert said[0].startswith("warning: server worker ") and f"(pid {first}) hung" in said[0]
        assert "no sign of life for 3 s (killed); started it again" in said[0]
        pids = pool.pids()
        assert second in pids and first not in pids and len(pids) == 2
    finally:
        pool.request_stop()
        watcher.join(EVENT_TIMEOUT_S)
        pool.stop()
    assert not failure, failure
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)


def _dead(pids: list[int]) -> None:
    """Wait until these processes (children of the pool, not reaped yet) have ended."""
    fds = [os.pidfd_open(pid) for pid in pids]
    try:
        for fd in fds:
            assert select.select([fd], [], [], EVENT_TIMEOUT_S)[0], "a worker did not end"
    finally:
        for fd in fds:
            os.close(fd)


def test_workers_dying_together_are_all_restarted(tmp_path: Path) -> None:
    """Reaping closes a worker's descriptors and its successor may get the same numbers within
    the same round: the pool must not take the new worker for one that ended (and block
    waiting for it)."""
    script = tmp_path / "child.py"
    script.write_text(BEATING_CHILD)
    sock = workers.listen_socket("127.0.0.1", 0)
    said: list[str] = []
    pool = workers.WorkerPool(sock, 2, lambda fd: [sys.executable, str(script)], say=said.append)
    pool.start()
    try:
        first, _ = pool.pids()
        os.kill(first, signal.SIGKILL)  # its successor goes last in the pool's order
        _dead([first])
        while len(said) < 1:
            pool.watch_once()
        pids = pool.pids()
        for pid in pids:  # both in the same round (the OOM killer, say)
            os.kill(pid, signal.SIGKILL)
        _dead(pids)
        rounds = threading.Thread(target=lambda: [pool.watch_once() for _ in range(2)])
        rounds.start()
        rounds.join(EVENT_TIMEOUT_S)
        assert not rounds.is_alive(), f"the pool hangs waiting for a live worker: {said}"
        assert len(said) == 3, said
        assert not set(pids) & set(pool.pids()) and len(pool.pids()) == 2
    finally:
        pool.stop()
    assert all("exited with signal 9; started it again" in line for line in said), said


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=EVENT_TIMEOUT_S) as answer:  # loopback only
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_real_worker_beats_and_serves(data_dir: Path, filled: Filled) -> None:
    """``python -m web.workers`` beats on the pipe it is given (before and while serving)."""
    from tests.web.conftest import make_app
    from web import close_app

    close_app(make_app(data_dir))  # the secret key and the databases, as `station serve` does
    sock = workers.listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    read_fd, write_fd = os.pipe()
    argv = workers.worker_command(sock.fileno(), data_dir, "127.0.0.1", port, 2)
    proc = subprocess.Popen(
        argv,
        pass_fds=(sock.fileno(), write_fd),
        env={**os.environ, workers.BEAT_FD_ENV: str(write_fd)},
        stdin=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], EVENT_TIMEOUT_S)
        assert ready and os.read(read_fd, 1) == b".", "no beat from the worker"
        assert _get_status(f"http://127.0.0.1:{port}/auth/sign-in") == 200
        # still beating after serving: a beat after the ones already waiting
        os.set_blocking(read_fd, False)
        while select.select([read_fd], [], [], 0)[0] and os.read(read_fd, 4096):
            pass
        ready, _, _ = select.select([read_fd], [], [], EVENT_TIMEOUT_S)
        assert ready and os.read(read_fd, 1) == b"."
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=EVENT_TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read_fd)
        sock.close()
