"""``station bench-server``: the clinic server under load, and the timing core beside it.

One run does four things, each in its own process where it matters:

1. **Data**: a benchmark data folder with ``--sessions`` sessions (default 10,000) of
   ``--participants`` participants (default 500). A handful of sessions are *recorded* first by
   the real engine on the simulated rig (``station assess --fast`` in a subprocess, the virtual
   participant acting; ``--templates``); every other session is a *replica* of one of them,
   written through the store's public methods (``start_session``, ``start_trial``,
   ``finish_trial``, ``add_session_metrics``, ``end_session``) with its own date. Replicas keep
   the trials, metrics, events and cues of their recording; the force samples are copied into one
   session in ``--samples-every`` (default 10) to keep the folder at a few GB. The folder is kept
   with ``--data-dir`` and reused by later runs.
2. **Server**: ``station serve`` (the production server and code path) in a subprocess on a free
   port of 127.0.0.1 (plain HTTP), with its default processes and threads unless
   ``--server-workers``/``--server-threads`` say otherwise, with a benchmark clinician account
   and API token made through :class:`web.accounts.Accounts`; ready when ``/api/v1/me`` answers
   (polled, with a deadline). Its CPU time is that of all its processes.
3. **Load**: ``--clients`` (default 20) closed-loop clients, threads of one separate process
   (``http.client``, one keep-alive connection each), for ``--duration`` seconds or
   ``--requests`` requests, over a mix of API routes (token) and dashboard pages (each client
   signs in with the form, like a browser). Per URL group: requests, errors (any status other than
   2xx, or no answer), p50/p95/p99/max latency, requests per second.
4. **Timing core**: the figures of :mod:`station.bench` (zero-loss throughput, callback ->
   consumer latency at 1,000 edges/s, timestamps under GIL load) in another subprocess, first
   with the server idle, then while the load runs; lost edges and timestamp errors must stay 0.

Exit status: 0 when every request got a 2xx answer and no edge was lost (latency targets are
reported as PASS/MISS but do not change it), 1 otherwise, 2 for bad arguments.

Why a Python load client rather than ``wrk``: wrk reports one latency histogram per run and its
Lua ``response()`` hook is not given a request's latency, so p50/p95 *per URL group* of a mixed
load is not available from it; the client here times every request itself. It runs in its own
process (so the server's GIL is its own) and reports its CPU time next to the server's, so the
share of the machine it took is visible.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import platform
import random
import re
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import numpy as np

from station.config import StationConfig, reference_config_path
from station.errors import StationError, UsageError
from web.workers import default_workers

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1

DEFAULT_SESSIONS: Final = 10_000
DEFAULT_PARTICIPANTS: Final = 500
DEFAULT_SAMPLES_EVERY: Final = 10
DEFAULT_CLIENTS: Final = 20
#: A client's mean pause between requests: 20 clients then offer about 20 requests/s, a busy
#: clinic (a person reading a page pauses far longer); ``--think 0`` measures saturation.
DEFAULT_THINK_S: Final = 1.0
DEFAULT_DURATION_S: Final = 30.0
DEFAULT_WARMUP_S: Final = 2.0
DEFAULT_SERVER_THREADS: Final = 4  # what `station serve` uses by default
#: ``battery:profile:dominant hand`` of the recorded sessions; replicas of a participant copy
#: recordings made with the participant's dominant hand.
DEFAULT_TEMPLATES: Final = (
    "standard:healthy:right,nine_hole_peg:older:right,tapping:healthy:right,"
    "nine_hole_peg:nerve_injury:left,tapping:musician:left"
)
#: Issue 5's targets on the CI machine.
API_P95_TARGET_MS: Final = 100.0
DASHBOARD_P95_TARGET_MS: Final = 300.0

MARKER_FILENAME: Final = "bench-server.json"
BENCH_USER: Final = "bench-clinician"
SPAN_DAYS: Final = 730  # replicated sessions are spread over the two years before the build
SERVER_READY_TIMEOUT_S: Final = 60.0
RECORD_TIMEOUT_S: Final = 1800.0
TIMING_TIMEOUT_S: Final = 600.0
REQUEST_TIMEOUT_S: Final = 60.0
TIMING_SCALES: Final = {"full": 1.0, "quick": 0.2}
#: Edges per second of the latency run (the station's figure in docs/benchmarks.md).
LATENCY_RATE_PER_S: Final = 1000
#: Zero-loss throughput is tried at these rates, in order (the first is the target).
THROUGHPUT_RATES: Final = (100_000, 150_000)
NOTES: Final = (
    "",
    "",
    "",
    "hand therapy follow-up",
    "stroke rehabilitation",
    "carpal tunnel release",
    "healthy volunteer",
    "musician",
)


@dataclass(frozen=True)
class Group:
    """A kind of request of the mix: ``path`` may hold placeholders ``{code}``, ``{session_id}``,
    ``{raw_trial_id}`` and ``{page_query}``, filled at random for each request."""

    name: str
    kind: str  # "api" (API token) or "dashboard" (signed-in session cookie)
    path: str
    weight: float = 1.0


DEFAULT_GROUPS: Final = (
    Group("api_participants", "api", "/api/v1/participants?{page_query}"),
    Group("api_participant", "api", "/api/v1/participants/{code}"),
    Group("api_participant_sessions", "api", "/api/v1/participants/{code}/sessions"),
    Group("api_session", "api", "/api/v1/sessions/{session_id}"),
    Group("api_session_trials", "api", "/api/v1/sessions/{session_id}/trials"),
    Group("api_trial_raw", "api", "/api/v1/trials/{raw_trial_id}/raw"),
    Group("page_participants", "dashboard", "/participants"),
    Group("page_participant", "dashboard", "/participants/{code}"),
    Group("page_session", "dashboard", "/sessions/{session_id}"),
)
PLACEHOLDERS: Final = ("code", "session_id", "raw_trial_id", "page_query")
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_]+)\}")


class BenchError(StationError):
    """The benchmark could not run (the message says which part and why)."""


# ------------------------------------------------------------------------------------------------
# Arguments


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _workers(text: str) -> int:
    from web.workers import MAX_WORKERS

    value = _positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"give 1-{MAX_WORKERS} processes, got {value}")
    return value


def _threads(text: str) -> int:
    value = _positive_int(text)
    if value > 64:
        raise argparse.ArgumentTypeError(f"give 1-64 threads, got {value}")
    return value


def add_parsers(sub: Any, parser_class: type) -> None:
    b = sub.add_parser(
        "bench-server",
        help="the clinic server under load (10,000 sessions, 20 clients) and the timing core "
        "beside it; see docs/benchmarks.md",
    )
    data = b.add_argument_group("data")
    data.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the benchmark data folder: built there if new or empty, reused if it holds an "
        "earlier build (default: a temporary folder, deleted at the end)",
    )
    data.add_argument(
        "--sessions",
        type=_positive_int,
        default=None,
        help=f"sessions in a new folder (default {DEFAULT_SESSIONS:,})",
    )
    data.add_argument(
        "--participants",
        type=_positive_int,
        default=None,
        help=f"participants in a new folder (default {DEFAULT_PARTICIPANTS})",
    )
    data.add_argument(
        "--templates",
        default=None,
        metavar="LIST",
        help="the sessions recorded on the simulated rig, as battery:profile:hand separated by "
        f"commas (default {DEFAULT_TEMPLATES})",
    )
    data.add_argument(
        "--samples-every",
        type=_positive_int,
        default=None,
        metavar="K",
        help="replicas copy the force samples into one session in K "
        f"(default {DEFAULT_SAMPLES_EVERY}; 1: every session)",
    )
    data.add_argument(
        "--build-jobs",
        type=_threads,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="processes writing the replicas (default: 2, or 1 on a single CPU)",
    )
    load = b.add_argument_group("load")
    load.add_argument(
        "--clients",
        type=_positive_int,
        default=DEFAULT_CLIENTS,
        help=f"concurrent clients (default {DEFAULT_CLIENTS})",
    )
    load.add_argument(
        "--think",
        type=_non_negative_float,
        default=DEFAULT_THINK_S,
        metavar="S",
        help="each client's mean pause between its requests (exponential), as a person reading "
        f"a page or a script pacing its calls; 0: no pause, the server saturated (default "
        f"{DEFAULT_THINK_S:g})",
    )
    how_long = load.add_mutually_exclusive_group()
    how_long.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        metavar="S",
        help=f"seconds of load (default {DEFAULT_DURATION_S:g})",
    )
    how_long.add_argument(
        "--requests",
        type=_positive_int,
        default=None,
        metavar="N",
        help="stop after N requests in all instead of after a duration",
    )
    load.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=DEFAULT_WARMUP_S,
        metavar="S",
        help="seconds of load before the timing core is measured under it (with --duration; "
        f"default {DEFAULT_WARMUP_S:g})",
    )
    load.add_argument(
        "--groups",
        default=None,
        metavar="LIST",
        help="only these URL groups, separated by commas (default all: "
        + ", ".join(g.name for g in DEFAULT_GROUPS)
        + ")",
    )
    load.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="add a URL group (repeatable); PATH may use {code}, {session_id}, {raw_trial_id}, "
        "{page_query}; paths under /api/ use the token, others the signed-in session",
    )
    load.add_argument("--seed", type=int, default=1, help="seed of the clients' choices")
    b.add_argument(
        "--server-threads",
        type=_threads,
        default=DEFAULT_SERVER_THREADS,
        help=f"the server's worker threads (default {DEFAULT_SERVER_THREADS}, as station serve)",
    )
    b.add_argument(
        "--record",
        action="store_true",
        help="also record a Nine-Hole Peg Test battery (station assess --fast, simulated rig) "
        "into the served data folder while the load runs, and check that it is stored whole "
        "(adds one session to the folder)",
    )
    b.add_argument(
        "--server-workers",
        type=_workers,
        default=None,
        help="the server's processes (default: as station serve, 2 on a machine of two or "
        "more processors)",
    )
    b.add_argument(
        "--timing",
        choices=(*TIMING_SCALES, "off"),
        default="full",
        help="the timing-core measurement: full (about 6 s per run), quick (for tests), or off",
    )
    b.add_argument("--json", action="store_true", help="print the results as JSON")


def dispatch(args: argparse.Namespace, config: StationConfig) -> int | None:
    if args.command != "bench-server":
        return None
    options = options_from_args(args)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results = run_bench(options, say)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_results(results))
    return EXIT_OK if results["ok"] else EXIT_FAILED


# ------------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class Template:
    """A session recorded by the real engine on the simulated rig."""

    battery: str
    profile: str
    hand: str  # the dominant hand of the participant it is recorded with
    seed: int

    @property
    def label(self) -> str:
        return f"{self.battery}:{self.profile}:{self.hand}"


def parse_templates(text: str) -> list[Template]:
    templates = []
    for i, item in enumerate(x.strip() for x in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 3 or not all(parts):
            raise UsageError(
                f"--templates: {item!r} is not battery:profile:hand (e.g. standard:healthy:right)"
            )
        battery, profile, hand = parts
        if hand not in ("right", "left"):
            raise UsageError(f"--templates: {item!r}: the hand is right or left, got {hand!r}")
        for what, value in (("battery", battery), ("profile", profile)):
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
                raise UsageError(f"--templates: {item!r}: {value!r} is not a {what} name")
        templates.append(Template(battery, profile, hand, seed=i + 1))
    if not templates:
        raise UsageError("--templates: give at least one battery:profile:hand")
    return templates


def parse_url_group(text: str) -> Group:
    name, sep, path = text.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        raise UsageError(f"--url: {text!r} is not NAME=PATH (e.g. batteries=/api/v1/batteries)")
    if not path.startswith("/") or any(ord(c) <= 32 or ord(c) == 127 for c in path):
        raise UsageError(f"--url {name}: the path must start with '/' and have no spaces: {path!r}")
    unknown = sorted(set(_PLACEHOLDER.findall(path)) - set(PLACEHOLDERS))
    if unknown:
        raise UsageError(
            f"--url {name}: unknown placeholder {{{unknown[0]}}} (known: "
            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            + ")"
        )
    kind = "api" if path.startswith("/api/") else "dashboard"
    return Group(name, kind, path)


def select_groups(names: str | None, extra: Sequence[str]) -> list[Group]:
    groups = list(DEFAULT_GROUPS)
    if names is not None:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        known = {g.name: g for g in DEFAULT_GROUPS}
        for n in wanted:
            if n not in known:
                raise UsageError(f"--groups: unknown group {n!r} (known: {', '.join(known)})")
        groups = [known[n] for n in dict.fromkeys(wanted)]
    for text in extra:
        group = parse_url_group(text)
        if any(g.name == group.name for g in groups):
            raise UsageError(f"--url {group.name}: a group of that name is already in the mix")
        groups.append(group)
    if not groups:
        raise UsageError("no URL groups to request: give --groups or --url")
    return groups


@dataclass(frozen=True)
class Options:
    data_dir: Path | None = None
    sessions: int | None = None
    participants: int | None = None
    templates: str | None = None
    samples_every: int | None = None
    build_jobs: int = 1
    clients: int = DEFAULT_CLIENTS
    think_s: float = 0.0
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = DEFAULT_WARMUP_S
    groups: tuple[Group, ...] = DEFAULT_GROUPS
    seed: int = 1
    server_threads: int = DEFAULT_SERVER_THREADS
    server_workers: int = 1
    timing: str = "full"
    record: bool = False


def options_from_args(args: argparse.Namespace) -> Options:
    if args.templates is not None:
        parse_templates(args.templates)  # refuse a bad list before anything is done
    return Options(
        data_dir=args.data_dir,
        sessions=args.sessions,
        participants=args.participants,
        templates=args.templates,
        samples_every=args.samples_every,
        build_jobs=args.build_jobs,
        clients=args.clients,
        think_s=args.think,
        duration_s=args.duration
        if args.duration is not None or args.requests is not None
        else DEFAULT_DURATION_S,
        requests=args.requests,
        warmup_s=args.warmup,
        groups=tuple(select_groups(args.groups, args.url)),
        seed=args.seed,
        server_threads=args.server_threads,
        server_workers=args.server_workers
        if args.server_workers is not None
        else default_workers(),
        timing=args.timing,
        record=args.record,
    )


# ------------------------------------------------------------------------------------------------
# Subprocesses


def _child_env(data_dir: Path) -> dict[str, str]:
    """The environment of the station commands run here: this data folder, simulated hardware,
    the reference station's configuration (no machine's own)."""
    env = dict(os.environ)
    env.pop("STATION_CONFIG", None)
    env["STATION_DATA_DIR"] = str(data_dir)
    env["STATION_HARDWARE"] = "sim"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _station_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "station.cli", "--config", str(reference_config_path()), *args]


def _self_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "web.loadbench", *args]


def _tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n  ".join(kept) if kept else "(no output)"


def _stop_process(proc: subprocess.Popen[Any], timeout_s: float = 15.0) -> None:
    """End a child process started here: SIGTERM, then SIGKILL if it does not stop in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _cpu_s(pid: int) -> float | None:
    """CPU time (user + system) of a process and its children so far (the worker processes of
    ``station serve --workers``), from /proc; None where unavailable."""
    own = _stat_fields(pid)
    if own is None:
        return None
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = own if int(entry.name) == pid else _stat_fields(entry.name)
        # fields after the name: state, ppid, ..., utime (12th), stime (13th)
        if fields is not None and (fields is own or fields[1] == str(pid)):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------
