"""Force-pad ADCs: one ADS1115/ADS1015 read through the unmodified adafruit driver.

Three ways to read a chip, chosen from how many of its channels are in use and whether its
ALERT/RDY line is wired:

``rdy``   one channel, continuous mode, ALERT/RDY set up as conversion-ready (Hi_thresh MSB = 1,
          Lo_thresh MSB = 0, TI datasheet). Each RDY edge is stamped by the GPIO driver (the
          kernel, with lgpio) and the conversion read after it carries that stamp. Two RDY edges
          before one read mean a conversion was overwritten: counted as missed, never hidden.
``poll``  one channel, continuous mode, no RDY: read once per conversion period, stamped with the
          host clock after the read (``timestamp_source = "host_read"``).
``scan``  several channels: single-shot conversions in turn, stamped after each read.

Faults (I2C errors, a chip that vanishes or goes silent) are reported through ``on_fault`` with a
clear message, counted as gaps through ``on_gap``, and the reader keeps trying to recover.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hardware.clock import NS_PER_S, Clock
from hardware.errors import HardwareError
from hardware.gpio import InputLine
from hardware.worker import Worker

SampleSink = Callable[[int, int, int], None]
"""``sink(t_ns, channel, code)``: one conversion result (signed 16-bit code as the driver returns)."""
GapSink = Callable[[int, str, int, int, int], None]
"""``sink(channel, reason, count, t_first_ns, t_last_ns)``: samples that are missing."""
FaultSink = Callable[[str], None]

#: After this many consecutive failed reads the chip is considered lost and re-probed.
LOST_AFTER_ERRORS = 5
#: A chip whose conversions stop for this many periods is reported silent.
SILENT_AFTER_PERIODS = 20
#: How often a lost chip is probed again.
REPROBE_NS = NS_PER_S


@dataclass
class AdcStats:
    samples: int = 0
    errors: int = 0
    missed: int = 0
    recoveries: int = 0
    first_t_ns: int | None = None
    last_t_ns: int | None = None

    def achieved_sps(self) -> float:
        if self.first_t_ns is None or self.last_t_ns is None or self.samples < 2:
            return 0.0
        span = self.last_t_ns - self.first_t_ns
        return (self.samples - 1) * NS_PER_S / span if span > 0 else 0.0


def _driver_class(chip: str) -> Any:
    if chip == "ADS1115":
        from adafruit_ads1x15.ads1115 import ADS1115

        return ADS1115
    if chip == "ADS1015":
        from adafruit_ads1x15.ads1015 import ADS1015

        return ADS1015
    raise HardwareError(f"unknown ADC chip {chip!r} (ADS1115 or ADS1015)")


class AdsReader:
    """Samples the used channels of one ADS1x15.

    :param name: the chip's name in the configuration (used in messages).
    :param i2c: a Blinka ``busio.I2C`` or a compatible bus (the simulator's ``FakeI2C``).
    :param channels: single-ended inputs in use (0-3).
    :param rdy: ``(pin_factory, gpio)`` of the ALERT/RDY line, or None.
    """

    def __init__(
        self,
        *,
        name: str,
        i2c: Any,
        chip: str,
        address: int,
        gain: float,
        data_rate_sps: int,
        channels: Sequence[int],
        clock: Clock,
        on_sample: SampleSink,
        on_fault: FaultSink,
        on_gap: GapSink,
        rdy: tuple[Any, int] | None = None,
    ):
        if not channels:
            raise ValueError(f"{name}: no channels to read")
        self.name = name
        self.i2c = i2c
        self.chip = chip
        self.address = address
        self.gain = gain
        self.data_rate_sps = data_rate_sps
        self.channels = tuple(channels)
        self.clock = clock
        self._on_sample = on_sample
        self._on_fault = on_fault
        self._on_gap = on_gap
        self.period_ns = NS_PER_S // data_rate_sps
        if len(self.channels) > 1:
            self.mode = "scan"
        elif rdy is not None:
            self.mode = "rdy"
        else:
            self.mode = "poll"
        self.timestamp_source = "rdy_edge" if self.mode == "rdy" else "host_read"
        self._rdy_spec = rdy if self.mode == "rdy" else None
        self._rdy_line: InputLine | None = None
        self._rdy_queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._held: list[int] = []  # RDY stamps taken off the queue by the thread's wait
        self._begin_ns = 0
        self._errors_unreported = 0
        self._last_error_report_ns: int | None = None
        self._ads: Any = None
        self.stats = AdcStats()
        self._consecutive_errors = 0
        self._lost_since_ns: int | None = None
        self._silent_reported = False
        self._next_due_ns = 0
        self._last_ok_ns = 0
        self._worker = Worker(f"adc-{name}", self._step)

    @property
    def answering(self) -> bool:
        """False while the chip is lost (missing, failing or silent) and being probed again."""
        return self._lost_since_ns is None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.chip} at 0x{self.address:02X})"

    # -- setup -----------------------------------------------------------------------------------
    def open(self) -> bool:
        """Configure the chip and its ALERT/RDY line; True when it answered.

        A chip that does not answer is reported through ``on_fault`` (naming it and what to
        check) and probed again every :data:`REPROBE_NS`; its samples are counted missing until
        it answers.
        """
        if self._rdy_spec is not None and self._rdy_line is None:
            factory, gpio = self._rdy_spec
            put = self._rdy_queue.put

            def on_rdy(t_ns: int, active: int) -> None:
                if active:
                    put(t_ns)

            # ALERT/RDY is open-drain, active low: pull it up.
            self._rdy_line = InputLine(factory, gpio, pull="up", active_low=True, on_edge=on_rdy)
        now = self.clock.now_ns()
        self._last_ok_ns = now
        self._next_due_ns = now
        try:
            self._configure()
        except HardwareError as exc:
            self._on_fault(str(exc))
            self._lost(now)
            return False
        return True

    def begin(self, t_ns: int) -> None:
        """Start counting from ``t_ns``: conversions finished before it belong to no recording."""
        self._begin_ns = t_ns
        self._last_ok_ns = max(self._last_ok_ns, t_ns)
        if self._lost_since_ns is not None:
            self._lost_since_ns = max(self._lost_since_ns, t_ns)

    def finish(self, t_ns: int) -> None:
        """End of the recording: a chip still lost leaves a gap up to ``t_ns``."""
        if self._lost_since_ns is not None and t_ns > self._lost_since_ns:
            missing = (t_ns - self._lost_since_ns) // (self.period_ns * len(self.channels))
            for ch in self.channels:
                self._on_gap(ch, "chip_lost", int(missing), self._lost_since_ns, t_ns)
            self._lost_since_ns = t_ns

    def _configure(self) -> None:
        from adafruit_ads1x15.ads1x15 import Mode

        cls = _driver_class(self.chip)
        # Always constructed in single-shot mode: driver 3.0.x's continuous-mode channel switch
        # re-reads the MUX from the chip instead of selecting the requested pin, so a single-shot
        # read selects the channel and continuous mode then keeps it.
        kwargs: dict[str, Any] = {
            "gain": self.gain,
            "data_rate": self.data_rate_sps,
            "address": self.address,
            "mode": Mode.SINGLE,
        }
        if self.mode == "rdy":
            # Conversion-ready mode of ALERT/RDY: Hi_thresh MSB = 1, Lo_thresh MSB = 0, queue on.
            kwargs.update(
                comparator_queue_length=1,
                comparator_high_threshold=-32768,
                comparator_low_threshold=0,
            )
        try:
            ads = cls(self.i2c, **kwargs)
            if self.mode != "scan":
                ads.read(self.channels[0] + 4)
                ads.mode = Mode.CONTINUOUS
                ads.get_last_result()  # points the chip at the conversion register for fast reads
        except ValueError as exc:
            raise HardwareError(
                f"{self.label}: no answer on I2C ({exc}); check its power, SDA/SCL wiring and ADDR pin"
            ) from None
        except OSError as exc:
            raise HardwareError(f"{self.label}: I2C error while configuring: {exc}") from None
        self._ads = ads

    def close(self) -> None:
        self.stop()
        if self._rdy_line is not None:
            self._rdy_line.close()
            self._rdy_line = None

    # -- sampling --------------------------------------------------------------------------------
    def next_due_ns(self) -> int:
        """When :meth:`pump` next has work to do without a new RDY edge."""
        return self._next_due_ns

    def pump(self, now_ns: int | None = None) -> None:
        """Read what is due now: queued RDY conversions, a poll or a scan, or a recovery probe."""
        now = self.clock.now_ns() if now_ns is None else now_ns
        if self._lost_since_ns is not None:
            self._drain_rdy()
            if now >= self._next_due_ns:
                self._try_recover(now)
            return
        if self.mode == "rdy":
            edges = self._drain_rdy()
            if edges:
                if len(edges) > 1:
                    missed = len(edges) - 1
                    self.stats.missed += missed
                    self._on_gap(
                        self.channels[0], "conversions_overwritten", missed, edges[0], edges[-2]
                    )
                self._read_one(self.channels[0], edges[-1], stamp_after=False)
            elif (
                now - self._last_ok_ns > SILENT_AFTER_PERIODS * self.period_ns
                and not self._silent_reported
            ):
                self._silent_reported = True
                self._on_fault(
                    f"{self.label}: no conversions for {(now - self._last_ok_ns) / 1e6:.0f} ms "
                    "(ALERT/RDY silent: chip unpowered, unplugged or misconfigured?)"
                )
                self._lost(now)
                return
            self._next_due_ns = (
                max(now, self._last_ok_ns) + SILENT_AFTER_PERIODS * self.period_ns + 1
            )
            return
        if now < self._next_due_ns:
            return
        for ch in self.channels:
            if not self._read_one(ch, 0, stamp_after=True):
                break
        self._next_due_ns = max(self._next_due_ns + self.period_ns * len(self.channels), now)
        if self.mode == "poll":
            self._next_due_ns = max(self._next_due_ns, now + 1)

    def _drain_rdy(self) -> list[int]:
        if not self._held and self._rdy_queue.empty():
            return []
        edges, self._held = self._held, []
        get = self._rdy_queue.get_nowait
        while True:
            try:
                edges.append(get())
            except queue.Empty:
                break
        if edges and edges[0] < self._begin_ns:
            edges = [t for t in edges if t >= self._begin_ns]
        return edges

    def _read_one(self, channel: int, t_ns: int, *, stamp_after: bool) -> bool:
        try:
            code = self._ads.read(channel + 4)
        except OSError as exc:
            self._error(exc, t_ns or self.clock.now_ns())
            return False
        if stamp_after:
            t_ns = self.clock.now_ns()
        if self._consecutive_errors:
            self._consecutive_errors = 0
        if self._silent_reported:
            self._silent_reported = False
        st = self.stats
        st.samples += 1
        if st.first_t_ns is None:
            st.first_t_ns = t_ns
        st.last_t_ns = t_ns
        self._last_ok_ns = t_ns
        self._on_sample(t_ns, channel, code)
        return True

    def _error(self, exc: OSError, t_ns: int) -> None:
        self.stats.errors += 1
        self._consecutive_errors += 1
        for ch in self.channels:
            self._on_gap(ch, "i2c_error", 1, t_ns, t_ns)
        # One message per second at most: the first failure, then how many more there were.
        self._errors_unreported += 1
        last = self._last_error_report_ns
        if last is None or t_ns - last >= NS_PER_S:
            n = self._errors_unreported
            more = (
                f" ({n} failed reads since the last report)" if last is not None and n > 1 else ""
            )
            self._on_fault(
                f"{self.label}: I2C read failed ({exc}); samples missing, stream flagged{more}"
            )
            self._last_error_report_ns = t_ns
            self._errors_unreported = 0
        if self._consecutive_errors >= LOST_AFTER_ERRORS:
            self._on_fault(
                f"{self.label}: {self._consecutive_errors} reads failed in a row; chip lost, retrying"
            )
            self._lost(t_ns)

    def _lost(self, t_ns: int) -> None:
        self._lost_since_ns = t_ns
        self._next_due_ns = t_ns + REPROBE_NS

    def _try_recover(self, now: int) -> None:
        try:
            self._configure()
        except HardwareError:
            self._next_due_ns = now + REPROBE_NS
            return
        lost_ns = now - (self._lost_since_ns or now)
        missing = max(0, lost_ns // (self.period_ns * len(self.channels)))
        for ch in self.channels:
            self._on_gap(ch, "chip_lost", int(missing), self._lost_since_ns or now, now)
        self._on_fault(
            f"{self.label}: back after {lost_ns / 1e6:.0f} ms; about {missing} samples per channel missing"
        )
        self.stats.recoveries += 1
        self._lost_since_ns = None
        self._consecutive_errors = 0
        self._silent_reported = False
        self._drain_rdy()
        self._last_ok_ns = now
        self._next_due_ns = now

    # -- thread (real hardware and real-time simulation) -------------------------------------------
    def _step(self) -> None:
        wait_ns = self._next_due_ns - self.clock.now_ns()
        if self.mode == "rdy" and self._lost_since_ns is None:
            with contextlib.suppress(queue.Empty):
                self._held.append(self._rdy_queue.get(timeout=max(wait_ns, 1_000_000) / NS_PER_S))
        elif wait_ns > 0:
            self._worker.stopping.wait(min(wait_ns, 50_000_000) / NS_PER_S)
        self.pump()

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
