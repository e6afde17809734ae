"""systemd/ and scripts/install-pi: the units' content, ``systemd-analyze verify`` on an
installed tree, the dry run's steps, and an idempotent ``--root`` install.

What cannot run here is said so, not faked: under ``--root`` the script skips the steps that need
the real system (apt, users, pip, raspi-config, starting services) and prints them as skipped;
these tests check that list. ``systemd-analyze verify`` needs the units' ExecStart programs to
exist: the installed tree gets a byte copy of this checkout's real ``station`` console script at
/opt/dexterity-station/.venv/bin/station (the path the units name), which the test runs too.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi"
UNITS = REPO / "systemd"
SYSTEM_UNITS = [
    "dexterity-kiosk.service",
    "dexterity-server.service",
    "dexterity-backup.service",
    "dexterity-backup.timer",
    "dexterity-health.service",
    "dexterity-health.timer",
]
VENV_STATION = "/opt/dexterity-station/.venv/bin/station"
needs_systemd_tools = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or shutil.which("systemctl") is None,
    reason="systemd-analyze and systemctl are not installed (Debian package: systemd)",
)


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (keys may repeat in systemd)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def words(values: list[str]) -> set[str]:
    return {w for v in values for w in v.split()}


def run_install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=300
    )


# --------------------------------------------------------------------------------------------
# the units' content


def test_server_unit_after_the_network_https_watchdog_and_restart() -> None:
    u = unit(UNITS / "dexterity-server.service")
    assert "network-online.target" in words(u["Unit"]["After"])
    assert "network-online.target" in words(u["Unit"]["Wants"])
    svc = u["Service"]
    assert svc["User"] == ["dexterity"] and svc["Restart"] == ["on-failure"]
    assert svc["Type"] == ["notify"] and svc["NotifyAccess"] == ["main"]
    assert int(svc["WatchdogSec"][0]) > 0
    exec_start = svc["ExecStart"][0]
    assert exec_start.startswith(f"{VENV_STATION} watchdog --probe https://127.0.0.1:")
    assert "-- " + VENV_STATION + " serve --host 0.0.0.0" in exec_start
    assert svc["ExecStartPre"] == [f"{VENV_STATION} serve --init"]
    assert {"LISTEN_PID", "LISTEN_FDS"} <= words(svc["UnsetEnvironment"])
    assert svc["KillMode"] == ["mixed"]  # SIGTERM to the watchdog, which passes it on once
    assert svc["StateDirectory"] == ["dexterity-station"] and svc["StateDirectoryMode"] == ["0700"]
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def test_server_workers_configurable_and_the_server_dies_before_the_kiosk() -> None:
    u = unit(UNITS / "dexterity-server.service")
    svc = u["Service"]
    assert svc["ExecStart"][0].endswith(" --workers ${STATION_WORKERS}")
    assert "STATION_WORKERS=2" in svc["Environment"]
    # the default comes before server.env, so that server.env (STATION_WORKERS=1) wins
    lines = [line.strip() for line in (UNITS / "dexterity-server.service").read_text().splitlines()]
    assert lines.index("Environment=STATION_WORKERS=2") < lines.index(
        "EnvironmentFile=-/etc/dexterity-station/server.env"
    )
    server_oom = int(svc["OOMScoreAdjust"][0])
    for kiosk in (UNITS / "dexterity-kiosk.service", UNITS / "user/dexterity-kiosk.service"):
        assert unit(kiosk)["Service"]["OOMScoreAdjust"] == ["-500"], kiosk
    # a desktop session's kiosk cannot go below its user manager's +100: the server stays above
    assert server_oom > 100


def test_kiosk_units_groups_runtime_folder_and_restart() -> None:
    u = unit(UNITS / "dexterity-kiosk.service")
    svc = u["Service"]
    assert {"gpio", "i2c", "render", "video", "input"} <= words(svc["SupplementaryGroups"])
    assert "LG_WD=%t/dexterity-kiosk" in svc["Environment"]
    assert svc["RuntimeDirectory"] == ["dexterity-kiosk"]
    assert svc["Restart"] == ["always"] and svc["ExecStart"] == [f"{VENV_STATION} kiosk"]
    # hardening must leave the devices alone (GPIO, I2C, DRM, input)
    for closes_devices in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock"):
        assert closes_devices not in svc
    desktop = unit(UNITS / "user" / "dexterity-kiosk.service")
    assert "LG_WD=%t/dexterity-kiosk" in desktop["Service"]["Environment"]
    assert desktop["Service"]["Restart"] == ["always"]
    assert desktop["Install"]["WantedBy"] == ["graphical-session.target"]
    entry = (UNITS / "dexterity-kiosk.desktop").read_text()
    assert "systemctl --user import-environment" in entry and "dexterity-kiosk.service" in entry


def test_backup_and_health_timers() -> None:
    backup = unit(UNITS / "dexterity-backup.service")["Service"]
    assert backup["ExecStart"] == [f"{VENV_STATION} backup"] and backup["Type"] == ["oneshot"]
    assert "-/etc/dexterity-station/backup.env" in backup["EnvironmentFile"]
    assert backup["IOSchedulingClass"] == ["idle"]
    timer = unit(UNITS / "dexterity-backup.timer")["Timer"]
    assert timer["OnBootSec"] and timer["OnUnitActiveSec"]  # the Pi is off every night
    health = unit(UNITS / "dexterity-health.service")["Service"]
    assert "--no-hardware" in health["ExecStart"][0] and health["SuccessExitStatus"] == ["1"]
    # the backup folder, so that the health check sees one in RAM
    assert "-/etc/dexterity-station/backup.env" in health["EnvironmentFile"]
    for name in ("dexterity-backup.timer", "dexterity-health.timer"):
        assert unit(UNITS / name)["Install"]["WantedBy"] == ["timers.target"]


# --------------------------------------------------------------------------------------------
# install-pi


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    done = run_install("--dry-run", "--root", str(root), "--assume-pi", "--station-id", "c1")
    assert done.returncode == 0, done.stderr
    assert list(root.iterdir()) == []  # nothing written
    # against this machine's own root too (read-only checks only)
    real = run_install("--dry-run", "--assume-pi", "--kiosk", "kms", "--station-id", "c1")
    assert real.returncode == 0, real.stderr
    out = real.stdout
    commands = [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("+ ")]
    assert "DRY RUN" in out and "nothing was changed" in out
    for name in SYSTEM_UNITS:
        assert (
            any(
                c.startswith("install -m 0644") and c.endswith(f"/etc/systemd/system/{name}")
                for c in commands
            )
            or f"ok: /etc/systemd/system/{name} is up to date" in out
        ), name
    if (
        not shutil.which("id")
        or subprocess.run(["id", "dexterity"], capture_output=True).returncode
    ):
        assert any(c.startswith("useradd --system") and c.endswith("dexterity") for c in commands)
    assert "raspi-config nonint do_i2c 0" in commands or "ok: I2C is enabled" in out
    assert any(re.search(r"station serve --init$", c) for c in commands) or "secret_key" in out
    for timer in ("dexterity-backup.timer", "dexterity-health.timer"):
        assert f"systemctl enable {timer}" in commands or f"ok: {timer} enabled" in out
    assert any("pip install" in c and "[pi,kiosk]" in c for c in commands) or "current" in out
    assert not Path("/etc/dexterity-station").exists() or "exists" in out


def test_help_prints_the_comment_block_only() -> None:
    done = run_install("--help")
    assert done.returncode == 0, done.stderr
    block = []
    for line in SCRIPT.read_text().splitlines()[1:]:
        if not line.startswith("#"):
            break
        block.append(re.sub(r"^# ?", "", line))
    assert done.stdout.splitlines() == block
    assert "set -euo" not in done.stdout and "--no-start" in done.stdout


def replay(out: str) -> None:
    """Run the commands a dry run printed ("+ ..."), in order, with the content it showed for
    the files written from /dev/stdin."""
    lines = out.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("   + "):
            continue
        command = line[len("   + ") :]
        content = []
        while i < len(lines) and lines[i].startswith("     |"):
            content.append(lines[i][len("     | ") :])
            i += 1
        argv = shlex.split(command)
        stdin = "\n".join(content) + "\n" if content else ""
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command}: {done.stderr}"


def test_the_dry_runs_steps_run_by_hand_make_the_installation(tmp_path: Path) -> None:
    by_hand, real = tmp_path / "by-hand", tmp_path / "real"
    by_hand.mkdir()
    real.mkdir()
    args = ("--station-id", "c1", "--kiosk", "kms", "--user", "pi")
    dry = run_install("--dry-run", "--root", str(by_hand), *args)
    assert dry.returncode == 0, dry.stderr
    assert list(by_hand.iterdir()) == []
    # the parent folders of files are made by printed steps, not silently
    commands = [line[5:] for line in dry.stdout.splitlines() if line.startswith("   + ")]
    units = f"{by_hand}/etc/systemd/system"
    assert f"mkdir -p {units}" in commands
    assert commands.index(f"mkdir -p {units}") < next(
        n for n, c in enumerate(commands) if c.endswith(f"{units}/dexterity-server.service")
    )
    assert f"mkdir -p {units}/dexterity-server.service.d" in commands
    replay(dry.stdout)
    done = run_install("--root", str(real), *args)
    assert done.returncode == 0, done.stdout + done.stderr

    def shape(root: Path) -> dict[str, tuple[str, int, str]]:
        # station.toml is shown in a dry run by what it is, not by its content
        return {
            path: (kind, mode, "" if path.endswith("station.toml") else content)
            for path, (kind, mode, _, content) in tree(root).items()
        }

    assert shape(by_hand) == shape(real)


def test_the_printed_pip_commands_are_those_a_real_run_executes(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for extra in ((), ("--wheelhouse", str(wheels))):
        done = run_install("--dry-run", "--root", str(tmp_path), "--kiosk", "none", *extra)
        assert done.returncode == 0, done.stderr
        skipped = [
            line.split("(needs the real system): ", 1)[1]
            for line in done.stdout.splitlines()
            if "skipped under --root" in line and " -m pip " in line
        ]
        venv_python = "/opt/dexterity-station/.venv/bin/python"
        options = "--no-cache-dir --quiet" + (f" --no-index --find-links {wheels}" if extra else "")
        expected = [f"{venv_python} -m pip install {options} {REPO}"]
        if not extra:  # online: pip itself first, as a real run does
            expected.insert(0, f"{venv_python} -m pip install {options} --upgrade pip")
        assert skipped == expected
    # the real run's lines in the script are these very commands
    text = SCRIPT.read_text()
    assert '.venv/bin/pip" install' not in text and "$VENV/bin/pip" not in text


def tree(root: Path) -> dict[str, tuple[str, int, float, str]]:
    """Every path under root: (kind, mode, mtime, content or link target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = ("link", 0, 0.0, os.readlink(path))
        elif path.is_dir():
            found[str(path.relative_to(root))] = ("dir", stat.S_IMODE(info.st_mode), 0.0, "")
        else:
            found[str(path.relative_to(root))] = (
                "file",
                stat.S_IMODE(info.st_mode),
                info.st_mtime,
                path.read_text(errors="replace"),
            )
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    root = tmp_path_factory.mktemp("pi-root")
    first = run_install("--root", str(root), "--station-id", "clinic-1")
    assert first.returncode == 0, first.stdout + first.stderr
    before = tree(root)
    second = run_install("--root", str(root), "--station-id", "clinic-1")
    assert second.returncode == 0, second.stdout + second.stderr
    assert tree(root) == before, "the second run changed the tree"
    return root, first.stdout, second.stdout


def test_root_install_places_every_file(installed: tuple[Path, str, str]) -> None:
    root, out, _ = installed
    for name in SYSTEM_UNITS:
        assert (root / "etc/systemd/system" / name).read_bytes() == (UNITS / name).read_bytes()
    config = (root / "etc/dexterity-station/station.toml").read_text()
    assert 'id = "clinic-1"' in config
    assert 'data_dir = "/var/lib/dexterity-station"' in config
    from station.config import load_config

    loaded = load_config(root / "etc/dexterity-station/station.toml")
    assert loaded.station_id == "clinic-1"
    for folder, mode in (
        ("var/lib/dexterity-station", 0o700),
        ("var/backups/dexterity-station", 0o700),
    ):
        assert stat.S_IMODE((root / folder).stat().st_mode) == mode
    assert (
        "STATION_BACKUP_DIR=/var/backups/dexterity-station"
        in (root / "etc/dexterity-station/backup.env").read_text()
    )
    # one server process on a Pi with 1 GB: said where it is set
    assert "#STATION_WORKERS=1" in (root / "etc/dexterity-station/server.env").read_text()
    wrapper = root / "usr/local/bin/station"
    assert wrapper.stat().st_mode & 0o111 and "STATION_USER=dexterity" in wrapper.read_text()
    tmpfiles = (root / "etc/tmpfiles.d/dexterity-station.conf").read_text()
    assert "d /run/dexterity-station 0700 dexterity dexterity" in tmpfiles
    assert (root / "opt/dexterity-station/docs/operator.md").exists()
    # what needs the real system is said to be skipped, each one
    skipped = [line for line in out.splitlines() if "skipped under --root" in line]
    for what in (
        "apt-get install",
        "useradd --system",
        "pip install",
        "serve --init",
        "systemctl daemon-reload",
        "systemd-tmpfiles --create",
        "chown dexterity",
    ):
        assert any(what in line for line in skipped), what


@needs_systemd_tools
def test_root_install_enables_the_units(installed: tuple[Path, str, str]) -> None:
    root, _, second = installed
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert {p.name for p in wants.iterdir()} == {
        "dexterity-server.service",
        "dexterity-kiosk.service",
    }
    timers = root / "etc/systemd/system/timers.target.wants"
    assert {p.name for p in timers.iterdir()} == {
        "dexterity-backup.timer",
        "dexterity-health.timer",
    }
    assert "nothing to change: already installed" in second
    assert not [line for line in second.splitlines() if line.strip().startswith("+ ")]


@needs_systemd_tools
def test_systemd_analyze_verify_on_the_installed_units(
    installed: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, _, _ = installed
    # verify resolves ExecStart inside --root: the real console script, copied byte for byte
    real = Path(sys.prefix) / "bin" / "station"
    target = root / VENV_STATION.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(real, target)
    version = subprocess.run([str(target), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "station" in version.stdout
    # the system's own units (sysinit.target, network-online.target, ...) under the root
    system_units = Path("/usr/lib/systemd/system")
    if not (root / "usr/lib/systemd/system").exists():
        (root / "usr/lib/systemd").mkdir(parents=True, exist_ok=True)
        shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    if not (root / "lib").exists():
        (root / "lib").symlink_to("usr/lib")
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *SYSTEM_UNITS],
        capture_output=True,
        text=True,
        cwd=root / "etc/systemd/system",
        timeout=120,
    )
    # verify exits 0 on mere warnings: any output at all is a finding
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), (
        done.stdout + done.stderr
    )
    # the desktop session's user unit: --user cannot take --root, so it is verified as a copy
    # naming this checkout's real console script
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    copy = runtime / "dexterity-kiosk.service"
    copy.write_text(
        (UNITS / "user/dexterity-kiosk.service").read_text().replace(VENV_STATION, str(real))
    )
    done = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(copy)],
        capture_output=True,
        text=True,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)),
        timeout=120,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


