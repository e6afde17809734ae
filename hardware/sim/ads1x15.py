"""Register-level model of the TI ADS1115 (16-bit) and ADS1015 (12-bit) I2C ADCs.

Attach an :class:`Ads1x15Model` to a :class:`hardware.sim.i2c.FakeI2C` and the unmodified
Adafruit ``adafruit_ads1x15`` driver runs against it. The model keeps no thread: it works out
lazily, from ``clock.now_ns()``, which conversions have completed whenever it is touched.

Modelled (TI datasheets SBAS444, SBAS473):

- Pointer register; Conversion (reset 0), Config (reset 0x8583), Lo_thresh (0x8000) and
  Hi_thresh (0x7FFF) registers. Consecutive reads repeat the 2-byte register.
- All 8 MUX settings; PGA full scales 6.144..0.256 V; each pin clamped to GND-0.3..VDD+0.3 V
  (the ESD diodes); codes rounded to the nearest LSB and saturated at 0x7FFF/0x8000; the
  ADS1015's 12-bit result is left-justified (code << 4).
- Data rates with the chips' DR codes; ``rate_error`` scales the oscillator period (real parts:
  +-10 %). Leaving power-down costs ``wakeup_ns`` (about 25 us) before the first conversion.
- Single-shot: OS=1 written in power-down starts one conversion; Config reads OS=0 until it
  completes. OS written while a conversion is ongoing has no effect (datasheet).
- Continuous: back-to-back conversions; Config reads OS=0 (always converting, which is why
  OS polling hangs in continuous mode: adafruit ADS1x15 issue #26). A Config write
  lets the ongoing conversion complete with the previous settings, then the new settings start
  (datasheet 9.4.1) - so after a MUX change the Conversion register holds the old channel for
  up to two periods. Conversion/input settings (MUX, PGA, DR, MODE) therefore change only at
  conversion boundaries; comparator settings and thresholds act at once.
- The input is sampled at the *end* of each conversion (a delta-sigma ADC really averages over
  the period; for the station's slow force signals the difference is immaterial).
- ALERT/RDY (open drain with pull-up: level True = high): high impedance when COMP_QUE=11;
  conversion-ready mode (Hi_thresh MSB=1, Lo_thresh MSB=0): an ``rdy_pulse_ns`` (~8 us) active
  pulse at the end of each continuous conversion, or asserted at the end of a single-shot
  conversion until conversions start again; traditional (hysteresis) and window comparators
  with queue 1/2/4, latching (cleared by reading the Conversion register) and polarity.

``reset()`` is a power-on reset (a chip unplugged and plugged back).

Not modelled: noise, offset and gain errors, the digital filter's settling and averaging, the
ADS1015 threshold registers' 4 reserved LSBs (the comparison uses the top 12 bits), general-call
reset, SMBus alert response, I2C timeouts.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hardware.clock import NS_PER_S, Clock

InputsFn = Callable[[int, int], float]  # (channel 0..3, t_ns) -> voltage_v on AINx
RdyFn = Callable[[int, bool], None]  # (t_ns, pin level: True = high)
PinMode = Literal["off", "ready", "comparator"]

REG_CONVERSION, REG_CONFIG, REG_LO_THRESH, REG_HI_THRESH = 0, 1, 2, 3
CONFIG_RESET = 0x8583
LO_THRESH_RESET = 0x8000
HI_THRESH_RESET = 0x7FFF
OS_BIT = 0x8000
MODE_SINGLE = 0x0100
COMP_WINDOW = 0x0010
COMP_ACTIVE_HIGH = 0x0008
COMP_LATCH = 0x0004
COMP_QUE_DISABLED = 0x0003
QUEUE_LENGTH = (1, 2, 4)  # COMP_QUE 00, 01, 10

WAKEUP_NS = 25_000
RDY_PULSE_NS = 8_000
PIN_MARGIN_V = 0.3  # absolute-maximum input range beyond the rails

CHIP_BITS = {"ADS1115": 16, "ADS1015": 12}
CHIP_RATES_SPS = {
    "ADS1115": (8, 16, 32, 64, 128, 250, 475, 860),
    "ADS1015": (128, 250, 490, 920, 1600, 2400, 3300, 3300),
}
PGA_FULL_SCALE_V = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)
MUX_PINS: tuple[tuple[int, int | None], ...] = (
    (0, 1),
    (0, 3),
    (1, 3),
    (2, 3),
    (0, None),
    (1, None),
    (2, None),
    (3, None),
)  # (positive, negative or None for GND)


def pga_full_scale_v(config: int) -> float:
    """Full-scale range (+-V) selected by a Config register value's PGA bits."""
    return PGA_FULL_SCALE_V[(config >> 9) & 0x7]


