"""The ``station`` subcommands that run assessments and read the store.

``assess``, ``participants``, ``results``, ``export``, ``rescore``, ``batteries``, ``norms``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.config import StationConfig
from station.errors import UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXPORT_FORMATS = ("csv", "json", "fhir", "pdf")
#: Largest store id (SQLite INTEGER).
MAX_ID = 2**63 - 1


def add_parsers(sub: Any, parser_class: type) -> None:
    a = sub.add_parser("assess", help="run a battery for a participant and store the results")
    a.add_argument(
        "--participant", required=True, metavar="CODE", help="pseudonymous participant code"
    )
    a.add_argument(
        "--battery", default="standard", help="battery name or TOML file (default: standard)"
    )
    a.add_argument(
        "--sim-profile",
        metavar="NAME_OR_FILE",
        help="simulated backend: the virtual participant's profile",
    )
    a.add_argument(
        "--seed",
        type=int,
        default=None,
        help="simulated backend: random seed (default from config)",
    )
    a.add_argument(
        "--fast", action="store_true", help="simulated backend: run faster than real time"
    )
    a.add_argument("--json", action="store_true", help="print the results as JSON")
    a.add_argument("--quiet", action="store_true", help="no instructions, only the results")

    p = sub.add_parser("participants", help="list or add participants (pseudonymous codes)")
    p_sub = p.add_subparsers(dest="what", metavar="WHAT", parser_class=parser_class)
    p_sub.add_parser("list", help="list participants").add_argument("--search", default=None)
    add = p_sub.add_parser("add", help="add a participant")
    add.add_argument("code")
    add.add_argument("--birth-year", type=int, default=None)
    add.add_argument("--sex", choices=("female", "male", "other"), default=None)
    add.add_argument("--dominant-hand", choices=("right", "left"), default=None)
    add.add_argument("--affected-side", choices=("right", "left", "both", "none"), default=None)
    add.add_argument("--notes", default="")
    card = p_sub.add_parser("card", help="a printed sign-in card (QR code) for self-guided mode")
    card.add_argument("code")
    card.add_argument("--out", required=True, metavar="FILE", help="card.pdf or card.png")

    r = sub.add_parser("results", help="a participant's results, with change from their baseline")
    r.add_argument("code")
    r.add_argument("--json", action="store_true")

    e = sub.add_parser(
        "export",
        help="export results (CSV, JSON, FHIR or a PDF report) to a file or stdout",
        description="csv/json: every participant, one (--participant) or one session "
        "(--session). fhir: a FHIR R4B collection Bundle of one participant or session. "
        "pdf: a progress report (--participant) or a session report (--session).",
    )
    e.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    e.add_argument("--participant", default=None, metavar="CODE", help="only this participant")
    e.add_argument("--session", default=None, metavar="ID", help="only this session (its id)")
    e.add_argument("--raw", action="store_true", help="json: include raw events and samples")
    e.add_argument(
        "--birth-year",
        action="store_true",
        help="fhir: put the participant's birth year in the Patient (left out by default)",
    )
    e.add_argument(
        "--output", "-o", default="-", help="file to write (default: stdout; pdf: not a terminal)"
    )

    sub.add_parser("rescore", help="recompute every trial's metrics from its stored raw data")
    inv = sub.add_parser(
        "invalidate", help="mark a trial invalid (e.g. a dropped peg) with a reason"
    )
    inv.add_argument("trial_id", type=int)
    inv.add_argument("--reason", required=True, help="why, in a few words")
    sub.add_parser("batteries", help="list the batteries and their steps")

    n = sub.add_parser("norms", help="normative data")
    n_sub = n.add_subparsers(dest="what", metavar="WHAT", parser_class=parser_class)
    n_sub.add_parser("list", help="list loaded norms")
    imp = n_sub.add_parser("import", help="validate a norm CSV and add it to the data folder")
    imp.add_argument("file")


def dispatch(args: argparse.Namespace, config: StationConfig) -> int | None:
    commands: dict[str, Callable[[argparse.Namespace, StationConfig], int]] = {
        "assess": _assess,
        "participants": _participants,
        "results": _results,
        "export": _export,
        "rescore": _rescore,
        "invalidate": _invalidate,
        "batteries": _batteries,
        "norms": _norms,
    }
    handler = commands.get(args.command)
    return None if handler is None else handler(args, config)


def _open_store(
    config: StationConfig, say: Callable[[str], None] | None = None, *, write: bool = True
) -> Any:
    """Open the store. Writers take the store's lock and recover interrupted sessions; readers
    (``write=False``) can run beside a recording."""
    from station.store import Store

    store = Store.open(config.data_dir, recover=write)
    if say is not None:
        for item in store.recovered:
            say(f"note: {item.describe()}")
    return store


def _assess(args: argparse.Namespace, config: StationConfig) -> int:
    from station.assess import results_table, run_battery
    from station.battery import load_battery
    from station.rig import open_rig

    quiet = args.quiet or args.json

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    battery = load_battery(args.battery, config.data_dir)
    rig = open_rig(config)
    if not rig.simulated and (args.sim_profile or args.fast):
        raise UsageError("--sim-profile and --fast are for the simulated backend only")
    store = _open_store(config, lambda s: print(s, file=sys.stderr))
    try:
        participant = store.get_participant(args.participant)
        if participant is None:
            participant = store.add_participant(args.participant)
            print(
                f"new participant {args.participant} (add details with `station participants add`)",
                file=sys.stderr,
            )
        person = None
        if rig.simulated:
            from hardware.sim.participant import VirtualParticipant

            profile = args.sim_profile or config.sim.profile
            seed = args.seed if args.seed is not None else config.sim.seed
            person = VirtualParticipant(profile, seed)
            print(
                f"SIMULATED: virtual participant {person.profile.name!r}, seed {seed}",
                file=sys.stderr,
            )
        review = None
        if not rig.simulated and sys.stdin.isatty():

            def review(trial: Any) -> str | None:
                answer = input(
                    "   Enter to keep, or type why it is invalid (e.g. dropped peg): "
                ).strip()
                return answer or None

        result = run_battery(
            rig,
            store,
            participant,
            battery,
            person=person,
            realtime=not args.fast,
            say=say,
            review=review,
        )
    finally:
        store.close()
        rig.close()
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print()
        print(results_table(result))
    return EXIT_OK


def _participants(args: argparse.Namespace, config: StationConfig) -> int:
    store = _open_store(config, write=args.what == "add")
    try:
        if args.what == "add":
            p = store.add_participant(
                args.code,
                birth_year=args.birth_year,
                sex=args.sex,
                dominant_hand=args.dominant_hand,
                affected_side=args.affected_side,
                notes=args.notes,
            )
            print(f"added {p.code}")
            return EXIT_OK
        if args.what == "card":
            from station.cards import card_payload, write_card

            if store.get_participant(args.code) is None:
                raise UsageError(
                    f"no participant with code {args.code!r} (see `station participants`)"
                )
            path = write_card(args.code, Path(args.out))
            print(f"wrote {path}: sign-in card of {args.code} (QR code {card_payload(args.code)})")
            return EXIT_OK
        rows = store.list_participants(search=getattr(args, "search", None))
        for p in rows:
            print(
                f"{p.code:12s} born {p.birth_year or '-'}  sex {p.sex or '-'}  dominant {p.dominant_hand or '-'}  "
                f"affected {p.affected_side or '-'}"
            )
        if not rows:
            print("no participants yet")
        return EXIT_OK
    finally:
        store.close()


def _results(args: argparse.Namespace, config: StationConfig) -> int:
    from station.results import participant_results, render_results

    store = _open_store(config, write=False)
    try:
        report = participant_results(store, args.code, config.data_dir)
    finally:
        store.close()
    print(json.dumps(report, indent=2) if args.json else render_results(report))
    return EXIT_OK


def _export_args(args: argparse.Namespace) -> int | None:
    """Check the export arguments together; returns the session id (or None)."""
    session_id = None
    if args.session is not None:
        text = str(args.session).strip()
        if not re.fullmatch(r"[0-9]{1,19}", text) or not 1 <= int(text) <= MAX_ID:
            raise UsageError(f"--session: {args.session!r} is not a session id (a whole number)")
        session_id = int(text)
    if args.raw and args.format != "json":
        raise UsageError("--raw is for --format json only")
    if args.birth_year and args.format != "fhir":
        raise UsageError("--birth-year is for --format fhir only")
    if args.format == "fhir" and args.participant is None and session_id is None:
        raise UsageError("--format fhir needs --participant CODE or --session ID")
    if args.format == "pdf" and args.participant is None and session_id is None:
        raise UsageError(
            "--format pdf needs --participant CODE (progress report) or --session ID "
            "(session report)"
        )
    if args.output == "-":
        if args.format == "pdf" and sys.stdout.isatty():
            raise UsageError("--format pdf is binary: give -o FILE.pdf (or redirect stdout)")
    else:
        out = Path(args.output)
        if out.is_dir():
            raise UsageError(f"-o {args.output}: is a folder; give a file name")
        if not out.parent.is_dir():
            raise UsageError(f"-o {args.output}: the folder {out.parent} does not exist")
    return session_id


def _export(args: argparse.Namespace, config: StationConfig) -> int:
    from station.reports import ReportError
    from station.store import StoreError

    session_id = _export_args(args)
    store = _open_store(config, write=False)
    try:
        try:
            payload = _export_payload(store, args, session_id, config)
        except (StoreError, ReportError) as exc:
            if exc.field in ("code", "session_id"):
                raise UsageError(str(exc)) from None
            raise
        if args.output == "-":
            if isinstance(payload, bytes):
                sys.stdout.buffer.write(payload)
                sys.stdout.buffer.flush()
            else:
                payload(sys.stdout)
            return EXIT_OK
        _write_file(Path(args.output), payload)
    finally:
        store.close()
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _export_payload(
    store: Any, args: argparse.Namespace, session_id: int | None, config: StationConfig
) -> bytes | Callable[[Any], None]:
    """The PDF or FHIR bytes, or a writer of the CSV/JSON text (streamed). Unknown participants
    and sessions are refused here, before any output is opened."""
    from station.reports import load_report_data
    from station.store import export

    code = args.participant
    if args.format == "pdf":
        from station.reports.pdf import participant_pdf, session_pdf

        if session_id is not None:
            if code is not None:  # refuses a session of another participant
                load_report_data(store, participant_code=code, session_id=session_id)
            return session_pdf(store, session_id)
        return participant_pdf(store, code, data_dir=config.data_dir)
    if args.format == "fhir":
        from station.reports.fhir import build_bundle, bundle_json

        data = load_report_data(store, participant_code=code, session_id=session_id)
        bundle = build_bundle(data, include_birth_year=args.birth_year)
        return (bundle_json(bundle) + "\n").encode("utf-8")
    export.export_selection(store, participant_code=code, session_id=session_id)  # check now
    if args.format == "csv":
        return lambda fh: export.export_csv(store, fh, participant_code=code, session_id=session_id)
    return lambda fh: export.export_json(
        store, fh, participant_code=code, session_id=session_id, raw=args.raw, indent=2
    )


def _write_file(path: Path, payload: bytes | Callable[[Any], None]) -> None:
    """Write through a temporary file beside ``path``, renamed at the end: a failed export
    never leaves a half-written file under the name asked for."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        if isinstance(payload, bytes):
            tmp.write_bytes(payload)
        else:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                payload(fh)
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)