@needs_systemd_tools
def test_verify_catches_a_broken_unit(installed: tuple[Path, str, str], tmp_path: Path) -> None:
    """The check above can fail: a unit with a mistake gives output."""
    root, _, _ = installed
    bad = root / "etc/systemd/system/dexterity-broken.timer"
    bad.write_text(
        (UNITS / "dexterity-backup.timer")
        .read_text()
        .replace("OnBootSec=15min", "OnBootSec=fifteen minutes")
    )
    try:
        done = subprocess.run(
            ["systemd-analyze", "verify", f"--root={root}", bad.name],
            capture_output=True,
            text=True,
            cwd=bad.parent,
            timeout=120,
        )
    finally:
        bad.unlink()
    assert "Failed to parse" in done.stdout + done.stderr


def no_system_kiosk(root: Path) -> None:
    system = root / "etc/systemd/system"
    assert not (system / "dexterity-kiosk.service").exists()
    assert not (system / "dexterity-kiosk.service.d").exists()
    assert not os.path.lexists(system / "multi-user.target.wants" / "dexterity-kiosk.service")


def test_desktop_kiosk_with_the_desktop_user(tmp_path: Path) -> None:
    done = run_install(
        "--root", str(tmp_path), "--kiosk", "desktop", "--user", "pi", "--station-id", "c2"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    system = tmp_path / "etc/systemd/system"
    for name in ("dexterity-server", "dexterity-backup", "dexterity-health"):
        dropin = (system / f"{name}.service.d" / "10-user.conf").read_text()
        assert "User=pi" in dropin
    assert (tmp_path / "etc/systemd/user/dexterity-kiosk.service").exists()
    no_system_kiosk(tmp_path)  # the desktop's kiosk is the user service alone
    assert "autostart/dexterity-kiosk.desktop" in done.stdout  # skipped: the user's home


@needs_systemd_tools
def test_a_desktop_install_after_a_kms_one_removes_the_system_kiosk(tmp_path: Path) -> None:
    args = ("--root", str(tmp_path), "--user", "pi", "--station-id", "c3")
    first = run_install(*args, "--kiosk", "kms")
    assert first.returncode == 0, first.stdout + first.stderr
    system = tmp_path / "etc/systemd/system"
    assert (system / "dexterity-kiosk.service.d" / "10-user.conf").exists()
    assert (system / "multi-user.target.wants" / "dexterity-kiosk.service").is_symlink()
    assert not (tmp_path / "etc/systemd/user/dexterity-kiosk.service").exists()
    second = run_install(*args, "--kiosk", "desktop")
    assert second.returncode == 0, second.stdout + second.stderr
    commands = [line[5:] for line in second.stdout.splitlines() if line.startswith("   + ")]
    disable = f"systemctl --root={tmp_path} disable dexterity-kiosk.service"
    assert disable in commands
    assert commands.index(disable) < commands.index(f"rm -f {system}/dexterity-kiosk.service")
    no_system_kiosk(tmp_path)
    assert (tmp_path / "etc/systemd/user/dexterity-kiosk.service").exists()
    assert (system / "multi-user.target.wants" / "dexterity-server.service").is_symlink()
    third = run_install(*args, "--kiosk", "desktop")
    assert "nothing to change: already installed" in third.stdout
    # and back: a KMS install removes the user service
    fourth = run_install(*args, "--kiosk", "kms")
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert (system / "dexterity-kiosk.service").exists()
    assert not (tmp_path / "etc/systemd/user/dexterity-kiosk.service").exists()


def test_desktop_dry_run_prints_the_autostart_entry_and_its_owner(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", me.pw_name) or not Path(me.pw_dir).is_dir():
        pytest.skip(f"this user ({me.pw_name}) cannot stand in for the desktop's user")
    entry = Path(me.pw_dir) / ".config/autostart/dexterity-kiosk.desktop"
    if entry.exists():
        pytest.skip(f"{entry} exists on this machine")
    done = run_install("--dry-run", "--kiosk", "desktop", "--user", me.pw_name)
    assert done.returncode == 0, done.stderr
    commands = [line[5:] for line in done.stdout.splitlines() if line.startswith("   + ")]
    copy = next(n for n, c in enumerate(commands) if c.endswith(str(entry)))
    assert commands[copy].startswith("install -m 0644 ")
    group = subprocess.run(["id", "-gn", me.pw_name], capture_output=True, text=True).stdout
    assert commands[copy + 1] == f"chown {me.pw_name}:{group.strip()} {entry}"
    if not entry.parent.is_dir():  # made first, owned by the desktop's user
        made = [c for c in commands[:copy] if c.endswith(str(entry.parent))]
        assert made and made[0].startswith(f"install -d -o {me.pw_name} ")
    assert not any(c.endswith("/etc/systemd/system/dexterity-kiosk.service") for c in commands)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    done = run_install("--kiosk", "tv", "--dry-run")
    assert done.returncode == 2 and "--kiosk" in done.stderr
    done = run_install("--root", str(tmp_path / "missing"))
    assert done.returncode == 2 and "not a folder" in done.stderr
    done = run_install("--bogus")
    assert done.returncode == 2 and "unknown option" in done.stderr
