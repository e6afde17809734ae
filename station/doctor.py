"""``station doctor``: check the whole installation and say what to fix.

Each check gives ``ok``, ``warn`` (works, but look at it), ``fail`` (broken, or data at risk) or
``skip`` (does not apply here), a line saying what was found and, unless ok, what to do. The
checks only read, except the live self-test, which switches each output on briefly (as
``station selftest`` does) and keeps its report: it runs only when no recording process holds the
hardware (on a running kiosk the last saved report is judged instead) and never with
``--no-hardware``.

| check | what it looks at |
|---|---|
| configuration | the file in use is valid |
| data folder | exists, belongs to this user, private (0700), writable, not in RAM (an overlay) |
| free space | free space where the data is, against ``min_free_mb`` |
| databases | ``PRAGMA integrity_check`` (``quick_check``), read-only; the schema revision |
| self-test | the devices (live, or the last report); simulated hardware on a Raspberry Pi |
| hardware access | on a Pi: I2C on, GPIO chip and I2C bus usable by this user, ``LG_WD`` |
| clock | not before this software's year, its install, the newest recording; NTP |
| service ... | each installed systemd unit active (or enabled timers); the desktop's kiosk as a user service |
| backups | the last ``station backup`` succeeded, recently |
| backup folder | ``$STATION_BACKUP_DIR`` (or the last backup's folder) is not in RAM |
| TLS certificate, secret key | valid for 30 days more; keys private |
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from station.backup import (
    STATION_DB,
    WEB_DB,
    head_revision,
    in_ram,
    integrity_of,
    known_revisions,
    load_last,
    mount_of,
    schema_revision,
    writer_lock_held,
)
from station.config import StationConfig
from station.errors import StationError

#: The year this software was written: a clock showing an earlier year is wrong (a Pi without a
#: real-time clock starts at its last saved time, or worse, until NTP sets it).
BUILD_YEAR: Final = 2026
#: Fail below this much free space where the data is (MB); warn below twice as much.
DEFAULT_MIN_FREE_MB: Final = 500.0
#: Warn when the last good backup is older than this (the station is off every night).
BACKUP_MAX_AGE: Final = timedelta(days=3)
#: Warn when the last self-test report (used while the kiosk runs) is older than this.
SELFTEST_MAX_AGE: Final = timedelta(days=7)
#: Warn when the server's certificate expires sooner than this (as the server does).
CERT_WARNING: Final = timedelta(days=30)
LAST_DOCTOR_FILENAME: Final = "doctor-last.json"
#: The units scripts/install-pi installs (systemd/).
UNITS: Final = (
    "dexterity-kiosk.service",
    "dexterity-server.service",
    "dexterity-backup.timer",
    "dexterity-health.timer",
)
#: Where scripts/install-pi --kiosk desktop puts the kiosk as a systemd user service of the
#: desktop's user (instead of the system unit dexterity-kiosk.service, which it then removes).
USER_KIOSK_UNIT: Final = Path("/etc/systemd/user/dexterity-kiosk.service")
#: The service user scripts/install-pi makes.
SERVICE_USER: Final = "dexterity"

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], tuple[int, str]]


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """Run a system tool (systemctl, timedatectl): (exit status, stdout); 127 if missing."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, done.stdout


def systemd_running() -> bool:
    """Is systemd this machine's init (the check ``sd_booted(3)`` makes)?"""
    return Path("/run/systemd/system").is_dir()


@dataclass
class DoctorOptions:
    config_path: str | None = None
    min_free_mb: float = DEFAULT_MIN_FREE_MB
    hardware: bool = True  # run the live self-test when the hardware is free
    quick: bool = False  # PRAGMA quick_check instead of integrity_check
    now: datetime | None = None
    run: Runner = run_command
    systemd: bool | None = None  # None: detect
    desktop_kiosk: bool | None = None  # None: detect (USER_KIOSK_UNIT installed)
    raspberry_pi: bool | None = None  # None: detect
    selftest_sample_s: float = 0.5


