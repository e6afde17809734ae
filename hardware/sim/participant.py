"""The virtual participant: a seeded, reproducible model of a person acting on the station.

It produces *scripted physical actions* for a simulation loop to play into simulated GPIO pins and a
simulated ADC:

- switch edges ``(t_ns, level)`` with exact integer-ns times and contact bounce, where level 1
  means the contact is pressed/closed and 0 released/open (physical contact state: the pin
  polarity mapping is done elsewhere);
- force-vs-time functions (:class:`ForceTrace`) for the force pads, in newtons.

The module is pure: no threads, no clock reads, no I/O except reading TOML profiles. Every random
draw comes from a :class:`numpy.random.Generator` derived from the explicit seed given to
:class:`VirtualParticipant`; each generator call takes its own child stream
(``SeedSequence.spawn``), so a script depends on the seed and on how many generator calls came
before it, never on how many numbers an earlier call happened to draw.

Time convention (see ``hardware.clock``): every absolute time is an ``int`` of nanoseconds; model
parameters are in milliseconds (``*_ms``), seconds (``*_s``), newtons (``*_n``) or hertz (``*_hz``)
as their names say.

The parameters of a profile (and of the shipped presets) are **simulation settings chosen to be
plausible, not normative or clinical data**. Models used (shapes, not numbers):

- unpaced tapping: Wing-Kristofferson two-level timing model, I_n = C_n + D_n - D_{n-1}; the lag-1
  autocovariance of intervals is -motor variance, the clock variance is var(I) - 2 x motor variance
  (Doumas & Wing 2007, as summarized in the reference notes clinical-tests.md);
- synchronization: Vorberg & Wing linear phase correction around a mean (negative) asynchrony, the
  same clock and motor noise; continuation by the Wing-Kristofferson model at the metronome period;
- physiological tremor: a narrow band at one peak frequency whose value does not depend on force
  (Sutton & Sykes 1967, via clinical-tests.md); its amplitude here scales with the force level (a
  simulation choice).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from hardware.clock import NS_PER_S
from hardware.errors import StationError

NS_PER_MS = 1_000_000
Finger = Literal["index", "middle", "ring", "little"]
FINGERS: tuple[Finger, ...] = ("index", "middle", "ring", "little")
Hand = Literal["dominant", "non_dominant"]
Contact = Literal["button", "hole"]
PegPhase = Literal["placement", "removal"]

Edge = tuple[int, int]
"""``(t_ns, level)``: level 1 = pressed/closed, 0 = released/open (physical contact state)."""

IntTimes = int | npt.NDArray[np.int64]
ForceValue = float | npt.NDArray[np.float64]

#: Fixed grid of precomputed noise (ns): 1 ms, so a trace's noise never depends on call order.
NOISE_GRID_NS = NS_PER_MS
#: Rest noise (a finger or hand on a pad, no effort): band and repeat period of its noise pattern.
REST_NOISE_CUTOFF_HZ = 20.0
REST_NOISE_PERIOD_MS = 2**16


class ProfileError(StationError):
    """A participant profile (TOML) is missing, malformed or out of range."""


# --------------------------------------------------------------------------------------------
# Profile: parameter sections with their validation rules carried in field metadata
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """Allowed values of a numeric profile key (open or closed bounds; None = unbounded)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def accepts(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"a number in {left}{_fmt_num(self.lo)}, {_fmt_num(self.hi)}{right}"
        if self.lo is not None:
            return f"a number {'>' if self.lo_open else '>='} {_fmt_num(self.lo)}"
        if self.hi is not None:
            return f"a number {'<' if self.hi_open else '<='} {_fmt_num(self.hi)}"
        return "a number"


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _num(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Any:
    """A required numeric profile key with its allowed range."""
    return field(metadata={"range": _Range(lo, hi, lo_open, hi_open)})


_PROB = {"lo": 0.0, "hi": 1.0}
_POSITIVE = {"lo": 0.0, "lo_open": True}
_NONNEG = {"lo": 0.0}


@dataclass(frozen=True)
class TappingParams:
    """[tapping]: unpaced and paced finger tapping on one button."""

    preferred_iti_ms: float = _num(**_POSITIVE)
    """Mean inter-tap interval of unpaced tapping (the Wing-Kristofferson clock period), ms."""
    clock_sd_ms: float = _num(**_NONNEG)
    """SD of the central timekeeper interval C_n, ms."""
    motor_sd_ms: float = _num(**_NONNEG)
    """SD of the motor implementation delay D_n, ms."""
    fatigue_iti_slope_ms_per_s: float = _num(**_NONNEG)
    """Lengthening of the mean interval per second of tapping, ms/s."""
    press_duration_ms: float = _num(**_POSITIVE)
    """Mean time a tap keeps the contact closed, ms."""
    press_duration_sd_ms: float = _num(**_NONNEG)
    """SD of the press duration, ms."""
    sync_asynchrony_ms: float = _num(-1000.0, 1000.0)
    """Mean asynchrony (tap - beat) when synchronizing to a metronome, ms (negative = early)."""
    sync_correction_gain: float = _num(**_PROB)
    """Phase-correction gain alpha: the fraction of an asynchrony corrected on the next tap."""
    extra_tap_prob: float = _num(**_PROB)
    """Probability of an unintended brief extra tap after an intended tap."""
    missed_tap_prob: float = _num(**_PROB)
    """Probability that an intended tap does not close the contact."""


@dataclass(frozen=True)
class PegParams:
    """[pegs]: nine-hole-peg-style placement and removal."""

    reach_ms: float = _num(**_POSITIVE)
    """Mean hand movement to a peg or a hole (also the return to the home pad), ms."""
    grasp_ms: float = _num(**_POSITIVE)
    """Mean time to grasp a peg, ms."""
    transport_ms: float = _num(**_POSITIVE)
    """Mean time to carry a grasped peg to its hole, ms."""
    insert_ms: float = _num(**_POSITIVE)
    """Mean time from arrival at the hole to the peg closing the hole switch, ms."""
    remove_ms: float = _num(**_POSITIVE)
    """Mean time from arrival at a filled hole to the peg leaving it (switch opens), ms."""
    dish_ms: float = _num(**_POSITIVE)
    """Mean time from a removed peg leaving its hole to it hitting the dish, ms."""
    sd_fraction: float = _num(0.0, 2.0)
    """Coefficient of variation of each movement time (log-normal), dimensionless."""
    drop_prob: float = _num(0.0, 1.0, hi_open=True)
    """Probability of dropping a carried peg (each carry; a dropped peg costs a re-pick)."""
    hand_asymmetry: float = _num(0.25, 4.0)
    """Time factor of the non-dominant hand relative to the dominant one (1.1 = 10% slower)."""
    home_rest_force_n: float = _num(**_NONNEG)
    """Force of the hand resting on the home pad, N."""
    dish_impact_peak_n: float = _num(**_NONNEG)
    """Peak force of a peg hitting the dish pad, N."""
    dish_impact_ms: float = _num(**_POSITIVE)
    """Duration of a peg's impact on the dish pad, ms."""


@dataclass(frozen=True)
class ReactionParams:
    """[reaction]: simple and choice reaction to a cue."""

    simple_rt_ms: float = _num(**_POSITIVE)
    """Mean simple reaction time (cue to contact closing), ms."""
    choice_rt_ms: float = _num(**_POSITIVE)
    """Mean choice reaction time, ms."""
    rt_sd_ms: float = _num(**_NONNEG)
    """SD of the reaction time (log-normal, right-skewed), ms."""
    anticipation_prob: float = _num(**_PROB)
    """Probability of responding before the cue."""
    anticipation_window_ms: float = _num(**_POSITIVE)
    """An anticipation falls uniformly within this time before the cue, ms."""
    choice_error_prob: float = _num(**_PROB)
    """Probability of pressing a wrong finger in a choice task."""


@dataclass(frozen=True)
class ForceParams:
    """[force]: isometric finger force on the force pads."""

    max_force_n: float = _num(**_POSITIVE)
    """Maximal voluntary force of a finger, N (see ``finger_max_force_n`` for overrides)."""
    tremor_frequency_hz: float = _num(0.0, 50.0, lo_open=True)
    """Peak frequency of physiological tremor, Hz (independent of force)."""
    tremor_amplitude_n: float = _num(**_NONNEG)
    """Tremor amplitude at ``tremor_reference_force_n``: peak of an equivalent sinusoid
    (RMS x sqrt 2), N; it scales in proportion to the force level."""
    tremor_reference_force_n: float = _num(**_POSITIVE)
    """Force level at which the tremor has ``tremor_amplitude_n``, N."""
    steadiness_cv: float = _num(0.0, 1.0)
    """Coefficient of variation of the slow force fluctuation around a target, dimensionless."""
    fluctuation_cutoff_hz: float = _num(0.0, 50.0, lo_open=True)
    """Upper band edge of the slow fluctuation (low-pass filtered noise), Hz."""
    tracking_lag_ms: float = _num(**_NONNEG)
    """Delay with which a tracked target is followed, ms."""
    enslaving_fraction: float = _num(**_PROB)
    """Force on a non-instructed pad as a fraction of the instructed finger's force."""
    fatigue_fraction_per_10s: float = _num(0.0, 1.0, hi_open=True)
    """Fractional decline of the maximal force per 10 s of sustained maximal effort."""
    rise_time_ms: float = _num(**_POSITIVE)
    """Time for force to rise from 0 to a target (and to fall back on release), ms."""
    rest_noise_n: float = _num(**_NONNEG)
    """RMS of the small force noise of a finger or hand at rest on a pad, N."""
    finger_max_force_n: tuple[tuple[str, float], ...] = field(
        default=(), metadata={"fingers": _Range(**_POSITIVE)}
    )
    """Per-finger overrides of ``max_force_n`` (TOML table ``[force.finger_max_force_n]``)."""

    def max_force_for(self, finger: str) -> float:
        """Maximal force of ``finger`` in N (its override, else ``max_force_n``)."""
        _check_finger(finger)
        return dict(self.finger_max_force_n).get(finger, self.max_force_n)


@dataclass(frozen=True)
class SwitchParams:
    """[switch]: mechanical contact bounce of the finger buttons and of the pegboard holes."""

    bounce_ms: float = _num(0.0, 100.0)
    """Bounce burst window after each button transition, ms."""
    bounce_edges_mean: float = _num(0.0, 100.0)
    """Mean number of extra edges in a button bounce burst (drawn in pairs)."""
    hole_bounce_ms: float = _num(0.0, 100.0)
    """Bounce burst window after each hole-switch transition, ms."""
    hole_bounce_edges_mean: float = _num(0.0, 100.0)
    """Mean number of extra edges in a hole-switch bounce burst (drawn in pairs)."""

    def for_contact(self, contact: Contact) -> tuple[float, float]:
        """``(bounce_ms, bounce_edges_mean)`` for a button or a hole switch."""
        if contact == "button":
            return self.bounce_ms, self.bounce_edges_mean
        if contact == "hole":
            return self.hole_bounce_ms, self.hole_bounce_edges_mean
        raise ValueError(f"contact must be 'button' or 'hole', got {contact!r}")


_SECTIONS: dict[str, type] = {
    "tapping": TappingParams,
    "pegs": PegParams,
    "reaction": ReactionParams,
    "force": ForceParams,
    "switch": SwitchParams,
}
_TOP_LEVEL_STRINGS = ("name", "description")
_S = TypeVar("_S")


@dataclass(frozen=True)
class ParticipantProfile:
    """All parameters of a virtual participant; simulation settings, not normative data.

    Each profile describes the tested hand (for an injury preset, the affected hand); the
    pegboard's ``hand_asymmetry`` scales the times of the other (non-dominant) hand.
    """

    name: str
    tapping: TappingParams
    pegs: PegParams
    reaction: ReactionParams
    force: ForceParams
    switch: SwitchParams
    description: str = ""

    @classmethod
    def from_toml(cls, path: str | Path) -> ParticipantProfile:
        """Load and validate a profile file; raises :class:`ProfileError` naming file and key."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read participant profile ({exc.strerror})") from exc
        return cls.from_toml_text(text, source=path.name, default_name=path.stem)

    @classmethod
    def from_toml_text(
        cls, text: str, *, source: str = "<profile>", default_name: str = "custom"
    ) -> ParticipantProfile:
        """Parse TOML text; ``source`` is the file name used in error messages."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{source}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, source=source, default_name=default_name)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<profile>", default_name: str = "custom"
    ) -> ParticipantProfile:
        """Validate a parsed TOML document (a mapping of sections)."""
        for key, value in data.items():
            if key in _TOP_LEVEL_STRINGS:
                if not isinstance(value, str):
                    raise ProfileError(f"{source}: {key} must be a string, got {_fmt_got(value)}")
            elif key not in _SECTIONS:
                known = ", ".join(f"[{s}]" for s in _SECTIONS)
                raise ProfileError(
                    f"{source}: unknown section or key {key!r} "
                    f"(expected {known}, name, description)"
                )
        sections: dict[str, Any] = {}
        for section, section_cls in _SECTIONS.items():
            table = data.get(section)
            if table is None:
                raise ProfileError(f"{source}: missing section [{section}]")
            if not isinstance(table, Mapping):
                raise ProfileError(f"{source}: [{section}] must be a table, got {_fmt_got(table)}")
            sections[section] = _parse_section(source, section, table, section_cls)
        return cls(
            name=data.get("name", default_name),
            description=data.get("description", ""),
            **sections,
        )


def _parse_section(source: str, section: str, table: Mapping[str, Any], cls: type[_S]) -> _S:
    """Build one section dataclass from its TOML table, checking keys, types and ranges."""
    specs = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in specs:
            raise ProfileError(
                f"{source}: [{section}] unknown key {key!r} (expected one of: {', '.join(specs)})"
            )
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        where = f"{source}: [{section}] {name}"
        if name not in table:
            if "fingers" in spec.metadata:
                continue
            raise ProfileError(f"{where} is missing ({spec.metadata['range'].describe()})")
        value = table[name]
        if "fingers" in spec.metadata:
            values[name] = _parse_finger_table(where, value, spec.metadata["fingers"])
        else:
            values[name] = _parse_number(where, value, spec.metadata["range"])
    return cls(**values)


def _parse_number(where: str, value: Any, allowed: _Range) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not allowed.accepts(value):
        raise ProfileError(f"{where} must be {allowed.describe()}, got {_fmt_got(value)}")
    return float(value)


def _parse_finger_table(where: str, value: Any, allowed: _Range) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where} must be a table of fingers, got {_fmt_got(value)}")
    for finger in value:
        if finger not in FINGERS:
            raise ProfileError(
                f"{where}: unknown finger {finger!r} (expected one of: {', '.join(FINGERS)})"
            )
    return tuple(
        (finger, _parse_number(f"{where}.{finger}", value[finger], allowed))
        for finger in FINGERS
        if finger in value
    )


