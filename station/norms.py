"""Normative data and reliable change.

**Norm sets** are CSV files with one row per (protocol, metric, age band, sex, hand)::

    protocol,metric,age_min,age_max,sex,hand,mean,sd,n,citation
    nine_hole_peg,mean_total_time_s,20,24,female,right,...,...,...,"Author Year, Journal vol:pages, table N"

``sex`` is ``female``, ``male`` or ``any``; ``hand`` is ``right``, ``left``, ``dominant``,
``non_dominant`` or ``any``; ages are whole years, inclusive. Every row needs a citation. A clinic
imports its own sets into ``<data_dir>/norms/`` (``station norms import FILE``). The station ships
**no** values: the published tables (Mathiowetz 1985, Oxford Grice 2003 for the 9HPT; Ruff & Parker
1993 for tapping; see clinical-tests.md) were not available to read, and a norm goes into the
product only with values read from the source itself.

**Reliable change** compares a participant's result with their own baseline (their first complete
session with that measure, same hand). The 9HPT threshold is a 20% change in time (Schwid 2002;
Feys 2017, PMC5405844; clinical-tests.md). Other thresholds are configured per clinic in
``<data_dir>/change.toml``, each with its source::

    [[threshold]]
    protocol = "finger_tapping"
    metric = "mean_taps"
    percent = 15.0
    source = "..."
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from station.errors import StationError

NORM_COLUMNS = (
    "protocol",
    "metric",
    "age_min",
    "age_max",
    "sex",
    "hand",
    "mean",
    "sd",
    "n",
    "citation",
)
SEXES = ("female", "male", "any")
NORM_HANDS = ("right", "left", "dominant", "non_dominant", "any")


class NormError(StationError):
    """A norm or change-threshold file is invalid."""


@dataclass(frozen=True)
class Norm:
    protocol: str
    metric: str
    age_min: int
    age_max: int
    sex: str
    hand: str
    mean: float
    sd: float
    n: int
    citation: str
    source_file: str = ""

    def z(self, value: float) -> float:
        return (value - self.mean) / self.sd


@dataclass(frozen=True)
class ChangeThreshold:
    protocol: str
    metric: str
    percent: float
    source: str


#: Built-in reliable-change thresholds, each with its source.
BUILTIN_THRESHOLDS = (
    ChangeThreshold(
        "nine_hole_peg",
        "mean_total_time_s",
        20.0,
        "Schwid 2002; Feys 2017 (PMC5405844): 20% change in 9HPT time",
    ),
    ChangeThreshold(
        "nine_hole_peg",
        "total_time_s",
        20.0,
        "Schwid 2002; Feys 2017 (PMC5405844): 20% change in 9HPT time",
    ),
)


def parse_norms(text: str, file: str) -> list[Norm]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or tuple(reader.fieldnames) != NORM_COLUMNS:
        raise NormError(f"{file}, line 1: the header must be exactly: {','.join(NORM_COLUMNS)}")
    norms = []
    for row in reader:
        line = reader.line_num
        try:
            norm = Norm(
                protocol=row["protocol"].strip(),
                metric=row["metric"].strip(),
                age_min=int(row["age_min"]),
                age_max=int(row["age_max"]),
                sex=row["sex"].strip(),
                hand=row["hand"].strip(),
                mean=float(row["mean"]),
                sd=float(row["sd"]),
                n=int(row["n"]),
                citation=row["citation"].strip(),
                source_file=file,
            )
        except (TypeError, ValueError) as exc:
            raise NormError(f"{file}, line {line}: {exc}") from None
        if norm.sex not in SEXES:
            raise NormError(
                f"{file}, line {line}: sex must be one of {', '.join(SEXES)}; got {norm.sex!r}"
            )
        if norm.hand not in NORM_HANDS:
            raise NormError(
                f"{file}, line {line}: hand must be one of {', '.join(NORM_HANDS)}; got {norm.hand!r}"
            )
        if not 0 <= norm.age_min <= norm.age_max <= 130:
            raise NormError(
                f"{file}, line {line}: age band {norm.age_min}-{norm.age_max} is not valid"
            )
        if norm.sd <= 0 or norm.n <= 0:
            raise NormError(f"{file}, line {line}: sd and n must be positive")
        if not norm.citation:
            raise NormError(f"{file}, line {line}: every norm needs a citation")
        norms.append(norm)
    return norms


def norm_dirs(data_dir: Path) -> list[Path]:
    return [Path(str(resources.files("station") / "data" / "norms")), data_dir / "norms"]


def load_norms(data_dir: Path) -> list[Norm]:
    norms: list[Norm] = []
    for folder in norm_dirs(data_dir):
        if folder.is_dir():
            for path in sorted(folder.glob("*.csv")):
                norms += parse_norms(path.read_text(encoding="utf-8"), str(path))
    return norms


def import_norms(data_dir: Path, source: Path) -> tuple[Path, int]:
    """Validate a norm file and copy it into the data folder; returns (destination, rows)."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise NormError(f"{source}: cannot read ({exc.strerror or exc})") from None
    rows = parse_norms(text, str(source))
    dest = data_dir / "norms" / source.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return dest, len(rows)


def find_norm(
    norms: list[Norm],
    protocol: str,
    metric: str,
    age: int | None,
    sex: str | None,
    hand: str,
    dominant: str | None,
) -> Norm | None:
    """The most specific norm matching a result, or None (no z-score then)."""
    if age is None:
        return None
    relative = None
    if dominant in ("right", "left") and hand in ("right", "left"):
        relative = "dominant" if hand == dominant else "non_dominant"
    best: tuple[int, Norm] | None = None
    for n in norms:
        if n.protocol != protocol or n.metric != metric or not n.age_min <= age <= n.age_max:
            continue
        if n.sex not in ("any", sex):
            continue
        if n.hand not in ("any", hand, relative):
            continue
        score = (n.sex != "any") + (n.hand != "any")
        if best is None or score > best[0]:
            best = (score, n)
    return best[1] if best else None


def load_thresholds(data_dir: Path) -> list[ChangeThreshold]:
    thresholds = list(BUILTIN_THRESHOLDS)
    path = data_dir / "change.toml"
    if not path.exists():
        return thresholds
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NormError(f"{path}: {exc}") from None
    for i, entry in enumerate(doc.get("threshold", [])):
        try:
            t = ChangeThreshold(
                str(entry["protocol"]),
                str(entry["metric"]),
                float(entry["percent"]),
                str(entry["source"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise NormError(
                f"{path}: [[threshold]] #{i + 1}: needs protocol, metric, percent and source ({exc})"
            ) from None
        if t.percent <= 0 or not t.source.strip():
            raise NormError(f"{path}: [[threshold]] #{i + 1}: percent must be > 0 and source given")
        thresholds = [x for x in thresholds if (x.protocol, x.metric) != (t.protocol, t.metric)] + [
            t
        ]
    return thresholds


@dataclass(frozen=True)
class Change:
    baseline: float
    value: float
    percent: float
    threshold: ChangeThreshold | None

    @property
    def reliable(self) -> bool:
        return self.threshold is not None and abs(self.percent) >= self.threshold.percent


def change_from_baseline(
    thresholds: list[ChangeThreshold],
    protocol: str,
    metric: str,
    baseline: float | None,
    value: float | None,
) -> Change | None:
    if baseline is None or value is None or baseline == 0:
        return None
    threshold = next((t for t in thresholds if t.protocol == protocol and t.metric == metric), None)
    return Change(baseline, value, 100.0 * (value - baseline) / abs(baseline), threshold)