def run_doctor(options: DoctorOptions) -> list[Check]:
    """Every check, in order (module docstring)."""
    from station.config import load_config

    now = options.now or datetime.now(UTC)
    checks: list[Check] = []
    try:
        config = load_config(options.config_path)
    except StationError as exc:
        checks.append(
            Check(
                "configuration",
                FAIL,
                str(exc),
                "correct the file (every key: docs/configuration.md), then `station config check`",
            )
        )
        checks.append(Check("other checks", SKIP, "they need a valid configuration"))
        return checks
    checks.append(
        Check(
            "configuration",
            OK,
            f"{config.path}: station {config.station_id!r}, hardware {config.hardware}, "
            f"data in {config.data_dir}",
        )
    )
    data_dir = config.data_dir
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("data folder", lambda: _data_folder(data_dir, options.min_free_mb)),
        (
            "station database",
            lambda: _database(data_dir / STATION_DB, "station database", options.quick, True),
        ),
        (
            "accounts database",
            lambda: _database(data_dir / WEB_DB, "accounts database", options.quick, False),
        ),
        ("self-test", lambda: _selftest(config, options, now)),
        ("hardware access", lambda: _hardware_access(config, options)),
        ("clock", lambda: _clock(data_dir, options, now)),
        ("services", lambda: _services(options, data_dir)),
        ("backups", lambda: _backups(data_dir, now)),
        ("backup folder", lambda: _backup_folder(data_dir)),
        ("TLS certificate", lambda: _certificate(data_dir, now)),
        ("secret key", lambda: _secret_key(data_dir)),
    ]
    for name, step in steps:
        try:
            result = step()
        except Exception as exc:  # one check that breaks must not hide the others
            log.info("the %s check failed", name, exc_info=True)
            result = Check(
                name,
                FAIL,
                f"the check itself failed: {type(exc).__name__}: {exc}",
                "run `station -v doctor` for details",
            )
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def healthy(checks: Sequence[Check], *, strict: bool = False) -> bool:
    bad = (FAIL, WARN) if strict else (FAIL,)
    return not any(c.status in bad for c in checks)


def format_checks(checks: Sequence[Check], *, quiet: bool = False) -> str:
    """The checks as text, with a count of each status; ``quiet``: only warnings and failures."""
    lines = []
    shown = [c for c in checks if c.status in (WARN, FAIL)] if quiet else list(checks)
    width = max((len(c.name) for c in shown), default=0)
    for c in shown:
        lines.append(f"{c.status.upper():4s}  {c.name:{width}s}  {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"{'':4s}  {'':{width}s}  fix: {c.fix}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL, SKIP)}
    lines.append(
        f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s), "
        f"{counts[SKIP]} skipped"
    )
    return "\n".join(lines)


def report(checks: Sequence[Check], now: datetime, *, strict: bool = False) -> dict[str, Any]:
    return {
        "format": "dexterity-station/doctor",
        "format_version": 1,
        "at_utc": _iso(now),
        "healthy": healthy(checks, strict=strict),
        "checks": [c.as_dict() for c in checks],
    }


def save_report(data_dir: Path, doc: dict[str, Any]) -> Path:
    """Keep ``doc`` in the data folder; a missing data folder is not made (the doctor reports
    it: making it here would hide the problem, with the wrong owner or on the wrong drive)."""
    from station.calibration import write_json_atomic

    if not Path(data_dir).is_dir():
        raise StationError(f"the data folder {data_dir} does not exist")
    path = Path(data_dir) / LAST_DOCTOR_FILENAME
    write_json_atomic(path, doc)
    return path


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# --------------------------------------------------------------------------------------------
# data folder and space


