"""A clinic server of several processes: ``station serve --workers N``.

One Python process serves its requests one at a time on the processor (the GIL): with 20
clinicians' browsers at once, a quick API answer waits behind the charts of a heavy page. So the
server can run as N worker processes sharing one listening socket, each a full cheroot server
with its own threads, its own Flask app and its own database connections (SQLite in WAL mode
takes the writes of several processes; the audit log and sign-in lockouts live in the
database, the signed-in sessions in signed cookies, so any worker can answer any request).

The parent (:class:`WorkerPool`) checks the setup once (secret key, databases, certificate),
binds the socket, starts the workers (``python -m web.workers``, given the socket as an
inherited file descriptor) and then only watches them: a worker that exits is started again,
but if workers exit :data:`RESTART_LIMIT` times within :data:`RESTART_WINDOW_S` the server
stops with an error instead of looping. SIGTERM or Ctrl-C stops the workers (SIGTERM, then
SIGKILL after :data:`STOP_GRACE_S`). The parent starts no thread before the workers run, and
waits on them through pidfds, so it never reaps a process that is not its worker.

A worker can also hang while its process lives: frozen whole (a deadlock holding the GIL, a
process stopped), or with every one of its threads stuck on a request that never ends. (A process
in an uninterruptible read, from a failing SD card say, cannot even be killed: no restart helps
there.) The other worker goes on accepting connections, so the watchdog's probes would
rarely notice. So each worker beats: a thread of its own writes a byte to a pipe (its write end
given as ``$STATION_WORKER_BEAT_FD``) every :data:`BEAT_S`, as long as the worker is not stuck
(:class:`Progress`: all its threads busy and no request begun or finished for
:data:`STUCK_S`). A worker silent for :data:`HANG_TIMEOUT_S` is killed (SIGKILL) and started
again like one that exited.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from station.errors import StationError

log = logging.getLogger(__name__)

#: Worker exits within :data:`RESTART_WINDOW_S` after which the server gives up.
RESTART_LIMIT: Final = 5
RESTART_WINDOW_S: Final = 60.0
#: How long the workers have to finish their requests after SIGTERM before SIGKILL.
STOP_GRACE_S: Final = 10.0
#: The most worker processes ``station serve --workers`` takes.
MAX_WORKERS: Final = 16
#: A worker beats this often (seconds).
BEAT_S: Final = 2.0
#: A worker whose threads are all busy with no request begun or finished for this long is
#: stuck: it stops beating (seconds). Far above a request's usual time (milliseconds; an export
#: of a participant's whole record, seconds).
STUCK_S: Final = 60.0
#: A worker that has not beaten for this long is killed and started again (seconds).
HANG_TIMEOUT_S: Final = 20.0
#: The variable that gives a worker the write end of its heartbeat pipe.
BEAT_FD_ENV: Final = "STATION_WORKER_BEAT_FD"


def default_workers() -> int:
    """Two processes where there are at least two processors (a Pi 4 or 5 has four; the
    kiosk's recording needs the rest), else one."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port) and listening, made the way
    cheroot makes its own (address reuse, no Nagle delay, IPv4 too on ``::``)."""
    from cheroot.server import HTTPServer

    from web.server import LISTEN_BACKLOG, url_of

    bare = host.strip().strip("[]")
    try:
        found = socket.getaddrinfo(
            bare, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StationError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    problem: OSError | None = None
    for family, kind, proto, _name, address in found:
        try:
            sock = HTTPServer.prepare_socket((bare, port), family, kind, proto, True, None, False)
        except OSError as exc:  # e.g. IPv6 turned off in the kernel: try the next address
            problem = exc
            continue
        try:
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
        except OSError as exc:
            sock.close()
            problem = exc
            continue
        sock.set_inheritable(True)
        return sock
    reason = (problem.strerror or str(problem)) if problem else "no address"
    raise StationError(
        f"cannot listen on {url_of(host, port)} ({reason}); is another server running "
        "there? Choose another port with --port"
    )


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen[bytes]
    pidfd: int
    #: The read end of its heartbeat pipe (closed when the worker is reaped).
    beat_fd: int
    #: When it last beat (or was started), host CLOCK_MONOTONIC seconds.
    beat_s: float
    #: Killed for not beating (said when it is reaped).
    hung: bool = False
    #: Its end of the pipe is closed (it is ending): no more beats to read.
    beat_ended: bool = False


class WorkerPool:
    """The parent of a multi-process server (see the module docstring).

    ``command(fd)`` is the command line of one worker given the listening socket's file
    descriptor (by default ``python -m web.workers ...``, see :func:`worker_command`).
    ``hang_timeout_s``: a worker that has not beaten for this long is killed and started again
    (see the module docstring); ``clock``: host monotonic seconds.
    """

    def __init__(
        self,
        sock: socket.socket,
        workers: int,
        command: Callable[[int], Sequence[str]],
        *,
        say: Callable[[str], None] = print,
        hang_timeout_s: float = HANG_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise StationError(f"give 1-{MAX_WORKERS} worker processes, got {workers}")
        self.sock = sock
        self.workers = workers
        self.command = command
        self.say = say
        self.hang_timeout_s = hang_timeout_s
        self.clock = clock
        self.live: dict[int, _Worker] = {}  # by pidfd
        self.exits: deque[float] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._stopping = False

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def pids(self) -> list[int]:
        return sorted(w.proc.pid for w in self.live.values())

    def start(self) -> None:
        for slot in range(self.workers):
            self._spawn(slot)

    def _spawn(self, slot: int) -> _Worker:
        fd = self.sock.fileno()
        # a stop signal arriving between the start and the bookkeeping would leave a worker
        # nobody stops (or a pipe nobody closes): it waits until the worker is in `live`
        with _signals_deferred():
            beat_r, beat_w = os.pipe()
            try:
                os.set_blocking(beat_r, False)
                try:
                    proc = subprocess.Popen(
                        list(self.command(fd)),
                        pass_fds=(fd, beat_w),
                        env={**os.environ, BEAT_FD_ENV: str(beat_w)},
                        stdin=subprocess.DEVNULL,
                        # its own process group: Ctrl-C in the terminal reaches the parent
                        # only, which then stops the workers in order (they do not each get it
                        # mid-start)
                        process_group=0,
                    )
                finally:
                    os.close(beat_w)
                try:
                    pidfd = os.pidfd_open(proc.pid)
                except OSError:
                    proc.kill()
                    proc.wait()
                    raise
            except BaseException:
                os.close(beat_r)
                raise
            worker = _Worker(slot, proc, pidfd, beat_r, self.clock())
            self.live[worker.pidfd] = worker
        return worker

    def serve(self) -> None:
        """Watch the workers until :meth:`request_stop` (or Ctrl-C/SIGTERM, which raise
        KeyboardInterrupt here); a worker that exits is started again. Raises
        :class:`StationError` when workers keep exiting."""
        while not self._stopping:
            self.watch_once()

    def watch_once(self) -> None:
        """One round of :meth:`serve`: wait until a worker ends or beats, or one is overdue;
        restart those that ended, kill those silent for too long."""
        # what the fd numbers meant when select() saw them: reaping closes a worker's fds and
        # its successor may get the same numbers within this round
        before = dict(self.live)
        beats = {w.beat_fd: w for w in before.values() if not w.beat_ended}
        ready, _, _ = select.select([self._wake_r, *before, *beats], [], [], self._until_overdue())
        for fd in ready:
            if fd in beats:
                self._read_beats(beats[fd])
        for fd in ready:
            worker = before.get(fd)
            if worker is None or self._stopping or self.live.get(fd) is not worker:
                continue
            self._reap(self.live.pop(fd))
        self._kill_silent()

    def _until_overdue(self) -> float:
        """Seconds until the next worker is overdue (0: one is already)."""
        now = self.clock()
        first = min((w.beat_s for w in self.live.values() if not w.hung), default=now)
        return max(0.0, first + self.hang_timeout_s - now) if self.live else 3600.0

    def _read_beats(self, worker: _Worker) -> None:
        try:
            while data := os.read(worker.beat_fd, 4096):
                worker.beat_s = self.clock()
                if len(data) < 4096:
                    return
        except BlockingIOError:
            return
        # end of file: the worker is ending (its pidfd says so) or closed the pipe; the fd is
        # closed when it is reaped (closing it now would free its number for a new worker's)
        worker.beat_ended = True

    def _kill_silent(self) -> None:
        now = self.clock()
        for worker in self.live.values():
            if not worker.hung and now - worker.beat_s >= self.hang_timeout_s:
                worker.hung = True  # said when reaped, just after
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()

    def _reap(self, worker: _Worker) -> None:
        code = worker.proc.wait()
        os.close(worker.pidfd)
        os.close(worker.beat_fd)
        now = time.monotonic()
        self.exits.append(now)
        while self.exits and now - self.exits[0] > RESTART_WINDOW_S:
            self.exits.popleft()
        how = f"signal {-code}" if code < 0 else f"code {code}"
        if worker.hung:
            how = f"no sign of life for {self.hang_timeout_s:g} s (killed)"
        if len(self.exits) >= RESTART_LIMIT:
            raise StationError(
                f"the server's worker processes exited {len(self.exits)} times within "
                f"{RESTART_WINDOW_S:.0f} s (the last with {how}); stopping. The messages above "
                "say why"
            )
        new = self._spawn(worker.slot)
        self.say(
            f"warning: server worker {worker.slot + 1} (pid {worker.proc.pid}) "
            + ("hung: " if worker.hung else "exited with ")
            + f"{how}; started it again (pid {new.proc.pid})"
        )

    def request_stop(self) -> None:
        """Make :meth:`serve` return (from another thread)."""
        self._stopping = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def stop(self) -> None:
        """Stop every worker (SIGTERM, SIGKILL after :data:`STOP_GRACE_S`) and close the
        socket. A second Ctrl-C or SIGTERM meanwhile does not cut this short."""
        with _signals_ignored():
            self._stop()

    def _stop(self) -> None:
        self._stopping = True
        for worker in self.live.values():
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self.live.values():
            try:
                worker.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("server worker pid %d did not stop: killed", worker.proc.pid)
                worker.proc.kill()
                worker.proc.wait()
            os.close(worker.pidfd)
            os.close(worker.beat_fd)
        self.live.clear()
        self.sock.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


#: The signals that stop a server (the watchdog passes SIGHUP on as well).
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold the stop signals back (delivered at the end) in the main thread."""
    if not _in_main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore the stop signals (in the main thread) while stopping."""
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_with_parent(parent_pid: int) -> None:
    """SIGTERM this process when its parent dies (Linux ``PR_SET_PDEATHSIG``), so a killed
    parent leaves no worker serving the port unwatched."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's stop() still stops it
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Progress:
    """WSGI middleware that knows whether a worker still gets through its requests.

    Stuck (:meth:`stuck`): every one of its ``threads`` is busy with a request (from the app's
    call until the server closes the response body) and none has begun or finished one for
    ``stuck_s``. One slow request (a large export) is not stuck while the other threads serve.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        threads: int,
        *,
        stuck_s: float = STUCK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.threads = threads
        self.stuck_s = stuck_s
        self.clock = clock
        self.busy = 0
        self.moved_s = clock()
        self._lock = threading.Lock()

    def _moved(self, by: int) -> None:
        with self._lock:
            self.busy += by
            self.moved_s = self.clock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self._moved(+1)
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._moved(-1)
            raise
        return _Body(body, lambda: self._moved(-1))

    def stuck(self) -> bool:
        with self._lock:
            return self.busy >= self.threads and self.clock() - self.moved_s >= self.stuck_s


def beat_forever(
    fd: int,
    stuck: Callable[[], bool],
    every_s: float = BEAT_S,
    wait: Callable[[float], bool] | None = None,
) -> None:
    """Write a byte to ``fd`` every ``every_s`` while not ``stuck()`` (a worker's heartbeat
    thread). ``wait(seconds)`` passes the time between beats and returns True to end the loop
    (default: never); the loop also ends once the parent has closed the pipe's other end."""
    wait = wait or threading.Event().wait
    while not wait(every_s):
        if stuck():
            continue
        try:
            os.write(fd, b".")
        except BlockingIOError:  # the parent is behind: a beat more or less changes nothing
            continue
        except OSError:  # the parent is gone
            return


class _Body:
    """A response body that says when the server is done with it (WSGI servers call
    ``close()`` once they have sent it, or given up)."""

    def __init__(self, body: Any, done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


class _Heart:
    """What the heartbeat thread asks: is the worker's :class:`Progress` (once the server is
    made) stuck?"""

    progress: Progress | None = None

    def stuck(self) -> bool:
        return self.progress is not None and self.progress.stuck()


def _start_beating() -> _Heart:
    """Start the heartbeat thread if the parent gave a pipe (``$STATION_WORKER_BEAT_FD``)."""
    heart = _Heart()
    text = os.environ.pop(BEAT_FD_ENV, "")
    if text.isdigit():
        fd = int(text)
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)  # a program the app might start gets no heartbeat
        threading.Thread(
            target=beat_forever, args=(fd, heart.stuck), name="worker-heartbeat", daemon=True
        ).start()
    return heart


def worker_command(
    fd: int,
    data_dir: Path,
    host: str,
    port: int,
    threads: int,
    cert: Path | None = None,
    key: Path | None = None,
) -> list[str]:
    """The command line of one worker process."""
    args = [sys.executable, "-m", "web.workers", "--fd", str(fd), "--data-dir", str(data_dir)]
    args += ["--parent", str(os.getpid())]
    args += ["--host", host, "--port", str(port), "--threads", str(threads)]
    if cert is not None and key is not None:
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    return args


def worker_main(argv: Sequence[str] | None = None) -> int:
    """One worker: serve on the inherited socket until SIGTERM or SIGINT (or the parent's
    death)."""

    def interrupt(signum: int, frame: object) -> None:
        # once: a second signal must not break the stop already under way
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    for sig in STOP_SIGNALS:  # before the imports, which take a second or two
        signal.signal(sig, interrupt)
    # the parent holds these signals back while it starts a worker, and a signal mask is
    # inherited across exec: let them through (one that came meanwhile is delivered now)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        parser = argparse.ArgumentParser(prog="python -m web.workers")
        parser.add_argument("--fd", type=int, required=True)
        parser.add_argument("--parent", type=int, required=True)
        parser.add_argument("--data-dir", type=Path, required=True)
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--threads", type=int, required=True)
        parser.add_argument("--tls-cert", type=Path)
        parser.add_argument("--tls-key", type=Path)
        args = parser.parse_args(argv)
        _exit_with_parent(args.parent)
        heart = _start_beating()  # beats during the imports too
        logging.basicConfig(
            level=logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        from web import close_app
        from web.server import make_server, settle_memory
        from web.tls import load_certificate

        sock = socket.socket(fileno=args.fd)
        cert = None
        if args.tls_cert is not None and args.tls_key is not None:
            cert = load_certificate(args.tls_cert, args.tls_key)
        server, app = make_server(
            args.data_dir, args.host, args.port, threads=args.threads, tls=cert, listen_socket=sock
        )
        heart.progress = server.wsgi_app = Progress(server.wsgi_app, args.threads)
    except KeyboardInterrupt:
        return 0
    except (StationError, OSError) as exc:
        print(f"station serve: worker {os.getpid()}: error: {exc}", file=sys.stderr)
        return 1
    try:
        settle_memory()
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        try:
            server.stop()
        finally:
            close_app(app)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
