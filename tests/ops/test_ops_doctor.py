"""``station doctor`` on a simulated installation, healthy and broken in the ways that matter."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from station import backup as bk
from station import doctor as doctor_module
from station.doctor import (
    FAIL,
    OK,
    SKIP,
    WARN,
    Check,
    DoctorOptions,
    in_ram,
    mount_of,
    run_doctor,
)
from tests.conftest import run_cli
from tests.ops.conftest import Install
from tests.ops.test_ops_backup import damage_page

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class FakeSystem:
    """Answers for systemctl and timedatectl, as on an installed Pi. ``user_states``: the
    desktop user's own service manager (``systemctl --user``); None: it cannot be reached."""

    def __init__(
        self,
        states: dict[str, str] | None = None,
        ntp: str = "yes",
        user_states: dict[str, str] | None = None,
    ) -> None:
        self.states = states or {}
        self.user_states = user_states
        self.ntp = ntp
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        argv = list(argv)
        while argv[0] == "env" or "=" in argv[0]:  # env XDG_RUNTIME_DIR=... systemctl --user
            argv = argv[1:]
        if argv[0] == "timedatectl":
            return 0, f"{self.ntp}\n"
        states = self.states
        if argv[:2] == ["systemctl", "--user"]:
            if self.user_states is None:
                return 1, ""  # Failed to connect to bus
            argv, states = ["systemctl", *argv[2:]], self.user_states
        if argv[:2] == ["systemctl", "show"]:
            unit = argv[2]
            active = states.get(unit)
            if active is None:
                return (
                    0,
                    "LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n",
                )
            enabled = "disabled" if active == "inactive-disabled" else "enabled"
            active = "inactive" if active.startswith("inactive") else active
            sub = {"active": "running", "failed": "failed"}.get(active, "dead")
            return 0, (
                f"LoadState=loaded\nActiveState={active}\nSubState={sub}\nUnitFileState={enabled}\n"
            )
        return 127, ""


def doctor(system: FakeSystem | None = None, **kwargs: object) -> dict[str, Check]:
    options = DoctorOptions(
        now=kwargs.pop("now", NOW),  # type: ignore[arg-type]
        run=system or FakeSystem(),
        systemd=kwargs.pop("systemd", False),  # type: ignore[arg-type]
        desktop_kiosk=kwargs.pop("desktop_kiosk", False),  # type: ignore[arg-type]
        raspberry_pi=False,
        selftest_sample_s=0.2,
        **kwargs,  # type: ignore[arg-type]
    )
    checks = run_doctor(options)
    return {c.name: c for c in checks}


@pytest.fixture
def healthy(install: Install, tmp_path: Path) -> Install:
    usb = tmp_path / "usb"
    usb.mkdir()
    result = bk.backup(install.data_dir, usb, station_id="reference-01")
    bk.record_last(install.data_dir, ok=True, now=NOW - timedelta(hours=2), path=result.path)
    return install


def test_a_healthy_simulated_install(healthy: Install) -> None:
    checks = doctor()
    bad = {n: c for n, c in checks.items() if c.status not in (OK, SKIP)}
    assert not bad, bad
    assert checks["self-test"].detail.endswith("(simulated)")
    assert "integrity_check ok" in checks["station database"].detail
    assert checks["services"].status == SKIP  # no systemd here
    assert checks["clock"].detail.endswith("synchronised by NTP")
    # the live self-test keeps its report for the clinic server's status page
    assert (healthy.data_dir / "selftest-last.json").exists()


