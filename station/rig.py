"""Opening a station's hardware: the real Raspberry Pi backend or the simulated one.

``open_rig(config)`` picks the backend (config ``hardware`` or ``STATION_HARDWARE``; ``auto`` is
``pi`` where a Raspberry Pi's GPIO chip exists, ``sim`` elsewhere) and returns a :class:`Rig`:
clock, gpiozero pin factory, I2C bus, and, when simulated, the :class:`~hardware.sim.world.SimWorld`
with its force pads. :class:`Provenance` says what stamped the data; it goes with every recording.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hardware.clock import Clock, MonotonicClock, VirtualClock
from hardware.errors import BackendUnavailableError
from station import __version__
from station.config import StationConfig

log = logging.getLogger("station.rig")

#: Latency from a GPIO write to the line changing, used by the simulated loopback: Autopilot's
#: measured output write on a Raspberry Pi, 40.8 us (timing-and-hardware.md).
SIM_OUTPUT_WRITE_LATENCY_NS = 40_800
#: Part-to-part variation of FSR sensitivity in the simulation: Interlink's +-6%
#: (timing-and-hardware.md), drawn per pad from the config's sim seed.
SIM_FSR_PART_TO_PART = 0.06


@dataclass(frozen=True)
class Provenance:
    """What produced a recording's times and values."""

    backend: str  # "pi" | "sim"
    pin_factory: str
    timestamp_source: str  # "kernel" (lgpio) | "callback" (RPi.GPIO) | "virtual" (simulator)
    clock: str
    i2c: str
    software_version: str = __version__
    host: str = field(default_factory=platform.node)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def is_raspberry_pi() -> bool:
    try:
        model = Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False
    return "Raspberry Pi" in model and any(Path("/dev").glob("gpiochip*"))


def choose_backend(config: StationConfig) -> str:
    if config.hardware != "auto":
        return config.hardware
    return "pi" if is_raspberry_pi() else "sim"


@dataclass
class Rig:
    config: StationConfig
    clock: Clock
    factory: Any
    i2c: Any
    provenance: Provenance
    world: Any = None  # SimWorld when simulated
    sim_pads: dict[str, Any] = field(default_factory=dict)  # pad name -> FsrPad when simulated

    @property
    def simulated(self) -> bool:
        return self.world is not None

    def close(self) -> None:
        try:
            self.factory.close()
        except Exception as exc:  # closing must never hide the real outcome
            log.warning("closing the pin factory failed: %s", exc)


def open_rig(config: StationConfig) -> Rig:
    """Open the configured backend. Raises :class:`BackendUnavailableError` with the reason."""
    backend = choose_backend(config)
    rig = _open_sim(config) if backend == "sim" else _open_pi(config)
    log.info(
        "hardware backend: %s (pin factory %s, timestamps: %s)",
        rig.provenance.backend.upper() + (" - SIMULATED" if rig.simulated else ""),
        rig.provenance.pin_factory,
        rig.provenance.timestamp_source,
    )
    return rig


