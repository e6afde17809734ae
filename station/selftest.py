"""``station selftest``: check every configured device and show its live state.

Each device gets one :class:`DeviceCheck` (``name``, ``kind``, ``ok``, ``detail``, ``state``).
A device is not ok when it is missing (an ADC that does not answer), stuck (a button closed at
start, a switch chattering), or silent (an ADC or pad that delivered no samples, or far fewer
than its data rate).

The last report is kept in ``<data_dir>/selftest-last.json`` (:func:`save_last_report`, written
atomically and durably by ``station selftest``) so the clinic server's status page can show when
the devices were last checked and what was found (:func:`load_last_report`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from station.calibration import write_json_atomic
from station.errors import StationError
from station.recorder import Recorder
from station.rig import Rig

#: An ADC channel delivering less than this fraction of its expected rate is reported slow.
MIN_RATE_FRACTION = 0.5
#: How long each output is switched on during the check (visible and audible, but brief).
OUTPUT_PULSE_NS = 30_000_000
#: The last self-test report, in the data folder.
LAST_REPORT_FILENAME: Final = "selftest-last.json"
LAST_REPORT_FORMAT: Final = "dexterity-station-selftest"


@dataclass
class DeviceCheck:
    name: str
    kind: str
    ok: bool
    detail: str
    state: Any = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pad_rounds(rig: Rig) -> list[list[str]]:
    """Group pads so that each round uses at most one channel per chip (each chip's fast path)."""
    rounds: list[list[str]] = []
    used: dict[str, int] = {}
    for pad in rig.config.pads:
        k = used.get(pad.adc, 0)
        used[pad.adc] = k + 1
        while len(rounds) <= k:
            rounds.append([])
        rounds[k].append(pad.name)
    return rounds or [[]]


def run_selftest(rig: Rig, sample_s: float = 0.5) -> list[DeviceCheck]:
    """Open every device of the rig's configuration, record ``sample_s`` per round, judge each.

    Switches and outputs are checked in the first round; pads in rounds of one channel per chip,
    so each ADC is judged on the fast path the protocols use.
    """
    cfg = rig.config
    checks: list[DeviceCheck] | None = None
    for k, pads in enumerate(pad_rounds(rig)):
        rec = Recorder(rig, pads=pads, inputs=None if k == 0 else [])
        try:
            rec.start()
            duration_s = sample_s
            if k == 0:
                t0 = rig.clock.now_ns() + 10_000_000
                for i, out in enumerate(cfg.outputs):
                    kind = "beep" if out.kind == "buzzer" else "led"
                    rec.cues.schedule(out.name, t0 + i * 2 * OUTPUT_PULSE_NS, OUTPUT_PULSE_NS, kind)
                duration_s = max(sample_s, (len(cfg.outputs) * 2 + 1) * OUTPUT_PULSE_NS / 1e9)
            rec.run_for(duration_s)
            rec.stop()
            found = _judge(rig, rec, first=k == 0)
        finally:
            rec.close()
        if checks is None:
            checks = found
        else:
            _merge(checks, found)
    assert checks is not None
    return checks


def _merge(checks: list[DeviceCheck], later: list[DeviceCheck]) -> None:
    """Add a later round's pads and ADCs; an ADC is ok only if ok in every round it served."""
    index = {(c.kind, c.name): i for i, c in enumerate(checks)}
    for c in later:
        i = index.get((c.kind, c.name))
        if i is None:
            checks.append(c)
        elif c.kind == "adc":
            prev = checks[i]
            extra = c.detail.split(": ", 1)[-1]
            # The same fault seen again in a later round is said once.
            detail = prev.detail if extra in prev.detail else f"{prev.detail}; {extra}"
            checks[i] = DeviceCheck(c.name, "adc", prev.ok and c.ok, detail, prev.state)


def _judge(rig: Rig, rec: Recorder, first: bool) -> list[DeviceCheck]:
    cfg = rig.config
    prov = rig.provenance
    faults_by_source: dict[str, list[str]] = {}
    for f in rec.faults:
        faults_by_source.setdefault(f.source, []).append(f.message)
    checks: list[DeviceCheck] = []
    if not first:
        return checks + _judge_adcs(rig, rec, faults_by_source)
    checks = [
        DeviceCheck(
            "backend",
            "backend",
            True,
            f"{prov.backend}{' (SIMULATED)' if rig.simulated else ''}; pin factory {prov.pin_factory}; "
            f"timestamps {prov.timestamp_source}",
            prov.as_dict(),
        )
    ]
    for spec in cfg.inputs:
        level = rec.core.level(spec.name)
        stats = rec.core.stats(spec.name)
        closed_at_start = spec.name in faults_by_source
        if stats.chattering:
            checks.append(
                DeviceCheck(
                    spec.name,
                    spec.kind,
                    False,
                    f"GPIO{spec.gpio}: chattering ({stats.bounce_edges} bounce edges)",
                    level,
                )
            )
        elif spec.kind == "button" and closed_at_start:
            checks.append(
                DeviceCheck(
                    spec.name,
                    "button",
                    False,
                    f"GPIO{spec.gpio}: pressed at start: stuck or held down",
                    level,
                )
            )
        elif spec.kind == "hole":
            state = "closed (peg in hole)" if level else "open"
            checks.append(DeviceCheck(spec.name, "hole", True, f"GPIO{spec.gpio}: {state}", level))
        else:
            checks.append(
                DeviceCheck(
                    spec.name,
                    "button",
                    True,
                    f"GPIO{spec.gpio}: {'pressed' if level else 'released'}",
                    level,
                )
            )
    for cue in rec.cues.cues:
        spec = cfg.output(cue.output)
        fired = cue.actual_on_ns is not None and cue.actual_off_ns is not None
        detail = f"GPIO{spec.gpio}: switched on and off"
        ok = fired
        if spec.loopback_gpio is not None:
            if cue.loopback_on_ns is None:
                ok = False
                detail += f"; no read-back on GPIO{spec.loopback_gpio} (loopback wiring?)"
            else:
                detail += (
                    f"; read back after {(cue.loopback_on_ns - cue.scheduled_on_ns) / 1000:.1f} us"
                )
        elif not fired:
            detail = f"GPIO{spec.gpio}: could not be switched"
        else:
            detail += " (not sensed: watch or listen)"
        checks.append(DeviceCheck(spec.name, spec.kind, ok, detail, None))
    return checks + _judge_adcs(rig, rec, faults_by_source)


def _judge_adcs(
    rig: Rig, rec: Recorder, faults_by_source: dict[str, list[str]]
) -> list[DeviceCheck]:
    cfg = rig.config
    checks: list[DeviceCheck] = []
    for adc in cfg.adcs:
        reader = rec.readers.get(adc.name)
        label = f"{adc.chip} at 0x{adc.address:02X}"
        if reader is None:
            if adc.name in faults_by_source:
                checks.append(
                    DeviceCheck(adc.name, "adc", False, "; ".join(faults_by_source[adc.name]), None)
                )
            elif not any(p.adc == adc.name for p in cfg.pads):
                checks.append(
                    DeviceCheck(
                        adc.name, "adc", True, f"{label}: no pads configured, not sampled", None
                    )
                )
            continue
        expected = adc.data_rate_sps / len(reader.channels)
        achieved = reader.stats.achieved_sps() / len(reader.channels)
        problems = faults_by_source.get(adc.name, [])
        ok = achieved >= MIN_RATE_FRACTION * expected and not problems
        chans = "+".join(f"AIN{c}" for c in reader.channels)
        detail = f"{label}: {chans} {reader.mode} mode, {achieved:.0f} samples/s per channel (set {adc.data_rate_sps})"
        if reader.stats.samples == 0:
            detail = f"{label}: silent, no conversions"
        if problems:
            detail += "; " + "; ".join(problems)
        checks.append(DeviceCheck(adc.name, "adc", ok, detail, round(achieved, 1)))
    for spec in cfg.pads:
        if spec.name not in rec.pads:
            continue
        stream = rec.pads[spec.name]
        if stream.n_samples == 0:
            checks.append(
                DeviceCheck(
                    spec.name, "pad", False, f"{spec.adc} AIN{spec.channel}: no samples", None
                )
            )
            continue
        force = stream.last_force_n
        cal = "" if stream.calibration.calibrated else " (uncalibrated: approximate)"
        expected = cfg.adc(spec.adc).data_rate_sps / max(1, len(rec.readers[spec.adc].channels))
        if stream.achieved_sps() < MIN_RATE_FRACTION * expected or stream.gaps:
            detail = f"{spec.adc} AIN{spec.channel}: {stream.achieved_sps():.0f} samples/s, {len(stream.gaps)} gaps"
            checks.append(DeviceCheck(spec.name, "pad", False, detail, round(force, 3)))
            continue
        checks.append(
            DeviceCheck(
                spec.name,
                "pad",
                True,
                f"{spec.adc} AIN{spec.channel}: {force:.2f} N{cal}",
                round(force, 3),
            )
        )
    return checks


# -- the last report, kept for the clinic server ------------------------------------------------------


class SelftestReportError(StationError):
    """The last self-test report cannot be read."""


def last_report_path(data_dir: Path) -> Path:
    return Path(data_dir) / LAST_REPORT_FILENAME


def selftest_report(
    rig: Rig, checks: list[DeviceCheck], at: datetime | None = None
) -> dict[str, Any]:
    """The report of one self-test as a JSON document."""
    at = at or datetime.now(UTC)
    failing = [c.name for c in checks if not c.ok]
    doc = {
        "format": LAST_REPORT_FORMAT,
        "format_version": 1,
        "at_utc": at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "station_id": rig.config.station_id,
        "backend": rig.provenance.backend,
        "simulated": bool(rig.simulated),
        "ok": not failing,
        "devices": len(checks),
        "failing": failing,
        "checks": [c.as_dict() for c in checks],
    }
    return json.loads(json.dumps(doc, default=str))  # device states as plain JSON


def save_last_report(data_dir: Path, report: dict[str, Any]) -> Path:
    """Keep ``report`` as the last self-test (temporary file, fsync, rename: never half written)."""
    data_dir = Path(data_dir)
    if not data_dir.exists():  # the data folder holds patient data: the owner only, as the store
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
    path = last_report_path(data_dir)
    write_json_atomic(path, report)
    return path


def keep_last_report(rig: Rig, checks: list[DeviceCheck]) -> str | None:
    """Save these checks as the last self-test of the rig's data folder; None when kept, else
    why not (a full disk, a folder that cannot be written: the caller says it, never raises)."""
    try:
        save_last_report(rig.config.data_dir, selftest_report(rig, checks))
    except (OSError, StationError) as exc:
        return str(exc)
    return None


def load_last_report(data_dir: Path) -> dict[str, Any] | None:
    """The last self-test report, or None when none was saved yet."""
    path = last_report_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SelftestReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SelftestReportError(
            f"{path}: not valid JSON ({exc}); run `station selftest`"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != LAST_REPORT_FORMAT:
        raise SelftestReportError(f"{path}: not a self-test report; run `station selftest`")
    return doc
