"""Helpers shared by the force protocols (max_force, force_steadiness, force_tracking,
finger_individuation): which pad and LED belong to a finger, the force go cue, reading go cues
back from the record, uniform resampling, windowed peaks, and the session's maximal force."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import NS_PER_S
from station.config import StationConfig
from station.protocols.base import Protocol, ProtocolError, TrialContext
from station.records import Metric, TrialData

#: Fingers that have a force pad on the station (the thumb has a button, not a pad).
PAD_FINGERS = ("index", "middle", "ring", "little")
#: After the last effort the recording goes on this long, so the release is recorded, s.
RELEASE_S = 1.0
#: Length of the go beep on the buzzer, s (the finger's LED stays lit for the whole effort).
BEEP_S = 0.2


# -- helpers shared by the force protocols -------------------------------------------------------
def finger_pad(config: StationConfig, finger: str) -> str:
    """The name of the force pad under ``finger``."""
    for pad in config.pads:
        if pad.kind == "finger" and pad.finger == finger:
            return pad.name
    raise ProtocolError(f"the configuration has no force pad for the {finger} finger")


def finger_led(config: StationConfig, finger: str) -> str | None:
    """The cue LED of ``finger``'s button, if the station has one."""
    for button in config.buttons:
        if button.finger == finger and button.led is not None:
            return button.led
    return None


def buzzer_output(config: StationConfig) -> str | None:
    return next((o.name for o in config.outputs if o.kind == "buzzer"), None)


def check_pad_finger(finger: str) -> None:
    if finger not in PAD_FINGERS:
        raise ValueError(f"finger must be one of {', '.join(PAD_FINGERS)}, got {finger!r}")


def force_go(ctx: TrialContext, finger: str, delay_s: float, lit_s: float) -> int:
    """The go cue of a force task ``delay_s`` from now: a beep on the buzzer and ``finger``'s LED
    lit for ``lit_s`` (the effort), the LED's cue kind being ``go:<finger>``. Returns the go time.

    The virtual participant is told inside ``ctx.go`` (before the LED is scheduled)."""
    buzzer = buzzer_output(ctx.config)
    led = finger_led(ctx.config, finger)
    if buzzer is not None:
        go = ctx.go(delay_s, output=buzzer, beep_s=BEEP_S)
        if led is not None:
            ctx.cues.schedule(led, go, round(lit_s * NS_PER_S), f"go:{finger}")
        return go
    if led is not None:
        return ctx.go(delay_s, output=led, beep_s=lit_s)
    raise ProtocolError("a force task needs a buzzer or the finger's LED for its go cue")


def go_cues(data: TrialData) -> list[tuple[int, str | None]]:
    """``(onset_ns, finger)`` of each go cue in time order: the earliest measured onset of the
    cues scheduled together (beep and LED), and the finger named by a ``go:<finger>`` LED cue."""
    groups: dict[int, list[Any]] = {}
    for cue in data.cues:
        if cue.kind == "go" or cue.kind.startswith("go:"):
            groups.setdefault(cue.scheduled_on_ns, []).append(cue)
    out: list[tuple[int, str | None]] = []
    for _, cues in sorted(groups.items()):
        finger = next((c.kind.split(":", 1)[1] for c in cues if c.kind.startswith("go:")), None)
        out.append((min(c.onset_ns for c in cues), finger))
    return out


def pad_force(data: TrialData, pad: str) -> tuple[np.ndarray, np.ndarray]:
    """``(t_ns, force_n)`` of a pad, from its stored codes and calibration."""
    samples = data.samples.get(pad)
    if samples is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.asarray(samples.t_ns, dtype=np.int64), samples.force_n()


def in_window(t_ns: np.ndarray, t0_ns: int, t1_ns: int) -> np.ndarray:
    """Mask of samples with ``t0_ns <= t < t1_ns``."""
    return (t_ns >= t0_ns) & (t_ns < t1_ns)


