"""Graded practice programs: TOML files of levels of exercises, loaded and validated.

::

    name = "nerve_distal"            # letters, digits, '_' or '-'
    version = "1.0"                  # stored with every prescription and session (with the hash)
    title = "Distal dexterity after a nerve injury"
    description = "..."
    sources = ["what the program is built from"]

    [rules]                          # optional: the progression rules' numbers (station.programs.rules)
    advance_sessions = 3

    [[level]]
    title = "Slow and accurate"
    goal = "what the participant works towards, in plain words"

    [[level.exercise]]
    id = "slow_press"                # the same id on several levels: the same drill, harder
    drill = "slow_presses"           # one of station.programs.metrics.DRILLS
    title = "Slow presses with the clicks"
    protocol = "sync_continuation"   # the protocol that runs it
    hands = ["affected"]             # affected, dominant, non_dominant, right, left, both
    sets = 3
    reps = 15                        # repetitions per set (see metrics.REPS_PARAMETER)
    rest_s = 60                      # rest between sets, s
    [level.exercise.params]          # the protocol's parameters
    interval_ms = 1200.0
    [[level.exercise.criterion]]
    metric = "asynchrony_sd_ms"      # one of metrics.CRITERION_METRICS[protocol]
    at_most = 80.0                   # or at_least, or better_than_baseline_percent
    floor = 160.0                    # optional: worse than this regresses
    kind = "consistency"
    source = "product default"       # a cited source, or "product default ..."

Shipped programs live in ``station/data/programs/``; a clinic's own go in
``<data_dir>/programs/NAME.toml`` (the same name replaces the shipped one) or are given as a path.
A bad file is refused with one message naming the file, the line and the problem.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from station.battery import HANDS
from station.errors import StationError
from station.programs.metrics import (
    CRITERION_KINDS,
    CRITERION_METRICS,
    DRILLS,
    REPS_PARAMETER,
    format_value,
)
from station.programs.rules import RULE_RANGES, Rules
from station.protocols import get_protocol
from station.protocols.base import Protocol, ProtocolError

#: Hand words of an exercise: a battery's, and "affected" (the participant's affected side).
PROGRAM_HANDS: Final = ("affected", *HANDS)
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_LEVELS: Final = 30
MAX_SETS: Final = 10
#: The median of 3 sets is not moved by one wild set (that of 2 is pulled halfway).
MIN_SETS_WITH_CRITERIA: Final = 3
MAX_REPS_IN_TRIAL: Final = 200  # a protocol's own count (clicks, cues, efforts)
MAX_REPS_AS_TRIALS: Final = 10  # trials in a row
MAX_REST_S: Final = 600.0


class ProgramError(StationError):
    """A program file is missing or invalid, or a level does not exist."""


@dataclass(frozen=True)
class Criterion:
    """A level's criterion on one metric of one exercise (per hand, per session: the median of
    the sets). ``target`` (at least / at most) or ``better_than_baseline_percent`` (relative to
    the participant's own baseline); ``floor``: worse than this counts towards regressing."""

    metric: str
    unit: str
    words: str
    higher_is_better: bool
    kind: str
    source: str
    target: float | None = None
    better_than_baseline_percent: float | None = None
    floor: float | None = None

    def goal(self, baseline: float | None) -> float | None:
        if self.target is not None:
            return self.target
        if baseline is None or self.better_than_baseline_percent is None:
            return None
        factor = self.better_than_baseline_percent / 100
        return baseline * (1 + factor) if self.higher_is_better else baseline * (1 - factor)

    def met(self, value: float | None, baseline: float | None = None) -> bool:
        goal = self.goal(baseline)
        if value is None or goal is None:
            return False
        return value >= goal if self.higher_is_better else value <= goal

    def below_floor(self, value: float | None) -> bool:
        if value is None or self.floor is None:
            return False
        return value < self.floor if self.higher_is_better else value > self.floor

    def describe(self, baseline: float | None = None) -> str:
        """The goal in plain words: "at least 90%", "20% better than your start (29.6 s)"."""
        if self.target is not None:
            word = "at least" if self.higher_is_better else "at most"
            return f"{word} {format_value(self.target, self.unit)}"
        pct = f"{self.better_than_baseline_percent:g}%"
        word = "higher" if self.higher_is_better else "lower"
        goal = self.goal(baseline)
        if goal is None:
            return f"{pct} {word} than your start"
        return f"{pct} {word} than your start ({format_value(goal, self.unit)})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "unit": self.unit,
            "kind": self.kind,
            "goal": self.describe(),
            "target": self.target,
            "better_than_baseline_percent": self.better_than_baseline_percent,
            "floor": self.floor,
            "higher_is_better": self.higher_is_better,
            "source": self.source,
        }


