"""Backups of the data folder while the station runs, and restoring one.

``station backup`` copies ``station.sqlite`` (recordings) and ``web.sqlite`` (the clinic server's
accounts and audit log) with SQLite's online backup API: a consistent snapshot even while the
kiosk records or the server writes (in WAL mode a reader never blocks the writer). Each copy is
switched to a plain rollback journal (one self-contained file) and must pass
``PRAGMA integrity_check`` before the backup counts. The clinic's own small files in the data
folder (calibration, batteries, norms, kiosk settings, ...) are copied beside them. The secret
key and the TLS key are left out on purpose: a backup drive that is lost must not let anyone
sign session cookies or pose as the station (``station serve --init`` makes new ones).

A backup is a folder ``dexterity-<station id>-<UTC time>`` with a ``manifest.json`` (SHA-256 and
size of every file, the schema revision). It is written under ``.partial-<name>``, fsynced, and
renamed when complete, so a power cut never leaves a half backup under a real name. Old backups
of the same station are then rotated away: the newest ``keep``, plus the newest of each of the
last ``keep_daily`` days (UTC) are kept; the one just made is never removed.

``station restore PATH`` takes a backup folder (or a single ``station.sqlite``/``web.sqlite``
copy), checks it first (manifest checksums, integrity check, a schema this software knows), and
refuses while a recording process holds the store's writer lock. It then takes that lock
itself, keeps what it replaces in ``<data_dir>/replaced-<UTC time>/``, and writes the backup into
the live databases with the same online backup API (a transaction of SQLite's own, so a reader
such as the clinic server sees the old or the new database, never a mixture).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from station import __version__
from station.errors import StationError

STATION_DB: Final = "station.sqlite"
WEB_DB: Final = "web.sqlite"
DATABASES: Final = (STATION_DB, WEB_DB)
MANIFEST: Final = "manifest.json"
MANIFEST_FORMAT: Final = "dexterity-station/backup"
#: The result of the last ``station backup``, in the data folder (read by ``station doctor``).
LAST_BACKUP_FILENAME: Final = "backup-last.json"
#: Defaults of the rotation (product choices: a day's backups and two weeks of days).
DEFAULT_KEEP: Final = 6
DEFAULT_KEEP_DAILY: Final = 14
#: Held while a backup is written into a folder, so two backups never rotate each other.
DEST_LOCK: Final = ".dexterity-backup.lock"
PARTIAL_PREFIX: Final = ".partial-"
REPLACED_PREFIX: Final = "replaced-"
#: Not copied from the data folder: the databases (copied through SQLite), their journals and
#: lock, secrets (see the module docstring), caches and reports that are remade.
EXCLUDED: Final = frozenset(
    {
        *DATABASES,
        *(f"{db}{suffix}" for db in DATABASES for suffix in ("-wal", "-shm", "-journal")),
        "station.sqlite.lock",
        "secret_key",
        "tls",
        "kivy",
        "first-sign-in.txt",
        "selftest-last.json",
        LAST_BACKUP_FILENAME,
        "doctor-last.json",
        "lost+found",
    }
)
_STAMP_FORMAT: Final = "%Y%m%dT%H%M%SZ"
_NAME: Final = re.compile(
    r"dexterity-(?P<station>[A-Za-z0-9_-]+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?"
)
_COPY_CHUNK: Final = 1 << 20
#: File systems that live in RAM: what is written there is gone at the next power-off.
VOLATILE_FS: Final = frozenset({"tmpfs", "ramfs", "overlay"})
#: The mount source of Raspberry Pi OS's read-only root (raspi-config's overlay file system,
#: the initramfs "overlayroot": its writable layer is a tmpfs). Other overlays, such as a
#: container's root, keep their writes on disk.
RAM_OVERLAY_SOURCE: Final = "overlayroot"


def in_ram(fstype: str, source: str) -> bool:
    """Whether a mount of this type and source (from :func:`mount_of`) lives in RAM."""
    if fstype == "overlay":
        return source == RAM_OVERLAY_SOURCE
    return fstype in VOLATILE_FS


class BackupError(StationError):
    """A backup or restore could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSet:
    """A complete backup folder found in a backup location."""

    path: Path
    station_id: str
    created_utc: datetime
    seq: int = 0

    @property
    def day(self) -> str:
        return self.created_utc.strftime("%Y-%m-%d")


@dataclass
class BackupResult:
    path: Path
    bytes_total: int
    databases: dict[str, str]  # name -> integrity check result ("ok")
    files: list[str]
    removed: list[Path] = field(default_factory=list)


