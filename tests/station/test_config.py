"""Station configuration: the reference wiring loads; every mistake is one clear message."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hardware.clock import VirtualClock
from station.config import (
    RESERVED_GPIO,
    StationConfig,
    load_config,
    reference_config_path,
)
from station.errors import ConfigError
from station.timing import EventCore
from tests.conftest import run_cli

WriteConfig = Callable[..., Path]

HOLE1 = 'name = "hole1"\ngpio = 5'
HOLE2 = 'name = "hole2"\ngpio = 6'
BTN_THUMB = 'name = "btn_thumb"\nfinger = "thumb"\ngpio = 17'
ADC0 = 'name = "adc0"\nchip = "ADS1115"\naddress = 0x48'
ADC1_ADDRESS = "address = 0x49"
ADC0_RATE = "data_rate_sps = 860\nrdy_gpio = 8"
PAD_INDEX = 'name = "pad_index"\nkind = "finger"\nfinger = "index"\nadc = "adc0"\nchannel = 0'
PAD_HOME = 'name = "pad_home"\nkind = "home"\nadc = "adc0"\nchannel = 1'


def config_error(path: Path) -> str:
    """Load ``path`` expecting a ConfigError; return its message after checking its form."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert message.startswith(f"{path}: "), f"does not name the file first: {message!r}"
    return message


# -- the reference station ---------------------------------------------------------------------


def test_reference_config_has_the_standard_station(ref_config: StationConfig) -> None:
    cfg = ref_config
    assert cfg.path == reference_config_path()
    assert cfg.station_id == "reference-01"
    assert [h.name for h in cfg.holes] == [f"hole{i}" for i in range(1, 10)]
    assert [b.finger for b in cfg.buttons] == ["thumb", "index", "middle", "ring", "little"]
    leds = [o for o in cfg.outputs if o.kind == "led"]
    assert len(leds) == 5
    assert {b.led for b in cfg.buttons} == {o.name for o in leds}
    buzzers = [o for o in cfg.outputs if o.kind == "buzzer"]
    assert [(b.name, b.gpio, b.loopback_gpio) for b in buzzers] == [("buzzer", 18, None)]
    assert [(a.name, a.chip, a.address, a.data_rate_sps) for a in cfg.adcs] == [
        ("adc0", "ADS1115", 0x48, 860),
        ("adc1", "ADS1115", 0x49, 860),
        ("adc2", "ADS1115", 0x4A, 860),
        ("adc3", "ADS1115", 0x4B, 860),
    ]
    assert all(a.gain == 1 for a in cfg.adcs)
    assert [a.rdy_gpio for a in cfg.adcs] == [8, 9, 10, 11]
    assert {p.name: (p.kind, p.adc, p.channel) for p in cfg.pads} == {
        "pad_index": ("finger", "adc0", 0),
        "pad_middle": ("finger", "adc1", 0),
        "pad_ring": ("finger", "adc2", 0),
        "pad_little": ("finger", "adc3", 0),
        "pad_home": ("home", "adc0", 1),
        "pad_dish": ("dish", "adc1", 1),
    }
    for pad in cfg.pads:
        assert pad.offset_n < pad.onset_n
        assert (pad.min_on_ns, pad.min_off_ns) == (20_000_000, 40_000_000)
    for switch in cfg.inputs:
        assert (switch.pull, switch.active_low) == ("up", True)
        assert (switch.min_on_ns, switch.min_off_ns) == (5_000_000, 5_000_000)
    # Every line is used once, none reserved, all on the header.
    lines = [i.gpio for i in cfg.inputs] + [o.gpio for o in cfg.outputs]
    lines += [a.rdy_gpio for a in cfg.adcs if a.rdy_gpio is not None]
    assert len(lines) == len(set(lines)) == 24
    assert not set(lines) & set(RESERVED_GPIO)
    assert all(0 <= g <= 27 for g in lines)
    assert cfg.input("btn_index").gpio == 27
    assert cfg.pad("pad_dish").adc == "adc1"


