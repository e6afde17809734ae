"""The unmodified Adafruit ADS1x15 driver against the register-level model, on virtual time."""

from __future__ import annotations

import errno
import math

import adafruit_ads1x15.ads1x15 as ads1x15_base
import pytest
from adafruit_ads1x15.ads1x15 import Comp_Latch, Mode
from adafruit_ads1x15.ads1015 import ADS1015
from adafruit_ads1x15.ads1115 import ADS1115
from adafruit_ads1x15.analog_in import AnalogIn

from hardware.clock import VirtualClock
from hardware.sim.ads1x15 import WAKEUP_NS, Ads1x15Model, InputsFn
from hardware.sim.i2c import FakeI2C

ADDR = 0x48
DRIVERS = {"ADS1115": ADS1115, "ADS1015": ADS1015}
FULL_SCALE_V = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}


def nearest(x: float) -> int:
    return math.floor(x + 0.5)


def expected_code(voltage_v: float, full_scale_v: float, bits: int) -> int:
    steps = 1 << (bits - 1)
    return max(-steps, min(steps - 1, nearest(voltage_v * steps / full_scale_v))) << (16 - bits)


def volts(**pins_v: float) -> InputsFn:
    """Constant inputs, e.g. volts(a0=1.0, a2=0.5); unnamed pins are at 0 V."""
    return lambda channel, _t_ns: pins_v.get(f"a{channel}", 0.0)


def rig(
    chip: str = "ADS1115",
    inputs: InputsFn | None = None,
    *,
    advance_clock: bool = True,
    **model_kw: float,
) -> tuple[VirtualClock, FakeI2C, Ads1x15Model]:
    clock = VirtualClock()
    bus = FakeI2C(clock, advance_clock=advance_clock)
    model = Ads1x15Model(clock, chip, inputs, **model_kw)
    bus.attach(ADDR, model)
    return clock, bus, model


def period_ns(rate_sps: int, rate_error: float = 0.0) -> int:
    return round(1e9 * (1.0 + rate_error) / rate_sps)


@pytest.mark.parametrize("chip", ["ADS1115", "ADS1015"])
def test_probe_of_absent_address_fails_like_the_real_bus(chip: str) -> None:
    _, bus, _ = rig(chip)
    with pytest.raises(ValueError, match="No I2C device at address: 0x49"):
        DRIVERS[chip](bus, address=0x49)
    DRIVERS[chip](bus, address=ADDR)  # present: the zero-byte probe write is ACKed
    assert bus.scan() == [ADDR]


@pytest.mark.parametrize("chip", ["ADS1115", "ADS1015"])
@pytest.mark.parametrize("gain", [2 / 3, 1, 2, 4, 16])
def test_single_shot_read_returns_the_code_of_a_known_voltage(chip: str, gain: float) -> None:
    fs_v = FULL_SCALE_V[gain]
    voltage_v = 0.61803 * fs_v
    _, bus, model = rig(chip, volts(a1=voltage_v), supply_v=5.0)  # 5 V: 3.8 V is in range
    ads = DRIVERS[chip](bus, gain=gain)
    channel = AnalogIn(ads, 1)
    assert channel.value == expected_code(voltage_v, fs_v, model.bits)
    lsb_v = fs_v / (1 << (model.bits - 1))
    assert abs(channel.voltage - voltage_v) <= lsb_v / 2
    assert model.conversions == 2


def test_ads1015_quantizes_to_12_bits_left_justified() -> None:
    _, bus, _ = rig("ADS1015", volts(a0=1.0011, a1=1.0009))
    ads = ADS1015(bus, gain=1)  # 4.096 V: 2 mV per 12-bit LSB
    a0, a1 = AnalogIn(ads, 0), AnalogIn(ads, 1)
    assert a0.value == 501 << 4  # 500.55 LSB rounds up
    assert a1.value == 500 << 4  # 500.45 LSB rounds down
    assert a0.value & 0xF == 0
    assert a0.voltage == pytest.approx(1.002)


def test_codes_saturate_and_pins_clamp_to_the_supply() -> None:
    _, bus, _ = rig("ADS1115", volts(a0=1.0, a1=0.0, a2=5.0), supply_v=3.3)
    ads = ADS1115(bus, gain=16)  # +-0.256 V
    assert AnalogIn(ads, 0).value == 0x7FFF
    assert AnalogIn(ads, 1, 3).value == 0  # AIN1 - AIN3
    ads.gain = 2 / 3  # +-6.144 V, but AIN2 at 5 V is clamped to VDD + 0.3 V
    assert AnalogIn(ads, 2).value == nearest(3.6 * 32768 / 6.144)

    _, bus, _ = rig("ADS1115", volts(a0=0.0, a1=1.0))
    assert AnalogIn(ADS1115(bus, gain=16), 0, 1).value == -0x8000

    _, bus, _ = rig("ADS1015", volts(a0=2.0))
    assert AnalogIn(ADS1015(bus, gain=4), 0).value == 0x7FF0