def _rescore(args: argparse.Namespace, config: StationConfig) -> int:
    from station.rescore import rescore_all

    store = _open_store(config)
    try:
        trials, sessions = rescore_all(store)
    finally:
        store.close()
    print(f"rescored {trials} trials in {sessions} sessions")
    return EXIT_OK


def _invalidate(args: argparse.Namespace, config: StationConfig) -> int:
    from station.rescore import invalidate_trial

    store = _open_store(config)
    try:
        invalidate_trial(store, args.trial_id, args.reason)
    finally:
        store.close()
    print(f"trial {args.trial_id} marked invalid ({args.reason}); session summaries recomputed")
    return EXIT_OK


def _batteries(args: argparse.Namespace, config: StationConfig) -> int:
    from station.battery import battery_names, load_battery

    for name in battery_names(config.data_dir):
        b = load_battery(name, config.data_dir)
        steps = "; ".join(
            f"{s.protocol.name} ({'/'.join(s.hands)}, {s.practice}+{s.trials})" for s in b.steps
        )
        print(f"{b.name:16s} {b.title}: {steps}")
    return EXIT_OK


def _norms(args: argparse.Namespace, config: StationConfig) -> int:
    from station.norms import import_norms, load_norms

    if args.what == "import":
        dest, n = import_norms(config.data_dir, Path(args.file))
        print(f"imported {n} norms into {dest}")
        return EXIT_OK
    norms = load_norms(config.data_dir)
    for x in norms:
        print(
            f"{x.protocol} {x.metric} {x.age_min}-{x.age_max} {x.sex} {x.hand}: "
            f"{x.mean} +- {x.sd} (n={x.n}; {x.citation})"
        )
    if not norms:
        print(
            "no norm sets loaded (none are shipped; import a clinic's with `station norms import FILE.csv`)"
        )
    return EXIT_OK