def test_lookup_of_an_unknown_name_lists_the_known_ones(ref_config: StationConfig) -> None:
    with pytest.raises(ConfigError, match=r"no pad named 'pad_nose'.*pad_index"):
        ref_config.pad("pad_nose")


def test_written_copy_of_the_reference_loads(write_config: WriteConfig) -> None:
    cfg = load_config(write_config())
    assert len(cfg.inputs) == 14 and len(cfg.pads) == 6


def test_defaults_when_optional_sections_are_left_out(write_config: WriteConfig) -> None:
    path = write_config(
        ("queue_capacity = 65536", ""), ("chatter_edges_per_s = 200", ""), ("seed = 1", "")
    )
    cfg = load_config(path)
    core = EventCore(VirtualClock())
    assert cfg.timing.chatter_edges_per_s == core.chatter_edges_per_s
    assert cfg.timing.queue_capacity == core.capacity
    assert cfg.sim.seed == 1


# -- one clear message per mistake ---------------------------------------------------------------


def test_unknown_top_level_key(write_config: WriteConfig) -> None:
    msg = config_error(write_config(append="\n[extras]\ncolour = 'red'\n"))
    assert "top level" in msg and "unknown key 'extras'" in msg


def test_unknown_key_in_a_section(write_config: WriteConfig) -> None:
    msg = config_error(write_config(('id = "reference-01"', 'id = "reference-01"\ncolor = 1')))
    assert "[station]" in msg and "unknown key 'color'" in msg


def test_unknown_key_inside_an_entry(write_config: WriteConfig) -> None:
    msg = config_error(write_config((HOLE2, HOLE2 + '\ncolour = "red"')))
    assert '[[hole]] "hole2"' in msg
    assert "unknown key 'colour'" in msg


def test_misspelt_key_in_a_pad_entry_is_not_ignored(write_config: WriteConfig) -> None:
    msg = config_error(write_config((PAD_HOME, PAD_HOME + "\nonset = 0.8")))
    assert '[[pad]] "pad_home"' in msg and "unknown key 'onset'" in msg


def test_gpio_used_twice_names_both_users(write_config: WriteConfig) -> None:
    msg = config_error(write_config((HOLE2, 'name = "hole2"\ngpio = 5')))
    assert '[[hole]] "hole2" gpio' in msg
    assert 'GPIO 5 is already used by [[hole]] "hole1"' in msg


def test_gpio_used_twice_across_kinds(write_config: WriteConfig) -> None:
    msg = config_error(
        write_config(('name = "led_ring"\ngpio = 25', 'name = "led_ring"\ngpio = 17'))
    )
    assert '[[led]] "led_ring" gpio' in msg
    assert '[[button]] "btn_thumb"' in msg


def test_rdy_line_clashing_with_a_switch(write_config: WriteConfig) -> None:
    msg = config_error(write_config(("rdy_gpio = 9", "rdy_gpio = 5")))
    assert '[[adc]] "adc1" rdy_gpio' in msg and '[[hole]] "hole1"' in msg


@pytest.mark.parametrize("gpio", sorted(RESERVED_GPIO))
def test_reserved_pin(write_config: WriteConfig, gpio: int) -> None:
    msg = config_error(write_config((HOLE1, f'name = "hole1"\ngpio = {gpio}')))
    assert '[[hole]] "hole1" gpio' in msg
    assert f"GPIO {gpio} is reserved for {RESERVED_GPIO[gpio]}" in msg
    assert ("I2C-1" if gpio in (2, 3) else "EEPROM") in msg


def test_reserved_pin_as_loopback(write_config: WriteConfig) -> None:
    msg = config_error(write_config(("gpio = 18", "gpio = 18\nloopback_gpio = 3")))
    assert "[buzzer] loopback_gpio" in msg and "reserved" in msg