def _fmt_got(value: Any) -> str:
    """A TOML-ish rendering of an offending value for error messages."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def preset_names() -> list[str]:
    """Names of the profiles shipped in ``hardware/sim/presets`` (e.g. ``"healthy"``)."""
    presets = resources.files(__package__ or "hardware.sim") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in presets.iterdir() if p.name.endswith(".toml")
    )


def load_profile(name_or_path: str | Path) -> ParticipantProfile:
    """Load a shipped preset by bare name (``"healthy"``) or any profile file by path."""
    text_name = str(name_or_path)
    is_path = isinstance(name_or_path, Path) or "/" in text_name or text_name.endswith(".toml")
    if is_path:
        return ParticipantProfile.from_toml(name_or_path)
    resource = resources.files(__package__ or "hardware.sim") / "presets" / f"{text_name}.toml"
    if not resource.is_file():
        raise ProfileError(
            f"no participant preset {text_name!r} (available: {', '.join(preset_names())})"
        )
    return ParticipantProfile.from_toml_text(
        resource.read_text(encoding="utf-8"), source=f"{text_name}.toml", default_name=text_name
    )


def _check_finger(finger: str) -> None:
    if finger not in FINGERS:
        raise ValueError(f"finger must be one of {', '.join(FINGERS)}, got {finger!r}")


# --------------------------------------------------------------------------------------------
# Scripts: plain data returned by the generators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    """One physical press of a button: closes at ``onset_t_ns``, opens at ``release_t_ns``."""

    onset_t_ns: int
    release_t_ns: int
    intended: bool = True
    """False for an unintended extra tap."""

    @property
    def press_duration_ns(self) -> int:
        return self.release_t_ns - self.onset_t_ns


@dataclass(frozen=True)
class TapScript:
    """A tapping trial for one button.

    ``intended_t_ns`` are the onsets the timing model produced (including taps that then failed to
    close the contact, listed again in ``missed_t_ns``); ``taps`` are the presses actually made
    (intended and not missed, plus extra taps), in time order; ``edges`` play them with bounce.
    """

    intended_t_ns: tuple[int, ...]
    taps: tuple[Tap, ...]
    missed_t_ns: tuple[int, ...]
    edges: tuple[Edge, ...]
    clock_var_ms2: float
    """Variance of the timekeeper interval used (ms^2)."""
    motor_var_ms2: float
    """Variance of the motor delay used (ms^2)."""
    beat_t_ns: tuple[int, ...] = ()
    """Metronome beats (synchronization only)."""
    asynchronies_ms: tuple[float, ...] = ()
    """Intended onset minus beat for each synchronized tap, ms (synchronization only)."""
    n_sync: int = 0
    """How many of ``intended_t_ns`` belong to the synchronization phase."""

    @property
    def onsets_t_ns(self) -> tuple[int, ...]:
        """Contact-closing times of the physical presses."""
        return tuple(tap.onset_t_ns for tap in self.taps)

    @property
    def press_durations_ns(self) -> tuple[int, ...]:
        return tuple(tap.press_duration_ns for tap in self.taps)

    @property
    def intended_iti_ms(self) -> npt.NDArray[np.float64]:
        """Intervals between successive intended onsets, ms."""
        return np.diff(np.asarray(self.intended_t_ns, dtype=np.int64)) / NS_PER_MS


@dataclass(frozen=True)
class ReactionScript:
    """One reaction trial: which finger pressed when, relative to the cue."""

    cue_t_ns: int
    target: Finger
    """The finger the cue asked for."""
    finger: Finger
    """The finger that responded (differs from ``target`` on a choice error)."""
    onset_t_ns: int
    release_t_ns: int
    anticipation: bool
    """The response started before the cue."""
    error: bool
    """A wrong finger responded."""
    edges: tuple[Edge, ...]
    """Edges of the responding finger's button."""

    @property
    def rt_ms(self) -> float:
        """Response onset minus cue, ms (negative for an anticipation)."""
        return (self.onset_t_ns - self.cue_t_ns) / NS_PER_MS