def test_cli_exit_status_and_json(healthy: Install, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["doctor", "--json", "--save"], capsys)
    doc = json.loads(out)
    assert code == (0 if doc["healthy"] else 1), err
    assert {c["status"] for c in doc["checks"]} <= {OK, WARN, FAIL, SKIP}
    assert json.loads((healthy.data_dir / "doctor-last.json").read_text())["checks"]
    # a failing check makes the exit status 1, with the fix printed
    os.chmod(healthy.data_dir, 0o755)
    code, out, err = run_cli(["doctor", "--no-hardware"], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert f"fix: chmod 700 {healthy.data_dir}" in out and "NOT healthy" in out


def test_world_readable_data_folder_fails(healthy: Install) -> None:
    os.chmod(healthy.data_dir, 0o755)
    check = doctor()["data folder"]
    assert check.status == FAIL and "can be read by other users" in check.detail
    assert check.fix == f"chmod 700 {healthy.data_dir}"


def test_corrupted_database_fails_with_the_restore_fix(healthy: Install) -> None:
    db = healthy.data_dir / "station.sqlite"
    db.write_bytes(damage_page(db.read_bytes()))
    for quick in (False, True):
        check = doctor(quick=quick, hardware=False)["station database"]
        assert check.status == FAIL and "found problems" in check.detail, check
        assert "station restore" in check.fix
    db.write_bytes(b"this is not a database" * 300)
    check = doctor(hardware=False)["station database"]
    assert check.status == FAIL and "not a database" in check.detail


def test_low_disk_space_by_the_threshold(healthy: Install) -> None:
    check = doctor(min_free_mb=1e12, hardware=False)["free space"]
    assert check.status == FAIL and "below the 1000000000000 MB" in check.detail
    free_mb = bk.shutil.disk_usage(healthy.data_dir).free / 1e6
    check = doctor(min_free_mb=free_mb * 0.75, hardware=False)["free space"]
    assert check.status == WARN


def test_broken_configuration_is_a_failed_check_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "station.toml"
    bad.write_text('[station]\nid = "bad id"\n')
    code, out, err = run_cli(["--config", str(bad), "doctor"], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert "FAIL  configuration" in out and "id: must be a non-empty name" in out


def test_clock_before_the_software_or_the_newest_recording(healthy: Install) -> None:
    check = doctor(now=datetime(2024, 1, 1, tzinfo=UTC), hardware=False)["clock"]
    assert check.status == FAIL and "before this software was written" in check.detail
    # the newest recording is 2026-03-01 09:30: a clock set back before it is caught too
    check = doctor(now=datetime(2026, 2, 1, tzinfo=UTC), hardware=False)["clock"]
    assert check.status == FAIL and "before the newest recording" in check.detail
    check = doctor(FakeSystem(ntp="no"), hardware=False)["clock"]
    assert check.status == WARN and "not synchronised" in check.detail


def test_services_on_an_installed_station(healthy: Install) -> None:
    system = FakeSystem(
        {
            "dexterity-kiosk.service": "failed",
            "dexterity-server.service": "active",
            "dexterity-backup.timer": "active",
            "dexterity-health.timer": "inactive",
        }
    )
    checks = doctor(system, systemd=True, hardware=False)
    assert checks["service kiosk.service"].status == FAIL
    assert "journalctl -b -u dexterity-kiosk.service" in checks["service kiosk.service"].fix
    assert checks["service server.service"].status == OK
    assert checks["service health.timer"].status == WARN
    assert "systemctl start" in checks["service health.timer"].fix
    none = doctor(FakeSystem({}), systemd=True, hardware=False)
    assert none["services"].status == SKIP and "not installed" in none["services"].detail


def test_backups_missing_failed_or_old(install: Install) -> None:
    assert doctor(hardware=False)["backups"].status == WARN
    bk.record_last(install.data_dir, ok=True, now=NOW - timedelta(days=1), path=Path("/b/1"))
    bk.record_last(install.data_dir, ok=False, now=NOW, error="the backup folder is gone")
    check = doctor(hardware=False)["backups"]
    assert check.status == FAIL and "the backup folder is gone" in check.detail
    assert "/b/1" in check.detail  # the last good one is still named
    bk.record_last(install.data_dir, ok=True, now=NOW - timedelta(days=5), path=Path("/b/2"))
    assert doctor(hardware=False)["backups"].status == WARN


def test_certificate_expiry_and_key_permissions(healthy: Install) -> None:
    import ipaddress

    from web.tls import ensure_self_signed

    loopback = [ipaddress.ip_address("127.0.0.1")]
    ensure_self_signed(
        healthy.data_dir,
        renew=True,
        hostname="s",
        addresses=loopback,
        now=NOW - timedelta(days=815),
    )
    check = doctor(hardware=False)["TLS certificate"]
    assert check.status == WARN and "expires on" in check.detail and "--renew-cert" in check.fix
    ensure_self_signed(
        healthy.data_dir,
        renew=True,
        hostname="s",
        addresses=loopback,
        now=NOW - timedelta(days=900),
    )
    check = doctor(hardware=False)["TLS certificate"]
    assert check.status == FAIL and "expired" in check.detail
    ensure_self_signed(healthy.data_dir, renew=True, hostname="s", addresses=loopback, now=NOW)
    os.chmod(healthy.data_dir / "tls" / "key.pem", 0o644)
    check = doctor(hardware=False)["TLS certificate"]
    assert check.status == FAIL and check.fix.startswith("chmod 600")


def test_secret_key_permissions(healthy: Install) -> None:
    key = healthy.data_dir / "secret_key"
    os.chmod(key, 0o640)
    check = doctor(hardware=False)["secret key"]
    assert check.status == FAIL and check.fix == f"chmod 600 {key}"
    key.unlink()
    assert doctor(hardware=False)["secret key"].status == WARN


def test_without_the_hardware_the_last_selftest_report_is_judged(healthy: Install) -> None:
    now = datetime.now(UTC)
    assert doctor(now=now)["self-test"].status == OK  # live, and its report saved
    check = doctor(now=now, hardware=False)["self-test"]
    assert check.status == OK and "not run (--no-hardware)" in check.detail
    check = doctor(now=now + timedelta(days=8), hardware=False)["self-test"]
    assert check.status == WARN and "over 7 days ago" in check.detail
    report = json.loads((healthy.data_dir / "selftest-last.json").read_text())
    report["ok"], report["failing"] = False, ["pad_index"]
    (healthy.data_dir / "selftest-last.json").write_text(json.dumps(report))
    check = doctor(now=now, hardware=False)["self-test"]
    assert check.status == FAIL and "pad_index" in check.detail
    (healthy.data_dir / "selftest-last.json").unlink()
    assert doctor(now=now, hardware=False)["self-test"].status == WARN


def test_data_on_a_ram_file_system_fails(healthy: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    info = (
        "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw\n"
        "30 22 0:40 / /var/lib/dexterity-station rw shared:9 - tmpfs tmpfs rw\n"
        "31 22 0:41 / /srv rw shared:10 - overlay overlay rw\n"
    )
    assert mount_of(Path("/var/lib/dexterity-station"), info)[1] == "tmpfs"
    assert mount_of(Path("/srv/data"), info)[1] == "overlay"
    assert mount_of(Path("/var/lib/other"), info)[:2] == ("/", "ext4")
    # a container's overlay root keeps its writes on disk; the Pi's read-only root does not
    assert not in_ram("overlay", "overlay") and in_ram("overlay", "overlayroot")
    assert in_ram("tmpfs", "tmpfs") and not in_ram("ext4", "/dev/mmcblk0p2")
    monkeypatch.setattr(doctor_module, "mount_of", lambda path: ("/", "overlay", "overlay"))
    assert doctor(hardware=False)["data folder"].status == OK
    # as on a read-only root whose overlay holds the data folder
    monkeypatch.setattr(doctor_module, "mount_of", lambda path: ("/", "overlay", "overlayroot"))
    check = doctor(hardware=False)["data folder"]
    assert check.status == FAIL and "vanish at the next power-off" in check.detail
    assert "Read-only root" in check.fix


def test_a_check_that_breaks_is_reported_and_the_others_still_run(
    healthy: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> Check:
        raise PermissionError("[Errno 13] Permission denied: '/var/lib/x/selftest-last.json'")

    monkeypatch.setattr(doctor_module, "_selftest", broken)
    checks = doctor(hardware=False)
    assert checks["self-test"].status == FAIL and "Permission denied" in checks["self-test"].detail
    assert checks["secret key"].status == OK


# --------------------------------------------------------------------------------------------
# the kiosk in a desktop session (install-pi --kiosk desktop)

SYSTEM_UNITS_UP = {
    "dexterity-server.service": "active",
    "dexterity-backup.timer": "active",
    "dexterity-health.timer": "active",
}


def test_desktop_kiosk_is_checked_as_the_desktop_users_service(healthy: Install) -> None:
    system = FakeSystem(SYSTEM_UNITS_UP, user_states={"dexterity-kiosk.service": "active"})
    checks = doctor(system, systemd=True, hardware=False, desktop_kiosk=True)
    assert checks["service kiosk.service (desktop)"].status == OK
    assert "service kiosk.service" not in checks  # the system unit is not judged
    asked = [c for c in system.calls if "--user" in c]
    assert asked and asked[0][-9:-8] == ["dexterity-kiosk.service"]
    # failed: the fixes name the user's own systemctl and journal, never the system's
    system = FakeSystem(SYSTEM_UNITS_UP, user_states={"dexterity-kiosk.service": "failed"})
    check = doctor(system, systemd=True, hardware=False, desktop_kiosk=True)[
        "service kiosk.service (desktop)"
    ]
    assert check.status == FAIL
    assert "journalctl --user -b -u dexterity-kiosk.service" in check.fix
    assert "systemctl --user restart" in check.fix and "sudo" not in check.fix
    system = FakeSystem(SYSTEM_UNITS_UP, user_states={"dexterity-kiosk.service": "inactive"})
    check = doctor(system, systemd=True, hardware=False, desktop_kiosk=True)[
        "service kiosk.service (desktop)"
    ]
    assert check.status == WARN and check.fix.startswith("systemctl --user start")


def test_desktop_kiosk_without_its_user_manager_is_judged_by_the_store_lock(
    healthy: Install,
) -> None:
    """The hourly health check runs outside the desktop session: no user bus to ask."""
    from station.store import Store

    system = FakeSystem(SYSTEM_UNITS_UP, user_states=None)
    check = doctor(system, systemd=True, hardware=False, desktop_kiosk=True)[
        "service kiosk.service (desktop)"
    ]
    assert check.status == WARN and "not running" in check.detail
    assert "systemctl --user start" in check.fix
    with Store.open(healthy.data_dir):  # the kiosk records: it holds the store
        check = doctor(system, systemd=True, hardware=False, desktop_kiosk=True)[
            "service kiosk.service (desktop)"
        ]
    assert check.status == OK


def test_a_kms_kiosk_left_beside_the_desktop_one_is_named(healthy: Install) -> None:
    states = dict(SYSTEM_UNITS_UP, **{"dexterity-kiosk.service": "inactive-disabled"})
    system = FakeSystem(states, user_states={"dexterity-kiosk.service": "active"})
    checks = doctor(system, systemd=True, hardware=False, desktop_kiosk=True)
    assert checks["service kiosk.service"].status == WARN
    assert "install-pi --kiosk desktop" in checks["service kiosk.service"].fix


def test_no_recent_device_report_says_how_to_get_one(
    healthy: Install,
) -> None:
    now = datetime.now(UTC)
    for desktop, stop in (
        (False, "sudo systemctl stop dexterity-kiosk"),
        (True, "systemctl --user stop dexterity-kiosk"),
    ):
        check = doctor(now=now, hardware=False, desktop_kiosk=desktop)["self-test"]
        assert check.status == WARN and "no earlier report" in check.detail
        assert "the kiosk tests the devices each time it starts" in check.detail
        assert "restart the kiosk" in check.fix and "station doctor" in check.fix
        assert stop in check.fix, check.fix
        if desktop:
            assert "sudo systemctl" not in check.fix
    doctor(now=now)  # the live self-test saves its report
    check = doctor(now=now + timedelta(days=8), hardware=False)["self-test"]
    assert check.status == WARN and "over 7 days ago" in check.detail
    assert "restart the kiosk" in check.fix


# --------------------------------------------------------------------------------------------
# a missing data folder, a backup folder in RAM


def test_a_missing_data_folder_is_reported_not_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = Path(os.environ["STATION_DATA_DIR"])
    assert not data_dir.exists()
    checks = doctor()  # with the (simulated) hardware: the live self-test runs
    assert checks["data folder"].status == FAIL and "does not exist" in checks["data folder"].detail
    assert checks["self-test"].status == OK  # the devices were tested all the same
    assert not data_dir.exists()  # its report was not saved into a new folder
    code, out, err = run_cli(["doctor", "--save"], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert "the doctor's report was not saved" in err and "does not exist" in err
    assert not data_dir.exists()


def test_a_backup_folder_in_ram_warns(
    healthy: Install, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay = tmp_path / "var-backups"
    real_mount_of = doctor_module.mount_of

    def mounts(path: Path) -> tuple[str, str, str]:
        if Path(path) == overlay:
            return "/", "overlay", "overlayroot"
        return real_mount_of(path)

    monkeypatch.setattr(doctor_module, "mount_of", mounts)
    monkeypatch.delenv("STATION_BACKUP_DIR", raising=False)
    check = doctor(hardware=False)["backup folder"]  # the last backup's folder, on a disk
    assert check.status == OK and "the last backup" in check.detail
    monkeypatch.setenv("STATION_BACKUP_DIR", str(overlay))
    check = doctor(hardware=False)["backup folder"]
    assert check.status == WARN
    assert f"{overlay} (STATION_BACKUP_DIR) is on overlay (/), which lives in RAM" in check.detail
    assert "USB drive" in check.fix and "backup.env" in check.fix