@dataclass(frozen=True)
class Exercise:
    id: str
    drill: str
    title: str
    protocol: type[Protocol]
    params: Any  # the protocol's Params, the repetitions included where it counts them
    hands: tuple[str, ...]
    sets: int
    reps: int
    rest_s: float
    criteria: tuple[Criterion, ...]
    instructions: str = ""

    @property
    def trials_per_set(self) -> int:
        """Trials in one set: 1 where the protocol counts the repetitions, else ``reps``."""
        return 1 if self.protocol.name in REPS_PARAMETER else self.reps

    def make(self) -> Protocol:
        return self.protocol(self.params)


@dataclass(frozen=True)
class Level:
    number: int  # 1-based
    title: str
    goal: str
    exercises: tuple[Exercise, ...]

    @property
    def criteria(self) -> list[tuple[Exercise, Criterion]]:
        return [(e, c) for e in self.exercises for c in e.criteria]


@dataclass(frozen=True)
class Program:
    name: str
    version: str
    title: str
    description: str
    sources: tuple[str, ...]
    levels: tuple[Level, ...]
    rules: Rules
    rules_set: tuple[str, ...]  # the rules the file sets (the others are the defaults)
    path: str
    sha256: str

    def level(self, number: int) -> Level:
        if not 1 <= number <= len(self.levels):
            raise ProgramError(
                f"program {self.name!r} has levels 1-{len(self.levels)}, not {number}"
            )
        return self.levels[number - 1]

    def exercise_ids(self) -> list[str]:
        seen: list[str] = []
        for level in self.levels:
            seen += [e.id for e in level.exercises if e.id not in seen]
        return seen


# -- finding and loading --------------------------------------------------------------------------


def shipped_dir() -> Path:
    return Path(str(resources.files("station") / "data" / "programs"))


def program_names(data_dir: Path | None = None) -> list[str]:
    names = {p.stem for p in shipped_dir().glob("*.toml")}
    if data_dir is not None and (data_dir / "programs").is_dir():
        names |= {p.stem for p in (data_dir / "programs").glob("*.toml")}
    return sorted(names)


def find_program(name_or_path: str, data_dir: Path | None = None) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    if data_dir is not None:
        own = data_dir / "programs" / f"{name_or_path}.toml"
        if own.exists():
            return own
    shipped = shipped_dir() / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    known = ", ".join(program_names(data_dir)) or "none"
    raise ProgramError(f"no program named {name_or_path!r} (known: {known})")


def load_program(name_or_path: str, data_dir: Path | None = None) -> Program:
    path = find_program(name_or_path, data_dir)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProgramError(f"{path}: cannot read program file ({exc.strerror or exc})") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramError(f"{path}: not valid TOML: {exc}") from None
    return parse_program(doc, text, str(path), hashlib.sha256(raw).hexdigest())


# -- lines for messages -------------------------------------------------------------------------

_HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\s\"-]+?)\s*\]\]?\s*(#.*)?$")


