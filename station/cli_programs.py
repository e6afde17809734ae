"""The ``station`` subcommands of graded practice.

``programs list|show NAME|check FILE|history CODE``, ``prescribe``, ``prescription`` (adjust,
pause, resume, end, set the level) and ``practice`` (today's session). See docs/practice.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.config import StationConfig
from station.errors import UsageError

EXIT_OK = 0
EXIT_FAILED = 1
#: Product defaults of a new prescription (the clinician gives their own).
DEFAULT_PER_WEEK = 3
DEFAULT_DAILY_CAP = 1


def _rating(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a rating is a whole number 0-10, got {text!r}") from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"a rating is 0-10, got {value}")
    return value


def _effort(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"Borg CR10 effort is a number 0-10, got {text!r}"
        ) from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"Borg CR10 effort is 0-10, got {text}")
    return value


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a whole number {low}-{high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}-{high}, got {value}")
        return value

    return parse


def add_parsers(sub: Any, parser_class: type) -> None:
    pr = sub.add_parser("programs", help="graded practice programs: list, show, check, history")
    pr_sub = pr.add_subparsers(dest="what", metavar="WHAT", parser_class=parser_class)
    pr_sub.required = True
    pr_sub.add_parser("list", help="the programs available (shipped and the clinic's own)")
    show = pr_sub.add_parser("show", help="a program's levels, exercises, doses and criteria")
    show.add_argument("name", help="program name or TOML file")
    show.add_argument("--json", action="store_true")
    check = pr_sub.add_parser("check", help="validate a program file")
    check.add_argument("file")
    hist = pr_sub.add_parser(
        "history", help="a participant's prescriptions: levels, decisions with reasons, adherence"
    )
    hist.add_argument("code")
    hist.add_argument("--json", action="store_true")

    rx = sub.add_parser("prescribe", help="prescribe a practice program to a participant")
    rx.add_argument("code", help="participant code")
    rx.add_argument("program", help="program name or TOML file")
    rx.add_argument("--level", type=_whole(1, 30), default=1, help="starting level (default 1)")
    rx.add_argument(
        "--per-week",
        type=_whole(1, 14),
        default=DEFAULT_PER_WEEK,
        help=f"sessions a week (default {DEFAULT_PER_WEEK})",
    )
    rx.add_argument(
        "--daily-cap",
        type=_whole(1, 10),
        default=DEFAULT_DAILY_CAP,
        help=f"at most this many sessions a day (default {DEFAULT_DAILY_CAP})",
    )
    rx.add_argument("--note", default="", help="a note shown to the participant")
    rx.add_argument("--by", default="clinician", help="who prescribes (default clinician)")

    ch = sub.add_parser(
        "prescription", help="change a prescription: dose, pause/resume/end, or the level"
    )
    ch.add_argument("code", help="participant code")
    ch.add_argument("program", nargs="?", default=None, help="program name (if several)")
    ch.add_argument("--per-week", type=_whole(1, 14), default=None)
    ch.add_argument("--daily-cap", type=_whole(1, 10), default=None)
    ch.add_argument("--level", type=_whole(1, 30), default=None, help="override the level")
    state = ch.add_mutually_exclusive_group()
    state.add_argument("--pause", action="store_true")
    state.add_argument("--resume", action="store_true")
    state.add_argument("--end", action="store_true")
    ch.add_argument("--note", default=None, help="a new note for the participant")
    ch.add_argument("--reason", default="", help="why (required for a level override)")
    ch.add_argument("--by", default="clinician")

    pa = sub.add_parser("practice", help="today's practice session of a participant's program")
    pa.add_argument("code", help="participant code")
    pa.add_argument("--program", default=None, help="which program (if several are prescribed)")
    pa.add_argument(
        "--sim-profile", metavar="NAME_OR_FILE", help="simulated backend: the virtual participant"
    )
    pa.add_argument(
        "--seed",
        type=int,
        default=None,
        help="simulated backend: random seed (default: the configuration's plus the number of "
        "practice sessions so far, so that sessions differ)",
    )
    pa.add_argument("--fast", action="store_true", help="simulated backend: faster than real time")
    for timing in ("before", "after"):
        pa.add_argument(f"--pain-{timing}", type=_rating, default=None, metavar="0-10")
        pa.add_argument(f"--fatigue-{timing}", type=_rating, default=None, metavar="0-10")
    pa.add_argument("--effort", type=_effort, default=None, metavar="0-10", help="Borg CR10")
    pa.add_argument("--sensations", default=None, help="what you felt, in your words (optional)")
    pa.add_argument("--json", action="store_true", help="print the outcome as JSON")
    pa.add_argument("--quiet", action="store_true", help="only the decision and summary")


def dispatch(args: argparse.Namespace, config: StationConfig) -> int | None:
    handlers: dict[str, Callable[[argparse.Namespace, StationConfig], int]] = {
        "programs": _programs,
        "prescribe": _prescribe,
        "prescription": _prescription,
        "practice": _practice,
    }
    handler = handlers.get(args.command)
    return None if handler is None else handler(args, config)


def _open_store(config: StationConfig, *, write: bool) -> Any:
    from station.store import Store

    store = Store.open(config.data_dir, recover=write)
    for item in store.recovered:
        print(f"note: {item.describe()}", file=sys.stderr)
    return store


def _load(name: str, config: StationConfig, *, usage: bool = True) -> Any:
    """Load a program; a missing or invalid one is a usage error (exit 2) unless it is what is
    being checked (``usage=False``: exit 1, the check failed)."""
    from station.programs.program import ProgramError, load_program

    try:
        return load_program(name, config.data_dir)
    except ProgramError as exc:
        if usage:
            raise UsageError(str(exc)) from None
        raise


# -- programs ---------------------------------------------------------------------------------


def _programs(args: argparse.Namespace, config: StationConfig) -> int:
    if args.what == "list":
        from station.programs.program import ProgramError, program_names

        names = program_names(config.data_dir)
        for name in names:
            try:
                p = _load(name, config, usage=False)
            except ProgramError as exc:
                print(f"{name:20s} INVALID: {exc}")
                continue
            print(f"{p.name:20s} v{p.version:6s} {len(p.levels)} levels  {p.title}")
        if not names:
            print("no programs")
        return EXIT_OK
    if args.what == "show":
        return _show(_load(args.name, config), args.json)
    if args.what == "check":
        path = Path(args.file)
        if not path.is_file():
            raise UsageError(f"{args.file}: no such file")
        p = _load(str(path), config, usage=False)
        n = sum(len(lv.exercises) for lv in p.levels)
        print(f"{path}: ok: program {p.name!r} v{p.version}, {len(p.levels)} levels, {n} exercises")
        return EXIT_OK
    return _history(args, config)


def _show(program: Any, as_json: bool) -> int:
    from station.programs.metrics import DRILLS, format_value
    from station.programs.program import program_summary

    if as_json:
        print(json.dumps(program_summary(program), indent=2))
        return EXIT_OK
    print(f"{program.name} v{program.version}: {program.title}")
    if program.description:
        print(f"  {program.description}")
    for src in program.sources:
        print(f"  source: {src}")
    rules = program.rules.as_dict()
    print("  rules: " + ", ".join(f"{k} {v:g}" for k, v in rules.items()))
    for lv in program.levels:
        print(f"\nLevel {lv.number}: {lv.title}")
        if lv.goal:
            print(f"  goal: {lv.goal}")
        for e in lv.exercises:
            params = e.make().params_dict()
            shown = ", ".join(f"{k}={v}" for k, v in params.items() if k in _interesting(e))
            print(
                f"  - {e.title} [{e.id}: {DRILLS[e.drill]}; {e.protocol.name}"
                + (f" {shown}" if shown else "")
                + f"] hands {'/'.join(e.hands)}: {e.sets} sets x {e.reps} reps, rest {e.rest_s:g} s"
            )
            for c in e.criteria:
                floor = f", limit {format_value(c.floor, c.unit)}" if c.floor is not None else ""
                print(f"      {c.words}: {c.describe()}{floor}  ({c.source})")
    return EXIT_OK


def _interesting(exercise: Any) -> set[str]:
    """The parameters worth showing: those the program sets (differing from the defaults)."""
    defaults = exercise.protocol().params_dict()
    return {k for k, v in exercise.make().params_dict().items() if defaults.get(k) != v}


# -- prescriptions ----------------------------------------------------------------------------


def _prescribe(args: argparse.Namespace, config: StationConfig) -> int:
    program = _load(args.program, config)
    if args.level > len(program.levels):
        raise UsageError(f"--level {args.level}: {program.name} has levels 1-{len(program.levels)}")
    store = _open_store(config, write=True)
    try:
        if store.get_participant(args.code) is None:
            raise UsageError(
                f"no participant {args.code!r} (add with `station participants add {args.code}`)"
            )
        rx = store.add_prescription(
            args.code,
            program.name,
            program_version=program.version,
            program_hash=program.sha256,
            levels=len(program.levels),
            start_level=args.level,
            sessions_per_week=args.per_week,
            daily_cap=args.daily_cap,
            note=args.note,
            created_by=args.by,
        )
    finally:
        store.close()
    print(
        f"prescribed {program.name} v{program.version} to {args.code} (prescription {rx.id}): "
        f"level {rx.current_level} of {rx.levels}, {rx.sessions_per_week} sessions a week, "
        f"at most {rx.daily_cap} a day"
    )
    return EXIT_OK


def _pick(store: Any, code: str, program: str | None) -> Any:
    if store.get_participant(code) is None:
        raise UsageError(f"no participant {code!r}")
    found = store.prescriptions(code)
    if program is not None:
        found = [p for p in found if p.program_name == program]
    if not found:
        what = f" of {program}" if program else ""
        raise UsageError(
            f"{code} has no prescription{what} (see `station programs history {code}`)"
        )
    if len(found) > 1:
        names = ", ".join(p.program_name for p in found)
        raise UsageError(f"{code} has several prescriptions ({names}): name the program")
    return found[0]


def _prescription(args: argparse.Namespace, config: StationConfig) -> int:
    from station.store import UNSET

    store = _open_store(config, write=True)
    try:
        rx = _pick(store, args.code, args.program)
        status: Any = UNSET
        if args.pause:
            status = "paused"
        elif args.resume:
            status = "active"
        elif args.end:
            status = "ended"
        changed = any(
            x is not None for x in (args.per_week, args.daily_cap, args.note, args.level)
        ) or (status is not UNSET)
        if not changed:
            raise UsageError(
                "say what to change: --per-week, --daily-cap, --pause, --resume, --end, "
                "--level N --reason TEXT, or --note"
            )
        if args.level is not None:
            if not args.reason.strip():
                raise UsageError("--level needs --reason TEXT (it is shown to whoever reviews it)")
            rx = store.override_level(rx.id, args.level, reason=args.reason, author=args.by)
        rx = store.update_prescription(
            rx.id,
            sessions_per_week=args.per_week if args.per_week is not None else UNSET,
            daily_cap=args.daily_cap if args.daily_cap is not None else UNSET,
            status=status,
            note=args.note if args.note is not None else UNSET,
            reason=args.reason,
            author=args.by,
        )
    finally:
        store.close()
    print(
        f"{args.code}: {rx.program_name} (prescription {rx.id}) {rx.status}, level "
        f"{rx.current_level} of {rx.levels}, {rx.sessions_per_week} sessions a week, at most "
        f"{rx.daily_cap} a day"
    )
    return EXIT_OK


def _history(args: argparse.Namespace, config: StationConfig) -> int:
    from station.programs.history import adherence, level_history, symptom_trend

    store = _open_store(config, write=False)
    try:
        if store.get_participant(args.code) is None:
            raise UsageError(f"no participant {args.code!r}")
        report = []
        for rx in store.prescriptions(args.code, include_ended=True):
            sessions = store.practice_sessions(rx.id)
            changes = store.prescription_changes(rx.id)
            decisions = store.decisions(rx.id)
            report.append(
                {
                    "prescription": {
                        "id": rx.id,
                        "program": rx.program_name,
                        "version": rx.program_version,
                        "status": rx.status,
                        "start_level": rx.start_level,
                        "current_level": rx.current_level,
                        "levels": rx.levels,
                        "sessions_per_week": rx.sessions_per_week,
                        "daily_cap": rx.daily_cap,
                        "created_utc": rx.created_utc.isoformat(),
                        "created_by": rx.created_by,
                        "note": rx.note,
                    },
                    "adherence": [w.as_dict() for w in adherence(rx, sessions, changes)],
                    "levels": level_history(rx, decisions, changes),
                    "symptoms": symptom_trend(sessions),
                }
            )
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    if not report:
        print(f"{args.code} has no practice program prescribed")
    for item in report:
        _print_history(item)
    return EXIT_OK


def _print_history(item: dict[str, Any]) -> None:
    rx = item["prescription"]
    print(
        f"{rx['program']} v{rx['version']} (prescription {rx['id']}), {rx['status']}: level "
        f"{rx['current_level']} of {rx['levels']} (started at {rx['start_level']}); "
        f"{rx['sessions_per_week']} sessions a week, at most {rx['daily_cap']} a day"
    )
    weeks = item["adherence"]
    done = sum(w["done"] for w in weeks)
    prescribed = sum(w["prescribed"] for w in weeks)
    print(f"  adherence: {done} of {prescribed} sessions prescribed so far")
    for w in weeks:
        paused = " (paused)" if w["paused"] else ""
        print(f"    week of {w['week_start']}: {w['done']} of {w['prescribed']}{paused}")
    print("  levels and decisions:")
    for e in item["levels"]:
        when = e["t_utc"][:16].replace("T", " ")
        levels = ""
        before, after = e.get("level_before"), e.get("level_after")
        if before is not None and after is not None and before != after:
            levels = f" {before}->{after}"
        elif after is not None:
            levels = f" (level {after})"
        print(f"    {when}  {e['what']}{levels} ({e['by']}): {e['reason']}")
    if item["symptoms"]:
        print("  symptoms (pain before/after, fatigue before/after, effort):")
        for s in item["symptoms"]:

            def n(x: Any) -> str:
                return "-" if x is None else f"{x:g}"

            print(
                f"    {s['started_utc'][:10]} session {s['session_id']} level {s['level']} "
                f"{s['status']}: pain {n(s['pain_before'])}/{n(s['pain_after'])}, fatigue "
                f"{n(s['fatigue_before'])}/{n(s['fatigue_after'])}, effort "
                f"{n(s['effort_borg_cr10'])}"
                + (f"; felt: {s['sensations']}" if s["sensations"] else "")
            )


# -- practice ---------------------------------------------------------------------------------


def _ask(args: argparse.Namespace) -> Callable[[str, str], float | None]:
    given = {
        ("pain", "before"): args.pain_before,
        ("fatigue", "before"): args.fatigue_before,
        ("pain", "after"): args.pain_after,
        ("fatigue", "after"): args.fatigue_after,
        ("borg_cr10", "after"): args.effort,
    }
    flags = {
        ("pain", "before"): "--pain-before",
        ("fatigue", "before"): "--fatigue-before",
        ("pain", "after"): "--pain-after",
        ("fatigue", "after"): "--fatigue-after",
    }
    questions = {
        "pain": "How much pain do you have in your hand (0 none - 10 worst imaginable)? ",
        "fatigue": "How tired is your hand (0 not tired - 10 as tired as it could be)? ",
        "borg_cr10": "How hard was it (Borg CR10: 0 nothing at all - 10 extremely strong; "
        "Enter to skip)? ",
    }

    def ask(scale: str, timing: str) -> float | None:
        value = given.get((scale, timing))
        if value is not None:
            return float(value)
        if not sys.stdin.isatty():
            if scale == "borg_cr10":
                return None
            raise UsageError(f"give {flags[(scale, timing)]} 0-10 (there is no terminal to ask)")
        parse = _effort if scale == "borg_cr10" else _rating
        while True:
            answer = input(f"{timing.capitalize()}: {questions[scale]}").strip()
            if not answer and scale == "borg_cr10":
                return None
            try:
                return float(parse(answer))
            except argparse.ArgumentTypeError as exc:
                print(f"  {exc}")

    return ask


def _ratings_available(args: argparse.Namespace, pain_stop_at: int) -> None:
    """Without a terminal every rating must be given as an option, checked before the session
    runs (not after it, when the ratings after would be missing). Pain before at the stop value
    needs no ratings after: no session runs."""
    if sys.stdin.isatty():
        return
    flags: tuple[str, ...] = ("pain_before", "fatigue_before", "pain_after", "fatigue_after")
    if args.pain_before is not None and args.pain_before >= pain_stop_at:
        flags = flags[:2]
    missing = ["--" + f.replace("_", "-") for f in flags if getattr(args, f) is None]
    if missing:
        raise UsageError(f"give {', '.join(missing)} 0-10 (there is no terminal to ask)")


def _wait_rest(planned: Any) -> None:
    """A real station: the participant rests; the countdown is printed every 10 s."""
    total = float(planned.rest_before_s)
    print(f"   Rest {total:g} s before set {planned.set_index}.", flush=True)
    done = threading.Event()
    left = total
    while left > 0:
        step = min(10.0, left)
        done.wait(step)
        left -= step
        if left > 0:
            print(f"   {left:g} s ...", flush=True)


def _practice(args: argparse.Namespace, config: StationConfig) -> int:
    from station.programs.run import PracticeRun, run_practice
    from station.protocols.base import Pacer
    from station.rig import open_rig

    quiet = args.quiet or args.json

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    ask = _ask(args)
    rig = open_rig(config)
    if not rig.simulated and (args.sim_profile or args.fast or args.seed is not None):
        rig.close()
        raise UsageError("--sim-profile, --seed and --fast are for the simulated backend only")
    store = _open_store(config, write=True)
    try:
        if store.get_participant(args.code) is None:
            raise UsageError(f"no participant {args.code!r} (see `station participants`)")
        prescription_id = None
        if args.program is not None:
            prescription_id = _pick(store, args.code, args.program).id
        person = None
        if rig.simulated:
            from hardware.sim.participant import VirtualParticipant

            profile = args.sim_profile or config.sim.profile
            seed = args.seed
            if seed is None:  # a new seed for each session, so sessions differ
                done = sum(
                    len(store.practice_sessions(rx.id))
                    for rx in store.prescriptions(args.code, include_ended=True)
                )
                seed = config.sim.seed + done
            person = VirtualParticipant(profile, seed)
            print(
                f"SIMULATED: virtual participant {person.profile.name!r}, seed {seed}",
                file=sys.stderr,
            )
        run = PracticeRun(
            rig,
            store,
            args.code,
            prescription_id,
            data_dir=config.data_dir,
            person=person,
            say=say,
            pacer=Pacer() if rig.simulated and not args.fast else None,
        )
        outcome = run_practice(
            run,
            ask,
            rest=None if rig.simulated else _wait_rest,
            sensations=(lambda: args.sensations) if args.sensations else None,
            ready=lambda run: _ratings_available(args, run.rules.pain_stop_at),
        )
    finally:
        store.close()
        rig.close()
    d = outcome.decision
    if args.json:
        print(
            json.dumps(
                {
                    "session_id": outcome.session_id,
                    "status": outcome.status,
                    "plan": outcome.plan.as_dict(),
                    "feedback": [f.text() for f in outcome.feedback],
                    "decision": {
                        "kind": d.kind,
                        "level_before": d.level_before,
                        "level_after": d.level_after,
                        "reason": d.reason,
                        "rule_version": d.rule_version,
                    },
                    "summary": outcome.summary.text() if outcome.summary else None,
                },
                indent=2,
            )
        )
        return EXIT_OK
    print()
    if outcome.summary is not None:
        print(outcome.summary.text())
    else:
        print(f"Decision: {d.reason}")
    return EXIT_OK
