"""Batteries: TOML files listing protocols in order, with hands, trial counts and parameters.

::

    name = "standard"
    title = "Standard dexterity battery"

    [[step]]
    protocol = "nine_hole_peg"
    hands = ["dominant", "non_dominant"]   # or "right", "left", "both"
    practice = 1                           # practice trials per hand (default: the protocol's)
    trials = 2                             # scored trials per hand (default: the protocol's)
    [step.params]                          # the protocol's parameters (default: its defaults)
    time_limit_s = 300

Shipped batteries live in ``station/data/batteries/``; a clinic's own go in
``<data_dir>/batteries/`` (same name wins over the shipped one) or are given as a path. A bad file
is refused with one message naming the file, the line and the problem.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from station.errors import StationError
from station.protocols import get_protocol
from station.protocols.base import Protocol, ProtocolError

HANDS = ("dominant", "non_dominant", "right", "left", "both")


class BatteryError(StationError):
    """A battery file is missing or invalid."""


@dataclass(frozen=True)
class Step:
    protocol: type[Protocol]
    params: Any
    hands: tuple[str, ...]
    practice: int
    trials: int

    def make(self) -> Protocol:
        return self.protocol(self.params)


@dataclass(frozen=True)
class Battery:
    name: str
    title: str
    steps: tuple[Step, ...]
    path: str
    sha256: str


def shipped_dir() -> Path:
    return Path(str(resources.files("station") / "data" / "batteries"))


def battery_names(data_dir: Path | None = None) -> list[str]:
    names = {p.stem for p in shipped_dir().glob("*.toml")}
    if data_dir is not None and (data_dir / "batteries").is_dir():
        names |= {p.stem for p in (data_dir / "batteries").glob("*.toml")}
    return sorted(names)


def find_battery(name_or_path: str, data_dir: Path | None = None) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    if data_dir is not None:
        own = data_dir / "batteries" / f"{name_or_path}.toml"
        if own.exists():
            return own
    shipped = shipped_dir() / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    raise BatteryError(
        f"no battery named {name_or_path!r} (known: {', '.join(battery_names(data_dir))})"
    )


def load_battery(name_or_path: str, data_dir: Path | None = None) -> Battery:
    path = find_battery(name_or_path, data_dir)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BatteryError(f"{path}: cannot read battery file ({exc.strerror or exc})") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BatteryError(f"{path}: not valid TOML: {exc}") from None
    return parse_battery(doc, text, str(path), hashlib.sha256(raw).hexdigest())


def _line(text: str, step: int | None, key: str | None) -> int:
    """The line (1-based) of ``key`` in the ``step``-th [[step]] table (or at top level)."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    if step is not None:
        headers = [i for i, ln in enumerate(lines) if re.match(r"\s*\[\[\s*step\s*\]\]", ln)]
        if step < len(headers):
            start = headers[step]
            end = headers[step + 1] if step + 1 < len(headers) else len(lines)
    if key is not None:
        pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
        for i in range(start, end):
            if pattern.match(lines[i]):
                return i + 1
    return start + 1


def parse_battery(doc: dict[str, Any], text: str, file: str, sha256: str) -> Battery:
    def fail(problem: str, step: int | None = None, key: str | None = None) -> BatteryError:
        return BatteryError(f"{file}, line {_line(text, step, key)}: {problem}")

    allowed_top = {"name", "title", "description", "step"}
    for key in doc:
        if key not in allowed_top:
            raise fail(
                f"unknown key {key!r} (allowed: {', '.join(sorted(allowed_top))})", None, key
            )
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise fail(
            f"'name' must be a name of letters, digits, '_' or '-'; got {name!r}", None, "name"
        )
    steps_raw = doc.get("step")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise fail("a battery needs at least one [[step]]")
    steps: list[Step] = []
    allowed_step = {"protocol", "hands", "practice", "trials", "params"}
    for i, st in enumerate(steps_raw):
        for key in st:
            if key not in allowed_step:
                raise fail(
                    f"[[step]] #{i + 1}: unknown key {key!r} (allowed: {', '.join(sorted(allowed_step))})",
                    i,
                    key,
                )
        pname = st.get("protocol")
        if not isinstance(pname, str):
            raise fail(f"[[step]] #{i + 1}: 'protocol' is required", i, "protocol")
        try:
            cls = get_protocol(pname)
        except ProtocolError as exc:
            raise fail(f"[[step]] #{i + 1}: {exc}", i, "protocol") from None
        hands = st.get("hands", ["dominant", "non_dominant"])
        if not isinstance(hands, list) or not hands or any(h not in HANDS for h in hands):
            raise fail(
                f"[[step]] #{i + 1}: 'hands' must be a list of {', '.join(HANDS)}; got {hands!r}",
                i,
                "hands",
            )
        counts = {}
        for key, default in (("practice", cls.default_practice), ("trials", cls.default_trials)):
            value = st.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 20:
                raise fail(
                    f"[[step]] #{i + 1}: {key!r} must be a whole number 0-20; got {value!r}", i, key
                )
            counts[key] = value
        if counts["trials"] == 0:
            raise fail(f"[[step]] #{i + 1}: 'trials' must be at least 1", i, "trials")
        params_raw = st.get("params", {})
        if not isinstance(params_raw, dict):
            raise fail(f"[[step]] #{i + 1}: 'params' must be a table", i, "params")
        try:
            params = cls.make_params(params_raw)
        except ProtocolError as exc:
            bad_key = next((k for k in params_raw if k in str(exc)), None)
            raise fail(f"[[step]] #{i + 1}: {exc}", i, bad_key) from None
        steps.append(Step(cls, params, tuple(hands), counts["practice"], counts["trials"]))
    title = doc.get("title", name)
    return Battery(name, str(title), tuple(steps), file, sha256)