def _data_folder(data_dir: Path, min_free_mb: float) -> list[Check]:
    name = "data folder"
    try:
        info = data_dir.stat()
    except FileNotFoundError:
        return [
            Check(
                name,
                FAIL,
                f"{data_dir} does not exist",
                "start the station once (`sudo systemctl start dexterity-server`), or "
                f"`mkdir -m 700 {data_dir}` as the station's user",
            ),
            Check("free space", SKIP, "no data folder"),
        ]
    except OSError as exc:
        return [Check(name, FAIL, f"{data_dir}: {exc.strerror or exc}", "check its permissions")]
    problems: list[tuple[str, str, str]] = []  # status, detail, fix
    mode = stat.S_IMODE(info.st_mode)
    euid = os.geteuid()
    owner = _user_name(info.st_uid)
    if not stat.S_ISDIR(info.st_mode):
        problems.append((FAIL, f"{data_dir} is not a folder", "move the file away"))
    if euid != 0 and info.st_uid != euid:
        me = _user_name(euid)
        problems.append(
            (
                FAIL,
                f"{data_dir} belongs to {owner}, not to {me} who runs this",
                f"run the station as {owner} (the `station` command installed by "
                f"scripts/install-pi does), or `sudo chown -R {me}: {data_dir}`",
            )
        )
    if euid == 0 and info.st_uid == 0 and _user_exists(SERVICE_USER):
        problems.append(
            (
                WARN,
                f"{data_dir} belongs to root; the services run as {SERVICE_USER}",
                f"sudo chown -R {SERVICE_USER}: {data_dir} (or the user the services run as)",
            )
        )
    if mode & 0o077:
        problems.append(
            (
                FAIL,
                f"{data_dir} can be read by other users (mode {mode:04o}); it holds patient data",
                f"chmod 700 {data_dir}",
            )
        )
    if not os.access(data_dir, os.W_OK | os.X_OK):
        problems.append((FAIL, f"{data_dir} is not writable by this user", f"check {data_dir}"))
    point, fstype, source = mount_of(data_dir)
    if in_ram(fstype, source):
        problems.append(
            (
                FAIL,
                f"{data_dir} is on {fstype} ({point}): it lives in RAM, so recordings vanish at "
                "the next power-off (a read-only root's overlay?)",
                "put the data folder on its own writable partition or drive (docs/operator.md, "
                "Read-only root)",
            )
        )
    where = f"{point} ({fstype}{', ' + source if source else ''})"
    if problems:
        worst = FAIL if any(p[0] == FAIL for p in problems) else WARN
        checks = [
            Check(name, worst, "; ".join(p[1] for p in problems), "; ".join(p[2] for p in problems))
        ]
    else:
        checks = [Check(name, OK, f"{data_dir}: owner {owner}, mode {mode:04o}, on {where}")]
    free_b = shutil.disk_usage(data_dir).free
    free_mb = free_b / 1e6
    if free_mb < min_free_mb:
        checks.append(
            Check(
                "free space",
                FAIL,
                f"{free_mb:.0f} MB free on {point}, below the {min_free_mb:.0f} MB a day of "
                "recordings should have",
                "delete old exports and backups on this drive, or move the data to a bigger "
                "card or drive (docs/operator.md)",
            )
        )
    elif free_mb < 2 * min_free_mb:
        checks.append(
            Check(
                "free space",
                WARN,
                f"{free_mb:.0f} MB free on {point} (fails below {min_free_mb:.0f} MB)",
                "make room soon: old exports, old backups on this drive",
            )
        )
    else:
        checks.append(Check("free space", OK, f"{free_mb:,.0f} MB free on {point}"))
    return checks


# --------------------------------------------------------------------------------------------
# databases