# Data


@dataclass
class BenchData:
    """A benchmark data folder and what the load requests from it."""

    data_dir: Path
    marker: dict[str, Any]
    codes: list[str]
    session_ids: list[int]
    raw_trial_ids: list[int]
    built: bool = False


def _marker_path(data_dir: Path) -> Path:
    return data_dir / MARKER_FILENAME


def _write_marker(data_dir: Path, marker: dict[str, Any]) -> None:
    path = _marker_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(marker, indent=1) + "\n")
    os.replace(tmp, path)


def prepare_data(options: Options, say: Callable[[str], None]) -> BenchData:
    """Reuse the benchmark folder ``options.data_dir`` or build it (see the module docstring)."""
    data_dir = options.data_dir
    assert data_dir is not None
    marker_path = _marker_path(data_dir)
    if marker_path.exists():
        return _reuse(data_dir, options, say)
    if data_dir.exists():
        if not data_dir.is_dir():
            raise UsageError(f"--data-dir {data_dir}: not a folder")
        if any(data_dir.iterdir()):
            raise UsageError(
                f"--data-dir {data_dir}: the folder is not empty and holds no benchmark "
                f"({MARKER_FILENAME}); give a new or empty folder (a station's own data folder "
                "is never used)"
            )
    return build_data(
        data_dir,
        sessions=options.sessions or DEFAULT_SESSIONS,
        participants=options.participants or DEFAULT_PARTICIPANTS,
        templates=parse_templates(options.templates or DEFAULT_TEMPLATES),
        samples_every=options.samples_every or DEFAULT_SAMPLES_EVERY,
        say=say,
        jobs=options.build_jobs,
    )


