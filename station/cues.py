"""Cues on the station's clock: cue LEDs, beeps and metronome clicks on the buzzer.

Every cue is scheduled at an integer-ns time on the same clock as the input timestamps. When it
fires, the actual onset is logged beside the scheduled one: the clock read right after the GPIO
write returned (``actual_on_ns``) and, when the output is wired back to an input (loopback), the
driver-stamped edge of the line really changing (``loopback_on_ns``), which on lgpio is the kernel's
timestamp. Audio cues (speaker) are played by the kiosk on the same schedule.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hardware.clock import NS_PER_S, Clock
from hardware.worker import Worker

#: Below this, the real-time thread stops waiting on the OS and watches the clock itself.
SPIN_NS = 1_000_000


@dataclass
class Cue:
    output: str
    kind: str  # "led" | "beep" | "click"
    scheduled_on_ns: int
    scheduled_off_ns: int
    actual_on_ns: int | None = None
    actual_off_ns: int | None = None
    loopback_on_ns: int | None = None

    @property
    def onset_error_ns(self) -> int | None:
        """Best measured onset minus scheduled onset."""
        measured = self.loopback_on_ns if self.loopback_on_ns is not None else self.actual_on_ns
        return None if measured is None else measured - self.scheduled_on_ns


class CueScheduler:
    """Fires scheduled cues on output lines and logs their actual onsets.

    :param outputs: output lines by name (each with ``on()``/``off()``).
    :param loopbacks: for outputs read back on an input, the timing-core channel of that input.
    """

    def __init__(
        self, clock: Clock, outputs: Mapping[str, Any], loopbacks: Mapping[str, str] | None = None
    ):
        self.clock = clock
        self.outputs = outputs
        self._loop_channel_to_output = {ch: out for out, ch in (loopbacks or {}).items()}
        self.cues: list[Cue] = []
        self._heap: list[tuple[int, int, int, Cue]] = []  # (t_ns, order, on=1/off=0, cue)
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._worker = Worker("cues", self._step, wake=self._wake.set)

    def schedule(self, output: str, t_on_ns: int, duration_ns: int, kind: str = "led") -> Cue:
        """Turn ``output`` on at ``t_on_ns`` for ``duration_ns``."""
        if output not in self.outputs:
            raise KeyError(f"no output named {output!r} (known: {', '.join(self.outputs)})")
        if duration_ns <= 0:
            raise ValueError("a cue needs a positive duration")
        cue = Cue(output, kind, int(t_on_ns), int(t_on_ns + duration_ns))
        with self._lock:
            self.cues.append(cue)
            heapq.heappush(self._heap, (cue.scheduled_on_ns, next(self._order), 1, cue))
            heapq.heappush(self._heap, (cue.scheduled_off_ns, next(self._order), 0, cue))
        self._wake.set()
        return cue

    def metronome(
        self, output: str, start_ns: int, interval_ns: int, n_beats: int, click_ns: int = 10_000_000
    ) -> list[Cue]:
        """``n_beats`` clicks every ``interval_ns`` from ``start_ns``."""
        if click_ns >= interval_ns:
            raise ValueError("a click must be shorter than the beat interval")
        return [
            self.schedule(output, start_ns + i * interval_ns, click_ns, "click")
            for i in range(n_beats)
        ]

    def cancel_pending(self) -> None:
        """Drop cues not yet started; switch off any cue that is on."""
        with self._lock:
            pending_off = [c for _, _, on, c in self._heap if not on and c.actual_on_ns is not None]
            self._heap.clear()
        for cue in pending_off:
            self.outputs[cue.output].off()
            cue.actual_off_ns = self.clock.now_ns()

    def next_due_ns(self) -> int | None:
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def pump(self, now_ns: int | None = None) -> None:
        """Fire every on/off that is due."""
        now = self.clock.now_ns() if now_ns is None else now_ns
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > now:
                    return
                _, _, on, cue = heapq.heappop(self._heap)
            line = self.outputs[cue.output]
            if on:
                line.on()
                cue.actual_on_ns = self.clock.now_ns()
            else:
                line.off()
                cue.actual_off_ns = self.clock.now_ns()

    def on_event(self, event: Any) -> None:
        """Timing-core subscriber: match loopback edges to the cues that caused them."""
        output = self._loop_channel_to_output.get(event.channel)
        if output is None or event.level != 1:
            return
        for cue in self.cues:
            if cue.output == output and cue.loopback_on_ns is None and cue.actual_on_ns is not None:
                cue.loopback_on_ns = event.t_ns
                return

    # -- real-time thread ------------------------------------------------------------------------
    def _step(self) -> None:
        due = self.next_due_ns()
        now = self.clock.now_ns()
        if due is None or due - now > SPIN_NS:
            self._wake.wait(0.05 if due is None else (due - now - SPIN_NS) / NS_PER_S)
            self._wake.clear()
            return
        while self.clock.now_ns() < due:  # the last millisecond: watch the clock itself
            pass
        self.pump()

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