@dataclass(frozen=True)
class Uniform:
    """Force on a uniform time grid: ``values[k]`` at ``t0_ns + k * dt_ns``."""

    values: np.ndarray
    t0_ns: int
    dt_ns: int

    @property
    def fs_hz(self) -> float:
        return NS_PER_S / self.dt_ns

    @property
    def duration_s(self) -> float:
        return self.values.size * self.dt_ns / NS_PER_S

    def times_ns(self) -> np.ndarray:
        return self.t0_ns + np.arange(self.values.size, dtype=np.int64) * self.dt_ns


def uniform_window(t_ns: np.ndarray, force: np.ndarray, t0_ns: int, t1_ns: int) -> Uniform:
    """The force in ``[t0_ns, t1_ns)`` on a uniform grid from its first sample at the median
    sample interval (linear interpolation across any gap). Empty when fewer than 3 samples fall in
    the window."""
    sel = in_window(t_ns, t0_ns, t1_ns)
    ts = t_ns[sel]
    dt_ns = int(np.median(np.diff(ts))) if ts.size >= 3 else 0
    if dt_ns <= 0:
        return Uniform(np.zeros(0), t0_ns, 1)
    grid = np.arange(0, int(ts[-1] - ts[0]) + 1, dt_ns, dtype=np.int64)
    values = np.interp(grid.astype(np.float64), (ts - ts[0]).astype(np.float64), force[sel])
    return Uniform(values, int(ts[0]), dt_ns)


def windowed_peak(t_ns: np.ndarray, force: np.ndarray, window_s: float) -> float | None:
    """The highest mean force over any ``window_s`` span of the (uniformly resampled) samples;
    the highest sample when the record is shorter than the window."""
    if t_ns.size == 0:
        return None
    grid = uniform_window(t_ns, force, int(t_ns[0]), int(t_ns[-1]) + 1)
    values = grid.values
    if values.size == 0:
        return float(force.max())
    n = max(1, round(window_s * grid.fs_hz))
    if values.size < n:
        return float(values.mean())
    csum = np.concatenate(([0.0], np.cumsum(values)))
    return float(np.max(csum[n:] - csum[:-n]) / n)


def max_force_or_fallback(params: Any) -> float:
    """The maximal force a percentage target refers to: the measured one when the runner filled
    ``max_force_n``, else the station's ``fallback_max_force_n``."""
    get = params.get if isinstance(params, dict) else lambda k, d=None: getattr(params, k, d)
    measured = float(get("max_force_n", 0.0) or 0.0)
    return measured if measured > 0 else float(get("fallback_max_force_n", 0.0))


@dataclass(frozen=True)
class SimEffort:
    """What the virtual participant was scripted to do for one effort (tests)."""

    go_t_ns: int
    start_t_ns: int
    duration_s: float
    finger: str
    trace: Any  # hardware.sim.participant.ForceTrace


def with_session_max_force(
    params: Any, earlier: dict[tuple[str, str], list[Metric]], hand: str
) -> Any:
    """``params`` with ``max_force_n`` from this session's max_force result for ``hand``, when the
    battery left it at 0 and a max_force step ran earlier (its summary ``best_max_force_n``)."""
    if getattr(params, "max_force_n", 1.0):
        return params
    for metric in earlier.get(("max_force", hand), []):
        if metric.name == "best_max_force_n" and metric.value:
            return dataclasses.replace(params, max_force_n=float(metric.value))
    return params


class PercentOfMaxForceProtocol(Protocol):
    """A force protocol on the instructed finger's pad whose targets are a percentage of the
    session's maximal force (steadiness, tracking, individuation)."""

    def __init__(self, params: Any = None):
        super().__init__(params)
        self.go_t_ns: int | None = None

    @classmethod
    def adapt_params(
        cls, params: Any, earlier: dict[tuple[str, str], list[Metric]], hand: str
    ) -> Any:
        return with_session_max_force(params, earlier, hand)

    def roles(self, config: StationConfig, hand: str) -> dict[str, str]:
        finger = self.params.finger
        return {finger_pad(config, finger): f"pad:{finger}"}