def data_rate_sps(chip: str, config: int) -> int:
    """Nominal samples per second selected by a Config register value's DR bits."""
    return CHIP_RATES_SPS[chip][(config >> 5) & 0x7]


def conversion_period_ns(rate_sps: int, rate_error: float = 0.0) -> int:
    """Conversion period of a chip whose oscillator is off by ``rate_error`` (0.1 = 10 % slow)."""
    return round(NS_PER_S * (1.0 + rate_error) / rate_sps)


def code_from_voltage_v(voltage_v: float, full_scale_v: float, bits: int = 16) -> int:
    """Signed 16-bit register code of a differential voltage (nearest LSB, saturated)."""
    steps = 1 << (bits - 1)
    raw = math.floor(voltage_v / full_scale_v * steps + 0.5)
    return max(-steps, min(steps - 1, raw)) << (16 - bits)


def voltage_v_from_code(code: int, full_scale_v: float, bits: int = 16) -> float:
    """Voltage of a signed (or raw unsigned 16-bit) register code."""
    return (signed16(code) >> (16 - bits)) * full_scale_v / (1 << (bits - 1))


def signed16(word: int) -> int:
    word &= 0xFFFF
    return word - 0x10000 if word & 0x8000 else word


@dataclass(slots=True)
class _Run:
    """Back-to-back conversions with one set of settings; conversion k ends at end_ns(k)."""

    start_ns: int
    period_ns: int
    config: int
    continuous: bool
    done: int = 0

    def end_ns(self, k: int) -> int:
        return self.start_ns + k * self.period_ns


