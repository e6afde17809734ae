"""GPIO through gpiozero's public Pin API, with driver timestamps on every edge.

* :class:`InputLine` registers ``pin.when_changed(ticks, state)``: the factory's driver passes the
  edge's timestamp as ``ticks``. With the lgpio factory that is the kernel's CLOCK_MONOTONIC stamp
  taken in the interrupt handler; with RPi.GPIO (or rpi-lgpio's shim) it is the monotonic clock
  read when the callback runs, and the recording says so (``timestamp_source``).
* :class:`OutputLine` drives a cue LED or the buzzer through a gpiozero output device.
* :class:`TimedMockFactory` is gpiozero's ``MockFactory`` with a pin class whose edges carry
  exact times from a (virtual) clock or from a script: the simulated backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero import DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockPin, PinState

from hardware.clock import Clock, ns_to_ticks, ticks_to_ns

#: A Raspberry Pi 4 Model B (8 GB, rev 1.4) board revision, for the mock factory's header map.
MOCK_REVISION = "d03114"

EdgeCallback = Callable[[int, int], None]
"""``callback(t_ns, active)``: an edge at driver time ``t_ns``; ``active`` 1 = switch closed."""


class TimedMockPin(MockPin):
    """A gpiozero mock pin whose state changes carry exact integer-ns times.

    Inputs are driven by :meth:`drive_at` with a scripted time (as the kernel would stamp it);
    outputs written through gpiozero are stamped with the factory clock's current time and
    reported to the factory's output listeners (for loopback wiring and the virtual participant).
    """

    _factory: TimedMockFactory
    _driven: bool | None = None  # the level a switch holds the line at, once scripted

    def _set_pull(self, value: str) -> None:
        # gpiozero's mock moves an input to its pull; a real pull resistor (~50 kOhm) cannot move
        # a line that a closed contact holds, so a scripted level survives (re)opening the line.
        super()._set_pull(value)
        if self._driven is not None and self._state != self._driven:
            self._set_level_at(self._driven, self._factory.clock.now_ns())

    def clear_states(self) -> None:
        self._last_change = self._factory.ticks()
        self.states = [PinState(0.0, self._state)]

    def _change_state(self, value: bool) -> bool:
        return self._set_level_at(value, self._factory.clock.now_ns())

    def _set_level_at(self, value: bool, t_ns: int) -> bool:
        if self._state == value:
            return False
        t = ns_to_ticks(t_ns)
        self._state = value
        self.states.append(PinState(t - self._last_change, value))
        self._last_change = t
        if self._function == "output":
            self._factory.notify_output(self, t_ns, value)
        return True

    def drive_at(self, level: bool, t_ns: int) -> bool:
        """Drive this input to ``level`` with an edge stamped exactly ``t_ns``.

        Returns False when the level did not change (no edge). The ``when_changed`` handler runs
        synchronously, as gpiozero's own mock does.
        """
        if self._function != "input":
            raise RuntimeError(f"GPIO{self.info.name}: cannot drive an output pin")
        level = bool(level)
        self._driven = level
        if not self._set_level_at(level, t_ns):
            return False
        edges = self._edges
        if (edges == "both" or edges == ("rising" if level else "falling")) and (
            self._when_changed is not None
        ):
            self._call_when_changed()
        return True


OutputListener = Callable[[int, int, bool], None]
"""``listener(gpio, t_ns, level)`` for output writes on the simulated backend."""


class TimedMockFactory(MockFactory):
    """gpiozero's MockFactory on a given clock, making :class:`TimedMockPin` pins."""

    def __init__(self, clock: Clock, revision: str = MOCK_REVISION):
        self.clock = clock
        self._output_listeners: list[OutputListener] = []
        self._by_gpio: dict[int, TimedMockPin] = {}
        super().__init__(revision=revision, pin_class=TimedMockPin)

    def ticks(self) -> float:  # type: ignore[override]
        return ns_to_ticks(self.clock.now_ns())

    def add_output_listener(self, listener: OutputListener) -> None:
        self._output_listeners.append(listener)

    def notify_output(self, pin: TimedMockPin, t_ns: int, level: bool) -> None:
        gpio = int(str(pin.info.name).removeprefix("GPIO"))
        for listener in self._output_listeners:
            listener(gpio, t_ns, level)

    def mock_pin(self, gpio: int) -> TimedMockPin:
        """The simulated pin of a BCM line (cached: gpiozero's pin lookup walks the header)."""
        pin = self._by_gpio.get(gpio)
        if pin is None or self.pins.get(pin.info) is not pin:
            pin = self.pin(gpio)
            assert isinstance(pin, TimedMockPin)
            self._by_gpio[gpio] = pin
        return pin


class InputLine:
    """A switch on one GPIO line; every edge is handed on as ``(t_ns, active)``.

    :param factory: the gpiozero pin factory.
    :param gpio: BCM line number.
    :param pull: ``"up"`` or ``"down"``.
    :param active_low: True when a closed switch reads low (pull-up, switch to ground).
    :param on_edge: called in the driver's thread for every edge; must only enqueue.

    gpiozero's own debounce is disabled: bounce is removed later on timestamps, so the first
    edge of a press keeps its true time.
    """

    def __init__(
        self, factory: Any, gpio: int, *, pull: str, active_low: bool, on_edge: EdgeCallback
    ):
        self.gpio = gpio
        self.active_low = active_low
        self._on_edge = on_edge
        self._invert = 1 if active_low else 0
        pin = factory.pin(gpio)
        pin.function = "input"
        pin.pull = pull
        pin.bounce = None
        pin.edges = "both"
        self.pin = pin
        # gpiozero keeps only a weak reference to bound methods: self must stay alive.
        pin.when_changed = self._changed

    def _changed(self, ticks: float, state: int) -> None:
        self._on_edge(ticks_to_ns(ticks), int(state) ^ self._invert)

    @property
    def active(self) -> bool:
        """True when the switch is closed now (read from the pin, not from events)."""
        return bool(self.pin.state) != self.active_low

    def close(self) -> None:
        self.pin.when_changed = None
        self.pin.close()


class OutputLine:
    """A cue LED or buzzer through gpiozero's :class:`DigitalOutputDevice`."""

    def __init__(self, factory: Any, gpio: int, *, active_high: bool = True):
        self.gpio = gpio
        self.device = DigitalOutputDevice(
            gpio, active_high=active_high, initial_value=False, pin_factory=factory
        )

    def on(self) -> None:
        self.device.on()

    def off(self) -> None:
        self.device.off()

    @property
    def is_on(self) -> bool:
        return bool(self.device.value)

    def close(self) -> None:
        self.device.close()
