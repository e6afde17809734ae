"""The simulated bench: virtual time, scripted switch edges, force pads and ADCs in one loop.

:class:`SimWorld` is a small discrete-event simulation on a :class:`VirtualClock`. It holds

* scheduled actions (switch edges from the virtual participant, faults to inject, ...),
* ADS1x15 register models whose ALERT/RDY pulses it plays into the RDY GPIO lines at their exact
  conversion times,
* *pumps*: the station's consumers (timing core, ADC readers, cue scheduler), which it calls after
  every step so that they see the world in virtual-time order, exactly as their own threads would
  on real hardware.

``run_until`` runs as fast as the host allows; ``run_realtime`` keeps virtual time in step with
the host clock for demonstrations.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hardware.clock import NS_PER_S, VirtualClock
from hardware.gpio import TimedMockFactory

#: Other readers get a turn when a reader's transactions have moved the clock on by this much
#: (about two I2C transactions at 400 kHz; a conversion at 860 samples/s takes 1,163 us).
INTERLEAVE_NS = 250_000

ForceFn = Callable[[int], float]
"""``force_n(t_ns)``: force on a pad at a virtual time."""


class Pump(Protocol):
    def pump(self, now_ns: int | None = None) -> Any: ...

    def next_due_ns(self) -> int | None: ...


@dataclass
class FsrPad:
    """A force-sensing resistor in a voltage divider: Vout = V+ * RM / (RM + R_fsr).

    The FSR's conductance is taken as linear in force (Interlink FSR 402 integration guide,
    timing-and-hardware.md): ``G = leak_s + sensitivity_s_per_n * F``.
    """

    divider_ohm: float = 10_000.0
    supply_v: float = 3.3
    sensitivity_s_per_n: float = 4.0e-5
    leak_s: float = 1.0e-7
    force: ForceFn = field(default=lambda t_ns: 0.0)

    def voltage_v(self, t_ns: int) -> float:
        g = self.leak_s + self.sensitivity_s_per_n * max(0.0, self.force(t_ns))
        x = self.divider_ohm * g
        return self.supply_v * x / (1.0 + x)


@dataclass
class _Adc:
    address: int
    model: Any
    rdy_gpio: int | None
    attached: bool = True
    pin: Any = None  # the RDY line's mock pin, as last looked up, and its header info
    pin_info: Any = None


class SimWorld:
    """Discrete-event driver of the simulated backend (see module docstring)."""

    def __init__(self, clock: VirtualClock, factory: TimedMockFactory, bus: Any):
        self.clock = clock
        self.factory = factory
        self.bus = bus
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._heap_lock = threading.Lock()  # scripts may be added while run_realtime runs
        self._order = itertools.count()
        self._adcs: list[_Adc] = []
        self._rdy_adcs: list[_Adc] = []  # attached, with their RDY line wired
        self._pumps: list[Pump] = []
        self._running: list[Pump] = []  # pumps inside a call now (one blocked on the bus)
        self._last_interleave_ns = 0
        self.steps = 0
        # Between two I2C transactions of one reader, the others get their turn (as their
        # threads would on a real bus): a blocking single-shot scan must not starve the rest.
        bus.on_unlock = self._interleave

    # -- wiring ----------------------------------------------------------------------------------
    def add_adc(self, address: int, model: Any, rdy_gpio: int | None) -> None:
        self.bus.attach(address, model)
        self._adcs.append(_Adc(address, model, rdy_gpio))
        self._update_rdy_adcs()

    def _update_rdy_adcs(self) -> None:
        self._rdy_adcs = [a for a in self._adcs if a.attached and a.rdy_gpio is not None]

    def add_pump(self, pump: Pump) -> None:
        self._pumps.append(pump)

    def remove_pump(self, pump: Pump) -> None:
        if pump in self._pumps:
            self._pumps.remove(pump)

    def unplug_adc(self, address: int) -> None:
        """The chip vanishes: I2C transactions fail and its RDY line stops pulsing."""
        for adc in self._adcs:
            if adc.address == address and adc.attached:
                adc.attached = False
                self.bus.detach(address)
        self._update_rdy_adcs()

    def replug_adc(self, address: int) -> None:
        """The chip comes back (power-on reset state, as a real chip would)."""
        for adc in self._adcs:
            if adc.address == address and not adc.attached:
                adc.model.reset()
                adc.attached = True
                self.bus.attach(address, adc.model)
        self._update_rdy_adcs()

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self, t_ns: int, action: Callable[[], None]) -> None:
        """Run ``action`` when virtual time reaches ``t_ns``."""
        with self._heap_lock:
            heapq.heappush(self._heap, (int(t_ns), next(self._order), action))

    def play_edges(
        self, gpio: int, edges: Iterable[tuple[int, int]], *, active_low: bool = True
    ) -> None:
        """Schedule a switch's contact edges ``(t_ns, closed)`` on an input line.

        ``closed`` is the physical contact (1 = closed); with ``active_low`` a closed switch pulls
        the line low. Each edge reaches the driver stamped with exactly its ``t_ns``.
        """
        pin = self.factory.mock_pin(gpio)
        for t_ns, closed in edges:
            level = (not closed) if active_low else bool(closed)
            self.schedule(t_ns, lambda pin=pin, level=level, t_ns=t_ns: pin.drive_at(level, t_ns))

    # -- running ---------------------------------------------------------------------------------
    def next_time_ns(self) -> int | None:
        """The earliest time at which something happens, or None when nothing is pending."""
        earliest: int | None = None
        with self._heap_lock:
            if self._heap:
                earliest = self._heap[0][0]
        for adc in self._rdy_adcs:
            t = adc.model.next_event_ns()
            if t is not None and (earliest is None or t < earliest):
                earliest = t
        for pump in self._pumps:
            t = pump.next_due_ns()
            if t is not None and (earliest is None or t < earliest):
                earliest = t
        return earliest

    def step(self, t_ns: int) -> None:
        """Advance to ``t_ns`` and deliver everything due by then, in time order."""
        self.clock.advance_to(t_ns)
        self._deliver()
        running, now_ns = self._running, self.clock.now_ns
        for pump in list(self._pumps):
            running.append(pump)
            try:
                pump.pump(now_ns())
            finally:
                running.pop()
        self.steps += 1

    def _deliver(self) -> None:
        now = self.clock.now_ns()
        heap = self._heap
        while heap and heap[0][0] <= now:  # (re-checked under the lock)
            with self._heap_lock:
                if not heap or heap[0][0] > now:
                    break
                _, _, action = heapq.heappop(heap)
            action()
        pins = self.factory.pins
        for adc in self._rdy_adcs:
            pin = adc.pin
            if pin is None or pins.get(adc.pin_info) is not pin:  # as mock_pin checks its cache
                pin = adc.pin = self.factory.mock_pin(adc.rdy_gpio)
                adc.pin_info = pin.info
            for t_edge, level in adc.model.pending_rdy_edges(now):
                pin.drive_at(bool(level), t_edge)

    def _run_pump(self, pump: Pump) -> None:
        self._running.append(pump)
        try:
            pump.pump(self.clock.now_ns())
        finally:
            self._running.pop()

    def _interleave(self) -> None:
        # Nested turns are allowed (a second blocked scan lets the others run too); a pump that is
        # already inside a call is never entered again.
        if not self._running:
            return
        now = self.clock.now_ns()
        if now - self._last_interleave_ns < INTERLEAVE_NS:
            return
        self._last_interleave_ns = now
        self._deliver()
        for pump in list(self._pumps):
            if pump not in self._running:
                self._run_pump(pump)

    def run_until(self, t_end_ns: int) -> None:
        """Run as fast as possible until virtual time ``t_end_ns``."""
        stalled = 0
        while True:
            now = self.clock.now_ns()
            t_next = self.next_time_ns()
            if t_next is None or t_next > t_end_ns:
                break
            stalled = stalled + 1 if t_next <= now else 0
            if stalled > 10_000:
                raise RuntimeError(
                    f"simulation stalled at t={now} ns: a pump never moves its next_due_ns on"
                )
            self.step(max(t_next, now))
        if self.clock.now_ns() < t_end_ns:
            self.step(t_end_ns)

    def run_for(self, duration_s: float) -> None:
        self.run_until(self.clock.now_ns() + round(duration_s * NS_PER_S))

    def run_realtime(self, stop: threading.Event, max_step_s: float = 0.002) -> None:
        """Keep virtual time in step with the host clock until ``stop`` is set (for demos)."""
        t0_virtual = self.clock.now_ns()
        t0_host = time.monotonic_ns()
        while not stop.is_set():
            target = t0_virtual + (time.monotonic_ns() - t0_host)
            self.run_until(target)
            t_next = self.next_time_ns()
            wait_ns = (
                max_step_s * NS_PER_S
                if t_next is None
                else min(t_next - self.clock.now_ns(), max_step_s * NS_PER_S)
            )
            if wait_ns > 0:
                stop.wait(wait_ns / NS_PER_S)
