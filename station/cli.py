"""The ``station`` command.

Exit status: 0 success; 1 a check failed or a device is missing; 2 bad configuration or arguments;
130 interrupted. Errors are one clear line on stderr, never a traceback (``-v`` adds details).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from station import __version__
from station.errors import ConfigError, StationError, UsageError

log = logging.getLogger("station")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _weights(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"weights must be grams separated by commas, e.g. 0,100,200,500; got {text!r}"
        ) from None
    if len(set(values)) < 3 or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(
            "give at least 3 different weights in grams, none negative"
        )
    return values


#: Packages that build on the station core add their subcommands through this entry-point group
#: (the clinic server's ``serve`` and ``user``), so the core never imports them.
PLUGIN_GROUP = "dexterity_station.cli"


def _plugins() -> list[Any]:
    from importlib.metadata import entry_points

    return [ep.load() for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="station",
        description="Dexterity Station: measure and train fine motor control of the hand.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="station configuration (default: $STATION_CONFIG, "
        "/etc/dexterity-station/station.toml, or the reference station)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log details (and tracebacks of internal errors)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    st = sub.add_parser("selftest", help="check every configured device and show live states")
    st.add_argument(
        "--json", action="store_true", help="one JSON object per device (name, kind, ok, detail)"
    )
    st.add_argument(
        "--seconds", type=_positive_float, default=0.5, help="how long to sample (default 0.5)"
    )
    st.add_argument("--watch", action="store_true", help="keep showing live states until Ctrl-C")

    cal = sub.add_parser("calibrate", help="calibrate a device with known references")
    cal_sub = cal.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    cal_sub.required = True
    pad = cal_sub.add_parser("pad", help="fit force against conductance with known weights")
    pad.add_argument("name", help="pad name from the configuration, e.g. pad_index")
    pad.add_argument(
        "--weights-g",
        type=_weights,
        default=None,
        metavar="G,G,G",
        help="weights in grams (default 0,100,200,500,1000)",
    )

    bench = sub.add_parser(
        "bench", help="measure speed and timing (figures for docs/benchmarks.md)"
    )
    bench_sub = bench.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    bench_sub.required = True
    bt = bench_sub.add_parser(
        "timing", help="timing core throughput, latency, ADC cost, GIL comparison"
    )
    bt.add_argument("--json", action="store_true", help="print the figures as JSON")
    bt.add_argument("--quick", action="store_true", help="smaller runs (for tests)")
    bs = bench_sub.add_parser(
        "scoring", help="time scoring a stored session's trials from raw data"
    )
    bs.add_argument("--session", type=int, default=None, help="session id (default: the latest)")
    bs.add_argument("--json", action="store_true", help="print the figures as JSON")

    demo = sub.add_parser(
        "demo", help="run the station with the virtual participant acting (simulated backend)"
    )
    demo.add_argument(
        "--seconds",
        type=_positive_float,
        default=None,
        help="stop after this long (default: until Ctrl-C)",
    )
    demo.add_argument("--fast", action="store_true", help="run faster than real time")
    demo.add_argument(
        "--profile", default=None, help="participant preset name or TOML file (default from config)"
    )
    demo.add_argument("--seed", type=int, default=None, help="random seed (default from config)")

    from station.cli_data import add_parsers
    from station.cli_ops import add_parsers as add_ops_parsers
    from station.cli_programs import add_parsers as add_program_parsers

    add_parsers(sub, _Parser)
    add_program_parsers(sub, _Parser)
    add_ops_parsers(sub, _Parser)

    for plugin in _plugins():
        plugin.add_parsers(sub, _Parser)

    ki = sub.add_parser(
        "kiosk", help="the touchscreen app (fullscreen on a Pi, windowed on a desktop)"
    )
    ki.add_argument(
        "--demo",
        action="store_true",
        help="the virtual participant runs a battery on its own (simulated backend); "
        "in the terminal where there is no display",
    )
    ki.add_argument("--set-pin", action="store_true", help="set or change the clinician PIN")
    ki.add_argument(
        "--idle-lock-min",
        type=_positive_float,
        default=None,
        metavar="MIN",
        help="lock clinician mode after this many minutes without a touch (saved; default 5)",
    )
    ki.add_argument(
        "--fast",
        action="store_true",
        help="simulated: trials as fast as possible, not in real time",
    )
    ki.add_argument(
        "--battery", default=None, help="--demo: battery name or file (default: a short demo)"
    )
    ki.add_argument("--size", default=None, metavar="WxH", help="window size (default 800x480)")
    full = ki.add_mutually_exclusive_group()
    full.add_argument(
        "--fullscreen", action="store_true", default=None, help="fullscreen (default on a Pi)"
    )
    full.add_argument(
        "--windowed",
        dest="fullscreen",
        action="store_false",
        help="in a window (default elsewhere)",
    )
    ki.add_argument(
        "--bench",
        action="store_true",
        help="measure start-up time and frame rate (figures for docs/benchmarks.md), then quit",
    )

    cc = sub.add_parser("config", help="configuration tools")
    cc_sub = cc.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    cc_sub.required = True
    cc_sub.add_parser("check", help="validate the configuration and print a summary")
    cc_sub.add_parser("path", help="print the path of the configuration in use")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (ConfigError, UsageError) as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StationError as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # last resort: a person never sees a traceback
        if args.verbose:
            log.exception("internal error")
        print(
            f"station: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    from station.config import load_config

    if args.command == "bench" and args.what == "timing":
        from station.bench import format_timing, run_timing_bench

        figures = run_timing_bench(quick=args.quick)
        print(json.dumps(figures, indent=2) if args.json else format_timing(figures))
        return EXIT_OK

    from station.cli_ops import dispatch as dispatch_ops  # before the config: doctor checks it

    if (handled_ops := dispatch_ops(args)) is not None:
        return handled_ops
    config = load_config(args.config)
    if args.command == "bench":
        from station.bench import bench_scoring
        from station.store import Store

        store = Store.open(config.data_dir, recover=False)
        try:
            try:
                figures = bench_scoring(store, args.session)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        finally:
            store.close()
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            print(
                f"scored session {figures['session_id']}: {figures['trials']} trials "
                f"({', '.join(figures['protocols'])}; {figures['force_samples']:,} force samples) in "
                f"{figures['scoring_ms_median']} ms (median; max {figures['scoring_ms_max']} ms)"
            )
        return EXIT_OK
    if args.command == "config":
        if args.what == "path":
            print(config.path)
        else:
            print(
                f"{config.path}: ok: station {config.station_id!r}, hardware {config.hardware}, "
                f"{len(config.holes)} holes, {len(config.buttons)} buttons, {len(config.outputs)} outputs, "
                f"{len(config.adcs)} ADCs, {len(config.pads)} pads; data in {config.data_dir}"
            )
        return EXIT_OK

    if args.command == "kiosk":
        from station.kiosk.main import parse_size, run_kiosk
        from station.ui.auth import set_idle_lock, set_pin_interactive

        if args.set_pin or args.idle_lock_min is not None:
            if args.idle_lock_min is not None:
                set_idle_lock(config.data_dir, args.idle_lock_min)
            return set_pin_interactive(config.data_dir) if args.set_pin else EXIT_OK
        return run_kiosk(
            config,
            demo=args.demo,
            fast=args.fast,
            battery=args.battery,
            size=parse_size(args.size) if args.size else None,
            fullscreen=args.fullscreen,
            verbose=args.verbose,
            bench=args.bench,
        )

    for plugin in _plugins():
        handled = plugin.dispatch(args, config)
        if handled is not None:
            return handled

    from station.cli_data import dispatch
    from station.cli_programs import dispatch as dispatch_programs

    handled = dispatch(args, config)
    if handled is None:
        handled = dispatch_programs(args, config)
    if handled is not None:
        return handled

    from station.rig import open_rig

    rig = open_rig(config)
    if rig.simulated and args.command != "bench":
        print(
            "SIMULATED hardware (no Raspberry Pi GPIO here, or STATION_HARDWARE=sim)",
            file=sys.stderr,
        )
    try:
        if args.command == "selftest":
            return _selftest(rig, args)
        if args.command == "calibrate":
            return _calibrate(rig, args)
        if args.command == "demo":
            from station.demo import run_demo

            return run_demo(
                rig, seconds=args.seconds, fast=args.fast, profile=args.profile, seed=args.seed
            )
    finally:
        rig.close()
    raise UsageError(f"unknown command {args.command!r}")


def _selftest(rig: object, args: argparse.Namespace) -> int:
    from station.selftest import run_selftest

    checks = run_selftest(rig, sample_s=args.seconds)  # type: ignore[arg-type]
    _keep_selftest_report(rig, checks)
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'}  {c.kind:7s} {c.name:12s} {c.detail}")
        failed = [c.name for c in checks if not c.ok]
        print(
            f"{len(checks) - len(failed)} of {len(checks)} devices ok"
            + (f"; failing: {', '.join(failed)}" if failed else "")
        )
    if args.watch:
        _watch(rig)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def _keep_selftest_report(rig: object, checks: list[Any]) -> None:
    """Save the report for the clinic server's status page; a failure only warns."""
    from station.selftest import keep_last_report

    why = keep_last_report(rig, checks)  # type: ignore[arg-type]
    if why is not None:
        print(f"warning: the self-test report was not saved ({why})", file=sys.stderr)