def _regions(text: str) -> list[tuple[tuple[Any, ...], int, int]]:
    """(table path, first line index, end index) of every table in the file, in order. Paths:
    ``()`` top, ``("rules",)``, ``("level", L)``, ``("level", L, "exercise", E)``, ... 0-based."""
    lines = text.splitlines()
    out: list[tuple[tuple[Any, ...], int, int]] = []
    path: tuple[Any, ...] = ()
    start = 0
    lvl = ex = cr = -1
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            continue
        out.append((path, start, i))
        start = i
        name = re.sub(r"[\s\"]", "", m.group(2))
        array = m.group(1) == "[["
        if name == "level" and array:
            lvl, ex = lvl + 1, -1
            path = ("level", lvl)
        elif name == "level.exercise" and array:
            ex, cr = ex + 1, -1
            path = ("level", lvl, "exercise", ex)
        elif name == "level.exercise.criterion" and array:
            cr += 1
            path = ("level", lvl, "exercise", ex, "criterion", cr)
        elif name == "level.exercise.params":
            path = ("level", lvl, "exercise", ex, "params")
        else:
            path = tuple(name.split("."))
    out.append((path, start, len(lines)))
    return out


def _line(text: str, path: tuple[Any, ...], key: str | None) -> int:
    """The line (1-based) of ``key`` in the table at ``path``, else of the table's header (or of
    the nearest enclosing table found)."""
    lines = text.splitlines()
    regions = _regions(text)
    probe = path
    while True:
        found = [(s, e) for p, s, e in regions if p == probe]
        if found or not probe:
            break
        probe = probe[:-1] if not isinstance(probe[-1], int) else probe[:-2]
    if not found:
        return 1
    if key is not None:
        pattern = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
        for s, e in found:
            for i in range(s, e):
                if pattern.match(lines[i]):
                    return i + 1
    return found[0][0] + 1


# -- parsing ------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Builds the loader's messages: the file, the line of the key (or table), the problem."""

    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file

    def fail(
        self, problem: str, path: tuple[Any, ...] = (), key: str | None = None
    ) -> ProgramError:
        return ProgramError(f"{self.file}, line {_line(self.text, path, key)}: {problem}")

    def check_keys(
        self, table: dict[str, Any], allowed: set[str], path: tuple[Any, ...], where: str
    ) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    f"{where}unknown key {key!r} (allowed: {', '.join(sorted(allowed))})", path, key
                )

    def text_value(
        self,
        table: dict[str, Any],
        key: str,
        path: tuple[Any, ...],
        where: str,
        *,
        required: bool = False,
        max_len: int = 2000,
    ) -> str:
        value = table.get(key)
        if value is None:
            if required:
                raise self.fail(f"{where}{key!r} is required", path, key)
            return ""
        if not isinstance(value, str) or len(value) > max_len:
            raise self.fail(
                f"{where}{key!r} must be text (at most {max_len} characters)", path, key
            )
        return value