def _database(path: Path, name: str, quick: bool, is_station: bool) -> Check:
    if not path.exists():
        return Check(
            name,
            WARN if is_station else SKIP,
            f"{path} does not exist yet"
            + (" (made at the first start of the kiosk or the server)" if is_station else ""),
            "start the station once" if is_station else "",
        )
    result = integrity_of(path, quick=quick)
    pragma = "quick_check" if quick else "integrity_check"
    if result != "ok":
        return Check(
            name,
            FAIL,
            f"{path}: PRAGMA {pragma} found problems: {' | '.join(result.splitlines()[:3])}",
            "stop the station (sudo systemctl stop dexterity-kiosk dexterity-server), then "
            "restore the newest good backup: `station restore BACKUP` (docs/operator.md)",
        )
    size_mb = path.stat().st_size / 1e6
    detail = f"{path}: {pragma} ok, {size_mb:.1f} MB"
    if is_station:
        try:
            revision = schema_revision(path)
        except sqlite3.Error as exc:
            return Check(name, FAIL, f"{path}: {exc}", "restore the newest good backup")
        head = head_revision()
        if revision is not None and revision not in known_revisions():
            return Check(
                name,
                FAIL,
                f"{detail}; schema revision {revision} is newer than this software",
                "update the station's software (docs/operator.md, Updating)",
            )
        if revision == head:
            detail += ", schema current"
        else:
            detail += f", schema {revision}: migrated to {head} at the next start"
        if writer_lock_held(path.parent):
            detail += "; a recording process (the kiosk) has it open"
    return Check(name, OK, detail)


# --------------------------------------------------------------------------------------------
# devices


def _age(text: str | None, now: datetime) -> timedelta | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return now - (t if t.tzinfo else t.replace(tzinfo=UTC))


def _selftest(config: StationConfig, options: DoctorOptions, now: datetime) -> Check:
    from station.rig import choose_backend, is_raspberry_pi

    name = "self-test"
    backend = choose_backend(config)
    on_pi = is_raspberry_pi() if options.raspberry_pi is None else options.raspberry_pi
    busy = writer_lock_held(config.data_dir)
    if options.hardware and not (backend == "pi" and busy):
        check = _live_selftest(config, options)
    else:
        why = "--no-hardware" if not options.hardware else "the kiosk holds the hardware"
        check = _last_selftest(config.data_dir, now, why, _kiosk_commands(options))
    if backend == "sim" and on_pi and check.status != FAIL:
        return Check(
            name,
            WARN,
            check.detail + "; SIMULATED on a Raspberry Pi: recordings would not be real",
            f'set hardware = "auto" or "pi" in {config.path} and unset STATION_HARDWARE',
        )
    return check


def _live_selftest(config: StationConfig, options: DoctorOptions) -> Check:
    from station.rig import open_rig
    from station.selftest import keep_last_report, run_selftest

    try:
        rig = open_rig(config)
    except StationError as exc:
        return Check(
            "self-test",
            FAIL,
            f"the hardware cannot be opened: {exc}",
            "check the wiring and `station selftest` (docs/wiring.md)",
        )
    try:
        checks = run_selftest(rig, sample_s=options.selftest_sample_s)
        # a missing or unwritable data folder is reported by the folder check: the report is
        # not saved then (saving would make the missing folder)
        if config.data_dir.is_dir():
            keep_last_report(rig, checks)  # not kept: the folder checks say why
        simulated = " (simulated)" if rig.simulated else ""
    finally:
        rig.close()
    failing = [f"{c.name} ({c.detail})" for c in checks if not c.ok]
    if failing:
        return Check(
            "self-test",
            FAIL,
            f"{len(failing)} of {len(checks)} devices failing{simulated}: " + "; ".join(failing),
            "check those devices' cables and connectors; `station selftest --watch` shows them "
            "live (docs/wiring.md)",
        )
    return Check("self-test", OK, f"all {len(checks)} devices ok{simulated}")


def _desktop_kiosk(options: DoctorOptions) -> bool:
    """Is the kiosk installed as a user service of a desktop session (install-pi --kiosk
    desktop), not as the system unit?"""
    return USER_KIOSK_UNIT.exists() if options.desktop_kiosk is None else options.desktop_kiosk