@dataclass(frozen=True)
class PegDrop:
    """A peg dropped while carried: re-picked from the dish (placement) or the table (removal)."""

    t_ns: int
    peg_index: int
    hole: str
    phase: PegPhase


@dataclass(frozen=True)
class PegScript:
    """A nine-hole-peg-style trial: true event times, hole-switch edges and pad forces.

    ``home_liftoff_ns`` is when the hand's force on the home pad reaches zero and
    ``home_return_ns`` when it starts to rise again; ``first_touch_ns`` is when the first peg is
    touched (where a 9HPT stopwatch starts); ``dish_ns[i]`` is when peg ``i`` (removal order) hits
    the dish.
    """

    hand: Hand
    holes: tuple[str, ...]
    start_t_ns: int
    home_liftoff_ns: int
    first_touch_ns: int
    insert_ns: dict[str, int]
    remove_ns: dict[str, int]
    dish_ns: tuple[int, ...]
    home_return_ns: int
    drops: tuple[PegDrop, ...]
    hole_edges: dict[str, tuple[Edge, ...]]
    home_force: ForceTrace
    """Force on the home pad: the resting hand before liftoff and after return."""
    dish_force: ForceTrace
    """Force on the dish pad: one brief impact per returned peg."""

    @property
    def placement_done_ns(self) -> int:
        """When the last peg closed its hole switch."""
        return max(self.insert_ns.values())


# --------------------------------------------------------------------------------------------
# Force traces
# --------------------------------------------------------------------------------------------


