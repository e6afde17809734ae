"""Nine-Hole Peg Test (9HPT), timed by the board.

Procedure (clinical-tests.md): nine pegs from a container on the tested hand's side into nine holes
and back, as fast as possible; the other hand may steady the board. The NIH Toolbox version has a
practice trial and the hand flat until "Go"; MSFC: 2 trials per hand, hand score = their mean; a
300 s limit is common (SMARTMarkers). Sensorized versions report placement and removal phases
(Koyama 2011; openEHR's "interim time" after the last peg is placed).

On the station the hand rests on the home pad; after the go cue the trial starts at lift-off
(``start_rule = "liftoff"``) or at the go cue itself (``"go"``, a stopwatch-like start). The
classic rule starts at the first peg touch, which needs a sensor on the peg container: the
reference wiring has none, so that rule is not offered. The trial stops when the ninth peg lands
in the dish (dish-pad impact after the ninth removal), or, where there is no dish pad, at the
return to the home pad after the ninth removal.

Metrics: ``total_time_s``, ``placement_time_s`` (start to ninth insert), ``removal_time_s``
(ninth insert to stop), ``reaction_time_s`` (go cue to lift-off), per-peg insert and remove
intervals with their means and CVs, ``pegs_per_s`` (9 pegs / total time: the "speed" MS PATHS
found more reliable than time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Phase, Protocol, ProtocolError, TrialContext, mean_metrics, param
from station.records import Metric, TrialData

N_PEGS = 9


@dataclass(frozen=True)
class NineHolePegParams:
    time_limit_s: float = param(
        300.0, "trial stops and is flagged 'timeout' after this long, s (SMARTMarkers: 300 s)"
    )
    start_rule: str = param(
        "liftoff", 'when timing starts: "liftoff" (hand leaves the home pad) or "go" (the go cue)'
    )
    foreperiod_s: float = param(2.0, "from 'ready' (hand on the home pad) to the go cue, s")
    ready_timeout_s: float = param(60.0, "how long to wait for the hand on the home pad, s")

    def __post_init__(self) -> None:
        if self.start_rule not in ("liftoff", "go"):
            raise ValueError(f'start_rule must be "liftoff" or "go", got {self.start_rule!r}')
        if self.time_limit_s <= 0 or self.foreperiod_s < 0 or self.ready_timeout_s <= 0:
            raise ValueError("time_limit_s and ready_timeout_s must be > 0, foreperiod_s >= 0")


class NineHolePeg(Protocol):
    name = "nine_hole_peg"
    version = "1.0"
    title = "Nine-Hole Peg Test"
    key_metrics = ("total_time_s", "placement_time_s", "removal_time_s", "reaction_time_s")
    Params = NineHolePegParams
    default_practice = 1
    default_trials = 2
    phases = (
        Phase(
            "instructions",
            "instructions",
            "Pick up the pegs one at a time, put them into the holes as quickly as you can, then take "
            "them out one at a time and drop them into the dish.",
        ),
        Phase("ready", "ready", "Rest your hand flat on the home pad."),
        Phase("go", "go", "Go!"),
        Phase("active", "active"),
        Phase("done", "done", "Done."),
    )

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        holes = config.holes
        if len(holes) < N_PEGS:
            raise ProtocolError(
                f"the Nine-Hole Peg Test needs 9 holes; the configuration has {len(holes)}"
            )
        roles = {h.name: "hole" for h in holes[:N_PEGS]}
        for pad in config.pads:
            if pad.kind in ("home", "dish"):
                roles[pad.name] = f"pad:{pad.kind}"
        return roles

    # -- running ---------------------------------------------------------------------------------
    def run(self, ctx: TrialContext) -> None:
        p: NineHolePegParams = ctx.params
        roles = self.roles(ctx.config, ctx.hand)
        holes = [ch for ch, r in roles.items() if r == "hole"]
        home = next((ch for ch, r in roles.items() if r == "pad:home"), None)
        dish = next((ch for ch, r in roles.items() if r == "pad:dish"), None)
        ctx.enter("instructions")
        ctx.enter("ready")
        if home is not None and ctx.person is not None:
            self._place_hand(ctx, home)
        if home is not None and not ctx.wait_until(lambda: ctx.level(home) == 1, p.ready_timeout_s):
            ctx.notes.append("the hand was not on the home pad at the go cue")
        go = ctx.go(p.foreperiod_s)
        ctx.wait_until(lambda: ctx.now_ns() >= go, p.foreperiod_s + 1)
        ctx.enter("go")
        ctx.enter("active")

        def finished() -> bool:
            removed = [
                ch for ch in holes if any(e.level == 0 and e.t_ns > go for e in ctx.events(ch))
            ]
            if len(removed) < N_PEGS:
                return False
            last_removal = max(e.t_ns for ch in holes for e in ctx.events(ch, 0))
            end_channel = dish if dish is not None else home
            if end_channel is None:
                return True
            return any(e.t_ns > last_removal for e in ctx.events(end_channel, 1))

        if not ctx.wait_until(finished, p.time_limit_s):
            ctx.status = "timeout"
            ctx.notes.append(f"not finished within {p.time_limit_s:g} s")
        ctx.run_for(0.1)  # let the last press settle into an event
        ctx.enter("done")

    @staticmethod
    def _place_hand(ctx: TrialContext, home: str) -> None:
        """Simulated: the participant rests the hand on the home pad before the go cue."""
        rest_n = ctx.person.profile.pegs.home_rest_force_n
        ctx.rig.sim_pads[home].force = lambda t_ns, f=rest_n: f

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        roles = self.roles(ctx.config, ctx.hand)
        holes = [ch for ch, r in roles.items() if r == "hole"]
        script = person.pegboard(go_t_ns, holes, ctx.person_hand)
        for hole in holes:
            ctx.rig.world.play_edges(ctx.config.input(hole).gpio, script.hole_edges[hole])
        for ch, role in roles.items():
            if role == "pad:home":
                ctx.rig.sim_pads[ch].force = script.home_force
            elif role == "pad:dish":
                ctx.rig.sim_pads[ch].force = script.dish_force
        ctx.sim_truth = script

    # -- scoring (pure) ----------------------------------------------------------------------------
    def score(self, data: TrialData) -> list[Metric]:
        return score_nine_hole_peg(data)

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        return mean_metrics(
            trials, ["total_time_s", "placement_time_s", "removal_time_s", "pegs_per_s"]
        )


def _cv(x: np.ndarray) -> float | None:
    if len(x) < 2 or x.mean() == 0:
        return None
    return float(x.std(ddof=1) / x.mean())


def score_nine_hole_peg(data: TrialData) -> list[Metric]:
    """Metrics of one 9HPT trial from its events (see the module docstring)."""
    params = data.params
    holes = data.channels_with_role("hole")
    home = next(iter(data.channels_with_role("pad:home")), None)
    dish = next(iter(data.channels_with_role("pad:dish")), None)
    go = data.go_t_ns
    missing = "trial did not complete" if data.status != "complete" else ""
    if go is None:
        return [Metric("total_time_s", None, "s", "no go cue recorded")]

    def first_after(channel: str | None, level: int, t: int) -> int | None:
        if channel is None:
            return None
        times = [
            e.t_ns for e in data.events if e.channel == channel and e.level == level and e.t_ns > t
        ]
        return min(times) if times else None

    liftoff = first_after(home, 0, go)
    start = (
        liftoff if params.get("start_rule", "liftoff") == "liftoff" and liftoff is not None else go
    )
    inserts = sorted(t for t in (first_after(h, 1, go) for h in holes) if t is not None)
    removes = sorted(t for t in (first_after(h, 0, go) for h in holes) if t is not None)
    metrics: list[Metric] = [
        Metric(
            "reaction_time_s",
            (liftoff - go) / NS_PER_S if liftoff is not None else None,
            "s",
            "" if liftoff is not None else "no home pad lift-off recorded",
        ),
        Metric("pegs_inserted", float(len(inserts)), "1"),
        Metric("pegs_removed", float(len(removes)), "1"),
    ]
    complete = len(inserts) == N_PEGS and len(removes) == N_PEGS
    end = None
    if complete:
        end_channel = dish if dish is not None else home
        end = first_after(end_channel, 1, removes[-1]) if end_channel is not None else removes[-1]
    if not complete or end is None or missing:
        why = missing or (
            "not all pegs were placed and removed" if not complete else "no final dish impact"
        )
        metrics += [
            Metric(n, None, "s", why)
            for n in ("total_time_s", "placement_time_s", "removal_time_s")
        ]
        return metrics
    total_s = (end - start) / NS_PER_S
    insert_iv = np.diff(np.array([start, *inserts], dtype=np.int64)) / NS_PER_S
    remove_iv = np.diff(np.array([inserts[-1], *removes], dtype=np.int64)) / NS_PER_S
    metrics += [
        Metric("total_time_s", total_s, "s"),
        Metric("placement_time_s", (inserts[-1] - start) / NS_PER_S, "s"),
        Metric("removal_time_s", (end - inserts[-1]) / NS_PER_S, "s"),
        Metric("pegs_per_s", N_PEGS / total_s, "/s"),
        Metric("insert_interval_mean_s", float(insert_iv.mean()), "s"),
        Metric("insert_interval_cv", _cv(insert_iv), "1"),
        Metric("remove_interval_mean_s", float(remove_iv.mean()), "s"),
        Metric("remove_interval_cv", _cv(remove_iv), "1"),
    ]
    metrics += [
        Metric(f"insert_interval_{i + 1}_s", float(v), "s") for i, v in enumerate(insert_iv)
    ]
    metrics += [
        Metric(f"remove_interval_{i + 1}_s", float(v), "s") for i, v in enumerate(remove_iv)
    ]
    return metrics
