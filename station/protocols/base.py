"""What every protocol module provides, and the context a trial runs in.

A protocol module defines one subclass of :class:`Protocol` with

* ``name``, ``version``, ``title``;
* ``Params``: a frozen dataclass whose field names carry units (``time_limit_s``), each with a
  ``doc`` in its metadata;
* ``phases``: the :class:`Phase` sequence the trial goes through (instructions, ready, go, active,
  rest, done); the runner (CLI or kiosk) is told each entry and exit;
* ``roles(config, hand, params)``: the channels it listens to and what each is;
* ``run(ctx)``: the trial's entry/exit actions on a :class:`TrialContext` (cues, waiting for
  events, stop conditions), the same code for the terminal runner, the kiosk and the simulator;
* ``simulate(ctx, person, go_t_ns)``: what the virtual participant does (simulated backend only);
* ``score(data)``: a **pure** function from the raw :class:`~station.records.TrialData` to
  metrics, so metrics can always be recomputed from stored raw data;
* ``summarize(trials)``: metrics per hand over a battery step's trials (e.g. the mean of two).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.errors import StationError
from station.records import Metric, TrialData

PHASE_KINDS = ("instructions", "ready", "go", "active", "rest", "done")


class ProtocolError(StationError):
    """A protocol was given parameters or a situation it cannot work with."""


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str  # one of PHASE_KINDS
    text: str = ""


def param(default: Any, doc: str, **kwargs: Any) -> Any:
    """A parameter field: its default and what it means (with its unit)."""
    return field(default=default, metadata={"doc": doc, **kwargs})


class Protocol:
    name: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    Params: ClassVar[type]
    phases: ClassVar[tuple[Phase, ...]]
    #: The metrics shown first when a trial is reported (name order); others follow in the record.
    key_metrics: ClassVar[tuple[str, ...]] = ()
    #: Default counts for a battery step.
    default_practice: ClassVar[int] = 0
    default_trials: ClassVar[int] = 1

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()

    # -- parameters --------------------------------------------------------------------------------
    @classmethod
    def make_params(cls, values: dict[str, Any], where: str = "") -> Any:
        """Build ``Params`` from a TOML table, refusing unknown keys and wrong types clearly."""
        known = {f.name: f for f in fields(cls.Params)}
        prefix = f"{where}: " if where else ""
        for key in values:
            if key not in known:
                raise ProtocolError(
                    f"{prefix}{cls.name} has no parameter {key!r} (known: {', '.join(sorted(known))})"
                )
        converted: dict[str, Any] = {}
        for key, value in values.items():
            default = known[key].default
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int | float):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                value = type(default)(value) if ok and isinstance(default, float) else value
            elif isinstance(default, str):
                ok = isinstance(value, str)
            elif isinstance(default, tuple):
                ok = isinstance(value, list)
                value = tuple(value) if ok else value
            else:
                ok = True
            if not ok:
                raise ProtocolError(
                    f"{prefix}{cls.name} parameter {key!r} must be like {default!r}, got {value!r}"
                )
            converted[key] = value
        try:
            return cls.Params(**converted)
        except (ValueError, TypeError) as exc:
            raise ProtocolError(f"{prefix}{cls.name}: {exc}") from None

    @classmethod
    def describe_params(cls) -> list[tuple[str, Any, str]]:
        return [(f.name, f.default, f.metadata.get("doc", "")) for f in fields(cls.Params)]

    @classmethod
    def protocol_hash(cls) -> str:
        """A hash of the protocol's source: stored with each trial so a changed protocol shows."""
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
        return hashlib.sha256(source.encode()).hexdigest()[:16]

    def params_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self.params).items()
        }

    # -- to implement ------------------------------------------------------------------------------
    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        raise NotImplementedError

    def pads(self, config: StationConfig, hand: str) -> list[str]:
        return [ch for ch, role in self.roles(config, hand).items() if role.startswith("pad")]

    def inputs(self, config: StationConfig, hand: str) -> list[str]:
        return [ch for ch, role in self.roles(config, hand).items() if not role.startswith("pad")]

    def run(self, ctx: TrialContext) -> None:
        raise NotImplementedError

    def simulate(self, ctx: TrialContext, person: Any, go_t_ns: int) -> None:
        raise NotImplementedError

    def score(self, data: TrialData) -> list[Metric]:
        raise NotImplementedError

    def summarize(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> list[Metric]:
        """Default: the mean of every metric over the valid, non-practice trials."""
        return mean_metrics(trials)

    def needs_more_trials(self, trials: Sequence[tuple[TrialData, list[Metric]]]) -> bool:
        """After the planned trials: should another one be run (e.g. the tapping test's spread rule)?"""
        return False

    @classmethod
    def adapt_params(
        cls, params: Any, earlier: dict[tuple[str, str], list[Metric]], hand: str
    ) -> Any:
        """Fill parameters from results earlier in the session (``earlier[(protocol, hand)]``
        holds that step's summary), e.g. a target as a percentage of the maximal force."""
        return params


def mean_metrics(
    trials: Sequence[tuple[TrialData, list[Metric]]], names: Sequence[str] | None = None
) -> list[Metric]:
    valid = [m for d, m in trials if not d.practice and d.status == "complete"]
    if not valid:
        return []
    out: list[Metric] = []
    for metric in valid[0]:
        if names is not None and metric.name not in names:
            continue
        values = [
            x.value for ms in valid for x in ms if x.name == metric.name and x.value is not None
        ]
        value = sum(values) / len(values) if values else None
        out.append(
            Metric(f"mean_{metric.name}", value, metric.unit, f"mean of {len(values)} trials")
        )
    return out


Say = Callable[[str], None]


class TrialContext:
    """What a protocol's ``run`` works with: the recorder, the clock, cues, time passing.

    ``wait_until`` lets time pass until a condition holds or a timeout: on the simulated backend
    it runs the simulation (as fast as possible, or in step with the host clock); on a Pi it waits.
    """

    def __init__(
        self,
        *,
        protocol: Protocol,
        recorder: Any,
        hand: str,
        person_hand: str,
        practice: bool,
        say: Say,
        on_phase: Callable[[Phase, str], None] | None = None,
        person: Any = None,
        pacer: Pacer | None = None,
    ):
        self.protocol = protocol
        self.params = protocol.params
        self.recorder = recorder
        self.rig = recorder.rig
        self.config: StationConfig = recorder.rig.config
        self.clock = recorder.clock
        self.cues = recorder.cues
        self.hand = hand
        self.person_hand = person_hand
        self.practice = practice
        self.say = say
        self.person = person
        self.pacer = pacer
        self._on_phase = on_phase
        self.go_t_ns: int | None = None
        self.sim_truth: Any = None  # what the virtual participant was scripted to do (tests)
        self.status = "complete"
        self.notes: list[str] = []
        self.phase: Phase | None = None

    def enter(self, name: str) -> Phase:
        """Enter the named phase (exit of the previous one is announced first)."""
        phase = next(p for p in self.protocol.phases if p.name == name)
        if self.phase is not None and self._on_phase is not None:
            self._on_phase(self.phase, "exit")
        self.phase = phase
        if self._on_phase is not None:
            self._on_phase(phase, "enter")
        if phase.text:
            self.say(phase.text)
        return phase

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def run_for(self, duration_s: float) -> None:
        self.wait_until(lambda: False, duration_s)

    def wait_until(
        self, condition: Callable[[], bool], timeout_s: float, step_s: float = 0.01
    ) -> bool:
        """Let time pass until ``condition()`` is true (True) or ``timeout_s`` has passed (False)."""
        deadline = self.clock.now_ns() + round(timeout_s * NS_PER_S)
        world = self.rig.world
        while True:
            if condition():
                return True
            now = self.clock.now_ns()
            if now >= deadline:
                return False
            step_ns = min(round(step_s * NS_PER_S), deadline - now)
            if world is not None:
                world.run_until(now + step_ns)
                if self.pacer is not None:
                    self.pacer.pace(self.clock.now_ns())
            else:
                self.recorder.core.pump()
                _sleep_ns(step_ns)

    def go(
        self, delay_s: float, output: str = "buzzer", beep_s: float = 0.2, led: str | None = None
    ) -> int:
        """Schedule the go cue ``delay_s`` from now; returns its time. The virtual participant
        (simulated backend) is told now, so it can act on the cue."""
        t_go = self.clock.now_ns() + round(delay_s * NS_PER_S)
        self.cues.schedule(output, t_go, round(beep_s * NS_PER_S), "go")
        if led is not None:
            self.cues.schedule(led, t_go, round(beep_s * NS_PER_S), "go")
        self.go_t_ns = t_go
        if self.person is not None:
            self.protocol.simulate(self, self.person, t_go)
        return t_go

    def level(self, channel: str) -> int:
        return self.recorder.core.level(channel)

    def events(self, channel: str | None = None, level: int | None = None) -> list[Any]:
        return [
            e
            for e in self.recorder.events
            if (channel is None or e.channel == channel) and (level is None or e.level == level)
        ]


class Pacer:
    """Keeps a simulation in step with the host clock (a demonstration in real time)."""

    def __init__(self) -> None:
        self._origin: tuple[int, int] | None = None

    def pace(self, virtual_now_ns: int) -> None:
        host_now = time.monotonic_ns()
        if self._origin is None:
            self._origin = (virtual_now_ns, host_now)
        v0, h0 = self._origin
        ahead_ns = (virtual_now_ns - v0) - (host_now - h0)
        if ahead_ns > 0:
            time.sleep(ahead_ns / NS_PER_S)


def _sleep_ns(duration_ns: int) -> None:
    threading.Event().wait(duration_ns / NS_PER_S)