class ForceTrace:
    """Force on one pad as a deterministic function of time: ``trace(t_ns) -> force_n``.

    Accepts an ``int`` (returns ``float``) or an integer-ns numpy array (returns float64 N). All
    noise was drawn when the trace was built (analytic sinusoids with random phases, filtered noise
    on a fixed 1 ms grid interpolated linearly), so a value at a given time never depends on the
    order or number of calls. Forces are clipped at 0 N (a pad cannot be pulled).

    ``pointwise`` declares that ``fn`` computes each element from its own time alone, with the
    same operations whatever the array's length (true of the traces this module builds from its
    own functions; not assumed of a caller's function, e.g. a tracking target). Scalar calls of a
    pointwise trace at evenly spaced times (an ADC's conversions) are then answered from one
    vectorized evaluation of the times ahead: the values are the ones a call for each time alone
    returns, bit for bit.
    """

    def __init__(
        self,
        fn: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]],
        *,
        kind: str,
        start_t_ns: int | None = None,
        end_t_ns: int | None = None,
        pointwise: bool = False,
    ) -> None:
        self._fn = fn
        self.kind = kind
        self.start_t_ns = start_t_ns
        """First time of the trace's activity (None: always active, e.g. rest)."""
        self.end_t_ns = end_t_ns
        """Time after which only rest noise remains (None: open-ended)."""
        self.pointwise = pointwise
        # Scalar calls of a pointwise trace: (first time, spacing, values) evaluated ahead, and
        # the time of the last call that missed it (to find the spacing).
        self._ahead: tuple[int, int, list[float]] = (0, 1, [])
        self._last_miss_t_ns: int | None = None

    def force_n(self, t_ns: IntTimes) -> ForceValue:
        """Force in N at ``t_ns`` (int or int64 array of ns)."""
        if self.pointwise and type(t_ns) is int:
            t0, step, values = self._ahead
            k, r = divmod(t_ns - t0, step)
            if not r and 0 <= k < len(values):
                return values[k]
            return self._scalar_miss(t_ns)
        t = np.asarray(t_ns, dtype=np.int64)
        out = np.maximum(self._fn(np.atleast_1d(t)), 0.0)
        return float(out[0]) if t.ndim == 0 else out.reshape(t.shape)

    __call__ = force_n

    def _scalar_miss(self, t_ns: int) -> float:
        """Evaluate at ``t_ns`` and, when the calls come at a steady spacing, at the times ahead
        (twice as many as last time, up to _AHEAD_MAX); otherwise at ``t_ns`` alone."""
        t0, step, values = self._ahead
        last, self._last_miss_t_ns = self._last_miss_t_ns, t_ns
        n = 1
        if t_ns == t0 + len(values) * step and values:
            n = min(2 * len(values), _AHEAD_MAX)  # the previous run was used to its end
        elif last is not None and 0 < t_ns - last <= _AHEAD_MAX_STEP_NS:
            step = t_ns - last
        else:
            step = 1
        if not -_AHEAD_T_LIMIT_NS < t_ns < _AHEAD_T_LIMIT_NS:
            n = 1
        times = t_ns + step * np.arange(n, dtype=np.int64)
        ahead: list[float] = np.maximum(self._fn(times), 0.0).tolist()
        self._ahead = (t_ns, step, ahead)
        return ahead[0]

    def __add__(self, other: ForceTrace) -> ForceTrace:
        """The summed force of two traces on the same pad."""
        return sum_traces(f"{self.kind}+{other.kind}", [self, other])

    def __repr__(self) -> str:
        span = f"start_t_ns={self.start_t_ns}, end_t_ns={self.end_t_ns}"
        return f"ForceTrace(kind={self.kind!r}, {span})"


#: Scalar calls of a pointwise trace: at most this many times evaluated ahead, this far apart.
_AHEAD_MAX = 512
_AHEAD_MAX_STEP_NS = NS_PER_S
_AHEAD_T_LIMIT_NS = 1 << 61  # keeps t + step * _AHEAD_MAX within int64


def sum_traces(kind: str, traces: Sequence[ForceTrace]) -> ForceTrace:
    """One pad's force from several contributions (summed first, clipped at 0 N once)."""
    fns = [trace._fn for trace in traces]
    starts = [trace.start_t_ns for trace in traces]
    ends = [trace.end_t_ns for trace in traces]
    return ForceTrace(
        lambda t: np.sum([fn(t) for fn in fns], axis=0),
        kind=kind,
        start_t_ns=None if None in starts else min(s for s in starts if s is not None),
        end_t_ns=None if None in ends else max(e for e in ends if e is not None),
        # numpy reduces up to 8 rows in order, whatever their length (more: pairwise blocks)
        pointwise=len(traces) <= 8 and all(trace.pointwise for trace in traces),
    )


def _window(
    t: npt.NDArray[np.int64], on_ns: int | None, off_ns: int | None, edge_ns: int
) -> npt.NDArray[np.float64]:
    """0..1 envelope: raised-cosine rise over ``edge_ns`` from ``on_ns``, plateau, raised-cosine
    fall ending at ``off_ns``. ``None`` leaves that side open (already on / never off)."""
    w = np.ones(t.shape, dtype=np.float64)
    for bound, sign in ((on_ns, 1), (off_ns, -1)):
        if bound is None:
            continue
        dist = (t - bound) * sign  # ns inside the window from this bound (int64, exact)
        u = np.clip(dist / edge_ns, 0.0, 1.0) if edge_ns > 0 else (dist > 0).astype(np.float64)
        w *= 0.5 - 0.5 * np.cos(np.pi * u)
    return w