@dataclass
class RestoreResult:
    source: Path
    restored: list[str]  # databases and files written into the data folder
    replaced_dir: Path | None  # where the replaced versions are kept (None: nothing replaced)


# --------------------------------------------------------------------------------------------
# helpers


def utc_stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime(_STAMP_FORMAT)


def iso_utc(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. vfat on some kernels) refuse fsync of a folder
        pass
    finally:
        os.close(fd)


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection (URI ``mode=ro``): never creates or migrates anything."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)


def integrity_of(path: Path, *, quick: bool = False) -> str:
    """``PRAGMA integrity_check`` (or ``quick_check``) of a database file, read-only.

    Returns ``"ok"`` or the problems, one a line; a file that is not a database at all gives
    SQLite's own message.
    """
    pragma = "quick_check" if quick else "integrity_check"
    try:
        conn = _connect_ro(path)
        try:
            rows = conn.execute(f"PRAGMA {pragma}").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{exc}"
    return "\n".join(str(r[0]) for r in rows) or "no answer"


def tables_of(path: Path) -> set[str]:
    conn = _connect_ro(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {str(r[0]) for r in rows}


def schema_revision(path: Path) -> str | None:
    """The Alembic revision stored in a station database (None if it has none)."""
    conn = _connect_ro(path)
    try:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def known_revisions() -> set[str]:
    """Every schema revision this software's migrations know."""
    from alembic.script import ScriptDirectory

    from station.store.store import migrations_folder

    script = ScriptDirectory(str(migrations_folder()))
    return {rev.revision for rev in script.walk_revisions()}


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from station.store.store import migrations_folder

    return ScriptDirectory(str(migrations_folder())).get_current_head()


def kind_of_database(path: Path) -> str:
    """``station.sqlite`` or ``web.sqlite``, judged by the tables a database holds."""
    try:
        tables = tables_of(path)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    if {"participants", "sessions", "trials"} <= tables:
        return STATION_DB
    if {"users", "audit"} <= tables:
        return WEB_DB
    raise BackupError(
        f"{path}: neither a station database (participants, sessions, trials) nor the clinic "
        "server's accounts database (users, audit)"
    )


@contextlib.contextmanager
def _flock(path: Path, what: str) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BackupError(f"{path}: cannot open the lock file ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(what) from None
        yield
    finally:
        os.close(fd)


def writer_lock(data_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the store's writer lock (``station.sqlite.lock``), as a recording process does."""
    from station.store.store import LOCK_FILENAME

    return _flock(
        Path(data_dir) / LOCK_FILENAME,
        f"{Path(data_dir) / STATION_DB}: a station process is recording into this store (the "
        "kiosk, or `station assess`); stop it first: sudo systemctl stop dexterity-kiosk (a "
        "kiosk in a desktop session: systemctl --user stop dexterity-kiosk as its user)",
    )


def writer_lock_held(data_dir: Path) -> bool:
    """Does a recording process hold the store's writer lock now?"""
    from station.store.store import LOCK_FILENAME

    path = Path(data_dir) / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _online_copy(source: Path, target: Path, *, rollback_journal: bool) -> None:
    """Copy the database ``source`` into ``target`` with SQLite's online backup API."""
    src = _connect_ro(source)
    try:
        dst = sqlite3.connect(target, timeout=10.0)
        try:
            src.backup(dst)
            if rollback_journal:  # one self-contained file, no -wal beside it
                dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def parse_set_name(name: str) -> tuple[str, datetime, int] | None:
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    try:
        created = datetime.strptime(m["stamp"], _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return m["station"], created, int(m["n"] or 0)


def list_backups(dest: Path, station_id: str | None = None) -> list[BackupSet]:
    """Complete backups in ``dest`` (of one station, if given), newest first."""
    found: list[BackupSet] = []
    try:
        entries = list(Path(dest).iterdir())
    except OSError:
        return []
    for entry in entries:
        parsed = parse_set_name(entry.name)
        if parsed is None or not entry.is_dir() or not (entry / MANIFEST).is_file():
            continue
        if station_id is not None and parsed[0] != station_id:
            continue
        found.append(BackupSet(entry, parsed[0], parsed[1], parsed[2]))
    found.sort(key=lambda s: (s.created_utc, s.seq), reverse=True)
    return found


def sets_to_keep(sets: list[BackupSet], keep: int, keep_daily: int) -> set[Path]:
    """The rotation: the newest ``keep`` sets, and the newest set of each of the newest
    ``keep_daily`` days. ``sets``: newest first."""
    kept = {s.path for s in sets[:keep]}
    days: list[str] = []
    for s in sets:
        if s.day in days:
            continue
        if len(days) >= keep_daily:
            break
        days.append(s.day)
        kept.add(s.path)
    return kept


def _data_files(data_dir: Path, skip: Path | None = None) -> list[Path]:
    """The clinic's files to copy, relative to ``data_dir`` (regular files, no dot-files);
    ``skip``: a folder left out (the backup folder, when it is inside the data folder)."""
    found: list[Path] = []
    skipped = skip.resolve() if skip is not None else None

    def walk(folder: Path, rel: Path) -> None:
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if name.startswith(".") or entry.is_symlink() or entry.resolve() == skipped:
                continue
            if rel == Path() and (name in EXCLUDED or name.startswith(REPLACED_PREFIX)):
                continue
            if entry.is_dir():
                walk(entry, rel / name)
            elif entry.is_file():
                found.append(rel / name)

    walk(data_dir, Path())
    return found


def mount_of(path: Path, mountinfo: str | None = None) -> tuple[str, str, str]:
    """(mount point, file system type, source) of the mount holding ``path``."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return "/", "unknown", ""
    target = os.path.realpath(path)
    best = ("/", "unknown", "")
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 2:
            continue
        point = parts[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, rparts[0], rparts[1])
    return best


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    with contextlib.suppress(OSError):
        os.chmod(target, 0o600)
    _fsync_file(target)


# --------------------------------------------------------------------------------------------
# backup


def backup(
    data_dir: Path,
    dest: Path,
    *,
    station_id: str,
    keep: int = DEFAULT_KEEP,
    keep_daily: int = DEFAULT_KEEP_DAILY,
    require_mount: bool = False,
    now: datetime | None = None,
) -> BackupResult:
    """Back up ``data_dir`` into a new folder in ``dest`` and rotate old backups (module doc)."""
    data_dir, dest = Path(data_dir), Path(dest).absolute()
    now = now or datetime.now(UTC)
    if keep < 1 or keep_daily < 0:
        raise BackupError(f"keep must be >= 1 and keep-daily >= 0; got {keep}, {keep_daily}")
    if not (data_dir / STATION_DB).is_file():
        raise BackupError(f"nothing to back up: {data_dir / STATION_DB} does not exist")
    if not dest.is_dir():
        raise BackupError(
            f"the backup folder {dest} does not exist (create it, or plug in and mount the "
            "backup drive)"
        )
    if not os.access(dest, os.W_OK | os.X_OK):
        raise BackupError(f"the backup folder {dest} is not writable by this user")
    point, fstype, source = mount_of(dest)
    if in_ram(fstype, source):
        raise BackupError(
            f"the backup folder {dest} is on {fstype} ({point}), which lives in RAM: a backup "
            "there is lost at the next power-off (a read-only root's overlay?); back up to a "
            "USB drive or another writable partition (docs/operator.md, Backups)"
        )
    if require_mount and dest.stat().st_dev == data_dir.stat().st_dev:
        raise BackupError(
            f"the backup folder {dest} is on the same drive as the data ({data_dir}): is the "
            "backup drive mounted? (STATION_BACKUP_REQUIRE_MOUNT asks for a separate drive)"
        )
    with _flock(dest / DEST_LOCK, f"another backup is being written into {dest}; try again later"):
        _remove_partials(dest)
        sources = [db for db in DATABASES if (data_dir / db).is_file()]
        files = _data_files(data_dir, skip=dest)
        needed = sum(_size_with_wal(data_dir / db) for db in sources)
        needed += sum((data_dir / f).stat().st_size for f in files)
        free = shutil.disk_usage(dest).free
        if free < needed + needed // 10 + (1 << 20):
            raise BackupError(
                f"not enough space in {dest}: a backup needs about {_mb(needed)}, "
                f"{_mb(free)} is free; remove old backups or use a bigger drive"
            )
        name = f"dexterity-{station_id}-{utc_stamp(now)}"
        n = 1
        while (dest / name).exists() or (dest / f"{PARTIAL_PREFIX}{name}").exists():
            n += 1
            name = f"dexterity-{station_id}-{utc_stamp(now)}-{n}"
        partial = dest / f"{PARTIAL_PREFIX}{name}"
        final = dest / name
        try:
            result = _write_set(data_dir, partial, sources, files, station_id, now)
            os.replace(partial, final)
            _fsync_dir(dest)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        result.path = final
        sets = list_backups(dest, station_id)
        kept = sets_to_keep(sets, keep, keep_daily) | {final}
        for s in sets:
            if s.path not in kept:
                shutil.rmtree(s.path, ignore_errors=True)
                result.removed.append(s.path)
        if result.removed:
            _fsync_dir(dest)
    return result


def _size_with_wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def _remove_partials(dest: Path) -> None:
    """Remove what an interrupted backup left (only our own ``.partial-dexterity-...``)."""
    for entry in dest.iterdir():
        if entry.name.startswith(PARTIAL_PREFIX) and parse_set_name(
            entry.name[len(PARTIAL_PREFIX) :]
        ):
            shutil.rmtree(entry, ignore_errors=True)


def _write_set(
    data_dir: Path,
    partial: Path,
    sources: list[str],
    files: list[Path],
    station_id: str,
    now: datetime,
) -> BackupResult:
    partial.mkdir(mode=0o700)
    databases: dict[str, dict[str, Any]] = {}
    integrity: dict[str, str] = {}
    total = 0
    for db in sources:
        target = partial / db
        try:
            _online_copy(data_dir / db, target, rollback_journal=True)
        except sqlite3.Error as exc:
            raise BackupError(f"{data_dir / db}: the online copy failed ({exc})") from None
        with contextlib.suppress(OSError):
            os.chmod(target, 0o600)
        result = integrity_of(target)
        if result != "ok":
            raise BackupError(
                f"the copy of {data_dir / db} failed its integrity check ({result.splitlines()[0]}"
                "); the database itself may be damaged: run `station doctor`, and keep the older "
                "backups"
            )
        _fsync_file(target)
        size = target.stat().st_size
        total += size
        databases[db] = {
            "sha256": sha256_of(target),
            "bytes": size,
            "integrity": result,
            "schema_revision": schema_revision(target) if db == STATION_DB else None,
        }
        integrity[db] = result
    file_entries = []
    for rel in files:
        target = partial / "files" / rel
        _copy_file(data_dir / rel, target)
        size = target.stat().st_size
        total += size
        file_entries.append({"path": rel.as_posix(), "sha256": sha256_of(target), "bytes": size})
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "station_id": station_id,
        "created_utc": iso_utc(now),
        "software_version": __version__,
        "data_dir": str(data_dir),
        "databases": databases,
        "files": file_entries,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    with contextlib.suppress(OSError):
        os.chmod(partial / MANIFEST, 0o600)
    _fsync_file(partial / MANIFEST)
    for folder in sorted({p.parent for p in partial.rglob("*")}, reverse=True):
        _fsync_dir(folder)
    return BackupResult(partial, total, integrity, [f.as_posix() for f in files])


# --------------------------------------------------------------------------------------------
# the last result, for `station doctor`


def last_backup_path(data_dir: Path) -> Path:
    return Path(data_dir) / LAST_BACKUP_FILENAME


def record_last(
    data_dir: Path, *, ok: bool, now: datetime, path: Path | None = None, error: str = ""
) -> None:
    """Keep the result of this backup in the data folder (temporary file, fsync, rename)."""
    from station.calibration import write_json_atomic

    previous = load_last(data_dir) or {}
    doc = {
        "format": "dexterity-station/backup-last",
        "format_version": 1,
        "ok": ok,
        "at_utc": iso_utc(now),
        "path": str(path) if path else None,
        "error": error or None,
        # when the last good one was made, even after a failure since
        "last_ok_utc": iso_utc(now) if ok else previous.get("last_ok_utc"),
        "last_ok_path": str(path) if ok and path else previous.get("last_ok_path"),
    }
    write_json_atomic(last_backup_path(data_dir), doc)


def load_last(data_dir: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(last_backup_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


# --------------------------------------------------------------------------------------------
# restore


@dataclass(frozen=True)
class _Planned:
    databases: dict[str, Path]  # live name -> file in the backup
    files: dict[str, Path]  # relative path -> file in the backup


def check_backup(source: Path) -> _Planned:
    """Everything a restore would write, after checking it (raises :class:`BackupError`)."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"{source}: no such backup")
    if source.is_file():
        kind = kind_of_database(source)
        _check_database(source, kind)
        return _Planned({kind: source}, {})
    manifest_path = source / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            f"{source}: not a backup folder (no {MANIFEST}); give a folder made by "
            "`station backup`, or a single station.sqlite file"
        ) from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{manifest_path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{manifest_path}: not a Dexterity Station backup manifest")
    databases: dict[str, Path] = {}
    for name, entry in (manifest.get("databases") or {}).items():
        if name not in DATABASES or not isinstance(entry, dict):
            raise BackupError(f"{manifest_path}: unknown database {name!r}")
        path = source / name
        _check_sum(path, entry)
        _check_database(path, name)
        databases[name] = path
    if STATION_DB not in databases:
        raise BackupError(f"{source}: the backup holds no {STATION_DB}")
    files: dict[str, Path] = {}
    for entry in manifest.get("files") or []:
        rel = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        parts = Path(rel).parts
        if not rel or Path(rel).is_absolute() or ".." in parts or parts[0] in EXCLUDED:
            raise BackupError(f"{manifest_path}: a file entry with an unsafe path {rel!r}")
        path = source / "files" / rel
        _check_sum(path, entry)
        files[rel] = path
    return _Planned(databases, files)


def _check_sum(path: Path, entry: dict[str, Any]) -> None:
    if not path.is_file():
        raise BackupError(f"{path}: missing from the backup")
    if sha256_of(path) != entry.get("sha256"):
        raise BackupError(
            f"{path}: its checksum does not match the manifest: the backup is damaged; use an "
            "older one"
        )


def _check_database(path: Path, kind: str) -> None:
    result = integrity_of(path)
    if result != "ok":
        raise BackupError(
            f"{path}: the backup fails SQLite's integrity check ({result.splitlines()[0]}); "
            "use an older one"
        )
    if kind_of_database(path) != kind:
        raise BackupError(f"{path}: this is not a {kind} database")
    if kind == STATION_DB:
        revision = schema_revision(path)
        if revision is None:
            raise BackupError(f"{path}: has no schema revision: not a station's store")
        if revision not in known_revisions():
            raise BackupError(
                f"{path}: made by newer station software (schema revision {revision}); update "
                "this station's software first (docs/operator.md, Updating)"
            )


def restore(source: Path, data_dir: Path, *, now: datetime | None = None) -> RestoreResult:
    """Restore a backup into ``data_dir`` (module docstring): checked first, replaced kept."""
    data_dir = Path(data_dir)
    now = now or datetime.now(UTC)
    plan = check_backup(source)
    if not data_dir.is_dir():
        raise BackupError(f"the data folder {data_dir} does not exist")
    replaced = data_dir / f"{REPLACED_PREFIX}{utc_stamp(now)}"
    n = 1
    while replaced.exists():
        n += 1
        replaced = data_dir / f"{REPLACED_PREFIX}{utc_stamp(now)}-{n}"
    restored: list[str] = []
    used_replaced = False
    with writer_lock(data_dir):
        # keep what is replaced, all of it before the first write
        for name in plan.databases:
            live = data_dir / name
            if live.exists():
                replaced.mkdir(mode=0o700, exist_ok=True)
                try:
                    _online_copy(live, replaced / name, rollback_journal=True)
                except sqlite3.Error as exc:
                    raise BackupError(
                        f"{live}: cannot keep a copy before restoring ({exc}); nothing was "
                        "changed. If this database is damaged beyond reading, move it away by "
                        "hand (with its -wal and -shm files) and restore again"
                    ) from None
                _fsync_file(replaced / name)
                used_replaced = True
        for rel in plan.files:
            live = data_dir / rel
            if live.is_file():
                _copy_file(live, replaced / "files" / rel)
                used_replaced = True
        if used_replaced:
            for folder in sorted({p.parent for p in replaced.rglob("*")}, reverse=True):
                _fsync_dir(folder)
        # write the backup into the live databases through SQLite
        for name, path in plan.databases.items():
            live = data_dir / name
            created = not live.exists()
            try:
                src = _connect_ro(path)
                try:
                    dst = sqlite3.connect(live, timeout=30.0)
                    try:
                        src.backup(dst)
                        dst.execute("PRAGMA journal_mode=WAL")  # as the store and server use it
                        result = "\n".join(
                            str(r[0]) for r in dst.execute("PRAGMA integrity_check").fetchall()
                        )
                    finally:
                        dst.close()
                finally:
                    src.close()
            except sqlite3.Error as exc:
                raise BackupError(
                    f"{live}: restoring failed ({exc}); the previous version is kept in {replaced}"
                ) from None
            if created:
                with contextlib.suppress(OSError):
                    os.chmod(live, 0o600)
            if result != "ok":
                raise BackupError(
                    f"{live}: the restored database fails its integrity check ({result}); the "
                    f"previous version is kept in {replaced}"
                )
            restored.append(name)
        for rel, path in plan.files.items():
            live = data_dir / rel
            live.parent.mkdir(parents=True, exist_ok=True)
            tmp = live.with_name(f".{live.name}.restore.tmp")
            _copy_file(path, tmp)
            os.replace(tmp, live)
            _fsync_dir(live.parent)
            restored.append(rel)
    return RestoreResult(Path(source), restored, replaced if used_replaced else None)
