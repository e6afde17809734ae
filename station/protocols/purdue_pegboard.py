"""Purdue Pegboard, counted by the board's hole switches (when the wiring has enough holes).

Procedure (clinical-tests.md, "Purdue Pegboard", from the Lafayette 32020A manual): a board with
2 rows x 25 holes and cups of pins, washers and collars; the examiner says "Begin"; subtests
right hand, left hand and both hands of 30 s each, and assembly (pin, washer, collar, washer) of
60 s; 3-4 practice pins; three trials recommended. Scores: counts for R, L, both, R+L+both and
assemblies. Reliability is .37-.82 with one trial and .76-.89 with three (same manual), hence
``default_trials = 3``. The manual's 3-4 practice pins are placed before the timed trial at the
examiner's word; they are not a timed trial here (``default_practice = 0``).

Wiring. ``holes_per_column`` (25) holes per column: the first ``holes_per_column`` holes of the
configuration (in config order) are the right column, the next ``holes_per_column`` the left
column. The reference station has 9 holes and the Pi header has only 24 free lines, so a full
Purdue board (50 sensed holes) needs an I/O expander, which the hardware layer does not support
yet: :meth:`PurduePegboard.roles` refuses such a configuration with a message saying so. A board
with another ``holes_per_column`` runs, but it is not the standardized test (the score's detail
says so) and published norms do not apply to it.

On the station the go cue (buzzer) is the examiner's "Begin"; the window lasts ``duration_s`` from
the go cue and a stop beep marks its end. ``duration_s = 0`` means the manual's standard duration
for the subtest (30 s for right, left and both; 60 s for assembly).

Scoring (pure, from the events). A pin is placed in a hole when the hole's switch closes for the
first time at or after the go cue and before the window's end (go + duration); a hole closed
before the go cue, or closed again after a pin was pulled out, counts once at most.

* ``right`` / ``left``: ``pins_right`` / ``pins_left``, the holes of that column closed.
* ``both``: ``pins_right`` and ``pins_left``, each column's count, and ``pairs`` =
  min(pins_right, pins_left), the k-th pin of one column matched with the k-th of the other in
  time order. clinical-tests.md names the both-hands score only as a count ("both"); scoring it
  as pairs is our reading of the manual, not verified against it, which is why both sides'
  counts are reported too. ``pair_asynchrony_mean_s`` is the mean |right_k - left_k| over the
  pairs (a sensorized extra, not a manual score).
* ``assembly``: ``assemblies``, one per pin placed in the column of the tested hand (the left
  column when ``hand`` is "left", the right column otherwise). Washers and collars are not
  sensed, so this counts pins placed during the assembly subtest: an approximation (a started
  assembly counts as soon as its pin is in), flagged in the metric's detail.

``score`` repeats the subtest's count (pins, pairs or assemblies) so every subtest has one
headline and one summary (``mean_score``). Timing extras: ``first_pin_latency_s`` (go cue to the
first pin of the scored columns), and the intervals between successive pins (for ``both``:
between successive pairs, a pair being complete at its later pin; for ``assembly``: between
successive assemblies' pins) with ``pin_interval_mean_s`` and ``pin_interval_cv`` (sample SD /
mean, needs 2 intervals). R+L+both spans three battery steps and is left to the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Phase, Protocol, ProtocolError, TrialContext, mean_metrics, param
from station.records import Metric, TrialData

SUBTESTS = ("right", "left", "both", "assembly")
#: Standard window per subtest, s (clinical-tests.md, Lafayette 32020A manual: 30 s for right,
#: left and both hands; 60 s for assembly).
STANDARD_DURATION_S = {"right": 30.0, "left": 30.0, "both": 30.0, "assembly": 60.0}
#: Holes per column of the standard board (clinical-tests.md: 2 rows x 25 holes).
STANDARD_HOLES_PER_COLUMN = 25
#: Parts placed per assembly: pin, washer, collar, washer (clinical-tests.md).
PARTS_PER_ASSEMBLY = 4

INSTRUCTIONS = {
    "right": "With your right hand, take pins from the right cup one at a time and place them in "
    "the right column, top to bottom, as quickly as you can until the stop beep.",
    "left": "With your left hand, take pins from the left cup one at a time and place them in "
    "the left column, top to bottom, as quickly as you can until the stop beep.",
    "both": "With both hands at once, take a pin from each cup and place them in both columns, "
    "top to bottom, as quickly as you can until the stop beep.",
    "assembly": "Build assemblies as quickly as you can, using both hands in turn: a pin, a "
    "washer, a collar, a washer, then the next pin, until the stop beep.",
}


@dataclass(frozen=True)
class PurduePegboardParams:
    subtest: str = param("right", 'the subtest: "right", "left", "both" or "assembly"')
    duration_s: float = param(
        0.0,
        "length of the counting window from the go cue, s; 0 = the standard duration "
        "(Lafayette 32020A manual via clinical-tests.md: 30 s right/left/both, 60 s assembly)",
    )
    holes_per_column: int = param(
        25,
        "sensed holes per column (clinical-tests.md: 2 rows x 25); other values are not standard",
    )
    foreperiod_s: float = param(2.0, "from 'ready' (board empty) to the go cue, s (a setting)")
    ready_timeout_s: float = param(
        60.0, "how long to wait for the scored columns to be empty before the go cue, s"
    )

    def __post_init__(self) -> None:
        if self.subtest not in SUBTESTS:
            raise ValueError(f"subtest must be one of {', '.join(SUBTESTS)}, got {self.subtest!r}")
        if self.duration_s < 0 or self.foreperiod_s < 0:
            raise ValueError("duration_s (0 = standard) and foreperiod_s must be >= 0")
        if self.ready_timeout_s <= 0:
            raise ValueError("ready_timeout_s must be > 0")
        if (
            isinstance(self.holes_per_column, bool)
            or not isinstance(self.holes_per_column, int)
            or self.holes_per_column < 1
        ):
            raise ValueError(
                f"holes_per_column must be a whole number >= 1, got {self.holes_per_column!r}"
            )

    @property
    def window_s(self) -> float:
        return window_s(self.subtest, self.duration_s)


def window_s(subtest: str, duration_s: float) -> float:
    """The counting window, s: ``duration_s``, or the subtest's standard duration when 0."""
    return float(duration_s) if duration_s > 0 else STANDARD_DURATION_S[subtest]