@pytest.mark.parametrize("gpio", [28, 40, -1])
def test_gpio_out_of_range(write_config: WriteConfig, gpio: int) -> None:
    msg = config_error(
        write_config((BTN_THUMB, f'name = "btn_thumb"\nfinger = "thumb"\ngpio = {gpio}'))
    )
    assert '[[button]] "btn_thumb" gpio' in msg
    assert f"GPIO {gpio} does not exist" in msg


@pytest.mark.parametrize("address", ["0x50", "0x47", "0"])
def test_bad_adc_address(write_config: WriteConfig, address: str) -> None:
    msg = config_error(write_config((ADC1_ADDRESS, f"address = {address}")))
    assert '[[adc]] "adc1" address' in msg
    assert "is not an ADS1x15 address" in msg and "0x48" in msg


def test_adc_address_used_twice(write_config: WriteConfig) -> None:
    msg = config_error(write_config((ADC1_ADDRESS, "address = 0x48")))
    assert '[[adc]] "adc1" address' in msg
    assert 'already used by [[adc]] "adc0"' in msg


@pytest.mark.parametrize(
    ("chip", "rate"),
    [("ADS1115", 920), ("ADS1115", 1000), ("ADS1015", 860), ("ADS1015", 8)],
)
def test_bad_data_rate_for_the_chip(write_config: WriteConfig, chip: str, rate: int) -> None:
    path = write_config(
        (ADC0, f'name = "adc0"\nchip = "{chip}"\naddress = 0x48'),
        (ADC0_RATE, f"data_rate_sps = {rate}\nrdy_gpio = 8"),
    )
    msg = config_error(path)
    assert '[[adc]] "adc0" data_rate_sps' in msg
    assert f"{chip} supports" in msg and f"got {rate}" in msg


def test_ads1015_accepts_its_own_rates(write_config: WriteConfig) -> None:
    path = write_config(
        (ADC0, 'name = "adc0"\nchip = "ADS1015"\naddress = 0x48'),
        (ADC0_RATE, "data_rate_sps = 3300\nrdy_gpio = 8"),
    )
    adc = load_config(path).adc("adc0")
    assert (adc.chip, adc.data_rate_sps) == ("ADS1015", 3300)


def test_unknown_chip(write_config: WriteConfig) -> None:
    msg = config_error(write_config((ADC0, 'name = "adc0"\nchip = "ADS1118"\naddress = 0x48')))
    assert '[[adc]] "adc0" chip' in msg and "ADS1115" in msg


def test_bad_gain(write_config: WriteConfig) -> None:
    msg = config_error(write_config(("gain = 1", "gain = 3")))
    assert '[[adc]] "adc0" gain' in msg and "2/3" in msg


def test_pad_on_an_unknown_adc(write_config: WriteConfig) -> None:
    msg = config_error(write_config((PAD_HOME, PAD_HOME.replace('"adc0"', '"adc9"'))))
    assert '[[pad]] "pad_home" adc' in msg
    assert "no [[adc]] named 'adc9'" in msg


def test_pad_channel_used_twice(write_config: WriteConfig) -> None:
    msg = config_error(write_config((PAD_HOME, PAD_HOME.replace("channel = 1", "channel = 0"))))
    assert '[[pad]] "pad_home" channel' in msg
    assert 'adc0 channel 0 is already used by [[pad]] "pad_index"' in msg


def test_pad_channel_out_of_range(write_config: WriteConfig) -> None:
    msg = config_error(write_config((PAD_HOME, PAD_HOME.replace("channel = 1", "channel = 4"))))
    assert '[[pad]] "pad_home" channel' in msg and "0-3" in msg


def test_button_led_naming_no_led(write_config: WriteConfig) -> None:
    msg = config_error(write_config(('led = "led_ring"', 'led = "led_rnig"')))
    assert '[[button]] "btn_ring" led' in msg
    assert "no [[led]] named 'led_rnig'" in msg


def test_button_led_naming_the_buzzer(write_config: WriteConfig) -> None:
    msg = config_error(write_config(('led = "led_ring"', 'led = "buzzer"')))
    assert '[[button]] "btn_ring" led' in msg


