"""``station backup`` and ``station restore`` on a simulated installation."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from station import backup as bk
from station.store import Store
from tests.conftest import run_cli
from tests.ops.conftest import Install, add_session


def codes_in(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT code FROM participants ORDER BY code")]
    finally:
        conn.close()


def damage_page(data: bytes, page: int = 3, page_size: int = 4096) -> bytes:
    """``data`` with one b-tree page (not the first) overwritten: a damaged card sector."""
    start = (page - 1) * page_size
    assert len(data) >= start + page_size
    return data[:start] + b"\xab" * page_size + data[start + page_size :]


def test_backup_copies_both_databases_checked_and_the_clinics_files(
    install: Install, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "usb"
    dest.mkdir()
    code, out, err = run_cli(["backup", "--to", str(dest), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    path = Path(result["path"])
    assert path.parent == dest and bk.parse_set_name(path.name)[0] == "reference-01"
    assert result["databases"] == {"station.sqlite": "ok", "web.sqlite": "ok"}
    # self-contained copies (rollback journal, no -wal), readable, with the data
    for db in ("station.sqlite", "web.sqlite"):
        conn = sqlite3.connect(path / db)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        conn.close()
    assert codes_in(path / "station.sqlite") == ["P001"]
    assert sorted(result["files"]) == ["batteries/clinic.toml", "calibration.json"]
    assert (path / "files" / "calibration.json").read_text() == '{"pads": {}}\n'
    # no secrets, no caches, nothing half-written left
    names = {p.relative_to(path).as_posix() for p in path.rglob("*")}
    assert not {n for n in names if "secret" in n or "tls" in n or "kivy" in n}
    assert not [p for p in dest.iterdir() if p.name.startswith(".partial-")]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["databases"]["station.sqlite"]["sha256"] == bk.sha256_of(
        path / "station.sqlite"
    )
    assert manifest["databases"]["station.sqlite"]["schema_revision"] == bk.head_revision()
    last = bk.load_last(install.data_dir)
    assert last is not None and last["ok"] and last["last_ok_path"] == str(path)


def test_a_backup_folder_inside_the_data_folder_is_not_copied_into_itself(
    install: Install,
) -> None:
    inside = install.data_dir / "backups"
    inside.mkdir()
    first = bk.backup(install.data_dir, inside, station_id="s1")
    second = bk.backup(
        install.data_dir, inside, station_id="s1", now=datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert not [f for f in second.files if f.startswith("backups/")]
    assert first.path.exists() and second.path.exists()


def test_backup_is_online_beside_a_recording_process(install: Install, tmp_path: Path) -> None:
    with Store.open(install.data_dir) as recording:  # holds the writer lock, as the kiosk does
        recording.add_participant("P002")
        result = bk.backup(install.data_dir, tmp_path, station_id="s1")
        recording.add_participant("P003")  # the recording goes on
    assert codes_in(result.path / "station.sqlite") == ["P001", "P002"]


def test_rotation_keeps_the_newest_and_one_a_day(install: Install, tmp_path: Path) -> None:
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    times = [start + timedelta(days=d, hours=h) for d in range(6) for h in (0, 4, 8)]
    for t in times:
        result = bk.backup(install.data_dir, tmp_path, station_id="s1", keep=2, keep_daily=3, now=t)
    kept = [s.created_utc for s in bk.list_backups(tmp_path, "s1")]
    # the newest two (day 5, 16:00 and 12:00) and the newest of each of the 3 newest days
    assert kept == [
        start + timedelta(days=5, hours=8),
        start + timedelta(days=5, hours=4),
        start + timedelta(days=4, hours=8),
        start + timedelta(days=3, hours=8),
    ]
    assert result.removed  # the last run removed the one that fell out
    # another station's backups on the same drive are never touched
    other = bk.backup(install.data_dir, tmp_path, station_id="s2", keep=1, keep_daily=0, now=start)
    assert other.path.exists() and len(bk.list_backups(tmp_path, "s1")) == 4


def test_the_backup_just_made_is_kept_even_when_the_clock_went_back(
    install: Install, tmp_path: Path
) -> None:
    later = datetime(2026, 9, 1, tzinfo=UTC)
    for h in range(3):
        bk.backup(
            install.data_dir,
            tmp_path,
            station_id="s1",
            keep=1,
            keep_daily=0,
            now=later + timedelta(hours=h),
        )
    back = bk.backup(
        install.data_dir,
        tmp_path,
        station_id="s1",
        keep=1,
        keep_daily=0,
        now=datetime(2023, 1, 1, tzinfo=UTC),
    )
    assert back.path.exists()


def test_a_failed_backup_leaves_nothing_and_is_recorded(
    install: Install,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dest = tmp_path / "usb"
    dest.mkdir()
    real = bk.integrity_of
    monkeypatch.setattr(
        bk,
        "integrity_of",
        lambda p, quick=False: (
            "*** in database main ***\nPage 7: btreeInitPage() returns error code 11"
            if p.name == "web.sqlite"
            else real(p, quick=quick)
        ),
    )
    code, _, err = run_cli(["backup", "--to", str(dest)], capsys)
    assert code == 1
    assert "web.sqlite failed its integrity check" in err and "Traceback" not in err
    assert list(dest.iterdir()) == [dest / bk.DEST_LOCK]
    last = bk.load_last(install.data_dir)
    assert last is not None and not last["ok"] and "integrity" in last["error"]


def test_backup_arguments_and_destination_errors(
    install: Install,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STATION_BACKUP_DIR", raising=False)
    code, _, err = run_cli(["backup"], capsys)
    assert code == 2 and "--to DIR" in err
    code, _, err = run_cli(["backup", "--to", str(tmp_path / "unplugged")], capsys)
    assert code == 2 and "does not exist" in err and "mount" in err
    code, _, err = run_cli(["backup", "--to", str(tmp_path), "--keep", "0"], capsys)
    assert code == 2 and "--keep" in err
    monkeypatch.setenv("STATION_BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("STATION_BACKUP_KEEP", "many")
    code, _, err = run_cli(["backup"], capsys)
    assert code == 2 and "STATION_BACKUP_KEEP must be a whole number" in err
    monkeypatch.setenv("STATION_BACKUP_KEEP", "2")
    # the same drive as the data: an unmounted USB drive's empty mount point looks like this
    monkeypatch.setenv("STATION_BACKUP_REQUIRE_MOUNT", "yes")
    code, _, err = run_cli(["backup"], capsys)
    assert code == 1 and "same drive" in err and "Traceback" not in err
    monkeypatch.setenv("STATION_BACKUP_REQUIRE_MOUNT", "no")
    code, out, _ = run_cli(["backup"], capsys)
    assert code == 0 and "backup:" in out
    code, out, _ = run_cli(["backup", "--list"], capsys)
    assert code == 0 and "1 backup(s)" in out


def test_a_backup_folder_in_ram_is_refused(
    install: Install,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a read-only root, /var/backups is on the overlay: a backup there is gone at the
    next power-off, so `station backup` refuses it instead of reporting success."""
    dest = tmp_path / "backups"
    dest.mkdir()
    real_mount_of = bk.mount_of
    monkeypatch.setattr(
        bk,
        "mount_of",
        lambda path: ("/", "overlay", "overlayroot") if Path(path) == dest else real_mount_of(path),
    )
    code, out, err = run_cli(["backup", "--to", str(dest)], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert f"the backup folder {dest} is on overlay (/), which lives in RAM" in err
    assert "USB drive" in err
    assert list(dest.iterdir()) == []  # nothing written, not even the lock
    last = bk.load_last(install.data_dir)
    assert last is not None and not last["ok"] and "lives in RAM" in last["error"]
    monkeypatch.setattr(bk, "mount_of", real_mount_of)
    assert run_cli(["backup", "--to", str(dest)], capsys)[0] == 0  # the same folder on a disk


def test_a_real_tmpfs_is_refused(install: Install) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or bk.mount_of(shm)[1] != "tmpfs" or not os.access(shm, os.W_OK):
        pytest.skip("no writable tmpfs at /dev/shm here")
    dest = Path(tempfile.mkdtemp(dir=shm, prefix="dexterity-test-"))
    try:
        with pytest.raises(bk.BackupError, match=r"is on tmpfs \(/dev/shm\), which lives in RAM"):
            bk.backup(install.data_dir, dest, station_id="s1")
        assert list(dest.iterdir()) == []
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_restore_puts_back_the_backup_and_keeps_what_it_replaced(
    install: Install, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bk.backup(install.data_dir, tmp_path, station_id="s1")
    with Store.open(install.data_dir) as store:
        store.add_participant("P002")
        add_session(store, "P002")
    (install.data_dir / "calibration.json").write_text('{"pads": {"changed": 1}}\n')
    code, out, err = run_cli(["restore", str(result.path)], capsys)
    assert code == 0, err
    assert codes_in(install.data_dir / "station.sqlite") == ["P001"]
    assert (install.data_dir / "calibration.json").read_text() == '{"pads": {}}\n'
    replaced = [p for p in install.data_dir.iterdir() if p.name.startswith("replaced-")]
    assert len(replaced) == 1 and str(replaced[0]) in out
    assert codes_in(replaced[0] / "station.sqlite") == ["P001", "P002"]
    assert "changed" in (replaced[0] / "files" / "calibration.json").read_text()
    # the store opens the restored database as usual (WAL, current schema)
    with Store.open(install.data_dir) as store:
        assert [p.code for p in store.list_participants()] == ["P001"]
        assert store.integrity_check() == "ok"
    # a backup of a backup-less state: the replaced folder is left out of the next backup
    again = bk.backup(install.data_dir, tmp_path, station_id="s1")
    assert not [f for f in again.files if f.startswith("replaced-")]


def test_restore_refuses_while_the_station_records(
    install: Install, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bk.backup(install.data_dir, tmp_path, station_id="s1")
    with Store.open(install.data_dir) as recording:
        recording.add_participant("P009")
        code, _, err = run_cli(["restore", str(result.path)], capsys)
        assert code == 1 and "is recording" in err and "systemctl stop dexterity-kiosk" in err
        assert [p.code for p in recording.list_participants()] == ["P001", "P009"]
    assert not [p for p in install.data_dir.iterdir() if p.name.startswith("replaced-")]


def test_restore_refuses_a_damaged_backup_before_touching_anything(
    install: Install, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bk.backup(install.data_dir, tmp_path, station_id="s1")
    before = (install.data_dir / "station.sqlite").read_bytes()
    copy = result.path / "station.sqlite"
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    code, _, err = run_cli(["restore", str(result.path)], capsys)
    assert code == 1 and "checksum does not match" in err
    # a single damaged file (no manifest): SQLite's own check refuses it
    single = tmp_path / "station.sqlite"
    single.write_bytes(damage_page(copy.read_bytes()))
    code, _, err = run_cli(["restore", str(single)], capsys)
    assert code == 1 and "integrity check" in err, err
    garbage = tmp_path / "notes.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    code, _, err = run_cli(["restore", str(garbage)], capsys)
    assert code == 1 and "not a readable SQLite database" in err
    code, _, err = run_cli(["restore", str(tmp_path / "nothing-here")], capsys)
    assert code == 2 and "no such backup" in err
    assert (install.data_dir / "station.sqlite").read_bytes() == before


def test_restore_of_a_single_database_file(install: Install, tmp_path: Path) -> None:
    result = bk.backup(install.data_dir, tmp_path, station_id="s1")
    with Store.open(install.data_dir) as store:
        store.add_participant("P002")
    done = bk.restore(result.path / "station.sqlite", install.data_dir)
    assert done.restored == ["station.sqlite"]
    assert codes_in(install.data_dir / "station.sqlite") == ["P001"]


def test_restore_refuses_a_database_from_newer_software(install: Install, tmp_path: Path) -> None:
    result = bk.backup(install.data_dir, tmp_path, station_id="s1")
    single = tmp_path / "newer.sqlite"
    single.write_bytes((result.path / "station.sqlite").read_bytes())
    conn = sqlite3.connect(single)
    conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    conn.commit()
    conn.close()
    with pytest.raises(bk.BackupError, match="newer station software"):
        bk.restore(single, install.data_dir)