def _kiosk_commands(options: DoctorOptions) -> tuple[str, str]:
    """The commands that stop and start the kiosk on this installation."""
    if _desktop_kiosk(options):
        return (
            "as the desktop's user: systemctl --user stop dexterity-kiosk",
            "systemctl --user start dexterity-kiosk",
        )
    return "sudo systemctl stop dexterity-kiosk", "sudo systemctl start dexterity-kiosk"


def _last_selftest(data_dir: Path, now: datetime, why: str, kiosk: tuple[str, str]) -> Check:
    from station.selftest import load_last_report

    stop, start = kiosk
    # the kiosk tests every device each time it starts (AppController.check_devices), and so
    # do `station selftest` and `station doctor` with the hardware free: their last report
    daily = (
        f"restart the kiosk, which tests every device as it starts ({stop}; {start}); or, with "
        "it stopped, station doctor"
    )
    limit = "the kiosk tests the devices each time it starts"
    try:
        doc = load_last_report(data_dir)
    except StationError as exc:
        return Check("self-test", WARN, f"not run ({why}); {exc}", daily)
    if doc is None:
        return Check("self-test", WARN, f"not run ({why}) and no earlier report ({limit})", daily)
    age = _age(doc.get("at_utc"), now)
    when = f"last report {doc.get('at_utc')}"
    if not doc.get("ok"):
        return Check(
            "self-test",
            FAIL,
            f"not run ({why}); {when}: failing {', '.join(doc.get('failing') or [])}",
            f"check those devices: {stop}; station selftest --watch; {start}",
        )
    if age is None or age > SELFTEST_MAX_AGE:
        return Check(
            "self-test",
            WARN,
            f"not run ({why}); {when}, over {SELFTEST_MAX_AGE.days} days ago, was ok ({limit})",
            daily,
        )
    return Check("self-test", OK, f"not run ({why}); {when}: all {doc.get('devices')} ok")


def _hardware_access(config: StationConfig, options: DoctorOptions) -> Check:
    from station.rig import is_raspberry_pi

    on_pi = is_raspberry_pi() if options.raspberry_pi is None else options.raspberry_pi
    if not on_pi:
        return Check("hardware access", SKIP, "not a Raspberry Pi")
    if not options.hardware:
        return Check("hardware access", SKIP, "not checked (--no-hardware)")
    problems: list[tuple[str, str]] = []
    bus = Path("/dev/i2c-1")
    if not bus.exists():
        problems.append(
            ("I2C is off (no /dev/i2c-1)", "sudo raspi-config nonint do_i2c 0, then reboot")
        )
    elif not os.access(bus, os.R_OK | os.W_OK):
        problems.append((f"{bus} is not usable by this user", "sudo usermod -aG i2c USER"))
    chips = sorted(Path("/dev").glob("gpiochip*"))
    if not any(os.access(c, os.R_OK | os.W_OK) for c in chips):
        problems.append(("no GPIO chip usable by this user", "sudo usermod -aG gpio USER"))
    lg_wd = os.environ.get("LG_WD", "")
    if not lg_wd or not os.access(lg_wd, os.W_OK):
        problems.append(
            (
                f"LG_WD ({lg_wd or 'unset'}) is not a writable folder: lgpio cannot start",
                "export LG_WD=/run/dexterity-station (the installed `station` command sets it)",
            )
        )
    if problems:
        return Check(
            "hardware access",
            FAIL,
            "; ".join(p for p, _ in problems),
            "; ".join(f for _, f in problems) + " (then restart the services)",
        )
    return Check("hardware access", OK, f"I2C bus 1, {len(chips)} GPIO chip(s), LG_WD={lg_wd}")


# --------------------------------------------------------------------------------------------
# clock