def test_name_used_twice(write_config: WriteConfig) -> None:
    msg = config_error(write_config(('name = "hole3"', 'name = "hole1"')))
    assert "[[hole]] #3 name: name 'hole1' is already used by [[hole]] \"hole1\"" in msg


def test_name_used_twice_across_kinds(write_config: WriteConfig) -> None:
    msg = config_error(write_config(('name = "pad_dish"', 'name = "btn_ring"')))
    assert "[[pad]] #6 name: name 'btn_ring' is already used by [[button]] \"btn_ring\"" in msg
    msg = config_error(write_config(('name = "buzzer"', 'name = "led_ring"')))
    assert "[buzzer] name: name 'led_ring' is already used by [[led]] \"led_ring\"" in msg


@pytest.mark.parametrize("offset", ["0.8", "0.5"])
def test_pad_offset_not_below_onset(write_config: WriteConfig, offset: str) -> None:
    msg = config_error(write_config((PAD_INDEX, PAD_INDEX + f"\noffset_n = {offset}")))
    assert '[[pad]] "pad_index" offset_n' in msg
    assert "below onset_n" in msg


def test_pad_defaults_offset_not_below_onset_names_the_defaults(write_config: WriteConfig) -> None:
    msg = config_error(write_config(("offset_n = 0.3", "offset_n = 0.6")))
    assert "[pad_defaults] offset_n" in msg
    assert "below onset_n" in msg


def test_pad_overriding_onset_above_the_default_offset_is_fine(write_config: WriteConfig) -> None:
    path = write_config(
        ("onset_n = 0.5", "onset_n = 0.2"),
        ("offset_n = 0.3", "offset_n = 0.1"),
        (PAD_INDEX, PAD_INDEX + "\nonset_n = 1.0\noffset_n = 0.6"),
    )
    pad = load_config(path).pad("pad_index")
    assert (pad.onset_n, pad.offset_n) == (1.0, 0.6)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (HOLE1, 'name = "hole1"\ngpio = "5"', '[[hole]] "hole1" gpio: must be int'),
        (HOLE1, 'name = "hole1"\ngpio = 5.0', '[[hole]] "hole1" gpio: must be int'),
        (HOLE1, 'name = "hole1"\ngpio = true', '[[hole]] "hole1" gpio: must be int'),
        ('id = "reference-01"', "id = 7", "[station] id: must be str"),
        ("queue_capacity = 65536", 'queue_capacity = "big"', "[timing] queue_capacity"),
        ("min_on_ms = 5.0", 'min_on_ms = "5"', "[switches] min_on_ms: must be float"),
        ("supply_v = 3.3", "supply_v = false", "[pad_defaults] supply_v: must be float"),
        ("seed = 1", "seed = 1.5", "[sim] seed: must be int"),
        ('led = "led_thumb"', "led = 4", '[[button]] "btn_thumb" led: must be str'),
        ("gain = 1", "gain = true", '[[adc]] "adc0" gain: must be'),
    ],
)
def test_wrong_types(write_config: WriteConfig, old: str, new: str, where: str) -> None:
    msg = config_error(write_config((old, new)))
    assert where in msg


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('hardware = "auto"', 'hardware = "arduino"', "[station] hardware: must be one of"),
        ('pull = "up"', 'pull = "sideways"', "[switches] pull: must be one of"),
        ('finger = "thumb"', 'finger = "toe"', '[[button]] "btn_thumb" finger'),
        ('kind = "dish"', 'kind = "plate"', '[[pad]] "pad_dish" kind'),
        ("queue_capacity = 65536", "queue_capacity = 8", "[timing] queue_capacity: must be >= 64"),
        ("divider_ohm = 10000", "divider_ohm = 0", "[pad_defaults] divider_ohm: must be > 0"),
        ('id = "reference-01"', 'id = "ref 01"', "[station] id"),
    ],
)
def test_bad_values(write_config: WriteConfig, old: str, new: str, where: str) -> None:
    assert where in config_error(write_config((old, new)))


