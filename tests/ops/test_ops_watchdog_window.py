"""``station watchdog`` in front of a server of several processes: one process stuck fails only
some probes (each probe reaches one process), so the watchdog counts bad probes among the
latest ones, not in a row."""

from __future__ import annotations

import http.server
import itertools
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from station.watchdog import WatchdogSettings, supervise


class _HalfStuck(http.server.BaseHTTPRequestHandler):
    """Answers 200 and 503 in turn, as two server processes of which one is stuck would."""

    turns = itertools.cycle((200, 503))

    def do_GET(self) -> None:
        self.send_response(next(self.turns))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def half_stuck_url() -> Iterator[str]:
    _HalfStuck.turns = itertools.cycle((200, 503))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HalfStuck)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_one_stuck_process_of_two_is_caught(half_stuck_url: str) -> None:
    said: list[str] = []
    notified: list[str] = []
    settings = WatchdogSettings(half_stuck_url, interval_s=0.02, probe_timeout_s=5, failures=3)
    assert settings.window == 5
    command = [sys.executable, "-c", "import time; time.sleep(120)"]

    def notify(message: str) -> bool:
        notified.append(message)
        return True

    assert supervise(command, settings, notify=notify, say=said.append) == 1
    # good, bad, good, bad, good, bad: 3 bad among the last 5, never 2 in a row
    assert notified.count("WATCHDOG=1") == 3
    assert said[-2].endswith("3 of the last 5 probes")
    assert "so that systemd restarts it" in said[-1]