def _newest_recording_utc(data_dir: Path) -> datetime | None:
    path = data_dir / STATION_DB
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        try:
            row = conn.execute("SELECT MAX(started_utc) FROM sessions").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if row is None or row[0] is None:
        return None
    value = row[0]
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _clock(data_dir: Path, options: DoctorOptions, now: datetime) -> Check:
    import station

    problems: list[str] = []
    if now.year < BUILD_YEAR:
        problems.append(f"the clock says {now:%Y-%m-%d}, before this software was written")
    installed = datetime.fromtimestamp(Path(station.__file__).stat().st_mtime, UTC)
    if now < installed - timedelta(minutes=5):
        problems.append(
            f"the clock says {now:%Y-%m-%d %H:%M} UTC, before the software was installed "
            f"({installed:%Y-%m-%d %H:%M})"
        )
    newest = _newest_recording_utc(data_dir)
    if newest is not None and now < newest - timedelta(minutes=5):
        problems.append(
            f"the clock says {now:%Y-%m-%d %H:%M} UTC, before the newest recording "
            f"({newest:%Y-%m-%d %H:%M})"
        )
    code, out = options.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    synced = out.strip() if code == 0 else ""
    if problems:
        return Check(
            "clock",
            FAIL,
            "; ".join(problems) + "; new recordings would carry wrong dates",
            "connect the station to a network with internet (NTP sets the clock), or set it: "
            "sudo timedatectl set-time 'YYYY-MM-DD HH:MM:SS'; a Pi 5 keeps time with its RTC "
            "battery",
        )
    shown = f"{now:%Y-%m-%d %H:%M} UTC"
    if synced == "yes":
        return Check("clock", OK, f"{shown}, synchronised by NTP")
    if synced == "no":
        return Check(
            "clock",
            WARN,
            f"{shown}, plausible but not synchronised by NTP (no network?)",
            "check the network; without it the Pi 4 keeps the time it saved at the last "
            "shutdown, so dates may drift",
        )
    return Check("clock", OK, f"{shown} (NTP state unknown: no timedatectl or systemd)")


# --------------------------------------------------------------------------------------------
# services


_SHOW: Final = ("-p", "LoadState", "-p", "ActiveState", "-p", "SubState", "-p", "UnitFileState")
KIOSK_UNIT: Final = "dexterity-kiosk.service"


def _unit_state(unit: str, run: Runner, *, user: bool = False) -> dict[str, str]:
    """``systemctl show`` of a system unit, or (``user``) of this user's own service manager
    (its bus is found through ``$XDG_RUNTIME_DIR``, which a service or sudo does not set)."""
    argv = ["systemctl", "show", unit, *_SHOW]
    if user:
        argv = ["systemctl", "--user", "show", unit, *_SHOW]
        if not os.environ.get("XDG_RUNTIME_DIR"):
            argv = ["env", f"XDG_RUNTIME_DIR=/run/user/{os.geteuid()}", *argv]
    code, out = run(argv)
    if code != 0:
        return {}
    state = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        state[key.strip()] = value.strip()
    return state


def _unit_check(unit: str, state: dict[str, str], *, user: bool = False) -> Check:
    name = f"service {unit.removeprefix('dexterity-')}" + (" (desktop)" if user else "")
    ctl = "systemctl --user" if user else "sudo systemctl"
    journal = "journalctl --user" if user else "journalctl"
    who = " as the desktop's user" if user else ""
    active, sub = state.get("ActiveState", "?"), state.get("SubState", "?")
    enabled = state.get("UnitFileState", "?")
    shown = f"{active} ({sub}), {enabled}"
    if active == "failed":
        return Check(
            name,
            FAIL,
            f"{unit} failed",
            f"see why{who}: {journal} -b -u {unit} -n 50; then {ctl} restart {unit}",
        )
    if active in ("active", "reloading", "activating"):
        return Check(name, OK, shown)
    if enabled == "enabled" or user:  # the desktop's kiosk is started by its autostart entry
        return Check(
            name,
            WARN,
            f"{unit} is {'enabled but ' if not user else ''}{active}",
            f"{ctl} start {unit}{who}",
        )
    return Check(name, SKIP, f"{shown}: not in use here")