def test_missing_required_key(write_config: WriteConfig) -> None:
    msg = config_error(write_config((HOLE2, 'name = "hole2"')))
    assert '[[hole]] "hole2" gpio: is required but missing' in msg


def test_invalid_toml_gives_the_line(write_config: WriteConfig) -> None:
    path = write_config(('name = "hole4"', 'name = "hole4'))
    line = next(
        i for i, text in enumerate(path.read_text().splitlines(), 1) if 'name = "hole4' in text
    )
    msg = config_error(path)
    assert "not valid TOML" in msg
    assert re.search(rf"\bline {line}\b", msg), msg


def test_missing_file(tmp_path: Path) -> None:
    msg = config_error(tmp_path / "nowhere.toml")
    assert "not found" in msg


def test_a_folder_is_not_a_config(tmp_path: Path) -> None:
    assert "cannot read" in config_error(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[station]\nid = "caf\xe9"\n'.encode("latin-1"))
    assert "UTF-8" in config_error(path)


# -- environment overrides --------------------------------------------------------------------


def test_station_hardware_overrides_the_file(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(('hardware = "auto"', 'hardware = "pi"'))
    assert load_config(path).hardware == "sim"  # conftest sets STATION_HARDWARE=sim
    monkeypatch.setenv("STATION_HARDWARE", "pi")
    assert load_config(reference_config_path()).hardware == "pi"
    monkeypatch.delenv("STATION_HARDWARE")
    assert load_config(path).hardware == "pi"
    assert load_config(reference_config_path()).hardware == "auto"


def test_bad_station_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_HARDWARE", "simulated")
    with pytest.raises(ConfigError) as info:
        load_config(reference_config_path())
    msg = str(info.value)
    assert "STATION_HARDWARE" in msg and "'simulated'" in msg and "sim" in msg


def test_station_data_dir_overrides_the_file(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_config(('data_dir = "~/.local/share/dexterity-station"', 'data_dir = "recs"'))
    assert load_config(path).data_dir == tmp_path / "data"  # conftest's STATION_DATA_DIR
    monkeypatch.setenv("STATION_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_config(path).data_dir == tmp_path / "elsewhere"
    monkeypatch.delenv("STATION_DATA_DIR")
    # Relative to the configuration file, not to the working directory.
    assert load_config(path).data_dir == (tmp_path / "recs").resolve()
    ref = load_config(reference_config_path())
    assert ref.data_dir == Path("~/.local/share/dexterity-station").expanduser()


def test_station_config_selects_the_default_file(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(('id = "reference-01"', 'id = "bench-7"'))
    monkeypatch.setenv("STATION_CONFIG", str(path))
    assert load_config().station_id == "bench-7"


# -- through the command line -------------------------------------------------------------------


@pytest.mark.parametrize("command", [["config", "check"], ["selftest"], ["calibrate", "pad", "x"]])
def test_cli_bad_config_exits_2_with_one_line(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = write_config((HOLE2, 'name = "hole2"\ngpio = 5'))
    code, out, err = run_cli(["--config", str(path), *command], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("station: error: ")
    assert str(path) in lines[0] and '[[hole]] "hole2" gpio' in lines[0]
    assert "Traceback" not in out + err


def test_cli_invalid_toml_exits_2(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(append="\nthis is not toml\n")
    code, out, err = run_cli(["--config", str(path), "config", "check"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "line" in err and str(path) in err
    assert "Traceback" not in out + err


def test_cli_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.toml"
    code, out, err = run_cli(["--config", str(missing), "config", "check"], capsys)
    assert code == 2
    assert err.strip() == f"station: error: {missing}: configuration file not found"
    assert "Traceback" not in out + err


def test_cli_bad_station_hardware_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATION_HARDWARE", "gpu")
    code, out, err = run_cli(["config", "check"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "STATION_HARDWARE" in err
    assert "Traceback" not in out + err