@pytest.mark.parametrize(("chip", "rate_sps"), [("ADS1115", 860), ("ADS1015", 3300)])
def test_continuous_mode_shows_each_conversion_exactly_when_it_completes(
    chip: str, rate_sps: int
) -> None:
    clock = VirtualClock()
    t0_ns = clock.now_ns()
    # MUX stays at its reset value AIN0-AIN1 in continuous mode; AIN1 is grounded.
    bus = FakeI2C(clock)  # the clock moves only by hand
    model = Ads1x15Model(
        clock, chip, lambda ch, t_ns: 0.5 + (t_ns - t0_ns) * 1e-9 if ch == 0 else 0.0
    )
    bus.attach(ADDR, model)
    ads = DRIVERS[chip](bus, mode=Mode.CONTINUOUS, data_rate=rate_sps)
    assert clock.now_ns() == t0_ns
    assert ads.get_last_result() == 0  # nothing converted yet; pointer now at Conversion

    p_ns = period_ns(rate_sps)
    previous = 0
    for k in range(1, 6):
        end_ns = t0_ns + WAKEUP_NS + k * p_ns
        clock.advance_to(end_ns - 1)
        assert ads.get_last_result(fast=True) == previous & 0xFFFF
        clock.advance_to(end_ns)
        voltage_v = 0.5 + (end_ns - t0_ns) * 1e-9  # sampled at the end of the conversion
        previous = expected_code(voltage_v, 4.096, model.bits)
        assert ads.get_last_result(fast=True) == previous & 0xFFFF
    assert model.conversions == 5


def write_mux(bus: FakeI2C, mux: int) -> None:
    """Change the MUX bits of the Config register over the bus (what a channel switch does)."""
    config = bytearray(2)
    bus.writeto_then_readfrom(ADDR, bytes([1]), config)
    word = ((config[0] << 8 | config[1]) & 0x0FFF) | (mux << 12)  # OS=0
    bus.writeto(ADDR, bytes([1, word >> 8, word & 0xFF]))