def _desktop_kiosk_check(options: DoctorOptions, data_dir: Path) -> Check:
    """The kiosk as a user service of the desktop session (install-pi --kiosk desktop)."""
    state = _unit_state(KIOSK_UNIT, options.run, user=True)
    if state.get("LoadState") == "loaded":
        return _unit_check(KIOSK_UNIT, state, user=True)
    # no user manager to ask (the hourly health check runs outside the desktop session, or the
    # desktop's user is not logged in): a running kiosk holds the store's writer lock
    name = "service kiosk.service (desktop)"
    if writer_lock_held(data_dir):
        return Check(
            name,
            OK,
            "a recording process (the desktop's kiosk) holds the store; its user "
            "service manager was not reachable from here",
        )
    return Check(
        name,
        WARN,
        f"the kiosk is not running: no process holds the store, and the desktop user's service "
        f"manager was not reachable from here ({USER_KIOSK_UNIT} is installed)",
        "log in to the desktop as its auto-login user (its autostart entry starts the kiosk), "
        f"or as that user: systemctl --user start {KIOSK_UNIT}",
    )


def _services(options: DoctorOptions, data_dir: Path) -> list[Check]:
    running = systemd_running() if options.systemd is None else options.systemd
    if not running:
        return [Check("services", SKIP, "systemd is not running here: no services to check")]
    desktop = _desktop_kiosk(options)
    states = {unit: _unit_state(unit, options.run) for unit in UNITS}
    installed = {u: s for u, s in states.items() if s.get("LoadState") == "loaded"}
    if not installed and not desktop:
        return [
            Check(
                "services",
                SKIP,
                "not installed on this machine",
                "on the station: sudo scripts/install-pi (docs/operator.md)",
            )
        ]
    checks = []
    for unit in UNITS:
        name = f"service {unit.removeprefix('dexterity-')}"
        if unit == KIOSK_UNIT and desktop:
            checks.append(_desktop_kiosk_check(options, data_dir))
            if unit in installed:  # left from an earlier --kiosk kms install
                checks.append(
                    Check(
                        name,
                        WARN,
                        f"{unit} (the kiosk without a desktop) is installed as well as the "
                        "desktop's kiosk: two kiosks would fight over the screen and devices",
                        "sudo scripts/install-pi --kiosk desktop (removes the system unit)",
                    )
                )
            continue
        if unit not in installed:
            checks.append(Check(name, SKIP, "not installed"))
            continue
        checks.append(_unit_check(unit, states[unit]))
    return checks


# --------------------------------------------------------------------------------------------
# backups, certificate, secret key


def _backups(data_dir: Path, now: datetime) -> Check:
    last = load_last(data_dir)
    if last is None:
        return Check(
            "backups",
            WARN,
            "no backup made yet",
            "`station backup` (the backup timer makes one 15 minutes after start and every 4 "
            "hours; docs/operator.md)",
        )
    good_age = _age(last.get("last_ok_utc"), now)
    good = (
        f"last good one {last.get('last_ok_utc')} ({last.get('last_ok_path')})"
        if last.get("last_ok_utc")
        else "no good one yet"
    )
    if not last.get("ok"):
        return Check(
            "backups",
            FAIL,
            f"the last backup ({last.get('at_utc')}) failed: {last.get('error')}; {good}",
            "fix what the message says (drive plugged in and mounted? space?), then "
            "`station backup`",
        )
    if good_age is None or good_age > BACKUP_MAX_AGE:
        return Check(
            "backups",
            WARN,
            f"{good}: over {BACKUP_MAX_AGE.days} days ago",
            "is the backup timer enabled? `systemctl status dexterity-backup.timer`; "
            "`station backup` makes one now",
        )
    return Check("backups", OK, good)