class Ads1x15Model:
    """An ADS1115/ADS1015 behind an I2C address (implements ``i2c_write`` / ``i2c_read``)."""

    def __init__(
        self,
        clock: Clock,
        chip: str = "ADS1115",
        inputs: InputsFn | None = None,
        rdy: RdyFn | None = None,
        supply_v: float = 3.3,
        *,
        rate_error: float = 0.0,
        wakeup_ns: int = WAKEUP_NS,
        rdy_pulse_ns: int = RDY_PULSE_NS,
    ) -> None:
        if chip not in CHIP_BITS:
            raise ValueError(f"chip must be one of {sorted(CHIP_BITS)}, got {chip!r}")
        if rate_error <= -1.0:
            raise ValueError("rate_error must be > -1")
        self.clock = clock
        self.chip = chip
        self.bits = CHIP_BITS[chip]
        self.inputs: InputsFn = inputs if inputs is not None else (lambda _ch, _t_ns: 0.0)
        self.rdy = rdy
        self.supply_v = supply_v
        self.rate_error = rate_error
        self.wakeup_ns = wakeup_ns
        self.rdy_pulse_ns = round(rdy_pulse_ns * (1.0 + rate_error))
        self.conversions = 0
        self._lock = threading.RLock()
        self._level = True
        self._edges: list[tuple[int, bool]] = []
        self._power_on()

    def _power_on(self) -> None:
        self._pointer = REG_CONVERSION
        self._config = CONFIG_RESET & ~OS_BIT
        self._lo = LO_THRESH_RESET
        self._hi = HI_THRESH_RESET
        self._conversion = 0
        self._run: _Run | None = None
        self._pending = False  # a Config write waits for the ongoing conversion to complete
        self._active = False  # comparator / conversion-ready output before polarity
        self._exceed_count = 0
        self._pulse_end_ns: int | None = None
        self._mode: PinMode = self._mode_of_registers()
        self._due_ns: int | None = None  # the engine's next work: see _update_due

    def reset(self) -> None:
        """Power-on reset (the chip was unplugged and comes back): registers to reset values.

        Transitions not yet collected are dropped (they happened while the chip was unpowered);
        if the last collected level was low, one rising edge at the present is reported.
        """
        with self._lock:
            delivered_level = not self._edges[0][1] if self._edges else self._level
            self._power_on()
            self._level = True
            now_ns = self.clock.now_ns()
            self._edges = [] if delivered_level else [(now_ns, True)]

    # --- I2C target -----------------------------------------------------------------------
    def i2c_write(self, data: bytes) -> None:
        if not data:  # address-only probe
            return
        with self._lock:
            now_ns = self._sync()
            self._pointer = data[0] & 0x3
            if len(data) >= 3:
                self._write_register(self._pointer, (data[1] << 8) | data[2], now_ns)

    def i2c_read(self, n: int) -> bytes:
        with self._lock:
            now_ns = self._sync()
            word = self._read_register(self._pointer, now_ns).to_bytes(2, "big")
        return (word * (n // 2 + 1))[:n]

    # --- simulation-loop interface ----------------------------------------------------------
    def pending_rdy_edges(self, until_ns: int) -> list[tuple[int, bool]]:
        """ALERT/RDY ``(t_ns, level)`` transitions since the last call, up to ``until_ns``.

        Only transitions up to the clock's present are known; later ones come in later calls.
        """
        with self._lock:
            self._sync()
            edges = self._edges
            if not edges:
                return []
            if edges[-1][0] <= until_ns:  # (edges are in time order) all of them
                self._edges = []
                return edges
            n = next((i for i, (t_ns, _) in enumerate(edges) if t_ns > until_ns), len(edges))
            edges, self._edges = edges[:n], edges[n:]
        return edges

    def deliver_rdy(self, until_ns: int) -> int:
        """Call ``rdy(t_ns, level)`` for each pending transition up to ``until_ns``; count them."""
        edges = self.pending_rdy_edges(until_ns)
        if self.rdy is not None:
            for t_ns, level in edges:
                self.rdy(t_ns, level)
        return len(edges)

    def next_event_ns(self) -> int | None:
        """When the model next changes by itself: a conversion end or an RDY pulse end."""
        with self._lock:
            self._sync()
            return self._due_ns

    @property
    def rdy_level(self) -> bool:
        """The ALERT/RDY pin's level now (True = high, also when high impedance)."""
        with self._lock:
            self._sync()
            return self._level

    @property
    def converting(self) -> bool:
        with self._lock:
            self._sync()
            return self._run is not None

    # --- registers ------------------------------------------------------------------------
    def _read_register(self, reg: int, now_ns: int) -> int:
        if reg == REG_CONVERSION:
            if self._config & COMP_LATCH and self._pin_mode() == "comparator":
                self._active = False  # reading the data clears a latched alert
                self._refresh_pin(now_ns)
            return self._conversion
        if reg == REG_CONFIG:
            return self._config | (0 if self._run is not None else OS_BIT)
        return self._lo if reg == REG_LO_THRESH else self._hi

    def _write_register(self, reg: int, value: int, now_ns: int) -> None:
        mode_before = self._pin_mode()
        if reg == REG_CONFIG:
            self._config = value & ~OS_BIT
            self._mode = self._mode_of_registers()
            if self._run is not None:
                self._pending = True
            elif not self._config & MODE_SINGLE:
                self._start_run(now_ns, continuous=True, wake=True)
            elif value & OS_BIT:
                self._start_run(now_ns, continuous=False, wake=True)
        elif reg == REG_LO_THRESH:
            self._lo = value
            self._mode = self._mode_of_registers()
        elif reg == REG_HI_THRESH:
            self._hi = value
            self._mode = self._mode_of_registers()
        # REG_CONVERSION is read-only
        if self._mode != mode_before:
            self._active, self._exceed_count, self._pulse_end_ns = False, 0, None
        self._refresh_pin(now_ns)
        self._update_due()

    # --- lazy conversion engine -------------------------------------------------------------
    def _sync(self) -> int:
        now_ns = self.clock.now_ns()
        due_ns = self._due_ns
        if due_ns is not None and due_ns <= now_ns:
            self._advance(now_ns)
        return now_ns

    def _update_due(self) -> None:
        """Note when the engine next has work (the next conversion end or RDY pulse end, None
        when idle): every change of the run or the pulse ends with this, so a touch before then
        is a no-op."""
        run, pulse_ns = self._run, self._pulse_end_ns
        if run is None:
            self._due_ns = pulse_ns
        else:
            end_ns = run.start_ns + (run.done + 1) * run.period_ns
            self._due_ns = end_ns if pulse_ns is None or end_ns < pulse_ns else pulse_ns

    def _start_run(self, t_ns: int, *, continuous: bool, wake: bool) -> None:
        rate_sps = data_rate_sps(self.chip, self._config)
        self._run = _Run(
            start_ns=t_ns + (self.wakeup_ns if wake else 0),
            period_ns=conversion_period_ns(rate_sps, self.rate_error),
            config=self._config,
            continuous=continuous,
        )
        if wake and self._pin_mode() == "ready":
            self._active = False  # RDY de-asserts when conversions start from power-down
            self._refresh_pin(t_ns)

    def _advance(self, t_ns: int) -> None:
        """Apply every conversion end and RDY pulse end at or before ``t_ns``, in time order."""
        while True:
            run = self._run
            end_ns = run.start_ns + (run.done + 1) * run.period_ns if run is not None else None
            pulse_ns = self._pulse_end_ns
            if pulse_ns is not None and pulse_ns <= t_ns and (end_ns is None or pulse_ns <= end_ns):
                self._pulse_end_ns, self._active = None, False
                self._refresh_pin(pulse_ns)
                continue
            if run is None or end_ns is None or end_ns > t_ns:
                self._update_due()
                return
            if run.continuous and not self._pending and self._mode == "off":
                skipped = (t_ns - run.start_ns) // run.period_ns - 1 - run.done
                if skipped > 0:  # nothing observes the intermediate conversions
                    run.done += skipped
                    self.conversions += skipped
                    end_ns = run.end_ns(run.done + 1)
            self._complete(run, end_ns)

    def _complete(self, run: _Run, end_ns: int) -> None:
        code = self._sample(run.config, end_ns)
        self._conversion = code & 0xFFFF
        self.conversions += 1
        run.done += 1
        self._compare(code, end_ns, pulse=run.continuous)
        if self._pending:
            self._pending = False
            self._run = None
            if not self._config & MODE_SINGLE:
                self._start_run(end_ns, continuous=True, wake=False)
        elif not run.continuous:
            self._run = None

    def _sample(self, config: int, t_ns: int) -> int:
        positive, negative = MUX_PINS[(config >> 12) & 0x7]
        voltage_v = self._pin_v(positive, t_ns)
        if negative is not None:
            voltage_v -= self._pin_v(negative, t_ns)
        return code_from_voltage_v(voltage_v, pga_full_scale_v(config), self.bits)

    def _pin_v(self, channel: int, t_ns: int) -> float:
        voltage_v = float(self.inputs(channel, t_ns))
        return min(max(voltage_v, -PIN_MARGIN_V), self.supply_v + PIN_MARGIN_V)

    # --- ALERT/RDY ----------------------------------------------------------------------------
    def _pin_mode(self) -> PinMode:
        return self._mode

    def _mode_of_registers(self) -> PinMode:
        if self._config & COMP_QUE_DISABLED == COMP_QUE_DISABLED:
            return "off"
        if self._hi & 0x8000 and not self._lo & 0x8000:
            return "ready"
        return "comparator"

    def _compare(self, code: int, t_ns: int, *, pulse: bool) -> None:
        mode = self._pin_mode()
        if mode == "off":
            return
        if mode == "ready":
            self._active = True
            if pulse:
                self._pulse_end_ns = t_ns + self.rdy_pulse_ns
        else:
            shift = 16 - self.bits
            value = code >> shift
            hi, lo = signed16(self._hi) >> shift, signed16(self._lo) >> shift
            window = bool(self._config & COMP_WINDOW)
            beyond = value > hi or (window and value < lo)
            self._exceed_count = self._exceed_count + 1 if beyond else 0
            if self._exceed_count >= QUEUE_LENGTH[self._config & 0x3]:
                self._active = True
            elif not self._config & COMP_LATCH and (not beyond if window else value < lo):
                self._active = False
        self._refresh_pin(t_ns)

    def _refresh_pin(self, t_ns: int) -> None:
        # When off the pin is high impedance, pulled up.
        level = (
            True if self._mode == "off" else self._active == bool(self._config & COMP_ACTIVE_HIGH)
        )
        if level != self._level:
            self._level = level
            self._edges.append((t_ns, level))