def _reuse(data_dir: Path, options: Options, say: Callable[[str], None]) -> BenchData:
    from station.store import Store

    try:
        marker = json.loads(_marker_path(data_dir).read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"{_marker_path(data_dir)}: cannot be read ({exc})") from None
    if marker.get("state") != "ready":
        raise UsageError(
            f"--data-dir {data_dir}: an earlier build did not finish; delete the folder and "
            "run again"
        )
    for name, given in (
        ("sessions", options.sessions),
        ("participants", options.participants),
        ("samples_every", options.samples_every),
    ):
        if given is not None and given != marker.get(name):
            raise UsageError(
                f"--data-dir {data_dir} holds a benchmark built with {name.replace('_', '-')} "
                f"{marker.get(name)}, not {given}: leave the option out or give another folder"
            )
    if options.templates is not None and [t.label for t in parse_templates(options.templates)] != [
        t["label"] for t in marker.get("templates", [])
    ]:
        raise UsageError(
            f"--data-dir {data_dir} holds a benchmark recorded from other --templates: leave "
            "the option out or give another folder"
        )
    with Store.open(data_dir, recover=False) as store:
        codes = [p.code for p in store.list_participants(limit=marker["participants"] + 1)]
        last = max(marker["session_ids"])
        store.session(last)  # raises StoreError if the store does not hold the sessions
    if len(codes) != marker["participants"]:
        raise BenchError(
            f"{data_dir}: holds {len(codes)} participants, its {MARKER_FILENAME} says "
            f"{marker['participants']}; delete the folder and build it again"
        )
    say(
        f"reusing the benchmark data in {data_dir}: {marker['sessions']:,} sessions, "
        f"{marker['participants']} participants (built {marker['built_utc']})"
    )
    return BenchData(data_dir, marker, codes, marker["session_ids"], marker["raw_trial_ids"])


def _participant_rows(n: int, hands: set[str], seed: int = 0) -> list[dict[str, Any]]:
    """Pseudonymous participants with plausible details (codes B0001, ...)."""
    rng = random.Random(seed)
    width = max(4, len(str(n)))
    rows = []
    for i in range(n):
        if hands == {"right", "left"}:
            hand = "left" if i % 10 == 1 else "right"  # 1 in 10 left-handed
        else:
            (hand,) = hands
        rows.append(
            {
                "code": f"B{i + 1:0{width}d}",
                "birth_year": rng.randint(1940, 2004),
                "sex": rng.choices(("female", "male", "other"), (49, 49, 2))[0],
                "dominant_hand": hand,
                "affected_side": rng.choice(("none", "none", "right", "left", "both")),
                "notes": rng.choice(NOTES),
            }
        )
    return rows


def _record_template(data_dir: Path, template: Template, code: str) -> dict[str, Any]:
    cmd = _station_command(
        "assess",
        "--participant",
        code,
        "--battery",
        template.battery,
        "--sim-profile",
        template.profile,
        "--seed",
        str(template.seed),
        "--fast",
        "--json",
    )
    try:
        proc = subprocess.run(
            cmd,
            env=_child_env(data_dir),
            capture_output=True,
            text=True,
            timeout=RECORD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"recording {template.label} took longer than {RECORD_TIMEOUT_S:.0f} s"
        ) from None
    if proc.returncode != 0:
        raise BenchError(
            f"recording {template.label} (station assess) failed:\n  {_tail(proc.stderr)}"
        )
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        raise BenchError(
            f"recording {template.label}: station assess printed no JSON:\n  {_tail(proc.stdout)}"
        ) from None
    return result


def _fast_writes(store: Any) -> None:
    """``synchronous=OFF`` on the store's one pooled connection while the folder is built: each
    public write is still its own transaction, without an fsync each (the folder is synced once
    at the end, and a build that stops half-way is never reused)."""
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()
    finally:
        raw.close()


def _fsync_folder(data_dir: Path) -> None:
    for path in [*data_dir.iterdir(), data_dir]:
        if path.is_dir() and path != data_dir:
            continue
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@dataclass
class _Recording:
    session: Any  # SessionInfo
    trials: list[Any]  # TrialInfo
    data: list[Any]  # TrialData with samples
    bare: list[Any]  # the same without samples
    duration: timedelta


