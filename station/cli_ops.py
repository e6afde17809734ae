"""The ``station`` subcommands that keep an installed station running.

``backup``, ``restore``, ``doctor`` and ``watchdog`` (see docs/operator.md). They are dispatched
before the configuration is loaded: ``doctor`` reports a broken configuration as one of its
checks, and ``watchdog`` needs none.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.errors import StationError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
COMMANDS = ("backup", "restore", "doctor", "watchdog")

#: Defaults of `station backup` from the environment (the backup unit's EnvironmentFile).
ENV_BACKUP_DIR = "STATION_BACKUP_DIR"
ENV_BACKUP_KEEP = "STATION_BACKUP_KEEP"
ENV_BACKUP_KEEP_DAILY = "STATION_BACKUP_KEEP_DAILY"
ENV_BACKUP_REQUIRE_MOUNT = "STATION_BACKUP_REQUIRE_MOUNT"


def _count(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 3600 seconds, got {text}")
    return value


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"megabytes, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_parsers(sub: Any, parser_class: type) -> None:
    b = sub.add_parser(
        "backup",
        help="back up the databases and the clinic's files (online, while the station runs)",
        description="Copies station.sqlite and web.sqlite with SQLite's online backup API, "
        "checks the copies, adds the clinic's files, and rotates old backups. Defaults come "
        f"from ${ENV_BACKUP_DIR}, ${ENV_BACKUP_KEEP}, ${ENV_BACKUP_KEEP_DAILY} and "
        f"${ENV_BACKUP_REQUIRE_MOUNT} (/etc/dexterity-station/backup.env on an installed "
        "station).",
    )
    b.add_argument("--to", metavar="DIR", default=None, help=f"backup folder (${ENV_BACKUP_DIR})")
    b.add_argument(
        "--keep", type=_count(1), default=None, help="keep the newest N backups (default 6)"
    )
    b.add_argument(
        "--keep-daily",
        type=_count(0),
        default=None,
        metavar="DAYS",
        help="and the newest backup of each of the last DAYS days (default 14)",
    )
    b.add_argument(
        "--require-mount",
        action="store_true",
        default=None,
        help="refuse unless DIR is on another drive than the data (a USB drive really mounted)",
    )
    b.add_argument("--list", action="store_true", help="list the backups in DIR and stop")
    b.add_argument("--json", action="store_true", help="print the result as JSON")

    r = sub.add_parser(
        "restore",
        help="restore a backup into the data folder (checked first; the replaced data is kept)",
    )
    r.add_argument("path", metavar="BACKUP", help="a backup folder, or a single station.sqlite")

    d = sub.add_parser(
        "doctor", help="check the whole installation and say what to fix (exit 1 if broken)"
    )
    d.add_argument("--json", action="store_true", help="print the checks as JSON")
    d.add_argument(
        "--min-free-mb",
        type=_megabytes,
        default=None,
        metavar="MB",
        help="fail below this much free space for the data (default 500; warn below twice)",
    )
    d.add_argument(
        "--no-hardware",
        action="store_true",
        help="judge the last self-test report instead of testing the devices now",
    )
    d.add_argument(
        "--quick",
        action="store_true",
        help="PRAGMA quick_check instead of the full integrity_check",
    )
    d.add_argument("--strict", action="store_true", help="warnings count as failures too")
    d.add_argument(
        "--save", action="store_true", help="keep the result in <data_dir>/doctor-last.json"
    )
    d.add_argument("--quiet", action="store_true", help="print only warnings and failures")

    w = sub.add_parser(
        "watchdog",
        help="run a server under systemd's watchdog: probe it, restart it when it hangs",
        description="station watchdog --probe URL -- COMMAND ...: starts COMMAND, tells systemd "
        "READY=1 once URL answers and WATCHDOG=1 after each later answer, and stops COMMAND "
        "(exit 1) after --failures bad probes among the last 2 x --failures - 1. See "
        "station/watchdog.py.",
    )
    w.add_argument("--probe", required=True, metavar="URL", help="a URL of the server")
    w.add_argument(
        "--interval",
        type=_seconds,
        default=None,
        help="seconds between probes (default: half of systemd's WatchdogSec, else 20)",
    )
    w.add_argument(
        "--probe-timeout", type=_seconds, default=10.0, help="seconds per probe (default 10)"
    )
    w.add_argument(
        "--failures",
        type=_count(1),
        default=3,
        help="bad probes among the last 2N-1 that stop it (3: 3 of 5)",
    )
    w.add_argument(
        "--start-timeout",
        type=_seconds,
        default=120.0,
        help="seconds for the first good answer (default 120)",
    )
    w.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND", help="-- COMMAND ARGS...")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run an operations command (before the configuration is loaded); None: not one of these."""
    command = getattr(args, "command", None)
    if command not in COMMANDS:
        return None
    if command == "watchdog":
        return _watchdog(args)
    if command == "doctor":
        return _doctor(args)
    from station.config import load_config

    config = load_config(args.config)
    if command == "backup":
        return _backup(args, config)
    return _restore(args, config)


# --------------------------------------------------------------------------------------------


def _env_int(name: str, low: int) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"environment: {name} must be a whole number, got {text!r}") from None
    if value < low:
        raise UsageError(f"environment: {name} must be >= {low}, got {value}")
    return value


