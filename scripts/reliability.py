"""The reliability suite of issue 7 item 4, on the simulated station (run by scripts/reliability).

Parts (each returns a dict of counts; ``ok`` is False when something was lost or unclear):

* ``power``: a real ``station assess --fast`` process is killed with SIGKILL at a random moment
  (a seeded delay after its first line), again and again into the same store. After each kill the
  store is opened as the station opens it (writer lock, recovery), ``PRAGMA integrity_check`` must
  say ok, every trial the child reported as done (it prints a trial's status line only after
  ``finish_trial`` has committed) must be there with events, samples and metrics whose headline
  equals the printed one, the trial it was recording must be ``incomplete`` and flagged
  interrupted, and every trial checked after an earlier kill must still hold the same rows.
* ``faults``: a battery through the real step runner on the simulated rig with I2C errors at 1 %
  of transactions, an ADC (pad) unplugged mid-trial, a chattering button and a stuck button.
* ``disk``: ``station assess`` in a child limited by RLIMIT_FSIZE (SIGXFSZ ignored, so writes fail
  with EFBIG as on a full disk): a clear message and no traceback, the database sound afterwards.
* ``input``: malformed configuration, battery, program and profile files and a corrupted
  database through the CLI: exit status 1 or 2, a clear message, no traceback.

Malformed API requests are fuzzed by tests/web/test_web_openapi.py (schemathesis), and the load
part is ``station bench-server``; neither is repeated here.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import queue
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from station.store import INTERRUPTED_FAULT, Store, StoreError  # noqa: E402

STATUS_LINE = re.compile(r"^   (complete|incomplete|timeout|invalid): (.*)$")
READY_TIMEOUT_S = 120.0
FINISHED = ("complete", "incomplete", "timeout", "invalid")


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "STATION_HARDWARE": "sim",
        "STATION_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("STATION_CONFIG", None)
    return env


def station_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "station.cli", *args]


# -- 1. power loss --------------------------------------------------------------------------------


class _Lines:
    """A child's stdout lines, read by a thread so that the parent can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._proc = proc
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pred: Callable[[str], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.lines.append(line)
            if pred(line):
                return True

    def drain(self) -> list[str]:
        """Every line, once the child has ended; closes the pipe."""
        self._thread.join(timeout=30)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.lines


def _fingerprints(store: Store, ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """(events, samples, metrics) rows held by each trial."""
    if not ids:
        return {}
    marks = ",".join(str(int(i)) for i in ids)
    out: dict[int, list[int]] = {i: [0, 0, 0] for i in ids}
    with store.engine.connect() as conn:
        for k, sql in enumerate(
            (
                f"SELECT trial_id, count(*) FROM events WHERE trial_id IN ({marks}) GROUP BY 1",
                f"SELECT trial_id, sum(n) FROM samples WHERE trial_id IN ({marks}) GROUP BY 1",
                f"SELECT trial_id, count(*) FROM metrics WHERE trial_id IN ({marks}) GROUP BY 1",
            )
        ):
            for tid, n in conn.exec_driver_sql(sql):
                out[tid][k] = int(n)
    return {i: (v[0], v[1], v[2]) for i, v in out.items()}


def assess_command(code: str, seed: int, battery: str = "nine_hole_peg") -> list[str]:
    """The recording child: ``station assess`` on the simulated rig, as fast as it can."""
    return station_cmd(
        "assess", "--participant", code, "--battery", battery, "--fast", "--seed", str(seed)
    )


def _kill_after(proc: subprocess.Popen[str], delay_s: float) -> bool:
    """SIGKILL ``proc`` after ``delay_s`` unless it ends first; whether it was killed."""
    try:
        proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True
    return False


def _kill_at_result(proc: subprocess.Popen[str], out: _Lines, results: int) -> bool:
    """SIGKILL ``proc`` as soon as it has printed ``results`` trial results (the last one's
    commit done, the next trial not begun); whether it was killed (else it ended first)."""
    seen = [0]

    def enough(line: str) -> bool:
        seen[0] += STATUS_LINE.match(line) is not None
        return seen[0] >= results

    if out.wait_for(enough, READY_TIMEOUT_S) and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True
    proc.wait(timeout=READY_TIMEOUT_S)
    return False


def power_loss(
    kills: int,
    *,
    seed: int = 20261122,
    work_dir: Path,
    max_delay_s: float = 8.0,
    between_trials_every: int = 10,
    command: Callable[[str, int], list[str]] = assess_command,
    log: Callable[[str], None] = lambda _s: None,
) -> dict[str, Any]:
    """``kills`` runs of ``station assess --fast``, each killed with SIGKILL at a random moment;
    every ``between_trials_every``-th run instead the moment a trial's result is printed (its
    commit done, the next trial not begun: between two trials)."""
    from station.assess import headline
    from station.protocols import get_protocol

    rng = random.Random(seed)
    data_dir = work_dir / "data"
    env = child_env(data_dir)
    stderr_log = work_dir / "children.stderr"
    verified: dict[int, tuple[int, int, int]] = {}
    res: dict[str, Any] = {
        "kills": 0,
        "kills_between_trials": 0,
        "finished_before_kill": 0,
        "reported_trials": 0,
        "completed_trials_checked": 0,
        "committed_unreported": 0,
        "interrupted_flagged": 0,
        "lost": 0,
        "integrity_failures": 0,
        "problems": [],
    }

    def problem(text: str) -> None:
        res["problems"].append(text)
        log(f"  PROBLEM: {text}")

    started = time.monotonic()
    for k in range(kills):
        code = f"PL{k:04d}"
        with stderr_log.open("a") as err:
            proc = subprocess.Popen(
                command(code, seed + k),
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        out = _Lines(proc)
        try:
            if not out.wait_for(lambda s: s.startswith("== "), READY_TIMEOUT_S):
                problem(f"kill {k}: the child did not start recording: {out.lines[-3:]}")
                continue
            if between_trials_every and k % between_trials_every == between_trials_every - 1:
                killed = _kill_at_result(proc, out, rng.randint(1, 3))
                res["kills_between_trials"] += killed
            else:
                killed = _kill_after(proc, rng.uniform(0.0, max_delay_s))
            res["kills" if killed else "finished_before_kill"] += 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            lines = out.drain()
        reported = [m for line in lines if (m := STATUS_LINE.match(line))]
        res["reported_trials"] += len(reported)

        try:
            store = Store.open(data_dir)
        except StoreError as exc:
            res["integrity_failures"] += 1
            problem(f"kill {k}: the store does not open: {exc}")
            break
        try:
            check = store.integrity_check()
            if check != "ok":
                res["integrity_failures"] += 1
                problem(f"kill {k}: integrity_check: {check}")
            trials = sorted(store.iter_trials(participant_code=code), key=lambda t: t.seq)
            for i, m in enumerate(reported):
                if i >= len(trials):
                    res["lost"] += 1
                    problem(f"kill {k}: reported trial {i + 1} of {code} is not in the store")
                    continue
                t = trials[i]
                data = store.trial_data(t.id)
                ok = (
                    t.status == m.group(1)
                    and INTERRUPTED_FAULT not in t.faults
                    and len(data.events) > 0
                    and data.samples
                    and all(p.t_ns.size > 0 for p in data.samples.values())
                    and t.metrics
                    and headline(list(t.metrics), get_protocol(t.protocol).key_metrics)
                    == m.group(2)
                )
                if not ok:
                    res["lost"] += 1
                    problem(f"kill {k}: trial {t.id} ({code} seq {t.seq}) differs from the report")
                    continue
                res["completed_trials_checked"] += 1
            for t in trials[len(reported) :]:
                if t.status == "incomplete" and INTERRUPTED_FAULT in t.faults:
                    res["interrupted_flagged"] += 1
                    if _fingerprints(store, [t.id])[t.id] != (0, 0, 0):
                        problem(f"kill {k}: interrupted trial {t.id} holds partial raw data")
                elif t.status in FINISHED:
                    res["committed_unreported"] += 1  # killed between the commit and the print
                else:
                    problem(f"kill {k}: trial {t.id} left {t.status!r} after recovery")
            new_ids = [t.id for t in trials if INTERRUPTED_FAULT not in t.faults]
            now = _fingerprints(store, [*verified, *new_ids])
            for tid, want in verified.items():
                if now[tid] != want:
                    res["lost"] += 1
                    problem(f"kill {k}: trial {tid} changed since it was checked: {now[tid]}")
            verified.update({tid: now[tid] for tid in new_ids})
            with store.engine.connect() as conn:
                for table in ("trials", "sessions"):
                    running = conn.exec_driver_sql(
                        f"SELECT count(*) FROM {table} WHERE status = 'running'"
                    ).scalar_one()
                    if running:
                        problem(f"kill {k}: {running} {table} still 'running' after recovery")
        finally:
            store.close()
        log(
            f"kill {k + 1}/{kills}: {len(reported)} reported, "
            f"{res['completed_trials_checked']} checked so far, lost {res['lost']}"
        )
    res["trials_in_store"] = len(verified)
    res["elapsed_s"] = round(time.monotonic() - started, 1)
    res["ok"] = (
        res["lost"] == 0
        and res["integrity_failures"] == 0
        and not res["problems"]
        and res["kills"] + res["finished_before_kill"] == kills
    )
    return res


# -- 2. hardware faults ---------------------------------------------------------------------------

FAULT_BATTERY = """
name = "reliability_faults"
title = "Reliability: a force hold and finger tapping"

[[step]]
protocol = "force_steadiness"
hands = ["dominant"]
trials = 2
[step.params]
hold_s = 3.0
settle_s = 0.5
welch_segment_s = 1.0
foreperiod_s = 0.5

[[step]]
protocol = "finger_tapping"
hands = ["dominant"]
trials = 2
[step.params]
duration_s = 4.0
foreperiod_s = 1.0
"""

NS_PER_MS = 1_000_000


class _Env:
    """Environment variables set for a block (the station reads its backend and folder there)."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v
        self.saved["STATION_CONFIG"] = os.environ.pop("STATION_CONFIG", None)

    def __exit__(self, *exc: object) -> None:
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pad_accounting(data: Any, flagged: bool) -> list[str]:
    """Every pad's conversions are a sample or a flagged gap: samples plus the conversions in its
    gaps cover the recording's span at the pad's sampling period (within 1 %). A pad with
    (almost) no samples is acceptable only in a trial flagged with faults (its ADC was gone)."""
    import numpy as np

    problems = []
    for name, pad in data.samples.items():
        t = pad.t_ns
        if t.size < 10:
            if not flagged:
                problems.append(f"pad {name}: only {t.size} samples and no fault flagged")
            continue
        if not bool(np.all(np.diff(t) > 0)):
            problems.append(f"pad {name}: sample times not increasing")
        period_ns = float(np.median(np.diff(t)))
        expected = (int(t[-1]) - int(t[0])) / period_ns + 1
        in_gaps = sum(int(g.get("count", 0)) for g in pad.gaps if t[0] <= g["t_first_ns"] <= t[-1])
        if abs(t.size + in_gaps - expected) > max(3.0, 0.01 * expected):
            problems.append(
                f"pad {name}: {t.size} samples + {in_gaps} in gaps, expected {expected:.0f}"
            )
    return problems


def _run_fault_scenario(
    name: str, work_dir: Path, seed: int, inject: Callable[[Any, Any, str, str], None]
) -> dict[str, Any]:
    """One battery on a fresh simulated station; ``inject(rig, phase, event, title)`` is called
    once before it (event ``setup``) and at every phase change (``title``: the protocol's),
    between simulation steps."""
    from hardware.sim.participant import VirtualParticipant
    from station.assess import run_battery
    from station.battery import load_battery
    from station.config import load_config
    from station.errors import StationError
    from station.rig import open_rig

    data_dir = work_dir / name
    (data_dir / "batteries").mkdir(parents=True, exist_ok=True)
    (data_dir / "batteries" / "reliability_faults.toml").write_text(FAULT_BATTERY)
    with _Env(STATION_HARDWARE="sim", STATION_DATA_DIR=str(data_dir)):
        config = load_config(None)
        battery = load_battery("reliability_faults", config.data_dir)
        rig = open_rig(config)
        store = Store.open(config.data_dir)
        said: list[str] = []
        current = {"protocol": ""}
        try:
            participant = store.add_participant("RF01", dominant_hand="right")

            def say(text: str) -> None:  # "== <title>: <hand> hand ==" opens a protocol
                said.append(text)
                if text.strip().startswith("== "):
                    current["protocol"] = text.strip()[3:].split(":")[0]

            def on_phase(phase: Any, event: str) -> None:
                inject(rig, phase, event, current["protocol"])

            inject(rig, None, "setup", "")
            try:
                run_battery(
                    rig,
                    store,
                    participant,
                    battery,
                    person=VirtualParticipant("healthy", seed),
                    say=say,
                    on_phase=on_phase,
                )
                error, clean = None, True
            except StationError as exc:  # stopped with a message for the operator: clean
                error, clean = str(exc), True
            except Exception as exc:  # an internal error: the figure is that it did not happen
                error, clean = f"{type(exc).__name__}: {exc}", False
            out: dict[str, Any] = {"error": error, "stopped_cleanly": clean, "problems": []}
            sessions = store.participant_sessions("RF01")
            out["session_status"] = sessions[-1].status if sessions else None
            trials = store.iter_trials(participant_code="RF01")
            out["trials"] = len(trials := list(trials))
            out["trials_flagged"] = sum(1 for t in trials if t.faults)
            out["faults"] = sorted({f for t in trials for f in t.faults})
            out["statuses"] = [t.status for t in trials]
            out["integrity"] = store.integrity_check()
            for t in trials:
                if t.status == "running":
                    out["problems"].append(f"trial {t.id} left running")
                    continue
                data = store.trial_data(t.id)
                out["problems"] += [
                    f"trial {t.id}: {x}" for x in _pad_accounting(data, bool(t.faults))
                ]
                pad_gaps = sum(len(p.gaps) for p in data.samples.values())
                if (pad_gaps or t.gaps) and not t.faults:
                    out["problems"].append(f"trial {t.id}: gaps but no fault flagged")
            datas = [store.trial_data(t.id) for t in trials]
            out["events"] = sum(len(d.events) for d in datas)
            out["pad_samples"] = sum(p.t_ns.size for d in datas for p in d.samples.values())
            out["pad_gap_conversions"] = sum(
                int(g.get("count", 0)) for d in datas for p in d.samples.values() for g in p.gaps
            )
            out["said"] = [s for s in said if "fault" in s][:5]
        finally:
            store.close()
            rig.close()
    return out


FORCE_TITLE = "Force steadiness and tremor"
TAPPING_TITLE = "Finger Tapping Test"


def _i2c_errors(rig: Any, phase: Any, event: str, title: str, done: list[int]) -> None:
    if event == "setup":
        rig.i2c.error_rate = 0.01  # the bus's seeded generator: 1 % of transactions fail


def _unplug_pad(rig: Any, phase: Any, event: str, title: str, done: list[int]) -> None:
    if title == FORCE_TITLE and event == "enter" and phase.kind == "active" and not done:
        done.append(1)
        rig.world.unplug_adc(rig.config.adc("adc0").address)  # stays unplugged


def _chatter(rig: Any, phase: Any, event: str, title: str, done: list[int]) -> None:
    if title == TAPPING_TITLE and event == "enter" and phase.kind == "active" and not done:
        done.append(1)
        spec = rig.config.input("btn_index")
        now = rig.clock.now_ns()  # 300 edges 2 ms apart: above the core's chatter threshold
        edges = [(now + NS_PER_MS + k * 2 * NS_PER_MS, k % 2) for k in range(300)]
        rig.world.play_edges(spec.gpio, edges, active_low=spec.active_low)


def _stuck_button(rig: Any, phase: Any, event: str, title: str, done: list[int]) -> None:
    if event == "setup":  # the index button closed before anything opens its line
        spec = rig.config.input("btn_index")
        closed_level = not spec.active_low
        rig.factory.mock_pin(spec.gpio).drive_at(closed_level, rig.clock.now_ns())


FAULTS: dict[str, tuple[Callable[..., None], str]] = {
    # scenario: (injection, a text the stored faults must contain)
    "i2c_errors_1pct": (_i2c_errors, "I2C read failed"),
    "pad_unplugged": (_unplug_pad, "no answer on I2C"),
    "chattering_switch": (_chatter, "chattering"),
    "stuck_button": (_stuck_button, "held down or stuck"),
}


def hardware_faults(
    *, work_dir: Path, seed: int = 1, log: Callable[[str], None] = lambda _s: None
) -> dict[str, Any]:
    """Each fault through a real battery run on a fresh simulated station."""
    res: dict[str, Any] = {"scenarios": 0, "clean": 0, "problems": [], "detail": {}}
    for name, (inject, expect) in FAULTS.items():
        out = _run_fault_scenario(name, work_dir, seed, functools.partial(inject, done=[]))
        res["scenarios"] += 1
        problems = list(out.pop("problems"))
        if not out["stopped_cleanly"]:
            problems.append(f"stopped with an internal error: {out['error']}")
        if out["session_status"] not in ("complete", "incomplete", "aborted"):
            problems.append(f"session left {out['session_status']!r}")
        if out["integrity"] != "ok":
            problems.append(f"integrity_check: {out['integrity']}")
        if not any(expect in f for f in out["faults"]):
            problems.append(f"no stored fault mentions {expect!r}")
        if out["trials_flagged"] == 0:
            problems.append("no trial flagged")
        res["problems"] += [f"{name}: {x}" for x in problems]
        res["clean"] += not problems
        res["detail"][name] = {
            k: out[k]
            for k in (
                "session_status",
                "error",
                "trials",
                "trials_flagged",
                "statuses",
                "events",
                "pad_samples",
                "pad_gap_conversions",
            )
        }
        log(f"{name}: {'ok' if not problems else 'FAIL'} {res['detail'][name]}")
    res["ok"] = res["clean"] == res["scenarios"] and not res["problems"]
    return res


# -- 3. full disk ---------------------------------------------------------------------------------

#: What the station must say when the disk is full (station.store's error translation).
DISK_MESSAGE = "the disk may be full"


def _limit_file_size(limit_bytes: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec: writes past the limit fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def full_disk(*, work_dir: Path, log: Callable[[str], None] = lambda _s: None) -> dict[str, Any]:
    """``station assess`` with no room to write (refuse to start) and with room for about one
    trial (stop mid-battery): a clear message, no traceback, a sound database, nothing lost."""
    res: dict[str, Any] = {"scenarios": 0, "clean": 0, "problems": [], "detail": {}}
    for name, room_bytes in (("no_room", None), ("room_for_one_trial", 520_000)):
        data_dir = work_dir / name
        store = Store.open(data_dir)
        store.add_participant("FD01")
        store.close()
        used = sum(p.stat().st_size for p in data_dir.iterdir() if p.is_file())
        limit = 4096 if room_bytes is None else used + room_bytes
        proc = subprocess.run(
            station_cmd("assess", "--participant", "FD01", "--battery", "nine_hole_peg", "--fast"),
            cwd=REPO,
            env=child_env(data_dir, PYTHONDONTWRITEBYTECODE="1"),
            preexec_fn=_limit_file_size(limit),
            capture_output=True,
            text=True,
            timeout=600,
        )
        reported = [m for line in proc.stdout.splitlines() if (m := STATUS_LINE.match(line))]
        errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
        problems = []
        if proc.returncode not in (1, 2):
            problems.append(f"exit status {proc.returncode} (expected 1 or 2)")
        if "Traceback" in proc.stderr:
            problems.append("a traceback: " + proc.stderr.strip().splitlines()[-1])
        if not any(DISK_MESSAGE in line for line in errors):
            problems.append(f"no clear message: {errors[-1:] or proc.stderr.strip()[-200:]}")
        store = Store.open(data_dir)
        try:
            integrity = store.integrity_check()
            if integrity != "ok":
                problems.append(f"integrity_check: {integrity}")
            trials = sorted(store.iter_trials(participant_code="FD01"), key=lambda t: t.seq)
            kept = [t for t in trials if t.status in ("complete", "timeout")]
            if len(kept) < len(reported):
                problems.append(f"{len(reported)} trials reported, {len(kept)} kept: lost")
            if any(t.status == "running" for t in trials):
                problems.append("a trial left running")
            for t in kept:
                if not store.trial_data(t.id).events:
                    problems.append(f"trial {t.id} kept without its events")
            sessions = store.participant_sessions("FD01")
        finally:
            store.close()
        res["scenarios"] += 1
        res["clean"] += not problems
        res["problems"] += [f"{name}: {x}" for x in problems]
        res["detail"][name] = {
            "limit_bytes": limit,
            "exit_status": proc.returncode,
            "message": errors[-1] if errors else "",
            "trials_reported": len(reported),
            "trials_stored": [t.status for t in trials],
            "sessions": [s.status for s in sessions],
        }
        log(f"{name}: {'ok' if not problems else 'FAIL'} {res['detail'][name]}")
    res["ok"] = res["clean"] == res["scenarios"]
    return res


# -- 4. bad input ---------------------------------------------------------------------------------

BAD_FILES: dict[str, tuple[str, str]] = {
    # case: (file name, content)
    "config_syntax": ("station.toml", "[station\nhardware = 'sim'\n"),
    "config_value": ("station.toml", "[station]\nhardware = 5\n"),
    "battery_syntax": ("batteries/broken.toml", "name = 'broken'\n[[step]\nprotocol = 'x'\n"),
    "battery_protocol": (
        "batteries/broken.toml",
        "name = 'broken'\n[[step]]\nprotocol = 'no_such_test'\nhands = ['dominant']\n",
    ),
    "program_syntax": ("program.toml", 'name = "p"\n[[level]\n'),
    "program_values": ("program.toml", "name = 5\n[[level]]\nexercises = 'many'\n"),
    "profile_value": (
        "profile.toml",
        "[tapping]\nsync_correction_gain = 1.5\n",
    ),
}


def _bad_command(case: str, path: Path) -> list[str]:
    if case.startswith("config"):
        return ["--config", str(path), "config", "check"]
    if case.startswith("battery"):
        return ["assess", "--participant", "BI01", "--battery", "broken", "--fast"]
    if case.startswith("program"):
        return ["programs", "check", str(path)]
    return ["assess", "--participant", "BI01", "--sim-profile", str(path), "--fast"]


def _corrupt(db: Path, *, first_page: int, pages: int, seed: int) -> None:
    """Overwrite ``pages`` pages of the database file with random bytes."""
    rng = random.Random(seed)
    page = 4096
    with db.open("r+b") as f:
        f.seek(first_page * page)
        f.write(rng.randbytes(pages * page))


def bad_input(*, work_dir: Path, log: Callable[[str], None] = lambda _s: None) -> dict[str, Any]:
    """Each bad file through the CLI: exit status 1 or 2, a message, no traceback."""
    res: dict[str, Any] = {"cases": 0, "clear": 0, "problems": [], "detail": {}}

    def run(
        name: str, data_dir: Path, args: list[str], expect: tuple[int, ...], said: str = "error"
    ) -> None:
        """``said``: the message is the first line of stderr, or of stdout, containing it."""
        proc = subprocess.run(
            station_cmd(*args),
            cwd=REPO,
            env=child_env(data_dir),
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = proc.stderr.splitlines() + proc.stdout.splitlines()
        message = next((x.strip() for x in lines if said in x.lower()), "")
        problems = []
        if proc.returncode not in expect:
            problems.append(f"exit status {proc.returncode} (expected {expect})")
        if "Traceback" in proc.stderr or "Traceback" in proc.stdout:
            problems.append("a traceback")
        if not message:
            problems.append(f"no message saying {said!r}")
        res["cases"] += 1
        res["clear"] += not problems
        res["problems"] += [f"{name}: {x}" for x in problems]
        res["detail"][name] = {"exit_status": proc.returncode, "message": message[:300]}
        log(f"{name}: {'ok' if not problems else 'FAIL'} {res['detail'][name]}")

    for case, (file_name, content) in BAD_FILES.items():
        data_dir = work_dir / case
        path = data_dir / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        run(case, data_dir, _bad_command(case, path), (1, 2))

    for case, first_page, pages in (("database_header", 0, 1), ("database_pages", 2, 6)):
        data_dir = work_dir / case
        store = Store.open(data_dir)
        for k in range(200):
            store.add_participant(f"DB{k:03d}", notes="x" * 200)
        store.close()
        _corrupt(data_dir / "station.sqlite", first_page=first_page, pages=pages, seed=first_page)
        run(f"{case}: participants list", data_dir, ["participants", "list"], (1, 2))
        run(
            f"{case}: doctor", data_dir, ["doctor", "--no-hardware"], (1,), "fail  station database"
        )
    res["ok"] = res["clear"] == res["cases"]
    return res


# -- command line ---------------------------------------------------------------------------------

PARTS = ("power", "faults", "disk", "input")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/reliability", description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=200, help="power loss: kills (default 200)")
    p.add_argument(
        "--max-delay-s",
        type=float,
        default=8.0,
        help="power loss: latest kill, in s after the first line (default 8)",
    )
    p.add_argument(
        "--between-trials-every",
        type=int,
        default=10,
        metavar="N",
        help="power loss: every Nth kill lands as a trial's result is printed, between two "
        "trials (default 10; 0: never)",
    )
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    p.add_argument("--work-dir", type=Path, help="keep the stores here (default: a temp dir)")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {', '.join(unknown)} (expected: {', '.join(PARTS)})")
    if args.kills < 1:
        p.error("--kills must be at least 1")
    if args.between_trials_every < 0:
        p.error("--between-trials-every must be 0 or more")

    logging.basicConfig(level=logging.ERROR)  # the faults injected are counted, not logged

    def log(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base = args.work_dir or Path(tmp)
        results: dict[str, Any] = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        for part in parts:
            work = base / part
            work.mkdir(parents=True, exist_ok=True)
            log(f"== {part}")
            if part == "power":
                results[part] = power_loss(
                    args.kills,
                    seed=args.seed,
                    work_dir=work,
                    max_delay_s=args.max_delay_s,
                    between_trials_every=args.between_trials_every,
                    log=log,
                )
            elif part == "faults":
                results[part] = hardware_faults(work_dir=work, seed=args.seed, log=log)
            elif part == "disk":
                results[part] = full_disk(work_dir=work, log=log)
            else:
                results[part] = bad_input(work_dir=work, log=log)
    print(summary_table(results))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if all(r.get("ok") for k, r in results.items() if k in PARTS) else 1


def summary_table(results: dict[str, Any]) -> str:
    rows = [f"{'part':<8} {'result':<6} figures"]
    for part in PARTS:
        r = results.get(part)
        if r is None:
            continue
        figures = ", ".join(
            f"{k} {v}"
            for k, v in r.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        )
        rows.append(f"{part:<8} {'ok' if r.get('ok') else 'FAIL':<6} {figures}")
        rows += [f"{'':<15} ! {x}" for x in r.get("problems", [])]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