def parse_program(doc: dict[str, Any], text: str, file: str, sha256: str) -> Program:
    ck = _Checker(text, file)
    ck.check_keys(
        doc,
        {"name", "version", "title", "description", "sources", "rules", "level"},
        (),
        "",
    )
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ck.fail(
            f"'name' must be letters, digits, '_' or '-' (1-64); got {name!r}", (), "name"
        )
    version = ck.text_value(doc, "version", (), "", required=True, max_len=32)
    if not version.strip():
        raise ck.fail("'version' must not be empty", (), "version")
    title = ck.text_value(doc, "title", (), "") or name
    description = ck.text_value(doc, "description", (), "", max_len=4000)
    sources = doc.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ck.fail("'sources' must be a list of texts", (), "sources")

    rules_raw = doc.get("rules", {})
    if not isinstance(rules_raw, dict):
        raise ck.fail("'rules' must be a table", (), "rules")
    ck.check_keys(rules_raw, set(RULE_RANGES), ("rules",), "[rules]: ")
    rule_values: dict[str, Any] = {}
    defaults = Rules()
    for key, value in rules_raw.items():
        lo, hi, meaning = RULE_RANGES[key]
        whole = isinstance(getattr(defaults, key), int)
        ok = _is_whole(value) if whole else _is_number(value)
        if not ok or not lo <= value <= hi:
            kind = "a whole number" if whole else "a number"
            raise ck.fail(
                f"[rules]: {key} ({meaning}) must be {kind} {lo:g}-{hi:g}; got {value!r}",
                ("rules",),
                key,
            )
        rule_values[key] = float(value) if not whole else value
    rules = Rules(**rule_values)

    levels_raw = doc.get("level")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise ck.fail("a program needs at least one [[level]]")
    if len(levels_raw) > MAX_LEVELS:
        raise ck.fail(f"a program has at most {MAX_LEVELS} levels; this one has {len(levels_raw)}")
    levels: list[Level] = []
    protocol_of: dict[str, str] = {}
    for li, lv in enumerate(levels_raw):
        lpath: tuple[Any, ...] = ("level", li)
        where = f"level {li + 1}: "
        ck.check_keys(lv, {"title", "goal", "exercise"}, lpath, where)
        ltitle = ck.text_value(lv, "title", lpath, where, max_len=200) or f"Level {li + 1}"
        goal = ck.text_value(lv, "goal", lpath, where)
        ex_raw = lv.get("exercise")
        if not isinstance(ex_raw, list) or not ex_raw:
            raise ck.fail(f"{where}a level needs at least one [[level.exercise]]", lpath)
        exercises: list[Exercise] = []
        for ei, ex in enumerate(ex_raw):
            exercise = _parse_exercise(ex, li, ei, ck)
            if any(e.id == exercise.id for e in exercises):
                raise ck.fail(
                    f"{where}two exercises have the id {exercise.id!r}",
                    ("level", li, "exercise", ei),
                    "id",
                )
            first = protocol_of.setdefault(exercise.id, exercise.protocol.name)
            if first != exercise.protocol.name:
                raise ck.fail(
                    f"{where}exercise {exercise.id!r} uses {exercise.protocol.name} here but "
                    f"{first} on an earlier level: the same id must be the same drill (its "
                    "baseline is shared); give this one another id",
                    ("level", li, "exercise", ei),
                    "protocol",
                )
            exercises.append(exercise)
        level = Level(li + 1, ltitle, goal, tuple(exercises))
        if not level.criteria:
            raise ck.fail(
                f"{where}no exercise has a [[level.exercise.criterion]]: a level needs at least "
                "one, or it could never be passed",
                lpath,
            )
        levels.append(level)
    return Program(
        name=name,
        version=version,
        title=title,
        description=description,
        sources=tuple(sources),
        levels=tuple(levels),
        rules=rules,
        rules_set=tuple(sorted(rule_values)),
        path=file,
        sha256=sha256,
    )