def _env_bool(name: str) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if text in ("", "0", "no", "false", "off"):
        return False
    if text in ("1", "yes", "true", "on"):
        return True
    raise UsageError(f"environment: {name} must be yes or no, got {text!r}")


def _backup(args: argparse.Namespace, config: Any) -> int:
    from station import backup as bk

    dest_text = args.to or os.environ.get(ENV_BACKUP_DIR, "").strip()
    if not dest_text:
        raise UsageError(
            f"where to? give --to DIR, or set {ENV_BACKUP_DIR} (on an installed station: "
            "/etc/dexterity-station/backup.env)"
        )
    dest = Path(dest_text).expanduser().absolute()
    if args.list:
        sets = bk.list_backups(dest)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "path": str(s.path),
                            "station_id": s.station_id,
                            "created_utc": bk.iso_utc(s.created_utc),
                        }
                        for s in sets
                    ],
                    indent=2,
                )
            )
        else:
            for s in sets:
                print(f"{s.created_utc:%Y-%m-%d %H:%M:%S} UTC  {s.station_id:16s} {s.path}")
            print(f"{len(sets)} backup(s) in {dest}")
        return EXIT_OK
    if not dest.is_dir():
        raise UsageError(
            f"the backup folder {dest} does not exist (create it, or plug in and mount the "
            "backup drive)"
        )
    keep = args.keep or _env_int(ENV_BACKUP_KEEP, 1) or bk.DEFAULT_KEEP
    keep_daily = args.keep_daily
    if keep_daily is None:
        keep_daily = _env_int(ENV_BACKUP_KEEP_DAILY, 0)
    if keep_daily is None:
        keep_daily = bk.DEFAULT_KEEP_DAILY
    require_mount = bool(args.require_mount) or _env_bool(ENV_BACKUP_REQUIRE_MOUNT)
    now = datetime.now(UTC)
    try:
        result = bk.backup(
            config.data_dir,
            dest,
            station_id=config.station_id,
            keep=keep,
            keep_daily=keep_daily,
            require_mount=require_mount,
            now=now,
        )
    except StationError as exc:
        _record(config.data_dir, ok=False, now=now, error=str(exc))
        raise
    _record(config.data_dir, ok=True, now=now, path=result.path)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(result.path),
                    "bytes": result.bytes_total,
                    "databases": result.databases,
                    "files": result.files,
                    "removed": [str(p) for p in result.removed],
                },
                indent=2,
            )
        )
    else:
        dbs = ", ".join(f"{name} (integrity {ok})" for name, ok in result.databases.items())
        print(
            f"backup: {result.path} ({result.bytes_total / 1e6:.1f} MB): {dbs}, "
            f"{len(result.files)} other file(s)"
        )
        for path in result.removed:
            print(f"  removed the older {path.name} (keeping {keep} + {keep_daily} days)")
    return EXIT_OK


def _record(data_dir: Path, **kwargs: Any) -> None:
    from station.backup import record_last

    try:
        record_last(data_dir, **kwargs)
    except OSError as exc:
        print(f"warning: the backup's result was not recorded ({exc})", file=sys.stderr)


def _restore(args: argparse.Namespace, config: Any) -> int:
    from station.backup import restore
    from station.store import Store

    source = Path(args.path).expanduser()
    if not source.exists():
        raise UsageError(f"{source}: no such backup (`station backup --list` shows them)")
    result = restore(source, config.data_dir)
    print(f"restored into {config.data_dir}: {', '.join(result.restored)}")
    if result.replaced_dir is not None:
        print(f"  what it replaced is kept in {result.replaced_dir}")
    # bring the schema up to date now, so a problem shows here rather than at the next start
    Store.open(config.data_dir, recover=False).close()
    print("  the clinic server and the kiosk see the restored data at once")
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from station.doctor import (
        DEFAULT_MIN_FREE_MB,
        DoctorOptions,
        format_checks,
        healthy,
        report,
        run_doctor,
        save_report,
    )

    now = datetime.now(UTC)
    options = DoctorOptions(
        config_path=args.config,
        min_free_mb=DEFAULT_MIN_FREE_MB if args.min_free_mb is None else args.min_free_mb,
        hardware=not args.no_hardware,
        quick=args.quick,
        now=now,
    )
    checks = run_doctor(options)
    doc = report(checks, now, strict=args.strict)
    if args.save:
        _save_doctor(args, doc, save_report)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(format_checks(checks, quiet=args.quiet))
        print("healthy" if doc["healthy"] else "NOT healthy: see the fixes above")
    return EXIT_OK if healthy(checks, strict=args.strict) else EXIT_FAILED


def _save_doctor(args: argparse.Namespace, doc: dict[str, Any], save: Any) -> None:
    from station.config import load_config

    try:
        save(load_config(args.config).data_dir, doc)
    except (OSError, StationError) as exc:
        print(f"warning: the doctor's report was not saved ({exc})", file=sys.stderr)


def _watchdog(args: argparse.Namespace) -> int:
    from station.watchdog import WatchdogSettings, supervise, watchdog_interval_s

    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    interval = args.interval or watchdog_interval_s() or 20.0
    settings = WatchdogSettings(
        url=args.probe,
        interval_s=interval,
        probe_timeout_s=args.probe_timeout,
        failures=args.failures,
        start_timeout_s=args.start_timeout,
    )
    return supervise(command, settings, say=lambda line: print(line, flush=True))