def _backup_folder(data_dir: Path) -> Check:
    """Where the backups go: ``$STATION_BACKUP_DIR`` (backup.env), else the folder of the last
    backup. A folder in RAM (a read-only root's overlay, tmpfs) loses every backup at power-off,
    and ``station backup`` refuses it."""
    from station.cli_ops import ENV_BACKUP_DIR

    name = "backup folder"
    configured = os.environ.get(ENV_BACKUP_DIR, "").strip()
    if configured:
        folder, source = Path(configured).expanduser().absolute(), ENV_BACKUP_DIR
    else:
        last = load_last(data_dir) or {}
        made = last.get("last_ok_path") or last.get("path")
        if not made:
            return Check(name, SKIP, f"{ENV_BACKUP_DIR} is not set and no backup was made yet")
        folder, source = Path(str(made)).parent, "the last backup"
    point, fstype, device = mount_of(folder)
    if in_ram(fstype, device):
        return Check(
            name,
            WARN,
            f"{folder} ({source}) is on {fstype} ({point}), which lives in RAM: backups there are "
            "lost at the next power-off, and `station backup` refuses it",
            f"put the backups on a USB drive: {ENV_BACKUP_DIR}=/mnt/dexterity-backup/backups in "
            "/etc/dexterity-station/backup.env (docs/operator.md, Backups)",
        )
    return Check(
        name, OK, f"{folder} ({source}), on {point} ({fstype}{', ' + device if device else ''})"
    )


def _certificate(data_dir: Path, now: datetime) -> Check:
    from cryptography import x509

    env_cert = os.environ.get("STATION_TLS_CERT", "")
    cert_path = Path(env_cert) if env_cert else data_dir / "tls" / "cert.pem"
    key_path = (
        Path(os.environ.get("STATION_TLS_KEY", "")) if env_cert else data_dir / "tls" / "key.pem"
    )
    if not cert_path.exists():
        return Check(
            "TLS certificate",
            WARN,
            f"{cert_path} does not exist: the clinic server cannot serve the network",
            "station serve --init (makes a self-signed certificate once)",
        )
    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    except (OSError, ValueError) as exc:
        return Check(
            "TLS certificate",
            FAIL,
            f"{cert_path}: not a readable PEM certificate ({exc})",
            "station serve --init --renew-cert (or the clinic's certificate again)",
        )
    until = cert.not_valid_after_utc
    problems = []
    fix = "station serve --init --renew-cert (self-signed), or the clinic's renewed certificate"
    status = OK
    if until <= now:
        status = FAIL
        problems.append(f"{cert_path} expired on {until:%Y-%m-%d}: browsers refuse it")
    elif until - now < CERT_WARNING:
        status = WARN
        problems.append(f"{cert_path} expires on {until:%Y-%m-%d}")
    try:
        key_mode = stat.S_IMODE(key_path.stat().st_mode)
    except OSError:
        status = FAIL
        problems.append(f"its key {key_path} is missing or unreadable")
    else:
        if key_mode & 0o007:
            status = FAIL
            problems.append(f"its key {key_path} can be read by every user ({key_mode:04o})")
            fix = f"chmod 600 {key_path}"
    if problems:
        return Check("TLS certificate", status, "; ".join(problems), fix)
    return Check("TLS certificate", OK, f"{cert_path}, valid until {until:%Y-%m-%d}")


def _secret_key(data_dir: Path) -> Check:
    path = data_dir / "secret_key"
    try:
        info = path.stat()
    except FileNotFoundError:
        return Check(
            "secret key",
            WARN,
            f"{path} does not exist: the clinic server will not start",
            "station serve --init",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Check(
            "secret key",
            FAIL,
            f"{path} can be read by other users (mode {mode:04o}): anyone could forge sign-ins",
            f"chmod 600 {path}",
        )
    try:
        length = len(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeError) as exc:
        return Check("secret key", FAIL, f"{path}: unreadable ({exc})", "station serve --init")
    if length < 32:
        return Check(
            "secret key",
            FAIL,
            f"{path} is too short ({length} characters)",
            f"delete it and run station serve --init (signs everyone out): rm {path}",
        )
    return Check("secret key", OK, f"{path}, private (mode {mode:04o})")