def scored_columns(subtest: str, hand: str) -> tuple[str, ...]:
    """The columns ("right", "left") whose pins a subtest counts."""
    if subtest == "both":
        return ("right", "left")
    if subtest == "assembly":
        return ("left",) if hand == "left" else ("right",)
    return (subtest,)


@dataclass(frozen=True)
class PinScript:
    """What the virtual participant was scripted to do (simulated backend; for tests)."""

    go_t_ns: int
    window_end_ns: int
    insert_ns: dict[str, int]  # hole -> when its pin closed the switch (inside the window)
    clear_ns: dict[str, int]  # hole -> when the examiner pulled its pin after the stop beep
    last_edge_ns: int


class PurduePegboard(Protocol):
    name = "purdue_pegboard"
    version = "1.0"
    title = "Purdue Pegboard"
    key_metrics = ("score", "pin_interval_mean_s", "pin_interval_cv", "first_pin_latency_s")
    Params = PurduePegboardParams
    default_practice = 0  # the manual's 3-4 practice pins are untimed (module docstring)
    default_trials = 3  # clinical-tests.md: three trials recommended (Lafayette manual)
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Place the pieces one at a time, as quickly as you can, until the stop beep.",
        ),
        Phase("ready", "ready", "Clear the board and rest your hands beside it."),
        Phase("go", "go", "Begin!"),
        Phase("active", "active"),
        Phase("done", "done", "Stop."),
    )

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        p: PurduePegboardParams = self.params
        n = p.holes_per_column
        holes = config.holes
        if len(holes) < 2 * n:
            raise ProtocolError(
                f"the Purdue Pegboard needs {2 * n} sensed holes (2 columns of {n}); this "
                f"station's wiring has {len(holes)} — a Purdue board needs an I/O expander, "
                "which the hardware layer does not support yet"
            )
        if p.subtest in ("right", "left") and hand != p.subtest:
            raise ProtocolError(
                f'the Purdue Pegboard "{p.subtest}" subtest is given with the {p.subtest} hand; '
                f"this step names the {hand} hand"
            )
        if p.subtest == "both" and hand != "both":
            raise ProtocolError(
                f'the Purdue Pegboard "both" subtest needs hand "both"; this step names {hand!r}'
            )
        roles = {h.name: "hole:right" for h in holes[:n]}
        roles.update({h.name: "hole:left" for h in holes[n : 2 * n]})
        return roles

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: PurduePegboardParams = ctx.params
        roles = self.roles(ctx.config, ctx.hand)
        scored = _holes_of(roles, scored_columns(p.subtest, ctx.hand))
        ctx.enter("instructions")
        ctx.say(INSTRUCTIONS[p.subtest])
        ctx.enter("ready")
        if not ctx.wait_until(lambda: all(ctx.level(h) == 0 for h in scored), p.ready_timeout_s):
            ctx.notes.append("pins were in the board at the go cue (they are not counted)")
        buzzer = _buzzer(ctx.config)
        go = ctx.go(p.foreperiod_s, output=buzzer)
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        ctx.enter("active")
        end = go + round(p.window_s * NS_PER_S)
        ctx.cues.schedule(buzzer, max(end, ctx.now_ns()), round(0.2 * NS_PER_S), "stop")
        ctx.wait_until(lambda: ctx.now_ns() >= end, p.window_s + 1)
        ctx.run_for(0.1)  # let the last pin settle into an event
        _drain_simulation(ctx)
        ctx.enter("done")

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        """The virtual participant fills the scored column(s) top to bottom from a simple reaction
        time after the go cue until the window ends or the column is full.

        Each pin takes reach + grasp + transport + insert of the profile's ``[pegs]`` (a 9HPT
        peg's placement movements, log-normal with CV ``sd_fraction``; no removal phase, so a pin
        is faster than a 9HPT peg's full cycle), times ``hand_asymmetry`` for the non-dominant
        hand. ``both``: each row's two pins are drawn independently and the next row starts when
        the slower one is in. ``assembly``: each pin also waits for the previous assembly's
        other three parts, each costing one more pin time. These are simulation settings, not
        Purdue norms (with the healthy preset, about 1 s per pin: a 25-hole column may fill
        before 30 s). One second after the stop beep the examiner clears the board (pins pulled
        0.1 s apart), so the next trial starts on an empty board.
        """
        p: PurduePegboardParams = ctx.params
        roles = self.roles(ctx.config, ctx.hand)
        columns = [_holes_of(roles, (c,)) for c in scored_columns(p.subtest, ctx.hand)]
        pg, reaction = person.profile.pegs, person.profile.reaction
        rng = np.random.default_rng([int(person.seed), int(go_t_ns)])
        factor = pg.hand_asymmetry if ctx.person_hand == "non_dominant" else 1.0
        pin_ms = (pg.reach_ms + pg.grasp_ms + pg.transport_ms + pg.insert_ms) * factor

        def draw_ns(mean_ms: float) -> int:
            return round(_lognormal(rng, mean_ms, mean_ms * pg.sd_fraction) * 1_000_000)

        end = go_t_ns + round(p.window_s * NS_PER_S)
        t = go_t_ns + round(_lognormal(rng, reaction.simple_rt_ms, reaction.rt_sd_ms) * 1_000_000)
        insert_ns: dict[str, int] = {}
        for row in range(min(len(c) for c in columns)):
            times = [t + draw_ns(pin_ms) for _ in columns]
            for column, t_in in zip(columns, times, strict=True):
                if t_in < end:
                    insert_ns[column[row]] = t_in
            t = max(times)
            if p.subtest == "assembly":
                t += sum(draw_ns(pin_ms) for _ in range(PARTS_PER_ASSEMBLY - 1))
            if t >= end:
                break
        clear_ns = {hole: end + NS_PER_S + i * NS_PER_S // 10 for i, hole in enumerate(insert_ns)}
        last = go_t_ns
        for hole, t_in in insert_ns.items():
            edges = person.switch_edges(t_in, clear_ns[hole], contact="hole")
            spec = ctx.config.input(hole)
            ctx.rig.world.play_edges(spec.gpio, edges, active_low=spec.active_low)
            last = max(last, *(e[0] for e in edges))
        ctx.sim_truth = PinScript(go_t_ns, end, insert_ns, clear_ns, last)

    # -- scoring (pure) ----------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_purdue_pegboard(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        """The mean of each count and of the interval measures over the valid, non-practice
        trials (three recommended: reliability .76-.89 against .37-.82 for one)."""
        return mean_metrics(
            trials,
            [
                "score",
                "pins_right",
                "pins_left",
                "pairs",
                "assemblies",
                "pin_interval_mean_s",
                "pin_interval_cv",
            ],
        )


def _holes_of(roles: dict[str, str], columns: Sequence[str]) -> list[str]:
    return [ch for col in columns for ch, role in roles.items() if role == f"hole:{col}"]


def _lognormal(rng: np.random.Generator, mean: float, sd: float) -> float:
    """A log-normal draw with this mean and SD (the mean itself when sd <= 0)."""
    if sd <= 0:
        return mean
    sigma2 = math.log1p((sd / mean) ** 2)
    return float(rng.lognormal(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)))


def _buzzer(config: StationConfig) -> str:
    name = next((o.name for o in config.outputs if o.kind == "buzzer"), None)
    if name is None:
        raise ProtocolError("this test needs the buzzer for its go and stop beeps; none is wired")
    return name


def _drain_simulation(ctx: TrialContext) -> None:
    """Simulated: let the scripted board clearing play out inside this recording, so no pin is
    left in the board (or an edge pending) for the next trial on the same rig."""
    script = ctx.sim_truth
    if ctx.person is None or not isinstance(script, PinScript):
        return
    last_ns = script.last_edge_ns
    ctx.wait_until(lambda: ctx.now_ns() > last_ns, (last_ns - ctx.now_ns()) / NS_PER_S + 1)


def _intervals(times_ns: Sequence[int]) -> list[Metric]:
    iv = np.diff(np.asarray(times_ns, dtype=np.int64)) / NS_PER_S
    if iv.size == 0:
        why = "no interval (fewer than 2 pins)"
        return [
            Metric("pin_interval_mean_s", None, "s", why),
            Metric("pin_interval_cv", None, "1", why),
        ]
    mean = float(iv.mean())
    cv = float(iv.std(ddof=1) / mean) if iv.size >= 2 and mean > 0 else None
    return [
        Metric("pin_interval_mean_s", mean, "s"),
        Metric("pin_interval_cv", cv, "1", "" if cv is not None else "one interval only"),
    ]


def score_purdue_pegboard(data: TrialData) -> list[Metric]:
    """Metrics of one Purdue Pegboard trial from its events (see the module docstring)."""
    params = data.params
    subtest = str(params.get("subtest", "right"))
    n_per_column = int(params.get("holes_per_column", STANDARD_HOLES_PER_COLUMN))
    window_ns = round(window_s(subtest, float(params.get("duration_s", 0.0))) * NS_PER_S)
    go = data.go_t_ns
    if go is None:
        return [Metric("score", None, "1", "no go cue recorded")]
    if data.status != "complete":
        return [Metric("score", None, "1", f"trial did not complete ({data.status})")]
    end = go + window_ns
    if data.end_t_ns < end:
        return [Metric("score", None, "1", "the recording ended before the window closed")]

    def pins(column: str) -> list[int]:
        """Sorted first-insert times of the column's holes inside the window."""
        out = []
        for hole in data.channels_with_role(f"hole:{column}"):
            t = min(
                (
                    e.t_ns
                    for e in data.events
                    if e.channel == hole and e.level == 1 and e.t_ns >= go
                ),
                default=None,
            )
            if t is not None and t < end:
                out.append(t)
        return sorted(out)

    def ceiling(count: int) -> str:
        return (
            f"every hole of the column was filled ({count}): the count hit the board's ceiling"
            if count >= n_per_column
            else ""
        )

    standard = (
        ""
        if n_per_column == STANDARD_HOLES_PER_COLUMN
        else f"non-standard board ({n_per_column} holes per column): norms do not apply"
    )

    def joined(*parts: str) -> str:
        return "; ".join(x for x in parts if x)

    metrics: list[Metric] = []
    if subtest == "both":
        right, left = pins("right"), pins("left")
        n_pairs = min(len(right), len(left))
        pair_times = [max(r, left_t) for r, left_t in zip(right, left, strict=False)]
        asynchrony = [abs(r - left_t) / NS_PER_S for r, left_t in zip(right, left, strict=False)]
        what = "pairs: min(pins_right, pins_left) (both sides' counts are reported too)"
        metrics += [
            Metric("score", float(n_pairs), "1", joined(what, standard)),
            Metric("pairs", float(n_pairs), "1", what),
            Metric("pins_right", float(len(right)), "1", ceiling(len(right))),
            Metric("pins_left", float(len(left)), "1", ceiling(len(left))),
            Metric(
                "pair_asynchrony_mean_s",
                float(np.mean(asynchrony)) if asynchrony else None,
                "s",
                "" if asynchrony else "no pair",
            ),
        ]
        first = min([*right, *left], default=None)
        timed = pair_times
    elif subtest == "assembly":
        column = scored_columns(subtest, data.hand)[0]
        placed = pins(column)
        what = (
            f"pins placed in the {column} column during assembly; washers and collars are not "
            "sensed, so each pin counts as one assembly (an approximation)"
        )
        metrics += [
            Metric("score", float(len(placed)), "1", joined(what, standard)),
            Metric("assemblies", float(len(placed)), "1", joined(what, ceiling(len(placed)))),
        ]
        first = placed[0] if placed else None
        timed = placed
    else:
        placed = pins(subtest)
        metrics += [
            Metric(
                "score",
                float(len(placed)),
                "1",
                joined(f"pins placed in the {subtest} column", standard),
            ),
            Metric(f"pins_{subtest}", float(len(placed)), "1", ceiling(len(placed))),
        ]
        first = placed[0] if placed else None
        timed = placed
    metrics.append(
        Metric(
            "first_pin_latency_s",
            (first - go) / NS_PER_S if first is not None else None,
            "s",
            "" if first is not None else "no pin placed",
        )
    )
    return metrics + _intervals(timed)