def _parse_exercise(ex: Any, li: int, ei: int, ck: _Checker) -> Exercise:
    path: tuple[Any, ...] = ("level", li, "exercise", ei)
    if not isinstance(ex, dict):
        raise ck.fail(f"level {li + 1}: each [[level.exercise]] must be a table", path)
    ex_id = ex.get("id")
    label = f"exercise #{ei + 1}" if not isinstance(ex_id, str) else f"exercise {ex_id!r}"
    where = f"level {li + 1}, {label}: "
    ck.check_keys(
        ex,
        {
            "id",
            "drill",
            "title",
            "protocol",
            "hands",
            "sets",
            "reps",
            "rest_s",
            "params",
            "criterion",
            "instructions",
        },
        path,
        where,
    )
    if not isinstance(ex_id, str) or not NAME_PATTERN.fullmatch(ex_id):
        raise ck.fail(f"{where}'id' must be letters, digits, '_' or '-'; got {ex_id!r}", path, "id")
    drill = ex.get("drill")
    if drill not in DRILLS:
        raise ck.fail(
            f"{where}'drill' must be one of {', '.join(DRILLS)}; got {drill!r}", path, "drill"
        )
    pname = ex.get("protocol")
    if not isinstance(pname, str):
        raise ck.fail(f"{where}'protocol' is required", path, "protocol")
    try:
        cls = get_protocol(pname)
    except ProtocolError as exc:
        raise ck.fail(f"{where}{exc}", path, "protocol") from None
    hands = ex.get("hands", ["affected"])
    if (
        not isinstance(hands, list)
        or not hands
        or any(h not in PROGRAM_HANDS for h in hands)
        or len(set(hands)) != len(hands)
    ):
        raise ck.fail(
            f"{where}'hands' must be a list of {', '.join(PROGRAM_HANDS)} (each once); "
            f"got {hands!r}",
            path,
            "hands",
        )
    for key in ("sets", "reps", "rest_s"):
        if key not in ex:
            raise ck.fail(f"{where}{key!r} is required (the dose)", path, key)
    sets, reps, rest_s = ex["sets"], ex["reps"], ex["rest_s"]
    if not _is_whole(sets) or not 1 <= sets <= MAX_SETS:
        raise ck.fail(
            f"{where}'sets' must be a whole number 1-{MAX_SETS}; got {sets!r}", path, "sets"
        )
    reps_param = REPS_PARAMETER.get(cls.name)
    max_reps = MAX_REPS_IN_TRIAL if reps_param else MAX_REPS_AS_TRIALS
    if not _is_whole(reps) or not 1 <= reps <= max_reps:
        what = f"({reps_param} of {cls.name})" if reps_param else f"(trials of {cls.name} per set)"
        raise ck.fail(
            f"{where}'reps' {what} must be a whole number 1-{max_reps}; got {reps!r}", path, "reps"
        )
    if not _is_number(rest_s) or not 0 <= rest_s <= MAX_REST_S:
        raise ck.fail(
            f"{where}'rest_s' (rest between sets, s) must be a number 0-{MAX_REST_S:g}; "
            f"got {rest_s!r}",
            path,
            "rest_s",
        )
    params_raw = ex.get("params", {})
    if not isinstance(params_raw, dict):
        raise ck.fail(f"{where}'params' must be a table", path, "params")
    if reps_param is not None and reps_param in params_raw:
        raise ck.fail(
            f"{where}give the repetitions as 'reps', not as params.{reps_param}",
            (*path, "params"),
            reps_param,
        )
    values = dict(params_raw)
    if reps_param is not None:
        values[reps_param] = reps
    try:
        params = cls.make_params(values)
    except ProtocolError as exc:
        bad = next((k for k in params_raw if k in str(exc)), None)
        raise ck.fail(f"{where}{exc}", (*path, "params") if bad else path, bad) from None
    crit_raw = ex.get("criterion", [])
    if not isinstance(crit_raw, list):
        raise ck.fail(f"{where}'criterion' must be [[level.exercise.criterion]] tables", path)
    criteria = tuple(
        _parse_criterion(c, cls, (*path, "criterion", ci), f"{where}criterion #{ci + 1}: ", ck)
        for ci, c in enumerate(crit_raw)
    )
    if criteria and sets < MIN_SETS_WITH_CRITERIA:
        raise ck.fail(
            f"{where}an exercise with criteria needs at least {MIN_SETS_WITH_CRITERIA} sets: a "
            "session's value is the median of its sets, so that no single set or trial decides",
            path,
            "sets",
        )
    names = {c.metric for c in criteria}
    if len(names) != len(criteria):
        raise ck.fail(f"{where}two criteria on the same metric", path)
    return Exercise(
        id=ex_id,
        drill=drill,
        title=ck.text_value(ex, "title", path, where, max_len=200) or DRILLS[drill].capitalize(),
        protocol=cls,
        params=params,
        hands=tuple(hands),
        sets=sets,
        reps=reps,
        rest_s=float(rest_s),
        criteria=criteria,
        instructions=ck.text_value(ex, "instructions", path, where),
    )