def test_mux_change_in_continuous_mode_keeps_the_stale_value_until_a_new_conversion() -> None:
    clock, bus, model = rig(inputs=volts(a0=1.0, a2=2.0), advance_clock=False)
    t0_ns = clock.now_ns()
    ads = ADS1115(bus, mode=Mode.CONTINUOUS, data_rate=860)  # MUX AIN0-AIN1
    p_ns = period_ns(860)
    first_ns = t0_ns + WAKEUP_NS + p_ns
    clock.advance_to(first_ns)
    assert ads.get_last_result() == 8000  # 1.0 V at 4.096 V full scale

    clock.advance_to(first_ns + p_ns // 2)
    write_mux(bus, 0b110)  # AIN2 single-ended, written mid-conversion
    assert ads.get_last_result() == 8000
    clock.advance_to(first_ns + p_ns)  # the ongoing conversion completes with the old MUX
    assert ads.get_last_result(fast=True) == 8000
    clock.advance_to(first_ns + 2 * p_ns - 1)
    assert ads.get_last_result(fast=True) == 8000
    clock.advance_to(first_ns + 2 * p_ns)
    assert ads.get_last_result(fast=True) == 16000
    assert model.conversions == 3


@pytest.mark.skipif(ads1x15_base.__version__ != "3.0.5", reason="pins driver 3.0.5 behaviour")
def test_driver_3_0_5_ignores_the_pin_in_continuous_mode() -> None:
    # Adafruit driver 3.0.5's _write_config re-reads the MUX from the chip in continuous mode,
    # so AnalogIn(ads, 2) keeps converting the reset MUX (AIN0-AIN1). The model reproduces it.
    clock, bus, _ = rig(inputs=volts(a0=1.0, a1=0.25, a2=2.0), advance_clock=False)
    ads = ADS1115(bus, mode=Mode.CONTINUOUS, data_rate=860)
    clock.advance(WAKEUP_NS + period_ns(860))
    assert AnalogIn(ads, 2).value == 6000  # (1.0 - 0.25) V, not AIN2; sleeps 2/860 s for real


@pytest.mark.parametrize("rate_error", [0.0, 0.07, -0.1])
def test_conversion_ready_pulses_at_each_conversion_end(rate_error: float) -> None:
    clock, bus, model = rig(inputs=volts(a0=1.0), advance_clock=False, rate_error=rate_error)
    edges: list[tuple[int, bool]] = []
    model.rdy = lambda t_ns, level: edges.append((t_ns, level))
    t0_ns = clock.now_ns()
    ADS1115(
        bus,
        mode=Mode.CONTINUOUS,
        data_rate=475,
        comparator_queue_length=1,
        comparator_low_threshold=0,
        comparator_high_threshold=-1,  # Lo MSB=0, Hi MSB=1 (0xFFFF)
    )
    n = 12
    p_ns = period_ns(475, rate_error)
    pulse_ns = round(8_000 * (1 + rate_error))
    stop_ns = t0_ns + WAKEUP_NS + n * p_ns + pulse_ns
    while (t_ns := model.next_event_ns()) is not None and t_ns <= stop_ns:
        clock.advance_to(t_ns)
        model.deliver_rdy(t_ns)
    ends = [t0_ns + WAKEUP_NS + k * p_ns for k in range(1, n + 1)]
    assert edges == [e for end in ends for e in ((end, False), (end + pulse_ns, True))]
    assert model.conversions == n


def test_conversion_ready_in_single_shot_stays_asserted_until_the_next_start() -> None:
    clock, bus, model = rig(inputs=volts(a0=1.0))
    ads = ADS1115(
        bus,
        comparator_queue_length=1,
        comparator_low_threshold=0,
        comparator_high_threshold=-0x8000,
    )
    assert model.rdy_level is True
    AnalogIn(ads, 0).value  # noqa: B018
    assert model.rdy_level is False
    AnalogIn(ads, 0).value  # noqa: B018
    edges = model.pending_rdy_edges(clock.now_ns())
    assert [level for _, level in edges] == [False, True, False]
    assert edges[1][0] - edges[0][0] > 0
    assert model.pending_rdy_edges(clock.now_ns()) == []


def stepped(t_start_ns: int, p_ns: int, levels_v: list[float]) -> InputsFn:
    """AIN0 at levels_v[k - 1] for conversion k (sampled at its end)."""
    return lambda ch, t_ns: levels_v[(t_ns - t_start_ns) // p_ns - 1] if ch == 0 else 0.0


def test_traditional_comparator_with_queue_and_hysteresis() -> None:
    clock = VirtualClock()
    p_ns = period_ns(860)
    start_ns = clock.now_ns() + WAKEUP_NS
    levels_v = [0.5, 0.5, 3.0, 1.5, 3.0, 3.0, 1.5, 1.5, 0.5, 0.5]  # codes 4000..24000
    bus = FakeI2C(clock)
    model = Ads1x15Model(clock, "ADS1115", stepped(start_ns, p_ns, levels_v))
    bus.attach(ADDR, model)
    ADS1115(
        bus,
        mode=Mode.CONTINUOUS,
        data_rate=860,
        comparator_queue_length=2,
        comparator_low_threshold=8000,
        comparator_high_threshold=16000,
    )
    clock.advance_to(start_ns + len(levels_v) * p_ns)
    edges = model.pending_rdy_edges(clock.now_ns())
    # asserted (low) after two consecutive conversions above Hi (6th), released below Lo (9th)
    assert edges == [(start_ns + 6 * p_ns, False), (start_ns + 9 * p_ns, True)]


def test_latching_comparator_clears_when_the_conversion_register_is_read() -> None:
    clock = VirtualClock()
    p_ns = period_ns(860)
    start_ns = clock.now_ns() + WAKEUP_NS
    bus = FakeI2C(clock)
    model = Ads1x15Model(clock, "ADS1115", stepped(start_ns, p_ns, [3.0, 0.5, 0.5, 0.5]))
    bus.attach(ADDR, model)
    ads = ADS1115(
        bus,
        mode=Mode.CONTINUOUS,
        data_rate=860,
        comparator_queue_length=1,
        comparator_low_threshold=8000,
        comparator_high_threshold=16000,
        comparator_latch=Comp_Latch.LATCHING,
    )
    clock.advance_to(start_ns + 3 * p_ns)
    assert model.rdy_level is False  # still latched although below Lo
    ads.get_last_result()
    assert model.rdy_level is True
    assert model.pending_rdy_edges(clock.now_ns()) == [
        (start_ns + p_ns, False),
        (clock.now_ns(), True),
    ]


def test_injected_faults_raise_oserror_naming_the_address() -> None:
    _, bus, _ = rig(advance_clock=False)
    ads = ADS1115(bus)
    bus.fail_next(2)
    for _ in range(2):
        with pytest.raises(OSError, match="I2C transaction to 0x48 failed") as caught:
            ads.get_last_result()
        assert caught.value.errno == errno.EIO
        assert "[Errno 5]" in str(caught.value)
        assert "injected" in str(caught.value)
    ads.get_last_result()


def test_error_rate_is_seeded_and_roughly_right() -> None:
    def failures(seed: int) -> list[int]:
        clock = VirtualClock()
        bus = FakeI2C(clock, seed=seed)
        bus.attach(ADDR, Ads1x15Model(clock))
        ads = ADS1115(bus)
        bus.error_rate = 0.3
        failed = []
        for i in range(1000):
            try:
                ads.get_last_result(fast=True)
            except OSError:
                failed.append(i)
        return failed

    assert 250 < len(failures(7)) < 350
    assert failures(7) == failures(7)
    assert failures(7) != failures(8)


def test_a_detached_device_has_vanished() -> None:
    _, bus, model = rig(advance_clock=False)
    ads = ADS1115(bus)
    assert bus.detach(ADDR) is model
    with pytest.raises(OSError, match="0x48") as caught:
        ads.get_last_result()
    assert caught.value.errno == errno.EREMOTEIO
    assert bus.scan() == []


def test_bus_time_of_transactions_at_400_khz() -> None:
    _, bus, _ = rig(advance_clock=False)
    ads = ADS1115(bus)
    before = (bus.transactions, bus.bytes_transferred, bus.bus_time_ns)
    ads.get_last_result(fast=True)  # S + addr + 2 bytes + P = 29 bits
    assert (bus.transactions, bus.bytes_transferred, bus.bus_time_ns) == (
        before[0] + 1,
        before[1] + 2,
        before[2] + 72_500,
    )
    ads.get_last_result()  # S + addr + pointer + Sr + addr + 2 bytes + P = 48 bits
    assert bus.bus_time_ns == before[2] + 72_500 + 120_000


@pytest.mark.parametrize(("chip", "rate_sps"), [("ADS1115", 8), ("ADS1015", 128)])
def test_single_shot_polling_terminates_on_virtual_time(chip: str, rate_sps: int) -> None:
    clock, bus, model = rig(chip, volts(a3=1.5))
    ads = DRIVERS[chip](bus, data_rate=rate_sps)
    t_before_ns = clock.now_ns()
    value = ads.read(7)  # AIN3 single-ended
    assert clock.now_ns() - t_before_ns >= period_ns(rate_sps) + WAKEUP_NS
    assert value == expected_code(1.5, 4.096, model.bits)
    assert not model.converting


def test_power_on_reset_restores_registers_and_releases_rdy() -> None:
    clock, bus, model = rig(inputs=volts(a0=1.0), advance_clock=False)
    t0_ns = clock.now_ns()
    ADS1115(
        bus,
        mode=Mode.CONTINUOUS,
        data_rate=860,
        comparator_queue_length=1,
        comparator_low_threshold=0,
        comparator_high_threshold=-1,
    )
    end_ns = t0_ns + WAKEUP_NS + period_ns(860)
    clock.advance_to(end_ns + 1_000)  # inside the RDY pulse
    assert model.pending_rdy_edges(clock.now_ns()) == [(end_ns, False)]
    model.reset()
    assert model.pending_rdy_edges(clock.now_ns()) == [(clock.now_ns(), True)]
    registers = bytearray(2)
    for pointer, reset_value in [(0, 0x0000), (1, 0x8583), (2, 0x8000), (3, 0x7FFF)]:
        bus.writeto_then_readfrom(ADDR, bytes([pointer]), registers)
        assert registers[0] << 8 | registers[1] == reset_value
    assert model.next_event_ns() is None


def test_single_shot_read_then_continuous_selects_the_channel_and_pulses_rdy() -> None:
    # A way around the driver's continuous-mode pin bug: one single-shot read writes the MUX,
    # then switching to continuous keeps it (the driver re-reads it from the chip).
    clock, bus, model = rig(inputs=volts(a0=0.5, a2=2.0))
    ads = ADS1115(
        bus,
        data_rate=860,
        comparator_queue_length=1,
        comparator_low_threshold=0,
        comparator_high_threshold=-0x8000,
    )
    assert ads.read(6) == 16000  # single-shot AIN2
    ads.mode = Mode.CONTINUOUS
    t_start_ns = clock.now_ns()  # the Config write ended here (the bus advances the clock)
    ads.get_last_result()  # points the chip at the Conversion register
    clock.advance_to(t_start_ns + WAKEUP_NS + 3 * period_ns(860))
    assert ads.read(6) == 16000  # same pin: the driver reads the Conversion register
    levels = [level for _, level in model.pending_rdy_edges(clock.now_ns())]
    assert levels == [False, True] + [False, True] * 3
