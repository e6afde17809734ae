"""``station selftest`` on the simulated backend: every device reported, faults make it fail."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import station.rig
from station.config import StationConfig, load_config, reference_config_path
from station.rig import SIM_OUTPUT_WRITE_LATENCY_NS, Rig, open_rig
from station.selftest import (
    LAST_REPORT_FILENAME,
    DeviceCheck,
    SelftestReportError,
    load_last_report,
    pad_rounds,
    run_selftest,
)
from tests.conftest import run_cli

NS_PER_MS = 1_000_000
REF = ["--config", str(reference_config_path())]
EXPECTED_KINDS = {"backend": 1, "hole": 9, "button": 5, "led": 5, "buzzer": 1, "adc": 4, "pad": 6}


def by_name(checks: list[DeviceCheck]) -> dict[str, DeviceCheck]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), f"a device reported twice: {names}"
    return {c.name: c for c in checks}


def failing(checks: list[DeviceCheck]) -> set[str]:
    return {c.name for c in checks if not c.ok}


@contextmanager
def held_closed(rig: Rig, gpio: int) -> Iterator[None]:
    """A switch closed to ground before the selftest opens its line (see test_faults.py:
    gpiozero's MockPin would otherwise let the pull-up open the closed contact)."""
    pin = rig.factory.mock_pin(gpio)
    pin.pull = "up"
    assert pin.drive_at(False, rig.clock.now_ns())
    pin.drive_high = lambda: None
    try:
        yield
    finally:
        del pin.drive_high


def chatter(rig: Rig, gpio: int, start_ns: int, duration_ns: int, step_ns: int = 300_000) -> None:
    edges = [(start_ns + k * step_ns, (k + 1) % 2) for k in range(duration_ns // step_ns)]
    rig.world.play_edges(gpio, [*edges, (start_ns + duration_ns, 0)])


# -- the reference station, all well ---------------------------------------------------------------


def test_selftest_reports_every_device_of_the_reference_station_ok(
    sim_rig: Rig, ref_config: StationConfig
) -> None:
    checks = run_selftest(sim_rig)
    found = by_name(checks)
    kinds: dict[str, int] = {}
    for c in checks:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    assert kinds == EXPECTED_KINDS
    expected_names = {"backend"} | {i.name for i in ref_config.inputs}
    expected_names |= {o.name for o in ref_config.outputs}
    expected_names |= {a.name for a in ref_config.adcs} | {p.name for p in ref_config.pads}
    assert set(found) == expected_names
    assert failing(checks) == set(), [c for c in checks if not c.ok]

    assert "SIMULATED" in found["backend"].detail
    assert found["backend"].state["backend"] == "sim"
    assert found["hole1"].detail == "GPIO5: open" and found["hole1"].state == 0
    assert found["btn_index"].detail == "GPIO27: released"
    assert "switched on and off" in found["led_thumb"].detail
    assert "GPIO18" in found["buzzer"].detail
    for adc in ref_config.adcs:
        check = found[adc.name]
        assert f"0x{adc.address:02X}" in check.detail and "rdy mode" in check.detail
        assert check.state >= 0.9 * adc.data_rate_sps
    for pad in ref_config.pads:
        check = found[pad.name]
        assert check.detail.startswith(f"{pad.adc} AIN{pad.channel}: ")
        assert "uncalibrated" in check.detail
        assert check.state == pytest.approx(0.0, abs=0.05)


def test_selftest_checks_each_chip_on_its_fast_path(sim_rig: Rig) -> None:
    rounds = pad_rounds(sim_rig)
    assert rounds == [
        ["pad_index", "pad_middle", "pad_ring", "pad_little"],
        ["pad_home", "pad_dish"],
    ]
    found = by_name(run_selftest(sim_rig))
    assert found["adc0"].detail.count("rdy mode") == 2  # AIN0 in round 1, AIN1 in round 2


def test_selftest_shows_live_pad_force(sim_rig: Rig) -> None:
    sim_rig.sim_pads["pad_ring"].force = lambda t_ns: 4.0
    found = by_name(run_selftest(sim_rig))
    nominal = sim_rig.sim_pads["pad_ring"].sensitivity_s_per_n / 4.0e-5
    assert found["pad_ring"].ok
    assert found["pad_ring"].state == pytest.approx(4.0 * nominal, rel=0.02)
    assert found["pad_index"].state == pytest.approx(0.0, abs=0.05)


def test_selftest_peg_in_hole_is_a_state_not_a_fault(sim_rig: Rig) -> None:
    with held_closed(sim_rig, sim_rig.config.input("hole7").gpio):
        checks = run_selftest(sim_rig)
    found = by_name(checks)
    assert failing(checks) == set()
    assert found["hole7"].state == 1 and "closed" in found["hole7"].detail


# -- faults make it fail ----------------------------------------------------------------------------


def test_button_held_at_start_fails(sim_rig: Rig) -> None:
    with held_closed(sim_rig, sim_rig.config.input("btn_middle").gpio):
        checks = run_selftest(sim_rig)
    found = by_name(checks)
    assert failing(checks) == {"btn_middle"}
    assert "pressed at start" in found["btn_middle"].detail
    assert "GPIO22" in found["btn_middle"].detail
    assert found["btn_middle"].state == 1


def test_unplugged_adc_fails_with_its_address(sim_rig: Rig) -> None:
    sim_rig.world.unplug_adc(0x48)  # adc0 serves pads in both rounds
    checks = run_selftest(sim_rig)
    found = by_name(checks)
    assert failing(checks) == {"adc0", "pad_index", "pad_home"}
    assert "0x48" in found["adc0"].detail
    assert found["adc0"].detail.count("no answer on I2C") == 1  # said once, not per round
    assert "no samples" in found["pad_index"].detail


def test_adc_silent_during_the_test_fails(sim_rig: Rig) -> None:
    sim_rig.world.schedule(
        sim_rig.clock.now_ns() + 100 * NS_PER_MS, lambda: sim_rig.world.unplug_adc(0x4B)
    )
    checks = run_selftest(sim_rig)
    found = by_name(checks)
    assert "adc3" in failing(checks)
    assert "0x4B" in found["adc3"].detail
    assert failing(checks) <= {"adc3", "pad_little"}


def test_chattering_switch_fails(sim_rig: Rig) -> None:
    spec = sim_rig.config.input("hole2")
    chatter(sim_rig, spec.gpio, sim_rig.clock.now_ns() + 50 * NS_PER_MS, 300 * NS_PER_MS)
    checks = run_selftest(sim_rig)
    found = by_name(checks)
    assert failing(checks) == {"hole2"}
    assert "chattering" in found["hole2"].detail and "GPIO6" in found["hole2"].detail


def test_loopback_buzzer_reports_its_read_back_delay(
    write_config: Callable[..., Path],
) -> None:
    # The reference uses every free line: free GPIO7 by dropping the little finger's LED.
    path = write_config(
        ('led = "led_little"\n', ""),
        ('[[led]]\nname = "led_little"\ngpio = 7\n', ""),
        ("gpio = 18", "gpio = 18\nloopback_gpio = 7"),
    )
    config = load_config(path)
    assert config.output("buzzer").loopback_gpio == 7
    rig = open_rig(config)
    try:
        checks = run_selftest(rig)
    finally:
        rig.close()
    found = by_name(checks)
    assert "led_little" not in found
    assert failing(checks) == set()
    delay_us = SIM_OUTPUT_WRITE_LATENCY_NS / 1000
    assert delay_us == pytest.approx(40.8)
    assert f"read back after {delay_us:.1f} us" in found["buzzer"].detail
    assert "GPIO7" not in found["led_thumb"].detail


def test_loopback_that_never_reads_back_fails(write_config: Callable[..., Path]) -> None:
    path = write_config(
        ('led = "led_little"\n', ""),
        ('[[led]]\nname = "led_little"\ngpio = 7\n', ""),
        ("gpio = 18", "gpio = 18\nloopback_gpio = 7"),
    )
    rig = open_rig(load_config(path))
    rig.factory._output_listeners.clear()  # the loopback wire is cut
    try:
        found = by_name(run_selftest(rig))
    finally:
        rig.close()
    assert not found["buzzer"].ok
    assert "no read-back on GPIO7" in found["buzzer"].detail


# -- through the command line ----------------------------------------------------------------------


def test_cli_selftest_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["--config", str(reference_config_path()), "selftest", "--json", "--seconds", "0.3"], capsys
    )
    assert code == 0, err
    items = json.loads(out)
    assert isinstance(items, list) and len(items) == sum(EXPECTED_KINDS.values())
    for item in items:
        assert {"name", "kind", "ok", "detail"} <= set(item)
        assert isinstance(item["name"], str) and isinstance(item["detail"], str)
        assert item["ok"] is True
    assert "SIMULATED" in err
    assert "Traceback" not in out + err


def test_cli_selftest_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["--config", str(reference_config_path()), "selftest", "--seconds", "0.3"], capsys
    )
    assert code == 0
    total = sum(EXPECTED_KINDS.values())
    assert out.strip().splitlines()[-1] == f"{total} of {total} devices ok"


@pytest.fixture
def faulty_rig(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[Rig], None]], None]:
    """Make the CLI open a simulated rig with a fault applied to it first."""

    def install(fault: Callable[[Rig], None]) -> None:
        real_open = station.rig.open_rig

        def open_faulty(config: StationConfig) -> Rig:
            rig = real_open(config)
            fault(rig)
            return rig

        monkeypatch.setattr(station.rig, "open_rig", open_faulty)

    return install


