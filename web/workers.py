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
from typing import Final

from station.errors import StationError

log = logging.getLogger(__name__)

#: Worker exits within :data:`RESTART_WINDOW_S` after which the server gives up.
RESTART_LIMIT: Final = 5
RESTART_WINDOW_S: Final = 60.0
#: How long the workers have to finish their requests after SIGTERM before SIGKILL.
STOP_GRACE_S: Final = 10.0
#: The most worker processes ``station serve --workers`` takes.
MAX_WORKERS: Final = 16


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


class WorkerPool:
    """The parent of a multi-process server (see the module docstring).

    ``command(fd)`` is the command line of one worker given the listening socket's file
    descriptor (by default ``python -m web.workers ...``, see :func:`worker_command`).
    """

    def __init__(
        self,
        sock: socket.socket,
        workers: int,
        command: Callable[[int], Sequence[str]],
        *,
        say: Callable[[str], None] = print,
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise StationError(f"give 1-{MAX_WORKERS} worker processes, got {workers}")
        self.sock = sock
        self.workers = workers
        self.command = command
        self.say = say
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
        # nobody stops: it waits until the worker is in `live`
        with _signals_deferred():
            proc = subprocess.Popen(
                list(self.command(fd)),
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                # its own process group: Ctrl-C in the terminal reaches the parent only, which
                # then stops the workers in order (they do not each get it mid-start)
                process_group=0,
            )
            worker = _Worker(slot, proc, os.pidfd_open(proc.pid))
            self.live[worker.pidfd] = worker
        return worker

    def serve(self) -> None:
        """Watch the workers until :meth:`request_stop` (or Ctrl-C/SIGTERM, which raise
        KeyboardInterrupt here); a worker that exits is started again. Raises
        :class:`StationError` when workers keep exiting."""
        while not self._stopping:
            ready, _, _ = select.select([self._wake_r, *self.live], [], [])
            for fd in ready:
                if fd == self._wake_r or self._stopping:
                    continue
                self._reap(self.live.pop(fd))

    def _reap(self, worker: _Worker) -> None:
        code = worker.proc.wait()
        os.close(worker.pidfd)
        now = time.monotonic()
        self.exits.append(now)
        while self.exits and now - self.exits[0] > RESTART_WINDOW_S:
            self.exits.popleft()
        how = f"signal {-code}" if code < 0 else f"code {code}"
        if len(self.exits) >= RESTART_LIMIT:
            raise StationError(
                f"the server's worker processes exited {len(self.exits)} times within "
                f"{RESTART_WINDOW_S:.0f} s (the last with {how}); stopping. The messages above "
                "say why"
            )
        new = self._spawn(worker.slot)
        self.say(
            f"warning: server worker {worker.slot + 1} (pid {worker.proc.pid}) exited with "
            f"{how}; started it again (pid {new.proc.pid})"
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
