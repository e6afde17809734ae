"""A consumer's own thread: calls one step function until stopped (real hardware, real time)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Worker:
    """A named daemon thread that runs ``step()`` again and again until :meth:`stop`.

    ``step`` waits for its own work (a queue, a due time) with a timeout, so a stop is seen
    promptly; ``wake``, when given, is called on stop to cut such a wait short.
    """

    def __init__(self, name: str, step: Callable[[], None], wake: Callable[[], None] | None = None):
        self.name = name
        self._step = step
        self._wake = wake
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            self._step()

    def stop(self) -> None:
        if self._thread is None:
            return
        self.stopping.set()
        if self._wake is not None:
            self._wake()
        self._thread.join()
        self._thread = None