def _open_sim(config: StationConfig) -> Rig:
    from hardware.gpio import TimedMockFactory
    from hardware.sim.ads1x15 import Ads1x15Model
    from hardware.sim.i2c import FakeI2C
    from hardware.sim.world import FsrPad, SimWorld

    clock = VirtualClock()
    factory = TimedMockFactory(clock)
    bus = FakeI2C(clock, advance_clock=True, seed=config.sim.seed)
    world = SimWorld(clock, factory, bus)
    rng = np.random.default_rng(config.sim.seed)
    pads: dict[str, FsrPad] = {}
    for pad in config.pads:
        factor = 1.0 + SIM_FSR_PART_TO_PART * float(np.clip(rng.standard_normal(), -2, 2)) / 2
        pads[pad.name] = FsrPad(
            divider_ohm=pad.divider_ohm,
            supply_v=pad.supply_v,
            sensitivity_s_per_n=4.0e-5 * factor,
        )
    for adc in config.adcs:
        by_channel = {p.channel: pads[p.name] for p in config.pads if p.adc == adc.name}

        def inputs(channel: int, t_ns: int, by_channel: dict[int, FsrPad] = by_channel) -> float:
            pad = by_channel.get(channel)
            return pad.voltage_v(t_ns) if pad is not None else 0.0

        model = Ads1x15Model(clock, chip=adc.chip, inputs=inputs)
        world.add_adc(adc.address, model, adc.rdy_gpio)
    for out in config.outputs:
        if out.loopback_gpio is not None:
            _wire_loopback(world, factory, out.gpio, out.loopback_gpio, out.active_high)
    provenance = Provenance(
        backend="sim",
        pin_factory="TimedMockFactory (gpiozero MockFactory)",
        timestamp_source="virtual",
        clock="virtual CLOCK_MONOTONIC",
        i2c="FakeI2C (simulated ADS1x15 register models)",
    )
    return Rig(config, clock, factory, bus, provenance, world, pads)


def _wire_loopback(
    world: Any, factory: Any, out_gpio: int, in_gpio: int, active_high: bool
) -> None:
    """Simulated loopback: the output line is read back on ``in_gpio`` after the write latency."""
    pin = factory.mock_pin(in_gpio)

    def follow(gpio: int, t_ns: int, level: bool) -> None:
        if gpio == out_gpio:
            t = t_ns + SIM_OUTPUT_WRITE_LATENCY_NS
            world.schedule(t, lambda: pin.drive_at(level, t))

    factory.add_output_listener(follow)


def _open_pi(config: StationConfig) -> Rig:
    factory, name, source = _pi_factory(config.pin_factory)
    try:
        import board
        import busio

        i2c = busio.I2C(board.SCL, board.SDA)
    except Exception as exc:
        raise BackendUnavailableError(
            f"cannot open I2C bus 1 for the ADCs ({exc}); enable I2C (raspi-config) and add the user to the i2c group"
        ) from None
    _check_i2c_speed()
    provenance = Provenance(
        backend="pi",
        pin_factory=name,
        timestamp_source=source,
        clock="CLOCK_MONOTONIC",
        i2c="busio.I2C (Blinka) bus 1",
    )
    return Rig(config, MonotonicClock(), factory, i2c, provenance)


#: Four ADS1115 at 860 samples/s need a 400 kHz bus: at the Pi's default 100 kHz their reads
#: (3,440/s of 29 bits plus pointer writes) would take about all of the bus time.
I2C_MIN_HZ = 400_000


def _check_i2c_speed() -> None:
    node = Path("/sys/class/i2c-adapter/i2c-1/of_node/clock-frequency")
    try:
        hz = int.from_bytes(node.read_bytes()[:4], "big")
    except (OSError, ValueError):
        return
    if hz < I2C_MIN_HZ:
        log.warning(
            "I2C bus 1 runs at %d Hz: add dtparam=i2c_arm_baudrate=400000 to /boot/firmware/config.txt "
            "and reboot, or the ADCs cannot reach their data rate",
            hz,
        )


def _pi_factory(choice: str) -> tuple[Any, str, str]:
    errors: list[str] = []
    if choice in ("auto", "lgpio"):
        try:
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory(), "LGPIOFactory", "kernel"
        except Exception as exc:
            errors.append(f"lgpio: {exc}")
    if choice in ("auto", "rpigpio"):
        try:
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            log.warning(
                "using RPi.GPIO: edge times are read in the callback, not stamped by the kernel"
            )
            return RPiGPIOFactory(), "RPiGPIOFactory", "callback"
        except Exception as exc:
            errors.append(f"RPi.GPIO: {exc}")
    raise BackendUnavailableError(
        "no GPIO pin factory could be opened (" + "; ".join(errors) + "); install the 'pi' extra, "
        "set LG_WD to a writable folder, and check the user is in the gpio group"
    )