def build_data(
    data_dir: Path,
    *,
    sessions: int,
    participants: int,
    templates: list[Template],
    samples_every: int,
    say: Callable[[str], None],
    jobs: int = 1,
) -> BenchData:
    from station.battery import battery_names
    from station.store import Store

    known = battery_names(None)
    for t in templates:
        if t.battery not in known:
            raise UsageError(f"--templates: no battery {t.battery!r} (shipped: {', '.join(known)})")
    if sessions < len(templates):
        raise UsageError(
            f"--sessions {sessions}: at least one per recorded template ({len(templates)})"
        )
    hands = {t.hand for t in templates}
    if len(hands) == 2 and participants < 2:
        raise UsageError("--participants: templates of both hands need at least 2 participants")
    t_all = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    marker: dict[str, Any] = {
        "state": "building",
        "sessions": sessions,
        "participants": participants,
        "samples_every": samples_every,
        "templates": [dataclasses.asdict(t) | {"label": t.label} for t in templates],
    }
    _write_marker(data_dir, marker)
    people = _participant_rows(participants, hands)
    say(f"building benchmark data in {data_dir}: {participants} participants ...")
    with Store.open(data_dir) as store:
        _fast_writes(store)
        for p in people:
            store.add_participant(**p)

    # 1. Record the templates with the real engine (station assess, simulated rig).
    by_hand = {h: [p["code"] for p in people if p["dominant_hand"] == h] for h in hands}
    recorded: list[tuple[Template, int, float]] = []
    t_rec = time.perf_counter()
    for k, template in enumerate(templates):
        codes = by_hand[template.hand]
        code = codes[k % len(codes)]
        t0 = time.perf_counter()
        say(f"recording {template.label} for {code} on the simulated rig (station assess) ...")
        result = _record_template(data_dir, template, code)
        recorded.append((template, int(result["session_id"]), time.perf_counter() - t0))
    record_s = time.perf_counter() - t_rec

    # 2. Replicate them through the store's public methods (in `jobs` processes).
    t_rep = time.perf_counter()
    replicas = sessions - len(templates)
    first_day = datetime.now(UTC).replace(microsecond=0) - timedelta(days=SPAN_DAYS)
    rng = random.Random(1)
    by_template_hand = {h: [k for k, t in enumerate(templates) if t.hand == h] for h in hands}
    items = []
    for j in range(replicas):
        person = people[j % participants]
        mine = by_template_hand[person["dominant_hand"]]
        day = first_day + timedelta(days=SPAN_DAYS * (j + 0.5) / replicas)
        started = day.replace(
            hour=rng.randint(8, 16), minute=rng.randrange(0, 60, 5), second=0, microsecond=0
        )
        items.append(
            {
                "j": j,
                "code": person["code"],
                "started": started.isoformat(),
                "recording": recorded[mine[(j // participants) % len(mine)]][1],
                "samples": j % samples_every == 0,
            }
        )
    done = _replicate_all(data_dir, items, jobs, say)
    raw_sessions = [sid for _, sid, _ in recorded]
    session_ids = [sid for _, sid, _ in recorded]
    for item, (sid, _) in zip(items, done, strict=True):
        session_ids.append(sid)
        if item["samples"]:
            raw_sessions.append(sid)
    with Store.open(data_dir, recover=False) as store:
        trial_count = sum(len(store.session_trials(sid)) for _, sid, _ in recorded)
        trial_count += sum(n for _, n in done)
        raw_trial_ids = [t.id for sid in raw_sessions for t in store.session_trials(sid)]
    replicate_s = time.perf_counter() - t_rep
    _fsync_folder(data_dir)
    total_s = time.perf_counter() - t_all
    db_bytes = sum(
        p.stat().st_size for p in data_dir.iterdir() if p.name.startswith("station.sqlite")
    )
    marker.update(
        state="ready",
        built_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        trials=trial_count,
        recorded_sessions=[
            {"label": t.label, "session_id": sid, "record_s": round(s, 1)} for t, sid, s in recorded
        ],
        sessions_with_samples=len(raw_sessions),
        record_s=round(record_s, 1),
        replicate_s=round(replicate_s, 1),
        replicate_jobs=jobs,
        replicate_ms_per_session=round(replicate_s / max(1, sessions - len(templates)) * 1000, 2),
        build_s=round(total_s, 1),
        db_bytes=db_bytes,
        session_ids=session_ids,
        raw_trial_ids=raw_trial_ids,
    )
    _write_marker(data_dir, marker)
    say(
        f"built {sessions:,} sessions ({trial_count:,} trials; {len(raw_sessions):,} with force "
        f"samples) for {participants} participants in {total_s:.0f} s: recording "
        f"{record_s:.0f} s, replicating {replicate_s:.0f} s; database {db_bytes / 1e9:.2f} GB"
    )
    return BenchData(
        data_dir, marker, [p["code"] for p in people], session_ids, raw_trial_ids, built=True
    )


def _load_recording(store: Any, session_id: int) -> _Recording:
    session = store.session(session_id)
    trials = store.session_trials(session_id)
    data = [store.trial_data(t.id) for t in trials]
    bare = [dataclasses.replace(d, samples={}) for d in data]
    # The recording ran faster than real time (--fast); its trials' times are the simulated
    # clock's, so the session lasted from the clock anchor to the end of its last trial.
    ends = [t.end_t_ns for t in trials if t.end_t_ns is not None]
    duration = (
        timedelta(microseconds=(max(ends) - session.anchor_mono_ns) // 1000) if ends else None
    )
    if duration is None or duration < timedelta(0):
        duration = (session.ended_utc or session.started_utc) - session.started_utc
    return _Recording(session, trials, data, bare, duration)


def replicate_items(
    data_dir: Path, items: Sequence[dict[str, Any]], progress: Callable[[int], None]
) -> list[tuple[int, int]]:
    """Write the replicas ``items`` (see :func:`build_data`) through the store's public methods;
    returns (session id, trials) of each. ``progress(n)`` after every few sessions."""
    from station.store import Store

    out: list[tuple[int, int]] = []
    step = max(1, len(items) // 20)
    with Store.open(data_dir, recover=False) as store:
        _fast_writes(store)
        recordings = {
            sid: _load_recording(store, sid) for sid in sorted({i["recording"] for i in items})
        }
        for n, item in enumerate(items, start=1):
            rec = recordings[item["recording"]]
            started = datetime.fromisoformat(item["started"])
            out.append(_replicate(store, rec, item["code"], started, bool(item["samples"])))
            if n % step == 0 or n == len(items):
                progress(n)
    return out


def _replicate_all(
    data_dir: Path, items: list[dict[str, Any]], jobs: int, say: Callable[[str], None]
) -> list[tuple[int, int]]:
    """:func:`replicate_items` in this process (``jobs`` 1) or split over ``jobs`` processes
    (SQLite takes their transactions one at a time; the Python work runs in parallel)."""
    t0 = time.perf_counter()
    total = len(items)
    if total == 0:
        return []

    shown = [0]

    def report(n: int) -> None:
        if n < total and n - shown[0] < total / 20:
            return
        shown[0] = n
        spent = time.perf_counter() - t0
        say(
            f"  {n:,}/{total:,} sessions replicated ({spent:.0f} s, "
            f"{spent / n * 1000:.1f} ms per session)"
        )

    jobs = max(1, min(jobs, total))
    if jobs == 1:
        return replicate_items(data_dir, items, report)
    shares = [items[k::jobs] for k in range(jobs)]
    with tempfile.TemporaryDirectory(prefix="bench-server-build-") as work_dir:
        work = Path(work_dir)
        procs = []
        logs = []
        for k, share in enumerate(shares):
            plan = work / f"plan-{k}.json"
            plan.write_text(json.dumps({"data_dir": str(data_dir), "items": share}))
            logs.append((work / f"err-{k}.txt").open("wb"))
            procs.append(
                subprocess.Popen(
                    _self_command("replicate", str(plan), str(work / f"out-{k}.json")),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=logs[-1],
                    text=True,
                )
            )
        try:
            counts = [0] * jobs
            streams = {p.stdout: k for k, p in enumerate(procs) if p.stdout is not None}
            while streams:
                ready, _, _ = select.select(list(streams), [], [])
                for stream in ready:
                    line = stream.readline()
                    if not line:
                        del streams[stream]
                        continue
                    counts[streams[stream]] = int(line)
                    report(sum(counts))
            for k, p in enumerate(procs):
                if p.wait() != 0:
                    err = (work / f"err-{k}.txt").read_text(errors="replace")
                    raise BenchError(
                        f"replicating sessions (process {k + 1}) failed:\n  {_tail(err)}"
                    )
            results = [json.loads((work / f"out-{k}.json").read_text()) for k in range(jobs)]
        finally:
            for p in procs:
                _stop_process(p)
                if p.stdout is not None:
                    p.stdout.close()
            for log in logs:
                log.close()
    done: list[tuple[int, int]] = [(0, 0)] * total
    for k, result in enumerate(results):
        for position, (sid, n) in zip(range(k, total, jobs), result, strict=True):
            done[position] = (sid, n)
    return done


def _replicate(
    store: Any, rec: _Recording, code: str, started: datetime, with_samples: bool
) -> tuple[int, int]:
    """A copy of a recorded session for ``code`` starting at ``started``: (session id, trials)."""
    s = rec.session
    sid = int(
        store.start_session(
            code,
            s.battery_name,
            s.battery_hash,
            s.station_id,
            {**s.provenance, "bench_replica_of_session": s.id},
            s.anchor_mono_ns,
            round(started.timestamp()) * 1_000_000_000,
            s.software_version,
            s.hardware_backend,
            s.timestamp_source,
            started_utc=started,
        )
    )
    for t, data in zip(rec.trials, rec.data if with_samples else rec.bare, strict=True):
        tid = store.start_trial(
            sid,
            t.seq,
            t.protocol,
            t.protocol_version,
            t.protocol_hash,
            t.hand,
            t.practice,
            t.trial_index,
            t.params,
            t.roles,
            t.start_t_ns,
            provenance=t.provenance,
        )
        store.finish_trial(
            tid,
            data,
            list(t.metrics),
            {},
            t.faults,
            t.gaps,
            invalid_reason=t.invalid_reason if data.status == "invalid" else None,
        )
    store.add_session_metrics(sid, [(m.protocol, m.hand, m.metric) for m in s.metrics])
    # a replica ends as long after its start as its recording did
    status = s.status if s.status != "running" else "complete"
    store.end_session(sid, status, ended_utc=started + rec.duration)
    return sid, len(rec.trials)


# ------------------------------------------------------------------------------------------------
# The benchmark account


@contextlib.contextmanager
def bench_account(data_dir: Path) -> Iterator[tuple[str, str]]:
    """A clinician account with a fresh password and API token for this run; the token is
    revoked afterwards. Yields (password, token)."""
    from web.accounts import Accounts, cli_actor
    from web.settings import ensure_secret_key

    ensure_secret_key(data_dir)
    password = secrets.token_urlsafe(24)
    actor = cli_actor()
    with Accounts.open(data_dir) as accounts:
        if accounts.get_user(BENCH_USER) is None:
            accounts.add_user(BENCH_USER, "clinician", password)
            accounts.record(
                "user.add",
                user_name=actor,
                via="cli",
                detail={"name": BENCH_USER, "role": "clinician"},
            )
        else:
            accounts.set_password(BENCH_USER, password)
            accounts.record(
                "user.password", user_name=actor, via="cli", detail={"name": BENCH_USER}
            )
        label = f"bench-server {datetime.now(UTC):%Y-%m-%d %H:%M}"
        token, secret = accounts.create_token(BENCH_USER, label)
        detail = {"token_id": token.id, "owner": BENCH_USER, "label": label}
        accounts.record("token.create", user_name=actor, via="cli", detail=detail)
    try:
        yield password, secret
    finally:
        with Accounts.open(data_dir) as accounts:
            accounts.revoke_token(token.id)
            detail = {"token_id": token.id, "owner": BENCH_USER}
            accounts.record("token.revoke", user_name=actor, via="cli", detail=detail)


# ------------------------------------------------------------------------------------------------
# The server


def _serve_flags() -> set[str]:
    """The options ``station serve`` takes (its parser, built the way station.cli builds it)."""
    from web import cli as web_cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    web_cli.add_parsers(sub, argparse.ArgumentParser)
    serve = sub.choices["serve"]
    return {opt for action in serve._actions for opt in action.option_strings}


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    software: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def start_server(data_dir: Path, threads: int, token: str, work: Path, workers: int = 1) -> Server:
    """``station serve`` on a free loopback port, plain HTTP; returns when it answers.

    The server binds port 0 itself (the kernel picks a free one, no race with another program
    taking a port chosen beforehand) and says which: :func:`_wait_ready` reads it from its log."""
    flags = _serve_flags()
    args = ["serve", "--host", "127.0.0.1", "--port", "0", "--threads", str(threads)]
    if "--workers" in flags:
        args += ["--workers", str(workers)]
    args += [f for f in ("--no-tls", "--no-mdns") if f in flags]
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _station_command(*args),
            env=_child_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, 0, log_path)
    try:
        server.software = _wait_ready(server, token)
    except BaseException:
        _stop_process(proc)
        raise
    return server


#: What ``station serve`` says once listening on plain HTTP: the port it bound (also for 0).
_SERVING: Final = re.compile(r"clinic server: http://127\.0\.0\.1:(\d+)/")


def _wait_ready(server: Server, token: str) -> str:
    """Wait for the server to say its port (``server.port`` is set then) and answer a request."""
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"the server stopped (exit status {server.proc.returncode}) before answering:\n  "
                + _tail(server.log_path.read_text(errors="replace"))
            )
        if not server.port:
            said = _SERVING.search(server.log_path.read_text(errors="replace"))
            if said is None:
                last = "it has not said its port yet"
                time.sleep(0.05)  # polling cadence while the server starts
                continue
            server.port = int(said[1])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return resp.getheader("Server") or ""
            last = f"HTTP {resp.status}"
        except OSError as exc:
            last = str(exc)
        finally:
            conn.close()
        # Polling cadence while the server starts, not a delay that a result depends on.
        time.sleep(0.05)
    raise BenchError(
        f"the server did not answer /api/v1/me within {SERVER_READY_TIMEOUT_S:.0f} s ({last}):\n  "
        + _tail(server.log_path.read_text(errors="replace"))
    )


# ------------------------------------------------------------------------------------------------
# The timing core (child process)


def timing_figures(scale: float) -> dict[str, Any]:
    """The timing core's figures from :mod:`station.bench` (zero-loss throughput, latency at
    1,000 edges/s, timestamps under GIL load), with lost edges and timestamp errors counted.

    ``latency_lost``: edges of the latency run that no event reports, each event matched to its
    edge (not edges sent minus events counted); ``timestamp_error_max_ns``: the largest
    difference between a recorded stamp and the stamp its edge was sent with, over the GIL run
    and the latency run (``timestamp_exact`` when it is 0 in both)."""
    from station.bench import bench_gil, bench_latency, bench_throughput

    t_start = time.monotonic_ns()
    through = bench_throughput(duration_s=1.0 * scale, rates=THROUGHPUT_RATES)
    latency = bench_latency(duration_s=2.0 * scale, rate_per_s=LATENCY_RATE_PER_S)
    gil = bench_gil(duration_s=1.0 * scale)
    t_end = time.monotonic_ns()
    lost_latency = int(latency["latency_lost"])
    errors = [gil["gil_ours_max_abs_error_ns"], latency["latency_timestamp_error_max_ns"]]
    error_ns = None if None in errors else max(errors)
    return {
        "t_start_ns": t_start,
        "t_end_ns": t_end,
        "duration_s": round((t_end - t_start) / 1e9, 2),
        "events_per_s": through["events_per_s"],
        "sustained_offered_per_s": through["sustained_offered_per_s"],
        "throughput_lost": int(through["lost"]),
        "latency_edges": int(latency["latency_edges"]),
        "latency_lost": lost_latency,
        "lost": int(through["lost"]) + lost_latency,
        "latency_p50_ms": latency["latency_p50_ms"],
        "latency_p99_ms": latency["latency_p99_ms"],
        "latency_max_ms": latency["latency_max_ms"],
        "latency_sender_lag_max_ms": latency["latency_sender_lag_max_ms"],
        "gil_presses": gil["gil_presses"],
        "timestamp_exact": bool(gil["gil_ours_exact"] and error_ns == 0),
        "timestamp_error_max_ns": error_ns,
        "usual_error_p99_ms": gil["gil_usual_error_p99_ms"],
    }


def run_timing(scale: float) -> dict[str, Any]:
    """:func:`timing_figures` in a child process (the timing core on its own interpreter)."""
    try:
        proc = subprocess.run(
            _self_command("timing", str(scale)),
            capture_output=True,
            text=True,
            timeout=TIMING_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"the timing-core run took longer than {TIMING_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        raise BenchError(f"the timing-core run failed:\n  {_tail(proc.stderr)}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# ------------------------------------------------------------------------------------------------
# The load (child process)


def _page_queries(codes: Sequence[str], n_participants: int, rng: random.Random) -> list[str]:
    """Query strings of the participant list: pages of 50, and searches (part of a code, or a
    word of the notes)."""
    out = []
    for _ in range(100):
        out.append(urlencode({"limit": 50, "offset": rng.randrange(0, max(1, n_participants))}))
        code = rng.choice(codes)
        out.append(urlencode({"search": code[: rng.randint(2, len(code))].lower()}))
    out += [urlencode({"search": w}) for w in ("therapy", "stroke", "musician")]
    return out


def _signed_in_cookie(conn: http.client.HTTPConnection, user: str, password: str) -> str:
    """Sign in with the form, like a browser: the session cookie (``name=value``)."""
    conn.request("GET", "/auth/sign-in")
    resp = conn.getresponse()
    page = resp.read().decode("utf-8", "replace")
    cookie = _cookie(resp, "")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if resp.status != 200 or found is None or not cookie:
        raise BenchError(f"the sign-in page answered HTTP {resp.status} without a form")
    body = urlencode({"name": user, "password": password, "csrf_token": found.group(1)})
    conn.request(
        "POST",
        "/auth/sign-in",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    resp = conn.getresponse()
    resp.read()
    cookie = _cookie(resp, cookie)
    if resp.status not in (302, 303):
        raise BenchError(f"signing in as {user} answered HTTP {resp.status}, not a redirect")
    return cookie


def _cookie(resp: http.client.HTTPResponse, current: str) -> str:
    for header in resp.headers.get_all("Set-Cookie") or []:
        pair = header.split(";", 1)[0].strip()
        if pair.startswith("station_session="):
            return pair
    return current


@dataclass
class _ClientRecords:
    group: list[int] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    start_ns: list[int] = field(default_factory=list)
    latency_ns: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)


def client_main(spec_path: str, out_path: str) -> int:
    """The load: ``clients`` threads, each with its own keep-alive connection, requesting URLs
    of the mix until the deadline or the request count; every request timed here."""
    spec = json.loads(Path(spec_path).read_text())
    host, port = "127.0.0.1", int(spec["port"])
    groups = [Group(**g) for g in spec["groups"]]
    values: dict[str, list[Any]] = spec["values"]
    n_clients = int(spec["clients"])
    think_s = float(spec.get("think_s") or 0.0)
    weights = [g.weight for g in groups]
    auth = {"Authorization": f"Bearer {spec['token']}"}
    cookies: list[str] = [""] * n_clients
    if any(g.kind == "dashboard" for g in groups):
        for i in range(n_clients):
            conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
            try:
                cookies[i] = _signed_in_cookie(conn, spec["user"], spec["password"])
            finally:
                conn.close()
    records = [_ClientRecords() for _ in range(n_clients)]
    budget = spec.get("requests")
    issued = iter(range(budget)) if budget is not None else None
    issued_lock = threading.Lock()
    start = threading.Barrier(n_clients + 1)
    deadline = [0]

    def take() -> bool:
        if issued is None:
            return time.monotonic_ns() < deadline[0]
        with issued_lock:
            return next(issued, None) is not None

    def fill(path: str, rng: random.Random) -> str:
        return _PLACEHOLDER.sub(lambda m: str(rng.choice(values[m.group(1)])), path)

    def client(i: int) -> None:
        rng = random.Random(int(spec["seed"]) * 1000 + i)
        rec = records[i]
        conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
        used = False
        start.wait()
        while take():
            k = rng.choices(range(len(groups)), weights)[0]
            group = groups[k]
            path = fill(group.path, rng)
            headers = dict(auth) if group.kind == "api" else {"Cookie": cookies[i]}
            t0 = time.monotonic_ns()
            status, size = 0, 0
            for attempt in (1, 2):
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                    status, size = resp.status, len(body)
                    if group.kind == "dashboard":
                        cookies[i] = _cookie(resp, cookies[i])
                    used = True
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
                    # A kept-alive connection the server closed meanwhile: once more, anew.
                    if not (used and attempt == 1):
                        break
                    used = False
            rec.group.append(k)
            rec.status.append(status)
            rec.start_ns.append(t0)
            rec.latency_ns.append(time.monotonic_ns() - t0)
            rec.size.append(size)
            if think_s > 0:
                # The client's pause before its next request (the load model, not a timing fix):
                # a person reading the page; never past the end of the run.
                pause_ns = int(rng.expovariate(1.0 / think_s) * 1e9)
                if issued is None:
                    pause_ns = min(pause_ns, max(0, deadline[0] - time.monotonic_ns()))
                time.sleep(pause_ns / 1e9)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n_clients)]
    for t in threads:
        t.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t_start = time.monotonic_ns()
    deadline[0] = t_start + int(float(spec.get("duration_s") or 0) * 1e9)
    start.wait()
    print(json.dumps({"started_ns": t_start}), flush=True)
    for t in threads:
        t.join()
    t_end = time.monotonic_ns()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    merged = _ClientRecords()
    for rec in records:
        for name in ("group", "status", "start_ns", "latency_ns", "size"):
            getattr(merged, name).extend(getattr(rec, name))
    out = dataclasses.asdict(merged) | {
        "t_start_ns": t_start,
        "t_end_ns": t_end,
        "cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 3),
    }
    Path(out_path).write_text(json.dumps(out))
    return EXIT_OK


@dataclass
class LoadRun:
    records: dict[str, Any]
    timing: dict[str, Any] | None
    server_cpu_s: float | None
    wall_s: float
    recording: dict[str, Any] | None = None


def run_load(
    options: Options, data: BenchData, server: Server, password: str, token: str, work: Path
) -> LoadRun:
    rng = random.Random(options.seed)
    spec = {
        "port": server.port,
        "groups": [dataclasses.asdict(g) for g in options.groups],
        "values": {
            "code": data.codes,
            "session_id": data.session_ids,
            "raw_trial_id": data.raw_trial_ids,
            "page_query": _page_queries(data.codes, len(data.codes), rng),
        },
        "clients": options.clients,
        "think_s": options.think_s,
        "duration_s": options.duration_s if options.requests is None else None,
        "requests": options.requests,
        "seed": options.seed,
        "token": token,
        "user": BENCH_USER,
        "password": password,
    }
    spec_path, out_path = work / "client-spec.json", work / "client-out.json"
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(spec, fh)
    err_path = work / "client.err"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            _self_command("client", str(spec_path), str(out_path)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    recorder: _Recorder | None = None
    try:
        started = _read_started(proc, err_path)
        cpu0 = _cpu_s(server.proc.pid)
        if options.record:
            recorder = _start_recording(data, work)
        timing = None
        if options.timing != "off":
            if options.requests is None and options.warmup_s > 0:
                # Load runs meanwhile; returns at once if the client has already finished.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=options.warmup_s)
            timing = run_timing(TIMING_SCALES[options.timing])
        limit = (options.duration_s or 0) + 600.0 if options.requests is None else 3600.0
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            raise BenchError(f"the load clients did not finish within {limit:.0f} s") from None
        cpu1 = _cpu_s(server.proc.pid)
        if recorder is not None:  # the load is over: was the recording still going?
            recorder.load_end = time.perf_counter()
            recorder.ended_before_load_end = recorder.proc.poll() is not None
        if proc.returncode != 0:
            raise BenchError(
                f"the load clients failed:\n  {_tail(err_path.read_text(errors='replace'))}"
            )
        records = json.loads(out_path.read_text())
        recording = _check_recording(data, recorder) if recorder is not None else None
    finally:
        _stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        if recorder is not None:
            _stop_process(recorder.proc)
    server_cpu = None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 3)
    wall_s = (records["t_end_ns"] - started) / 1e9
    return LoadRun(records, timing, server_cpu, wall_s, recording)


@dataclass
class _Recorder:
    proc: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path
    code: str
    t0: float
    load_end: float | None = None
    ended_before_load_end: bool = False


def _start_recording(data: BenchData, work: Path) -> _Recorder:
    """``station assess`` of a Nine-Hole Peg Test battery into the served folder, started now."""
    code = data.codes[0]
    out_path, err_path = work / "recording.json", work / "recording.err"
    cmd = _station_command(
        "assess",
        "--participant",
        code,
        "--battery",
        "nine_hole_peg",
        "--sim-profile",
        "healthy",
        "--fast",
        "--json",
    )
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            cmd, env=_child_env(data.data_dir), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
    return _Recorder(proc, out_path, err_path, code, time.perf_counter())


def _check_recording(data: BenchData, rec: _Recorder) -> dict[str, Any]:
    """Wait for the recording and check what the store holds of it: every trial finished and
    unflagged, no gap, its events and samples there."""
    from station.store import Store

    try:
        status = rec.proc.wait(timeout=RECORD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"the recording under load took longer than {RECORD_TIMEOUT_S:.0f} s"
        ) from None
    if status != 0:
        raise BenchError(
            "the recording under load (station assess) failed:\n  "
            + _tail(rec.err_path.read_text(errors="replace"))
        )
    ended = time.perf_counter()
    if rec.ended_before_load_end or rec.load_end is None:
        during_load = 1.0  # all of it (the load outlasted it)
    else:
        during_load = max(0.0, min(1.0, (rec.load_end - rec.t0) / max(ended - rec.t0, 1e-9)))
    try:
        session_id = int(json.loads(rec.out_path.read_text())["session_id"])
    except (OSError, ValueError, KeyError, TypeError):
        raise BenchError("the recording under load: station assess printed no session") from None
    problems: list[str] = []
    events = samples = 0
    with Store.open(data.data_dir, recover=False) as store:
        session = store.session(session_id)
        if session.status != "complete":
            problems.append(f"session {session_id} is {session.status}")
        trials = store.session_trials(session_id)
        for t in trials:
            if t.status != "complete" or t.faults or t.gaps:
                problems.append(
                    f"trial {t.id}: {t.status}, faults {t.faults or 'none'}, {len(t.gaps)} gap(s)"
                )
            raw = store.trial_data(t.id)
            events += len(raw.events)
            samples += sum(int(p.t_ns.size) for p in raw.samples.values())
            if not raw.events:
                problems.append(f"trial {t.id}: no events stored")
    return {
        "command": "station assess --battery nine_hole_peg --sim-profile healthy --fast",
        "participant": rec.code,
        "session_id": session_id,
        "ended_before_load_end": rec.ended_before_load_end,
        "share_during_load": round(during_load, 3),
        "trials": len(trials),
        "events": events,
        "samples": samples,
        "problems": problems,
        "ok": not problems and bool(trials),
    }


def _read_started(proc: subprocess.Popen[bytes], err_path: Path) -> int:
    """The client's "started" line (after its sign-ins), with a deadline."""
    assert proc.stdout is not None
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line:
                return int(json.loads(line)["started_ns"])
        if proc.poll() is not None:
            break
    if proc.poll() is None:
        raise BenchError(f"the load clients did not start within {SERVER_READY_TIMEOUT_S:.0f} s")
    raise BenchError(
        "the load clients stopped before starting:\n  "
        + _tail(err_path.read_text(errors="replace"))
    )


# ------------------------------------------------------------------------------------------------
# Figures


def _latency_stats(latency_ns: np.ndarray, status: np.ndarray, wall_s: float) -> dict[str, Any]:
    n = int(latency_ns.size)
    errors = int(np.count_nonzero((status < 200) | (status > 299)))
    if n == 0:
        empty = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
        return {"requests": 0, "errors": 0, **dict.fromkeys(empty), "requests_per_s": 0.0}
    ms = latency_ns.astype(np.float64) / 1e6
    p50, p95, p99 = (float(x) for x in np.percentile(ms, (50, 95, 99)))
    return {
        "requests": n,
        "errors": errors,
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(float(ms.max()), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "requests_per_s": round(n / wall_s, 1) if wall_s > 0 else None,
    }


def summarize_load(groups: Sequence[Group], records: dict[str, Any]) -> dict[str, Any]:
    group = np.asarray(records["group"], dtype=np.int64)
    status = np.asarray(records["status"], dtype=np.int64)
    latency = np.asarray(records["latency_ns"], dtype=np.int64)
    size = np.asarray(records["size"], dtype=np.int64)
    start = np.asarray(records["start_ns"], dtype=np.int64)
    wall_s = float((start + latency).max() - start.min()) / 1e9 if latency.size else 0.0
    out: dict[str, Any] = {"wall_s": round(wall_s, 3), "groups": {}, "totals": {}}
    for k, g in enumerate(groups):
        mask = group == k
        stats = _latency_stats(latency[mask], status[mask], wall_s)
        codes, counts = np.unique(status[mask], return_counts=True)
        stats["status_counts"] = {str(int(c)): int(n) for c, n in zip(codes, counts, strict=True)}
        stats["mean_bytes"] = int(size[mask].mean()) if mask.any() else 0
        out["groups"][g.name] = {"kind": g.kind, "path": g.path, **stats}
    for total, kinds in (("api", ("api",)), ("dashboard", ("dashboard",)), ("all", None)):
        members = [k for k, g in enumerate(groups) if kinds is None or g.kind in kinds]
        if not members:
            continue
        mask = np.isin(group, members)
        out["totals"][total] = _latency_stats(latency[mask], status[mask], wall_s)
    out["load_window_ns"] = (
        [int(start.min()), int((start + latency).max())] if latency.size else None
    )
    return out


def _verdict(stats: dict[str, Any] | None, target_ms: float) -> str | None:
    if stats is None or not stats["requests"]:
        return None
    if stats["errors"]:
        return "ERRORS"
    return "PASS" if stats["p95_ms"] < target_ms else "MISS"


def _overlap(timing: dict[str, Any] | None, window: list[int] | None) -> float | None:
    if timing is None or window is None:
        return None
    t0, t1 = timing["t_start_ns"], timing["t_end_ns"]
    covered = max(0, min(t1, window[1]) - max(t0, window[0]))
    return round(covered / max(1, t1 - t0), 3)


TIMING_FIELDS: Final = (
    ("lost", "lost edges (throughput + latency runs)"),
    ("timestamp_error_max_ns", "timestamp error (GIL + latency runs), max (ns)"),
    ("latency_p50_ms", "callback -> consumer latency p50 (ms)"),
    ("latency_p99_ms", "callback -> consumer latency p99 (ms)"),
    ("latency_max_ms", "callback -> consumer latency max (ms)"),
    ("events_per_s", "zero-loss throughput (edges/s)"),
    ("sustained_offered_per_s", "highest rate sustained (offered edges/s)"),
)


def _difference(idle: dict[str, Any], load: dict[str, Any]) -> dict[str, Any]:
    diff = {}
    for key, _ in TIMING_FIELDS:
        a, b = idle.get(key), load.get(key)
        diff[key] = None if a is None or b is None else round(b - a, 4)
    return diff


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def run_bench(options: Options, say: Callable[[str], None]) -> dict[str, Any]:
    """The whole benchmark (see the module docstring); returns the figures."""
    temp_data: Path | None = None
    if options.data_dir is None:
        temp_data = Path(tempfile.mkdtemp(prefix="bench-server-data-"))
        say(f"no --data-dir: building in {temp_data} (deleted at the end; --data-dir keeps it)")
        options = dataclasses.replace(options, data_dir=temp_data / "data")
    try:
        data = prepare_data(options, say)
        started_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        machine = _machine()
        with (
            tempfile.TemporaryDirectory(prefix="bench-server-run-") as work_dir,
            bench_account(data.data_dir) as (password, token),
        ):
            work = Path(work_dir)
            say(
                f"starting the server (station serve, {options.server_workers} process(es) of "
                f"{options.server_threads} threads) ..."
            )
            server = start_server(
                data.data_dir, options.server_threads, token, work, options.server_workers
            )
            try:
                say(f"server ready at {server.url} ({server.software or 'unnamed'})")
                idle = None
                if options.timing != "off":
                    say("timing core, server idle ...")
                    idle = run_timing(TIMING_SCALES[options.timing])
                how = (
                    f"{options.requests:,} requests"
                    if options.requests is not None
                    else f"{options.duration_s:g} s"
                )
                say(
                    f"load: {options.clients} clients (mean pause {options.think_s:g} s) for {how}, "
                    "timing core measured meanwhile ..."
                )
                load = run_load(options, data, server, password, token, work)
            finally:
                _stop_process(server.proc)
    finally:
        if temp_data is not None:
            shutil.rmtree(temp_data, ignore_errors=True)
    summary = summarize_load(options.groups, load.records)
    totals = summary["totals"]
    timing: dict[str, Any] | None = None
    if idle is not None and load.timing is not None:
        overlap = _overlap(load.timing, summary["load_window_ns"])
        timing = {
            "idle": idle,
            "load": load.timing,
            "difference": _difference(idle, load.timing),
            "load_overlap": overlap,
        }
    failed_requests = sum(t["errors"] for t in summary["groups"].values())
    lost = None if timing is None else timing["idle"]["lost"] + timing["load"]["lost"]
    exact = (
        None
        if timing is None
        else bool(timing["idle"]["timestamp_exact"] and timing["load"]["timestamp_exact"])
    )
    recording = load.recording
    ok = (
        failed_requests == 0
        and (timing is None or (lost == 0 and exact))
        and (recording is None or recording["ok"])
    )
    marker = data.marker
    return {
        "command": "station bench-server",
        "date_utc": started_utc,
        "machine": machine | {"load_average_after": _machine().get("load_average")},
        "data": {
            "folder": None if temp_data is not None else str(data.data_dir),
            "built_now": data.built,
            "sessions": marker["sessions"],
            "participants": marker["participants"],
            "trials": marker["trials"],
            "sessions_with_samples": marker["sessions_with_samples"],
            "samples_every": marker["samples_every"],
            "recorded_sessions": marker["recorded_sessions"],
            "db_bytes": marker["db_bytes"],
            "build_s": marker["build_s"],
            "record_s": marker["record_s"],
            "replicate_s": marker["replicate_s"],
            "replicate_ms_per_session": marker["replicate_ms_per_session"],
        },
        "server": {
            "command": "station serve --host 127.0.0.1 (plain HTTP)",
            "software": server.software,
            "threads": options.server_threads,
            "workers": options.server_workers,
            "cpu_s": load.server_cpu_s,
            "cpu_cores": None
            if load.server_cpu_s is None or not load.wall_s
            else round(load.server_cpu_s / load.wall_s, 2),
        },
        "load": {
            "tool": "python http.client, threads, one process, keep-alive",
            "clients": options.clients,
            "think_s": options.think_s,
            "duration_s": options.duration_s if options.requests is None else None,
            "requests_asked": options.requests,
            "client_cpu_s": load.records["cpu_s"],
            "client_cpu_cores": round(load.records["cpu_s"] / load.wall_s, 2)
            if load.wall_s
            else None,
            **{k: v for k, v in summary.items() if k != "load_window_ns"},
        },
        "targets": {
            "api_p95_ms": API_P95_TARGET_MS,
            "api": _verdict(totals.get("api"), API_P95_TARGET_MS),
            "dashboard_p95_ms": DASHBOARD_P95_TARGET_MS,
            "dashboard": _verdict(totals.get("dashboard"), DASHBOARD_P95_TARGET_MS),
        },
        "timing": timing,
        "recording": recording,
        "failed_requests": failed_requests,
        "lost_edges": lost,
        "timestamps_exact": exact,
        "ok": ok,
    }


# ------------------------------------------------------------------------------------------------
# Output


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_results(r: dict[str, Any]) -> str:
    d, load, server = r["data"], r["load"], r["server"]
    how = (
        f"{load['requests_asked']:,} requests"
        if load["requests_asked"] is not None
        else f"{load['duration_s']:g} s"
    )
    lines = [
        f"clinic server under load ({r['date_utc']}, {r['machine']['cpus']} CPUs, load average "
        f"{r['machine'].get('load_average')})",
        f"data: {d['sessions']:,} sessions ({d['trials']:,} trials, {d['sessions_with_samples']:,} "
        f"with force samples), {d['participants']} participants, "
        f"{d['db_bytes'] / 1e9:.2f} GB"
        + (f"; built in {d['build_s']:.0f} s" if d["built_now"] else ""),
        f"server: station serve, {server.get('workers', 1)} process(es) of {server['threads']} "
        f"threads, {server['software'] or '?'}; "
        f"load: {load['clients']} clients for {how} ({load['wall_s']:.1f} s)",
        "",
        f"{'group':28s} {'requests':>9s} {'errors':>7s} {'p50 ms':>8s} {'p95 ms':>8s} "
        f"{'p99 ms':>8s} {'max ms':>8s} {'req/s':>7s}",
    ]

    def row(name: str, s: dict[str, Any]) -> str:
        rps = "-" if s["requests_per_s"] is None else f"{s['requests_per_s']:.1f}"
        return (
            f"{name:28s} {s['requests']:9,d} {s['errors']:7,d} {_ms(s['p50_ms']):>8s} "
            f"{_ms(s['p95_ms']):>8s} {_ms(s['p99_ms']):>8s} {_ms(s['max_ms']):>8s} {rps:>7s}"
        )

    for name, s in load["groups"].items():
        line = row(name, s)
        if s["errors"]:
            bad = {c: n for c, n in s["status_counts"].items() if not c.startswith("2")}
            line += "  non-2xx: " + ", ".join(
                f"{'no answer' if c == '0' else 'HTTP ' + c} x{n}" for c, n in bad.items()
            )
        lines.append(line)
    lines.append("")
    targets = r["targets"]
    for total, label in (("api", "API (all)"), ("dashboard", "dashboard (all)"), ("all", "all")):
        s = load["totals"].get(total)
        if s is None:
            continue
        line = row(label, s)
        verdict = targets.get(total)
        if verdict is not None:
            line += f"  p95 target < {targets[total + '_p95_ms']:g} ms: {verdict}"
        lines.append(line)
    cores = "" if server["cpu_cores"] is None else f" ({server['cpu_cores']:.2f} cores)"
    client_cores = (
        "" if load["client_cpu_cores"] is None else f" ({load['client_cpu_cores']:.2f} cores)"
    )
    lines.append(
        f"CPU during the load: server {server['cpu_s']} s{cores}, "
        f"load clients {load['client_cpu_s']} s{client_cores}"
    )
    timing = r["timing"]
    if timing is not None:
        idle, under = timing["idle"], timing["load"]
        lines += [
            "",
            f"{'timing core':46s} {'idle':>10s} {'under load':>11s} {'difference':>11s}",
        ]
        for key, label in TIMING_FIELDS:
            a, b, diff = idle.get(key), under.get(key), timing["difference"].get(key)
            lines.append(f"{label:46s} {a!s:>10s} {b!s:>11s} {diff!s:>11s}")
        overlap = timing["load_overlap"]
        shown = "-" if overlap is None else f"{overlap:.0%}"
        lines.append(
            f"the timing run under load ({under['duration_s']} s) overlapped the load {shown}"
            + (" (not fully: run longer with --duration)" if overlap is None or overlap < 1 else "")
        )
    rec = r.get("recording")
    if rec is not None:
        lines.append(
            f"recording under load ({rec['command']}, session {rec['session_id']}, "
            f"{rec['share_during_load']:.0%} of it during the load): {rec['trials']} trials, "
            f"{rec['events']:,} events, "
            f"{rec['samples']:,} samples stored; "
            + ("every trial complete, no fault, no gap" if rec["ok"] else "PROBLEMS:")
        )
        lines += [f"  ! {x}" for x in rec["problems"]]
    lines.append("")
    problems = []
    if rec is not None and not rec["ok"]:
        problems.append("the recording under load was not stored whole")
    if r["failed_requests"]:
        problems.append(f"{r['failed_requests']:,} requests failed")
    if r["lost_edges"]:
        problems.append(f"{r['lost_edges']:,} edges lost")
    if r["timestamps_exact"] is False:
        problems.append("timestamps not exact")
    lines.append("result: " + ("OK" if r["ok"] else "FAILED: " + "; ".join(problems)))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Child-process entry points: python -m web.loadbench timing SCALE | client SPEC OUT |
# replicate PLAN OUT


def _child_main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "timing":
        print(json.dumps(timing_figures(float(argv[1]))))
        return EXIT_OK
    if len(argv) == 3 and argv[0] == "replicate":
        plan = json.loads(Path(argv[1]).read_text())
        done = replicate_items(
            Path(plan["data_dir"]), plan["items"], lambda n: print(n, flush=True)
        )
        Path(argv[2]).write_text(json.dumps(done))
        return EXIT_OK
    if len(argv) == 3 and argv[0] == "client":
        try:
            return client_main(argv[1], argv[2])
        except (StationError, OSError, http.client.HTTPException) as exc:
            print(f"load client: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(
        "internal entry points of station bench-server: timing SCALE | client SPEC OUT | "
        "replicate PLAN OUT",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))