class _SineSum:
    """Sum of sinusoids with fixed frequencies, amplitudes and phases, analytic at any t."""

    def __init__(self, t0_ns: int, freqs_hz: np.ndarray, amps: np.ndarray, phases: np.ndarray):
        self._t0_ns = t0_ns
        self._freqs_hz = freqs_hz[:, None]
        self._amps = amps[:, None]
        self._phases = phases[:, None]

    def __call__(self, t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        t_s = (t - self._t0_ns).astype(np.float64)[None, :] / NS_PER_S
        waves = self._amps * np.sin(2.0 * np.pi * self._freqs_hz * t_s + self._phases)
        return waves.sum(axis=0)


class _GridNoise:
    """Precomputed noise on the fixed 1 ms grid, linearly interpolated: 0 outside the grid, or
    repeating every grid length when ``periodic`` (seamless, as FFT-synthesized noise is)."""

    def __init__(self, t0_ns: int, values: np.ndarray, *, periodic: bool = False):
        self._t0_ns = t0_ns
        self._period = values.size if periodic else None
        # a periodic pattern gets its first sample appended, to interpolate across the seam
        self._values = np.append(values, values[0]) if periodic else values
        self._index = np.arange(self._values.size, dtype=np.float64)

    def __call__(self, t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        pos = (t - self._t0_ns) / NOISE_GRID_NS
        if self._period is not None:
            pos = np.mod(pos, self._period)
        return np.interp(pos, self._index, self._values, left=0.0, right=0.0)


def _lowpass_noise(rng: np.random.Generator, n_samples: int, cutoff_hz: float) -> np.ndarray:
    """Zero-mean, unit-SD noise of ``n_samples`` on the 1 ms grid, low-passed at ``cutoff_hz``
    with a 4th-order (Butterworth-like) magnitude response; periodic in ``n_samples``."""
    n = max(n_samples, 2)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs_hz = np.fft.rfftfreq(n, d=NOISE_GRID_NS / NS_PER_S)
    values = np.fft.irfft(spectrum / np.sqrt(1.0 + (freqs_hz / cutoff_hz) ** 8), n)
    values -= values.mean()
    sd = values.std()
    return values / sd if sd > 0 else values


def _tremor(rng: np.random.Generator, t0_ns: int, freq_hz: float, amplitude_n: float) -> _SineSum:
    """Narrow-band tremor: three sinusoids within 0.3 Hz of ``freq_hz`` with random phases whose
    total power equals one sinusoid of ``amplitude_n``."""
    freqs = freq_hz + np.concatenate(([0.0], rng.uniform(-0.3, 0.3, 2)))
    weights = np.array([1.0, *rng.uniform(0.3, 0.6, 2)])
    amps = amplitude_n * weights / np.sqrt(np.sum(weights**2))
    return _SineSum(t0_ns, np.maximum(freqs, 0.1), amps, rng.uniform(0, 2 * np.pi, 3))


def _rest_noise(rng: np.random.Generator, rms_n: float) -> _GridNoise:
    """Small broadband noise defined for all t: RMS ``rms_n``, low-passed at
    REST_NOISE_CUTOFF_HZ, repeating every REST_NOISE_PERIOD_MS."""
    values = rms_n * _lowpass_noise(rng, REST_NOISE_PERIOD_MS, REST_NOISE_CUTOFF_HZ)
    return _GridNoise(0, values, periodic=True)


# --------------------------------------------------------------------------------------------
# The participant
# --------------------------------------------------------------------------------------------


def _ms_to_ns(ms: float) -> int:
    return round(ms * NS_PER_MS)


def _lognormal(rng: np.random.Generator, mean: float, sd: float) -> float:
    """A positive draw with the given mean and SD (log-normal; exactly ``mean`` when sd = 0)."""
    if sd <= 0:
        return mean
    sigma2 = math.log1p((sd / mean) ** 2)
    return float(rng.lognormal(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)))


class VirtualParticipant:
    """A seeded virtual person acting on the station; every method returns plain scripted data.

    ``seed`` (int >= 0) fixes everything: the same profile, seed and sequence of calls give
    identical scripts.
    """

    #: Shortest interval between intended taps, as a fraction of the preferred ITI (keeps the
    #: onsets strictly increasing under extreme noise).
    MIN_ITI_FRACTION = 0.25

    def __init__(self, profile: ParticipantProfile | str, seed: int):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.seed = int(seed)
        self._seeds = np.random.SeedSequence(self.seed)

    def _rng(self) -> np.random.Generator:
        """An independent child stream for one generator call."""
        return np.random.default_rng(self._seeds.spawn(1)[0])

    # ---- switches ------------------------------------------------------------------------------

    def switch_edges(
        self,
        press_t_ns: int,
        release_t_ns: int,
        *,
        contact: Contact = "button",
        until_t_ns: int | None = None,
    ) -> list[Edge]:
        """Edges of one press/release of a contact, with bounce after both transitions.

        The press edge ``(press_t_ns, 1)`` and the release edge ``(release_t_ns, 0)`` are followed
        by bursts of extra edges (an even number, so each burst ends at the intended level) within
        the contact's ``bounce_ms``; the press burst ends before ``release_t_ns`` and the release
        burst before ``until_t_ns`` (e.g. the next press) when given. Edges strictly increase in
        time and alternate in level.
        """
        return _switch_edges(
            self._rng(), self.profile.switch, press_t_ns, release_t_ns, contact, until_t_ns
        )

    # ---- tapping -------------------------------------------------------------------------------

    def tapping(
        self, start_t_ns: int, n_taps: int | None = None, *, duration_s: float | None = None
    ) -> TapScript:
        """Unpaced tapping on one button from ``start_t_ns`` (the first intended onset).

        Give ``n_taps`` (intended taps) or ``duration_s`` (intended onsets within
        [start, start + duration_s)). Intervals follow the Wing-Kristofferson model
        I_n = C_n + D_n - D_{n-1}, C_n ~ N(preferred_iti_ms + slope x elapsed_s, clock_sd_ms),
        D_n ~ N(0, motor_sd_ms); missed and extra taps follow their probabilities.
        """
        if (n_taps is None) == (duration_s is None):
            raise ValueError("give exactly one of n_taps and duration_s")
        if n_taps is not None and n_taps < 1:
            raise ValueError(f"n_taps must be >= 1, got {n_taps}")
        if duration_s is not None and not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        p = self.profile.tapping
        rng = self._rng()
        end_ms = math.inf if duration_s is None else duration_s * 1000.0
        d0_ms = float(rng.normal(0.0, p.motor_sd_ms))
        # the first intended tap is at start_t_ns exactly: its pulse is at -D_0
        onsets_ms = _wk_onsets(
            rng,
            p,
            period_ms=p.preferred_iti_ms,
            clock_ms=-d0_ms,
            d_prev_ms=d0_ms,
            n_max=n_taps,
            end_ms=end_ms,
        )
        onsets_ms = onsets_ms[onsets_ms < end_ms]
        return self._tap_script(rng, start_t_ns, onsets_ms)

    def synchronize(self, beat_times_ns: Sequence[int], continuation_taps: int) -> TapScript:
        """Tapping in time with metronome beats, then ``continuation_taps`` unpaced taps.

        Synchronization (Vorberg & Wing phase correction): A_{n+1} = A_n - alpha (A_n - m)
        + (C_n - IOI_n) + D_{n+1} - D_n with m = sync_asynchrony_ms, so asynchronies settle
        around m. Continuation: Wing-Kristofferson at the last inter-beat interval, with the
        fatigue drift counted from the last beat.
        """
        beats = np.asarray(beat_times_ns, dtype=np.int64)
        if beats.size < 2 or np.any(np.diff(beats) <= 0):
            raise ValueError("beat_times_ns needs at least two strictly increasing times")
        if continuation_taps < 0:
            raise ValueError(f"continuation_taps must be >= 0, got {continuation_taps}")
        p = self.profile.tapping
        rng = self._rng()
        t0_ns = int(beats[0])
        beats_ms = (beats - t0_ns) / NS_PER_MS
        ioi_ms = np.diff(beats_ms)
        alpha, mean_async = p.sync_correction_gain, p.sync_asynchrony_ms
        clock_noise = rng.normal(0.0, p.clock_sd_ms, beats.size)
        motor = rng.normal(0.0, p.motor_sd_ms, beats.size)
        asyncs = np.empty(beats.size)
        asyncs[0] = mean_async + clock_noise[0] + motor[0]
        for n in range(beats.size - 1):
            dev = asyncs[n] - mean_async
            asyncs[n + 1] = asyncs[n] - alpha * dev + clock_noise[n + 1] + motor[n + 1] - motor[n]
        sync_ms = beats_ms + asyncs
        sync_ms = _enforce_min_gap(sync_ms, self.MIN_ITI_FRACTION * float(ioi_ms.min()))
        onsets_ms = sync_ms
        if continuation_taps:
            # the timekeeper's last pulse is the last tap minus its motor delay
            cont_ms = _wk_onsets(
                rng,
                p,
                period_ms=float(ioi_ms[-1]),
                clock_ms=float(sync_ms[-1] - motor[-1]),
                d_prev_ms=float(motor[-1]),
                n_max=continuation_taps + 1,
                end_ms=math.inf,
                drift_origin_ms=float(beats_ms[-1]),
            )
            onsets_ms = np.concatenate((sync_ms, cont_ms[1:]))
        script = self._tap_script(rng, t0_ns, onsets_ms)
        return replace(
            script,
            beat_t_ns=tuple(int(b) for b in beats),
            asynchronies_ms=tuple(float(a) for a in sync_ms - beats_ms),
            n_sync=int(beats.size),
        )

    def _tap_script(self, rng: np.random.Generator, t0_ns: int, onsets_ms: np.ndarray) -> TapScript:
        """Turn intended onsets (ms after ``t0_ns``) into presses, misses, extra taps and edges."""
        p = self.profile.tapping
        intended = [t0_ns + _ms_to_ns(x) for x in onsets_ms]
        taps: list[Tap] = []
        missed: list[int] = []
        for i, onset_ns in enumerate(intended):
            next_ns = (
                intended[i + 1]
                if i + 1 < len(intended)
                else onset_ns + _ms_to_ns(p.preferred_iti_ms)
            )
            gap_ns = next_ns - onset_ns
            if rng.random() < p.missed_tap_prob:
                missed.append(onset_ns)
                continue
            press_ms = rng.normal(p.press_duration_ms, p.press_duration_sd_ms)
            release_ns = onset_ns + min(max(_ms_to_ns(press_ms), 1), int(0.6 * gap_ns))
            taps.append(Tap(onset_ns, release_ns))
            if rng.random() < p.extra_tap_prob:
                room_ns = next_ns - release_ns
                extra_on_ns = release_ns + int(room_ns * rng.uniform(0.3, 0.5))
                extra_off_ns = extra_on_ns + int(room_ns * 0.3 * rng.uniform(0.3, 1.0))
                if release_ns < extra_on_ns < extra_off_ns < next_ns:
                    taps.append(Tap(extra_on_ns, extra_off_ns, intended=False))
        edges: list[Edge] = []
        for i, tap in enumerate(taps):
            until_ns = taps[i + 1].onset_t_ns if i + 1 < len(taps) else None
            edges += _switch_edges(
                rng, self.profile.switch, tap.onset_t_ns, tap.release_t_ns, "button", until_ns
            )
        return TapScript(
            intended_t_ns=tuple(intended),
            taps=tuple(taps),
            missed_t_ns=tuple(missed),
            edges=tuple(edges),
            clock_var_ms2=p.clock_sd_ms**2,
            motor_var_ms2=p.motor_sd_ms**2,
        )

    # ---- reaction ------------------------------------------------------------------------------

    def reaction(
        self,
        cue_t_ns: int,
        choice: bool = False,
        *,
        target: Finger = "index",
        alternatives: Sequence[Finger] = FINGERS,
    ) -> ReactionScript:
        """Response of ``target``'s button to a cue at ``cue_t_ns``.

        Reaction time is log-normal with mean simple_rt_ms (or choice_rt_ms) and SD rt_sd_ms; with
        anticipation_prob the press instead falls uniformly within anticipation_window_ms before
        the cue; in a choice task, with choice_error_prob another of ``alternatives`` responds.
        """
        for name in (target, *alternatives):
            _check_finger(name)
        r, p = self.profile.reaction, self.profile.tapping
        rng = self._rng()
        anticipation = bool(rng.random() < r.anticipation_prob)
        if anticipation:
            onset_ns = cue_t_ns - _ms_to_ns(rng.uniform(0.0, r.anticipation_window_ms)) - 1
        else:
            rt_ms = _lognormal(rng, r.choice_rt_ms if choice else r.simple_rt_ms, r.rt_sd_ms)
            onset_ns = cue_t_ns + max(_ms_to_ns(rt_ms), 1)
        finger = target
        wrong = [f for f in alternatives if f != target]
        if choice and wrong and rng.random() < r.choice_error_prob:
            finger = wrong[int(rng.integers(len(wrong)))]
        press_ms = max(rng.normal(p.press_duration_ms, p.press_duration_sd_ms), 1.0)
        release_ns = onset_ns + _ms_to_ns(press_ms)
        edges = _switch_edges(rng, self.profile.switch, onset_ns, release_ns, "button", None)
        return ReactionScript(
            cue_t_ns=cue_t_ns,
            target=target,
            finger=finger,
            onset_t_ns=onset_ns,
            release_t_ns=release_ns,
            anticipation=anticipation,
            error=finger != target,
            edges=tuple(edges),
        )

    # ---- pegboard ------------------------------------------------------------------------------

    def pegboard(self, start_t_ns: int, holes: Sequence[str], hand: Hand = "dominant") -> PegScript:
        """A nine-hole-peg-style trial starting with the "Go" at ``start_t_ns``.

        The hand rests on the home pad, lifts off after a simple reaction time, then for each hole
        in order: reach, grasp a peg from the dish, transport, insert (the hole switch closes);
        then for each hole in order: reach, remove (the switch opens), drop the peg into the dish
        (impact); finally it returns to the home pad. Each movement time is log-normal around its
        mean (CV sd_fraction), times hand_asymmetry for the non-dominant hand. A carried peg drops
        with drop_prob (possibly again); each drop costs a reach and a grasp.
        """
        holes = tuple(holes)
        if not holes or len(set(holes)) != len(holes):
            raise ValueError("holes must be a non-empty list of distinct hole names")
        if hand not in ("dominant", "non_dominant"):
            raise ValueError(f"hand must be 'dominant' or 'non_dominant', got {hand!r}")
        pg, r = self.profile.pegs, self.profile.reaction
        rng = self._rng()
        factor = pg.hand_asymmetry if hand == "non_dominant" else 1.0
        t_ms = 0.0  # elapsed since start_t_ns

        def move(mean_ms: float) -> float:
            return _lognormal(rng, mean_ms * factor, mean_ms * factor * pg.sd_fraction)

        def carry(carry_ms: float, peg_index: int, hole: str, phase: PegPhase) -> None:
            """Advance through a carry, re-picking after each drop."""
            nonlocal t_ms
            while rng.random() < pg.drop_prob:
                duration_ms = move(carry_ms)
                t_ms += duration_ms * rng.uniform(0.0, 1.0)
                drops.append(PegDrop(start_t_ns + _ms_to_ns(t_ms), peg_index, hole, phase))
                t_ms += move(pg.reach_ms) + move(pg.grasp_ms)
            t_ms += move(carry_ms)

        drops: list[PegDrop] = []
        t_ms += _lognormal(rng, r.simple_rt_ms, r.rt_sd_ms)
        liftoff_ms = t_ms
        insert_ms: dict[str, float] = {}
        first_touch_ms = 0.0
        for i, hole in enumerate(holes):
            t_ms += move(pg.reach_ms)
            if i == 0:
                first_touch_ms = t_ms
            t_ms += move(pg.grasp_ms)
            carry(pg.transport_ms, i, hole, "placement")
            t_ms += move(pg.insert_ms)
            insert_ms[hole] = t_ms
        remove_ms: dict[str, float] = {}
        dish_ms: list[float] = []
        for i, hole in enumerate(holes):
            t_ms += move(pg.reach_ms) + move(pg.remove_ms)
            remove_ms[hole] = t_ms
            carry(pg.dish_ms, i, hole, "removal")
            dish_ms.append(t_ms)
        return_ms = t_ms + move(pg.reach_ms)

        def at(ms: float) -> int:
            return start_t_ns + _ms_to_ns(ms)

        insert_ns = {h: at(v) for h, v in insert_ms.items()}
        remove_ns = {h: at(v) for h, v in remove_ms.items()}
        switch = self.profile.switch
        hole_edges = {
            h: tuple(_switch_edges(rng, switch, insert_ns[h], remove_ns[h], "hole", None))
            for h in holes
        }
        dish_ns = tuple(at(v) for v in dish_ms)
        liftoff_ns, return_ns = at(liftoff_ms), at(return_ms)
        hand_edge_ns = _ms_to_ns(self.profile.force.rise_time_ms)
        impact_ns = _ms_to_ns(pg.dish_impact_ms)
        home = sum_traces(
            "home_pad",
            [
                _level_trace("hand", pg.home_rest_force_n, None, liftoff_ns, hand_edge_ns),
                _level_trace("hand", pg.home_rest_force_n, return_ns, None, hand_edge_ns),
                self._rest_trace(rng),
            ],
        )
        impacts = _pulse_train("impacts", dish_ns, impact_ns, pg.dish_impact_peak_n)
        dish = sum_traces("dish_pad", [self._rest_trace(rng), impacts])
        return PegScript(
            hand=hand,
            holes=holes,
            start_t_ns=start_t_ns,
            home_liftoff_ns=liftoff_ns,
            first_touch_ns=at(first_touch_ms),
            insert_ns=insert_ns,
            remove_ns=remove_ns,
            dish_ns=dish_ns,
            home_return_ns=return_ns,
            drops=tuple(drops),
            hole_edges=hole_edges,
            home_force=home,
            dish_force=dish,
        )

    # ---- force ---------------------------------------------------------------------------------

    def force_profile(self, kind: str, *args: Any, **kwargs: Any) -> ForceTrace:
        """Dispatch to a force kind: rest, max_effort, hold, track, enslaved or press."""
        kinds: dict[str, Callable[..., ForceTrace]] = {
            "rest": self.rest,
            "max_effort": self.max_effort,
            "hold": self.hold,
            "track": self.track,
            "enslaved": self.enslaved,
            "press": self.press,
        }
        if kind not in kinds:
            raise ValueError(f"unknown force kind {kind!r} (expected one of: {', '.join(kinds)})")
        return kinds[kind](*args, **kwargs)

    def rest(self) -> ForceTrace:
        """A finger resting on a pad: 0 N plus rest_noise_n of tiny noise, for all times."""
        return self._rest_trace(self._rng())

    def max_effort(
        self, start_t_ns: int, duration_s: float, finger: Finger = "index"
    ) -> ForceTrace:
        """Maximal effort of ``finger`` from ``start_t_ns`` for ``duration_s`` (release included).

        The level rises to the finger's maximal force over rise_time_ms, declines by
        fatigue_fraction_per_10s (exponentially: x (1 - f) per 10 s) and falls to 0 at the end;
        slow fluctuation and tremor ride on it.
        """
        f = self.profile.force
        max_n = f.max_force_for(finger)
        decay_per_s = math.log1p(-f.fatigue_fraction_per_10s) / 10.0

        def level(t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
            elapsed_s = np.maximum(t - start_t_ns, 0) / NS_PER_S
            return max_n * np.exp(decay_per_s * elapsed_s)

        return self._effort_trace("max_effort", level, start_t_ns, duration_s)

    def hold(
        self, start_t_ns: int, duration_s: float, target_n: float, finger: Finger = "index"
    ) -> ForceTrace:
        """Holding ``target_n`` (capped at the finger's maximal force) with ``finger``.

        Rise over rise_time_ms, plateau at the target with slow fluctuation (SD steadiness_cv x
        target, low-passed at fluctuation_cutoff_hz) and tremor at tremor_frequency_hz, release
        ending at start + duration_s.
        """
        if target_n < 0:
            raise ValueError(f"target_n must be >= 0, got {target_n}")
        level_n = min(target_n, self.profile.force.max_force_for(finger))
        return self._effort_trace(
            "hold", lambda t: np.full(t.shape, level_n), start_t_ns, duration_s
        )

    def track(
        self,
        target_fn: Callable[[npt.NDArray[np.int64]], npt.ArrayLike],
        start_t_ns: int,
        duration_s: float,
    ) -> ForceTrace:
        """Following a moving target: force(t) = target_fn(t - tracking_lag) + fluctuation + tremor.

        ``target_fn`` maps an int64 ns array to target forces in N (vectorized).
        """
        lag_ns = _ms_to_ns(self.profile.force.tracking_lag_ms)

        def level(t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
            return np.maximum(np.asarray(target_fn(t - lag_ns), dtype=np.float64), 0.0)

        return self._effort_trace("track", level, start_t_ns, duration_s, pointwise_level=False)

    def enslaved(self, instructed: ForceTrace, fraction: float | None = None) -> ForceTrace:
        """Force on a non-instructed pad: ``fraction`` (default enslaving_fraction) of the
        instructed trace, plus this pad's own rest noise."""
        share = self.profile.force.enslaving_fraction if fraction is None else fraction
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {share}")
        noise = _rest_noise(self._rng(), self.profile.force.rest_noise_n)
        return ForceTrace(
            lambda t: share * instructed.force_n(t) + noise(t),
            kind="enslaved",
            start_t_ns=instructed.start_t_ns,
            end_t_ns=instructed.end_t_ns,
            pointwise=instructed.pointwise,
        )

    def press(self, onset_t_ns: int, duration_ms: float, peak_n: float) -> ForceTrace:
        """A smooth press: contact from ``onset_t_ns`` for ``duration_ms`` at ``peak_n``.

        Edges are raised cosines of min(rise_time_ms, duration/2): a short press is a smooth
        spike (e.g. an impact), a long one a constant force (e.g. a resting hand); plus rest noise.
        """
        if duration_ms <= 0 or peak_n < 0:
            raise ValueError("press needs duration_ms > 0 and peak_n >= 0")
        duration_ns = _ms_to_ns(duration_ms)
        edge_ns = min(_ms_to_ns(self.profile.force.rise_time_ms), duration_ns // 2)
        off_ns = onset_t_ns + duration_ns
        shape = _level_trace("press", peak_n, onset_t_ns, off_ns, edge_ns)
        return sum_traces("press", [shape, self._rest_trace(self._rng())])

    def _rest_trace(self, rng: np.random.Generator) -> ForceTrace:
        return ForceTrace(
            _rest_noise(rng, self.profile.force.rest_noise_n), kind="rest", pointwise=True
        )

    def _effort_trace(
        self,
        kind: str,
        level: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]],
        start_t_ns: int,
        duration_s: float,
        *,
        pointwise_level: bool = True,
    ) -> ForceTrace:
        """A voluntary force: ``level(t)`` in a rise/plateau/release window over
        [start, start + duration_s], with slow fluctuation, tremor (both proportional to the
        level) and rest noise. ``pointwise_level``: ``level`` is pointwise (see ForceTrace)."""
        if not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        f = self.profile.force
        rng = self._rng()
        end_ns = start_t_ns + round(duration_s * NS_PER_S)
        edge_ns = min(_ms_to_ns(f.rise_time_ms), (end_ns - start_t_ns) // 2)
        n_samples = (end_ns - start_t_ns) // NOISE_GRID_NS + 1
        slow = _GridNoise(start_t_ns, _lowpass_noise(rng, n_samples, f.fluctuation_cutoff_hz))
        tremor = _tremor(rng, start_t_ns, f.tremor_frequency_hz, f.tremor_amplitude_n)
        rest = _rest_noise(rng, f.rest_noise_n)

        def fn(t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
            level_n = level(t) * _window(t, start_t_ns, end_ns, edge_ns)
            wobble = f.steadiness_cv * slow(t) + tremor(t) / f.tremor_reference_force_n
            return level_n * (1.0 + wobble) + rest(t)

        return ForceTrace(
            fn, kind=kind, start_t_ns=start_t_ns, end_t_ns=end_ns, pointwise=pointwise_level
        )


# --------------------------------------------------------------------------------------------
# Model helpers (module-level so their randomness is explicit)
# --------------------------------------------------------------------------------------------


def _level_trace(
    kind: str, level_n: float, on_ns: int | None, off_ns: int | None, edge_ns: int
) -> ForceTrace:
    """A constant ``level_n`` inside a raised-cosine window (no noise)."""
    return ForceTrace(
        lambda t: level_n * _window(t, on_ns, off_ns, edge_ns),
        kind=kind,
        start_t_ns=on_ns,
        end_t_ns=off_ns,
        pointwise=True,
    )


def _pulse_train(
    kind: str, onsets_ns: Sequence[int], duration_ns: int, peak_n: float
) -> ForceTrace:
    """Hann-shaped pulses of ``peak_n`` lasting ``duration_ns`` from each onset (e.g. impacts).

    Each time sees only the latest pulse started at or before it (pulses must not overlap), so
    evaluation costs one binary search however many pulses there are.
    """
    starts_ns = np.sort(np.asarray(onsets_ns, dtype=np.int64))

    def fn(t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if starts_ns.size == 0:
            return np.zeros(t.shape)
        latest = np.searchsorted(starts_ns, t, side="right") - 1
        since_ns = t - starts_ns[np.maximum(latest, 0)]
        inside = (latest >= 0) & (since_ns < duration_ns)
        u = np.where(inside, since_ns / duration_ns, 0.0)
        return peak_n * (0.5 - 0.5 * np.cos(2.0 * np.pi * u))

    start = int(starts_ns[0]) if starts_ns.size else None
    end = int(starts_ns[-1]) + duration_ns if starts_ns.size else None
    return ForceTrace(fn, kind=kind, start_t_ns=start, end_t_ns=end, pointwise=True)


def _switch_edges(
    rng: np.random.Generator,
    params: SwitchParams,
    press_t_ns: int,
    release_t_ns: int,
    contact: Contact,
    until_t_ns: int | None,
) -> list[Edge]:
    if not press_t_ns < release_t_ns:
        raise ValueError(f"press_t_ns ({press_t_ns}) must be before release_t_ns ({release_t_ns})")
    if until_t_ns is not None and not release_t_ns < until_t_ns:
        raise ValueError(f"until_t_ns ({until_t_ns}) must be after release_t_ns ({release_t_ns})")
    bounce_ms, edges_mean = params.for_contact(contact)
    bounce_ns = _ms_to_ns(bounce_ms)
    edges: list[Edge] = []
    for t_ns, level, limit_ns in ((press_t_ns, 1, release_t_ns), (release_t_ns, 0, until_t_ns)):
        edges.append((t_ns, level))
        window_ns = bounce_ns if limit_ns is None else min(bounce_ns, limit_ns - t_ns - 1)
        edges += _bounce_burst(rng, t_ns, level, window_ns, edges_mean)
    return edges


def _bounce_burst(
    rng: np.random.Generator, t_ns: int, level: int, window_ns: int, edges_mean: float
) -> list[Edge]:
    """Extra edges after a transition to ``level`` at ``t_ns``: 2 x Poisson(edges_mean / 2)
    distinct times in (t_ns, t_ns + window_ns], alternating so the burst ends at ``level``."""
    n_pairs = int(rng.poisson(edges_mean / 2.0)) if edges_mean > 0 else 0
    n_edges = min(2 * n_pairs, window_ns - window_ns % 2)
    if n_edges <= 0:
        return []
    offsets: set[int] = set()
    while len(offsets) < n_edges:  # distinct offsets (collisions are rare; n_edges <= window)
        draws = rng.random(n_edges - len(offsets)) * window_ns
        offsets.update(1 + min(int(x), window_ns - 1) for x in draws)
    return [(t_ns + dt, level ^ ((k + 1) % 2)) for k, dt in enumerate(sorted(offsets))]


def _wk_onsets(
    rng: np.random.Generator,
    p: TappingParams,
    *,
    period_ms: float,
    clock_ms: float,
    d_prev_ms: float | None,
    n_max: int | None,
    end_ms: float,
    drift_origin_ms: float | None = None,
) -> np.ndarray:
    """Wing-Kristofferson onsets (ms): O_n = T_n + D_n with timekeeper pulses T_n = T_{n-1} + C_n,
    T_0 = ``clock_ms``, C_n ~ N(period + slope x (T_{n-1} - drift_origin) / 1000, clock_sd),
    D_n ~ N(0, motor_sd) (D_0 = ``d_prev_ms`` if given). Stops after ``n_max`` onsets or at the
    first onset at or past ``end_ms``; consecutive onsets are at least MIN_ITI_FRACTION x period
    apart."""
    origin_ms = clock_ms if drift_origin_ms is None else drift_origin_ms
    min_gap_ms = VirtualParticipant.MIN_ITI_FRACTION * period_ms
    block = 256 if n_max is None else n_max
    onsets: list[float] = []
    pulse_ms = clock_ms
    while True:
        clock_z = rng.standard_normal(block)
        motor = rng.normal(0.0, p.motor_sd_ms, block)
        for k in range(block):
            if onsets:
                mean_ms = period_ms + p.fatigue_iti_slope_ms_per_s * (pulse_ms - origin_ms) / 1000.0
                pulse_ms += mean_ms + p.clock_sd_ms * clock_z[k]
            d_ms = d_prev_ms if (not onsets and d_prev_ms is not None) else motor[k]
            onset_ms = pulse_ms + d_ms
            if onsets:
                onset_ms = max(onset_ms, onsets[-1] + min_gap_ms)
            onsets.append(onset_ms)
            if (n_max is not None and len(onsets) >= n_max) or onset_ms >= end_ms:
                return np.asarray(onsets)


def _enforce_min_gap(onsets_ms: np.ndarray, min_gap_ms: float) -> np.ndarray:
    """Push onsets later where needed so consecutive ones are at least ``min_gap_ms`` apart."""
    out = onsets_ms.copy()
    for i in range(1, out.size):
        out[i] = max(out[i], out[i - 1] + min_gap_ms)
    return out