def test_cli_selftest_exit_1_for_a_missing_adc(
    faulty_rig: Callable[[Callable[[Rig], None]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    faulty_rig(lambda rig: rig.world.unplug_adc(0x49))
    code, out, err = run_cli([*REF, "selftest", "--json", "--seconds", "0.3"], capsys)
    assert code == 1
    items = {i["name"]: i for i in json.loads(out)}
    assert {n for n, i in items.items() if not i["ok"]} == {"adc1", "pad_middle", "pad_dish"}
    assert "0x49" in items["adc1"]["detail"]
    assert "Traceback" not in out + err


def test_cli_selftest_exit_1_for_a_stuck_button(
    faulty_rig: Callable[[Callable[[Rig], None]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    def stuck(rig: Rig) -> None:
        pin = rig.factory.mock_pin(rig.config.input("btn_ring").gpio)
        pin.pull = "up"
        pin.drive_at(False, rig.clock.now_ns())
        pin.drive_high = lambda: None  # see held_closed

    faulty_rig(stuck)
    code, out, _ = run_cli([*REF, "selftest", "--seconds", "0.3"], capsys)
    assert code == 1
    assert "FAIL" in out and "btn_ring" in out
    assert out.strip().splitlines()[-1].endswith("failing: btn_ring")


def test_cli_selftest_exit_1_for_a_chattering_switch(
    faulty_rig: Callable[[Callable[[Rig], None]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    faulty_rig(
        lambda rig: chatter(
            rig,
            rig.config.input("btn_little").gpio,
            rig.clock.now_ns() + 20 * NS_PER_MS,
            200 * NS_PER_MS,
        )
    )
    code, out, _ = run_cli([*REF, "selftest", "--json", "--seconds", "0.3"], capsys)
    assert code == 1
    items = {i["name"]: i for i in json.loads(out)}
    assert not items["btn_little"]["ok"] and "chattering" in items["btn_little"]["detail"]


# -- the last report, kept for the clinic server's status page --------------------------------------


def test_cli_selftest_keeps_its_last_report(capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = Path(os.environ["STATION_DATA_DIR"])
    assert load_last_report(data_dir) is None
    code, out, _ = run_cli([*REF, "selftest", "--json", "--seconds", "0.3"], capsys)
    assert code == 0
    items = json.loads(out)
    doc = load_last_report(data_dir)
    assert doc is not None
    assert doc["ok"] is True and doc["failing"] == [] and doc["devices"] == len(items)
    assert [c["name"] for c in doc["checks"]] == [i["name"] for i in items]
    assert doc["simulated"] is True and doc["backend"] == "sim"
    assert doc["station_id"] == load_config(reference_config_path()).station_id
    assert doc["at_utc"].endswith("Z")
    # written by rename: nothing but the report (no temporary file) is left beside it
    assert sorted(p.name for p in data_dir.iterdir()) == [LAST_REPORT_FILENAME]
    # a new data folder holds patient data later: the owner only
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_cli_selftest_report_records_a_failure(
    capsys: pytest.CaptureFixture[str], faulty_rig: Callable[[Callable[[Rig], None]], None]
) -> None:
    faulty_rig(lambda rig: rig.world.unplug_adc(0x49))
    code, _, _ = run_cli([*REF, "selftest", "--seconds", "0.3"], capsys)
    assert code == 1
    doc = load_last_report(Path(os.environ["STATION_DATA_DIR"]))
    assert doc is not None and doc["ok"] is False and doc["failing"]


def test_an_unsaved_report_only_warns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STATION_DATA_DIR", str(blocker / "data"))
    code, _, err = run_cli([*REF, "selftest", "--seconds", "0.3"], capsys)
    assert code == 0
    assert "warning: the self-test report was not saved" in err and "Traceback" not in err


def test_an_unreadable_report_is_said(tmp_path: Path) -> None:
    (tmp_path / LAST_REPORT_FILENAME).write_text("{")
    with pytest.raises(SelftestReportError, match="not valid JSON"):
        load_last_report(tmp_path)