def _parse_criterion(
    c: Any, cls: type[Protocol], path: tuple[Any, ...], where: str, ck: _Checker
) -> Criterion:
    if not isinstance(c, dict):
        raise ck.fail(f"{where}must be a table", path)
    ck.check_keys(
        c,
        {
            "metric",
            "at_least",
            "at_most",
            "better_than_baseline_percent",
            "floor",
            "kind",
            "source",
        },
        path,
        where,
    )
    metric = c.get("metric")
    known = CRITERION_METRICS.get(cls.name, {})
    if metric not in known:
        raise ck.fail(
            f"{where}'metric' must be one of {cls.name}'s {', '.join(known) or '(none)'}; "
            f"got {metric!r}",
            path,
            "metric",
        )
    info = known[metric]
    given = [k for k in ("at_least", "at_most", "better_than_baseline_percent") if k in c]
    if len(given) != 1:
        raise ck.fail(
            f"{where}give exactly one of at_least, at_most, better_than_baseline_percent "
            f"(got {', '.join(given) or 'none'})",
            path,
            given[1] if len(given) > 1 else "metric",
        )
    key = given[0]
    value = c[key]
    if not _is_number(value):
        raise ck.fail(f"{where}{key!r} must be a number; got {value!r}", path, key)
    better = "higher" if info.higher_is_better else "lower"
    right = "at_least" if info.higher_is_better else "at_most"
    if key in ("at_least", "at_most") and key != right:
        raise ck.fail(f"{where}{metric}: {better} is better, so the goal is {right!r}", path, key)
    if key == "better_than_baseline_percent" and not 0 < value < 100:
        raise ck.fail(f"{where}{key!r} must be between 0 and 100; got {value!r}", path, key)
    floor = c.get("floor")
    if floor is not None:
        if not _is_number(floor):
            raise ck.fail(f"{where}'floor' must be a number; got {floor!r}", path, "floor")
        if key != "better_than_baseline_percent" and (
            floor >= value if info.higher_is_better else floor <= value
        ):
            side = "below" if info.higher_is_better else "above"
            raise ck.fail(
                f"{where}'floor' ({floor:g}) must be {side} the goal ({value:g}): {better} is better",
                path,
                "floor",
            )
    kind = c.get("kind", "")
    if kind and kind not in CRITERION_KINDS:
        raise ck.fail(f"{where}'kind' must be one of {', '.join(CRITERION_KINDS)}", path, "kind")
    source = c.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ck.fail(
            f"{where}'source' is required: the cited source of the threshold, or "
            '"product default" when none gives it',
            path,
            "source",
        )
    return Criterion(
        metric=metric,
        unit=info.unit,
        words=info.words,
        higher_is_better=info.higher_is_better,
        kind=kind,
        source=source,
        target=float(value) if key != "better_than_baseline_percent" else None,
        better_than_baseline_percent=float(value)
        if key == "better_than_baseline_percent"
        else None,
        floor=float(floor) if floor is not None else None,
    )


def program_summary(program: Program) -> dict[str, Any]:
    """A program as plain data (for ``station programs show --json`` and the server)."""
    return {
        "name": program.name,
        "version": program.version,
        "title": program.title,
        "description": program.description,
        "sources": list(program.sources),
        "sha256": program.sha256,
        "rules": program.rules.as_dict(),
        "rules_set": list(program.rules_set),
        "levels": [
            {
                "level": lv.number,
                "title": lv.title,
                "goal": lv.goal,
                "exercises": [
                    {
                        "id": e.id,
                        "drill": e.drill,
                        "title": e.title,
                        "protocol": e.protocol.name,
                        "hands": list(e.hands),
                        "sets": e.sets,
                        "reps": e.reps,
                        "trials_per_set": e.trials_per_set,
                        "rest_s": e.rest_s,
                        "params": e.make().params_dict(),
                        "criteria": [c.as_dict() for c in e.criteria],
                    }
                    for e in lv.exercises
                ],
            }
            for lv in program.levels
        ],
    }


__all__ = [
    "PROGRAM_HANDS",
    "Criterion",
    "Exercise",
    "Level",
    "Program",
    "ProgramError",
    "find_program",
    "load_program",
    "parse_program",
    "program_names",
    "program_summary",
    "shipped_dir",
]
