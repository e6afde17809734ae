"""Station configuration: one TOML file describes a station and its wiring.

See ``docs/configuration.md`` for every key and ``station/data/reference_station.toml`` for the
reference wiring. Validation happens once, at load: any problem raises :class:`ConfigError` whose
message names the file, the entry and the key, e.g.::

    station.toml: [[button]] "index": gpio 5 is already used by [[hole]] "hole1"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from station.errors import ConfigError

#: BCM lines of the 40-pin header usable as GPIO.
GPIO_RANGE = range(0, 28)
#: BCM 2/3 carry I2C-1 (the ADCs); 0/1 carry the HAT ID EEPROM's I2C-0.
RESERVED_GPIO = {
    0: "I2C-0 (HAT ID EEPROM) SDA",
    1: "I2C-0 (HAT ID EEPROM) SCL",
    2: "I2C-1 SDA",
    3: "I2C-1 SCL",
}
#: ADS1x15 addresses selectable with the ADDR pin (GND, VDD, SDA, SCL).
ADS_ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)
ADS_GAINS = {"2/3": 2 / 3, "1": 1, "2": 2, "4": 4, "8": 8, "16": 16}
ADS_DATA_RATES_SPS = {
    "ADS1115": (8, 16, 32, 64, 128, 250, 475, 860),
    "ADS1015": (128, 250, 490, 920, 1600, 2400, 3300),
}
FINGERS = ("thumb", "index", "middle", "ring", "little")
HARDWARE_CHOICES = ("auto", "sim", "pi")
PIN_FACTORIES = ("auto", "lgpio", "rpigpio")

# Default debounce for switches: pyControl's default of 5 ms (timing-and-hardware.md, pyControl row).
DEFAULT_SWITCH_MIN_MS = 5.0
# Bounce edges per second above which a switch is reported chattering: the timing core's default
# (docs/timing.md#chattering), well above the bounce of fast tapping.
DEFAULT_CHATTER_EDGES_PER_S = 200.0
# Default pad press detection: minimum on 20 ms, off 40 ms as in TeensyTap
# (florisvanvugt/teensytap, clinical-tests.md). Thresholds in N are device settings above the
# FSR 402's ~0.2 N floor (timing-and-hardware.md), not clinical numbers.
DEFAULT_PAD_MIN_ON_MS = 20.0
DEFAULT_PAD_MIN_OFF_MS = 40.0
DEFAULT_PAD_ONSET_N = 0.5
DEFAULT_PAD_OFFSET_N = 0.3


def _ms_to_ns(ms: float) -> int:
    return round(ms * 1_000_000)


@dataclass(frozen=True)
class InputSpec:
    """A switch on a GPIO line: a pegboard hole or a finger button."""

    name: str
    kind: str  # "hole" | "button"
    gpio: int
    pull: str  # "up" | "down"
    active_low: bool
    min_on_ns: int
    min_off_ns: int
    finger: str | None = None
    led: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """A cue LED or the buzzer on a GPIO line (optionally read back on ``loopback_gpio``)."""

    name: str
    kind: str  # "led" | "buzzer"
    gpio: int
    active_high: bool
    loopback_gpio: int | None = None


@dataclass(frozen=True)
class AdcSpec:
    """One ADS1115/ADS1015 on I2C bus 1."""

    name: str
    chip: str
    address: int
    gain: float
    data_rate_sps: int
    rdy_gpio: int | None = None


@dataclass(frozen=True)
class PadSpec:
    """A force-sensitive pad in a voltage divider on one ADC channel."""

    name: str
    kind: str  # "finger" | "home" | "dish"
    adc: str
    channel: int
    finger: str | None
    supply_v: float
    divider_ohm: float
    onset_n: float
    offset_n: float
    min_on_ns: int
    min_off_ns: int


@dataclass(frozen=True)
class TimingSpec:
    queue_capacity: int = 65_536
    chatter_edges_per_s: float = DEFAULT_CHATTER_EDGES_PER_S


@dataclass(frozen=True)
class SimSpec:
    profile: str = "healthy"
    seed: int = 1


@dataclass(frozen=True)
class StationConfig:
    path: Path
    station_id: str
    data_dir: Path
    hardware: str
    pin_factory: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    adcs: tuple[AdcSpec, ...]
    pads: tuple[PadSpec, ...]
    timing: TimingSpec = field(default_factory=TimingSpec)
    sim: SimSpec = field(default_factory=SimSpec)

    def input(self, name: str) -> InputSpec:
        return _by_name(self.inputs, name, "input")

    def output(self, name: str) -> OutputSpec:
        return _by_name(self.outputs, name, "output")

    def adc(self, name: str) -> AdcSpec:
        return _by_name(self.adcs, name, "ADC")

    def pad(self, name: str) -> PadSpec:
        return _by_name(self.pads, name, "pad")

    @property
    def holes(self) -> tuple[InputSpec, ...]:
        return tuple(i for i in self.inputs if i.kind == "hole")

    @property
    def buttons(self) -> tuple[InputSpec, ...]:
        return tuple(i for i in self.inputs if i.kind == "button")


def _by_name(items: tuple[Any, ...], name: str, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    known = ", ".join(i.name for i in items) or "none"
    raise ConfigError(f"no {what} named {name!r} in the configuration (known: {known})")


class _Table:
    """Reads one TOML table, recording which keys were used so unknown keys can be refused."""

    def __init__(self, file: str, where: str, data: Any):
        self.file = file
        self.where = where
        if not isinstance(data, Mapping):
            self.fail(f"must be a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()

    def fail(self, problem: str, key: str | None = None) -> None:
        loc = f"{self.where} {key}" if key else self.where
        raise ConfigError(f"{self.file}: {loc}: {problem}")

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                self.fail("is required but missing", key)
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(f"must be {names}, got {value!r}", key)
        if check is not None:
            problem = check(value)
            if problem:
                self.fail(problem, key)
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> Any:
        return self.get(
            key,
            str,
            default,
            lambda v: None if v in choices else f"must be one of {', '.join(choices)}; got {v!r}",
        )

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            allowed = ", ".join(sorted(self.used))
            self.fail(f"unknown key {unknown[0]!r} (allowed here: {allowed})")


def _positive(v: float) -> str | None:
    return None if v > 0 else f"must be > 0, got {v!r}"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else f"must be >= 0, got {v!r}"


def _gpio_check(v: int) -> str | None:
    if v not in GPIO_RANGE:
        return f"GPIO {v} does not exist (BCM 0-27 on the 40-pin header)"
    if v in RESERVED_GPIO:
        return f"GPIO {v} is reserved for {RESERVED_GPIO[v]}"
    return None


def _name_check(v: str) -> str | None:
    if not v or not all(c.isalnum() or c in "_-" for c in v):
        return f"must be a non-empty name of letters, digits, '_' or '-'; got {v!r}"
    return None


def default_config_path() -> Path:
    """The config used when none is given: ``STATION_CONFIG``, else /etc, else the reference."""
    env = os.environ.get("STATION_CONFIG")
    if env:
        return Path(env)
    etc = Path("/etc/dexterity-station/station.toml")
    if etc.exists():
        return etc
    return reference_config_path()


def reference_config_path() -> Path:
    return Path(str(resources.files("station") / "data" / "reference_station.toml"))


def load_config(path: str | os.PathLike[str] | None = None) -> StationConfig:
    """Load and validate a station configuration. Raises :class:`ConfigError` on any problem."""
    cfg_path = Path(path) if path is not None else default_config_path()
    file = str(cfg_path)
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read configuration: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(doc, cfg_path)


def parse_config(doc: Mapping[str, Any], cfg_path: Path) -> StationConfig:
    file = str(cfg_path)
    top = _Table(file, "top level", doc)

    st = _Table(file, "[station]", top.get("station", dict))
    station_id = st.get("id", str, check=_name_check)
    data_dir_raw = st.get("data_dir", str, "data")
    hardware = st.choice("hardware", HARDWARE_CHOICES, "auto")
    pin_factory = st.choice("pin_factory", PIN_FACTORIES, "auto")
    st.finish()
    env_dir = os.environ.get("STATION_DATA_DIR")
    data_dir = Path(env_dir or data_dir_raw).expanduser()
    if not data_dir.is_absolute():
        data_dir = (cfg_path.parent / data_dir).resolve()
    env_hw = os.environ.get("STATION_HARDWARE")
    if env_hw:
        if env_hw not in HARDWARE_CHOICES:
            raise ConfigError(
                f"environment: STATION_HARDWARE must be one of {', '.join(HARDWARE_CHOICES)}; got {env_hw!r}"
            )
        hardware = env_hw

    tm = _Table(file, "[timing]", top.get("timing", dict, {}))
    timing = TimingSpec(
        queue_capacity=tm.get(
            "queue_capacity", int, 65_536, lambda v: None if v >= 64 else "must be >= 64"
        ),
        chatter_edges_per_s=float(
            tm.get("chatter_edges_per_s", float, DEFAULT_CHATTER_EDGES_PER_S, _positive)
        ),
    )
    tm.finish()

    sw = _Table(file, "[switches]", top.get("switches", dict, {}))
    sw_pull = sw.choice("pull", ("up", "down"), "up")
    sw_active = sw.choice("active", ("low", "high"), "low")
    sw_on = float(sw.get("min_on_ms", float, DEFAULT_SWITCH_MIN_MS, _non_negative))
    sw_off = float(sw.get("min_off_ms", float, DEFAULT_SWITCH_MIN_MS, _non_negative))
    sw.finish()

    names: dict[str, str] = {}
    pins: dict[int, str] = {}

    def claim_name(t: _Table, name: str, where: str | None = None) -> None:
        """Claim a unique name; a duplicate is reported at the entry's position (``#3``)."""
        if name in names:
            t.fail(f"name {name!r} is already used by {names[name]}", "name")
        if where is not None:
            t.where = where
        names[name] = t.where

    def claim_pin(t: _Table, key: str, gpio: int) -> None:
        if gpio in pins:
            t.fail(f"GPIO {gpio} is already used by {pins[gpio]}", key)
        pins[gpio] = t.where

    inputs: list[InputSpec] = []
    for kind in ("hole", "button"):
        entries = top.get(kind, list, [])
        for i, entry in enumerate(entries):
            t = _Table(file, f"[[{kind}]] #{i + 1}", entry)
            name = t.get("name", str, check=_name_check)
            claim_name(t, name, f'[[{kind}]] "{name}"')
            gpio = t.get("gpio", int, check=_gpio_check)
            claim_pin(t, "gpio", gpio)
            pull = t.choice("pull", ("up", "down"), sw_pull)
            active = t.choice("active", ("low", "high"), sw_active)
            on_ms = float(t.get("min_on_ms", float, sw_on, _non_negative))
            off_ms = float(t.get("min_off_ms", float, sw_off, _non_negative))
            finger = led = None
            if kind == "button":
                finger = t.choice("finger", FINGERS, None)
                led = t.get("led", str, None)
            t.finish()
            inputs.append(
                InputSpec(
                    name,
                    kind,
                    gpio,
                    pull,
                    active == "low",
                    _ms_to_ns(on_ms),
                    _ms_to_ns(off_ms),
                    finger,
                    led,
                )
            )

    outputs: list[OutputSpec] = []
    out_entries: list[tuple[str, Any]] = [("led", e) for e in top.get("led", list, [])]
    buzzer = top.get("buzzer", dict, None)
    if buzzer is not None:
        out_entries.append(("buzzer", buzzer))
    for i, (kind, entry) in enumerate(out_entries):
        where = f"[[led]] #{i + 1}" if kind == "led" else "[buzzer]"
        t = _Table(file, where, entry)
        name = t.get("name", str, "buzzer" if kind == "buzzer" else ..., _name_check)
        claim_name(t, name, f'[[led]] "{name}"' if kind == "led" else None)
        gpio = t.get("gpio", int, check=_gpio_check)
        claim_pin(t, "gpio", gpio)
        active = t.choice("active", ("high", "low"), "high")
        loop = t.get("loopback_gpio", int, None, _gpio_check)
        if loop is not None:
            claim_pin(t, "loopback_gpio", loop)
        t.finish()
        outputs.append(OutputSpec(name, kind, gpio, active == "high", loop))

    for spec in inputs:
        if spec.led is not None and not any(
            o.name == spec.led and o.kind == "led" for o in outputs
        ):
            raise ConfigError(
                f'{file}: [[button]] "{spec.name}" led: no [[led]] named {spec.led!r}'
            )

    adcs: list[AdcSpec] = []
    addresses: dict[int, str] = {}
    for i, entry in enumerate(top.get("adc", list, [])):
        t = _Table(file, f"[[adc]] #{i + 1}", entry)
        name = t.get("name", str, check=_name_check)
        claim_name(t, name, f'[[adc]] "{name}"')
        chip = t.choice("chip", tuple(ADS_DATA_RATES_SPS), "ADS1115")
        address = t.get(
            "address",
            int,
            check=lambda v: (
                None
                if v in ADS_ADDRESSES
                else f"0x{v:02X} is not an ADS1x15 address (one of {', '.join(f'0x{a:02X}' for a in ADS_ADDRESSES)})"
            ),
        )
        if address in addresses:
            t.fail(f"address 0x{address:02X} is already used by {addresses[address]}", "address")
        addresses[address] = t.where
        gain_raw = t.get("gain", (int, float, str), 1)
        gain_key = str(gain_raw).removesuffix(".0")
        if gain_key not in ADS_GAINS:
            t.fail(
                f'must be one of {", ".join(ADS_GAINS)} (write 2/3 as "2/3"); got {gain_raw!r}',
                "gain",
            )
        rates = ADS_DATA_RATES_SPS[chip]
        rate = t.get(
            "data_rate_sps",
            int,
            max(r for r in rates if r <= 860),
            lambda v, rates=rates, chip=chip: (
                None
                if v in rates
                else f"{chip} supports {', '.join(map(str, rates))} samples/s; got {v}"
            ),
        )
        rdy = t.get("rdy_gpio", int, None, _gpio_check)
        if rdy is not None:
            claim_pin(t, "rdy_gpio", rdy)
        t.finish()
        adcs.append(AdcSpec(name, chip, address, ADS_GAINS[gain_key], rate, rdy))

    pd = _Table(file, "[pad_defaults]", top.get("pad_defaults", dict, {}))
    pd_supply = float(pd.get("supply_v", float, 3.3, _positive))
    pd_div = float(pd.get("divider_ohm", float, 10_000.0, _positive))
    pd_onset = float(pd.get("onset_n", float, DEFAULT_PAD_ONSET_N, _positive))
    pd_offset = float(pd.get("offset_n", float, DEFAULT_PAD_OFFSET_N, _positive))
    pd_on = float(pd.get("min_on_ms", float, DEFAULT_PAD_MIN_ON_MS, _non_negative))
    pd_off = float(pd.get("min_off_ms", float, DEFAULT_PAD_MIN_OFF_MS, _non_negative))
    pd.finish()

    pads: list[PadSpec] = []
    channels: dict[tuple[str, int], str] = {}
    adc_names = {a.name for a in adcs}
    for i, entry in enumerate(top.get("pad", list, [])):
        t = _Table(file, f"[[pad]] #{i + 1}", entry)
        name = t.get("name", str, check=_name_check)
        claim_name(t, name, f'[[pad]] "{name}"')
        kind = t.choice("kind", ("finger", "home", "dish"))
        adc = t.get(
            "adc",
            str,
            check=lambda v: (
                None
                if v in adc_names
                else f"no [[adc]] named {v!r} (known: {', '.join(sorted(adc_names)) or 'none'})"
            ),
        )
        channel = t.get(
            "channel",
            int,
            check=lambda v: None if v in range(4) else f"must be 0-3 (AIN0-AIN3), got {v}",
        )
        if (adc, channel) in channels:
            t.fail(
                f"{adc} channel {channel} is already used by {channels[(adc, channel)]}", "channel"
            )
        channels[(adc, channel)] = t.where
        finger = t.choice("finger", FINGERS, None)
        if kind == "finger" and finger is None:
            t.fail("a finger pad needs finger = one of " + ", ".join(FINGERS), "finger")
        onset = float(t.get("onset_n", float, pd_onset, _positive))
        offset = float(t.get("offset_n", float, pd_offset, _positive))
        if offset >= onset:
            problem = f"must be below onset_n ({onset} N) for hysteresis; got {offset}"
            if "offset_n" in t.data or "onset_n" in t.data:
                t.fail(problem, "offset_n")
            # Neither is set on the pad: the mistake is in the defaults, so name them.
            pd.fail(f"{problem} (used by [[pad]] {name!r})", "offset_n")
        spec = PadSpec(
            name=name,
            kind=kind,
            adc=adc,
            channel=channel,
            finger=finger,
            supply_v=float(t.get("supply_v", float, pd_supply, _positive)),
            divider_ohm=float(t.get("divider_ohm", float, pd_div, _positive)),
            onset_n=onset,
            offset_n=offset,
            min_on_ns=_ms_to_ns(float(t.get("min_on_ms", float, pd_on, _non_negative))),
            min_off_ns=_ms_to_ns(float(t.get("min_off_ms", float, pd_off, _non_negative))),
        )
        t.finish()
        pads.append(spec)

    sm = _Table(file, "[sim]", top.get("sim", dict, {}))
    sim = SimSpec(profile=sm.get("profile", str, "healthy"), seed=sm.get("seed", int, 1))
    sm.finish()
    top.finish()

    return StationConfig(
        path=cfg_path,
        station_id=station_id,
        data_dir=data_dir,
        hardware=hardware,
        pin_factory=pin_factory,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        adcs=tuple(adcs),
        pads=tuple(pads),
        timing=timing,
        sim=sim,
    )
