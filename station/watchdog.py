"""``station watchdog``: run a server under systemd's watchdog, restarting it when it hangs.

systemd restarts a service whose process exits (``Restart=on-failure``), but not one that hangs
while its process lives on. With ``Type=notify`` and ``WatchdogSec=`` it also restarts a service
that stops sending ``WATCHDOG=1`` in time. This module is that sender, outside the server (the
station core never imports the web server): it starts the command given after ``--``, probes a
URL of it (any HTTP answer below 500 counts as alive), tells systemd ``READY=1`` after the first
good answer and ``WATCHDOG=1`` after each later one. After ``failures`` bad probes among the
last ``2 x failures - 1`` (or no good answer within ``start_timeout_s``) it stops the command
itself (SIGTERM, then SIGKILL) and exits 1, so the restart does not even wait for the
watchdog; if the watchdog process itself hangs, systemd's own timer catches it.

The messages go over ``$NOTIFY_SOCKET`` (a Unix datagram socket; a leading ``@`` is an abstract
socket), the protocol of ``sd_notify(3)``, in a few lines of Python (no extra dependency). Without
``$NOTIFY_SOCKET`` (not under systemd) nothing is sent and the probing still guards the command.

The command does not inherit ``NOTIFY_SOCKET``, ``WATCHDOG_*`` or the socket-activation variables
``LISTEN_PID``/``LISTEN_FDS``/``LISTEN_FDNAMES``: cheroot takes file descriptor 3 as its listening
socket whenever ``LISTEN_PID`` is set, whatever its value.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from station.errors import UsageError

log = logging.getLogger(__name__)

#: Variables the supervised command must not inherit (see the module docstring).
STRIPPED_ENV: Final = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
)
#: Probe interval when systemd sets no watchdog time (seconds).
DEFAULT_INTERVAL_S: Final = 20.0
DEFAULT_PROBE_TIMEOUT_S: Final = 10.0
DEFAULT_FAILURES: Final = 3
DEFAULT_START_TIMEOUT_S: Final = 120.0
#: How long the command has to stop after SIGTERM before SIGKILL.
STOP_GRACE_S: Final = 15.0


def sd_notify(message: str, *, env: dict[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd; False when not under systemd."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.warning("NOTIFY_SOCKET %r is neither a path nor an abstract socket", address)
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        except OSError as exc:
            log.warning("cannot notify systemd (%s): %s", address, exc)
            return False
    return True


def watchdog_interval_s(env: dict[str, str] | None = None) -> float | None:
    """Half of systemd's watchdog time for this process (``$WATCHDOG_USEC``), or None."""
    env = env if env is not None else dict(os.environ)
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2