def _watch(rig: object) -> None:
    from station.recorder import Recorder

    rec = Recorder(rig)  # type: ignore[arg-type]
    stop = threading.Event()
    runner = None
    world = getattr(rig, "world", None)
    rec.start()
    if world is not None:
        runner = threading.Thread(target=world.run_realtime, args=(stop,), daemon=True)
        runner.start()
    try:
        while True:
            holes = " ".join("X" if rec.core.level(s.name) else "." for s in rig.config.holes)  # type: ignore[attr-defined]
            buttons = " ".join(
                f"{s.finger or s.name}:{'DOWN' if rec.core.level(s.name) else 'up'}"
                for s in rig.config.buttons
            )  # type: ignore[attr-defined]
            pads = " ".join(f"{n}:{p.last_force_n:5.2f}N" for n, p in rec.pads.items())
            print(f"holes [{holes}]  {buttons}  {pads}", flush=True)
            time.sleep(0.5)
    finally:
        stop.set()
        if runner is not None:
            runner.join()
        rec.close()


def _calibrate(rig: object, args: argparse.Namespace) -> int:
    from station.calibrate import DEFAULT_WEIGHTS_G, SimOperator, TerminalOperator, calibrate_pad

    cfg = rig.config  # type: ignore[attr-defined]
    cfg.pad(args.name)  # a clear error for an unknown pad name
    operator = SimOperator(rig) if getattr(rig, "simulated", False) else TerminalOperator()  # type: ignore[arg-type]
    calibrate_pad(rig, args.name, operator, args.weights_g or DEFAULT_WEIGHTS_G)  # type: ignore[arg-type]
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