class Heartbeat:
    """systemd's watchdog for a process that proves itself alive from its own main loop.

    The kiosk (``Type=notify``, ``WatchdogSec=``) calls :meth:`ready` once its first screen is up
    and :meth:`beat` every :attr:`interval_s` from its event loop: a loop that hangs stops the
    beats, and systemd kills and restarts the process. Outside systemd (no ``$NOTIFY_SOCKET``)
    every call is a no-op and :attr:`interval_s` is None.

    Args:
        env: the environment to read (``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC``,
            ``$WATCHDOG_PID``); default ``os.environ``.
        notify: the sender (default :func:`sd_notify`).
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        notify: Callable[[str], bool] | None = None,
    ):
        self._env = dict(os.environ) if env is None else dict(env)
        self._notify = notify or (lambda message: sd_notify(message, env=self._env))
        #: Seconds between beats (half of ``WatchdogSec=``), or None when there is no watchdog.
        self.interval_s = watchdog_interval_s(self._env) if self.enabled else None

    @property
    def enabled(self) -> bool:
        """Under systemd's notify protocol (``$NOTIFY_SOCKET`` set)."""
        return bool(self._env.get("NOTIFY_SOCKET"))

    def ready(self, status: str) -> bool:
        """``READY=1`` with a status line for ``systemctl status``."""
        return self.enabled and self._notify(f"READY=1\nSTATUS={_one_line(status)}")

    def beat(self) -> bool:
        """``WATCHDOG=1``: the loop that calls this is alive."""
        return self.enabled and self._notify("WATCHDOG=1")

    def stopping(self, status: str) -> bool:
        """``STOPPING=1``: a deliberate stop (no watchdog beats expected from now on)."""
        return self.enabled and self._notify(f"STOPPING=1\nSTATUS={_one_line(status)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def probe(url: str, timeout_s: float) -> str | None:
    """None when ``url`` answers with a status below 500, else what went wrong.

    HTTPS is probed without checking the certificate: this is a liveness probe of the
    station's own server (on its loopback address), it sends no credentials and reads nothing.
    """
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "station-watchdog"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as answer:
            answer.read(1)
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timed out, reset, TLS failure
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


@dataclass
class WatchdogSettings:
    url: str
    interval_s: float = DEFAULT_INTERVAL_S
    probe_timeout_s: float = DEFAULT_PROBE_TIMEOUT_S
    failures: int = DEFAULT_FAILURES
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S

    @property
    def window(self) -> int:
        """How many of the latest probes count: ``failures`` bad ones among them stop it."""
        return 2 * self.failures - 1


def supervise(
    command: Sequence[str],
    settings: WatchdogSettings,
    *,
    notify: Callable[[str], bool] = sd_notify,
    say: Callable[[str], None] = print,
) -> int:
    """Run ``command`` under the probe (module docstring); returns the exit status to use."""
    if not command:
        raise UsageError("station watchdog: give the command after --, e.g. -- station serve")
    if not settings.url.startswith(("http://", "https://")):
        raise UsageError(f"--probe: an http:// or https:// URL, got {settings.url!r}")
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    try:
        child = subprocess.Popen(list(command), env=env)
    except OSError as exc:
        say(f"watchdog: cannot start {command[0]}: {exc.strerror or exc}")
        return 1
    stop = threading.Event()
    stopping = {"signal": 0}

    def forward(signum: int, _frame: object) -> None:
        stopping["signal"] = signum
        stop.set()
        if child.poll() is None:
            child.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            previous[sig] = signal.signal(sig, forward)
    try:
        return _watch(child, settings, stop, stopping, notify, say)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            _terminate(child)


def _watch(
    child: subprocess.Popen[bytes],
    settings: WatchdogSettings,
    stop: threading.Event,
    stopping: dict[str, int],
    notify: Callable[[str], bool],
    say: Callable[[str], None],
) -> int:
    ready = False
    # the last probes, True for a bad one: with several server processes on one socket each
    # probe reaches one of them, so one stuck process fails only some probes; "failures bad
    # probes among the last 2 x failures - 1" still catches it, where "in a row" would not
    recent: deque[bool] = deque(maxlen=settings.window)
    waited_s = 0.0
    # before the first good answer probe often, so READY=1 comes soon after the server is up
    start_step_s = min(1.0, settings.interval_s)
    while True:
        code = child.poll()
        if code is not None:
            if stopping["signal"]:
                notify("STOPPING=1")
                return 0 if code in (0, -stopping["signal"]) else _status(code)
            say(f"watchdog: {child.args[0]} exited with status {_status(code)}")
            return _status(code)
        if stop.is_set():  # a signal was passed on: wait for the command to end
            child.wait()
            continue
        problem = probe(settings.url, settings.probe_timeout_s)
        if child.poll() is not None:
            continue
        if problem is None:
            recent.append(False)
            if not ready:
                ready = True
                notify(f"READY=1\nSTATUS=answering at {settings.url}")
                say(f"watchdog: {settings.url} answers; watching every {settings.interval_s:g} s")
            notify("WATCHDOG=1")
        elif ready:
            recent.append(True)
            bad = sum(recent)
            say(
                f"watchdog: {settings.url} did not answer ({problem}); {bad} of the last "
                f"{len(recent)} probes"
            )
            if bad >= settings.failures:
                say(f"watchdog: stopping {child.args[0]} so that systemd restarts it")
                notify(f"STATUS=not answering ({problem}); restarting")
                _terminate(child)
                return 1
        step = settings.interval_s if ready else start_step_s
        if not ready:
            waited_s += step
            if waited_s > settings.start_timeout_s:
                say(
                    f"watchdog: {settings.url} gave no answer within "
                    f"{settings.start_timeout_s:g} s of starting ({problem}); stopping"
                )
                _terminate(child)
                return 1
        stop.wait(step)


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


def _terminate(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
