"""A recording: the station's inputs, outputs and pads opened on a rig, with everything kept.

:class:`Recorder` wires each configured switch to the timing core through a driver-stamped
:class:`~hardware.gpio.InputLine`, each used ADC to an :class:`~hardware.adc.AdsReader`, each pad
to a :class:`~station.force.PadStream`, and keeps the debounced events, gaps and faults, the
wall-clock anchor and the provenance. On the simulated backend the simulation loop drives the
consumers in virtual time; on real hardware they run on their own threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from hardware.adc import AdsReader
from hardware.clock import NS_PER_S
from hardware.gpio import InputLine, OutputLine
from station.calibration import PadCalibration, load_calibrations
from station.cues import CueScheduler
from station.force import PadStream
from station.rig import Rig
from station.timing import Event, EventCore

log = logging.getLogger("station.recorder")


@dataclass(frozen=True)
class Fault:
    t_ns: int
    source: str
    message: str


@dataclass(frozen=True)
class WallAnchor:
    """One monotonic <-> UTC pair per recording: ``utc_ns = wall_ns + (t_ns - mono_ns)``."""

    mono_ns: int
    wall_ns: int
    uncertainty_ns: int

    def to_utc_ns(self, t_ns: int) -> int:
        return self.wall_ns + (t_ns - self.mono_ns)


def take_anchor(clock: Any) -> WallAnchor:
    """Read the wall clock between two monotonic reads; the anchor is their midpoint."""
    before = clock.now_ns()
    wall = clock.wall_ns()
    after = clock.now_ns()
    return WallAnchor((before + after) // 2, wall, after - before)


class Recorder:
    """Record from a rig.

    :param rig: the opened hardware.
    :param pads: names of the pads to sample (default all). A chip with one used pad runs the
        fast continuous path; several used pads on one chip are scanned.
    :param inputs: names of the switches to open (default all).
    """

    def __init__(
        self, rig: Rig, *, pads: Iterable[str] | None = None, inputs: Iterable[str] | None = None
    ):
        cfg = rig.config
        self.rig = rig
        self.clock = rig.clock
        self.core = EventCore(rig.clock, cfg.timing.queue_capacity, cfg.timing.chatter_edges_per_s)
        self.events: list[Event] = []
        self.faults: list[Fault] = []
        self._fault_lock = threading.Lock()
        self.core.subscribe(self.events.append)
        self.core.on_fault(self._fault)
        self.anchor = take_anchor(rig.clock)

        input_specs = cfg.inputs if inputs is None else [cfg.input(n) for n in inputs]
        self.inputs: dict[str, InputLine] = {}
        for spec in input_specs:
            self.core.add_channel(spec.name, spec.min_on_ns, spec.min_off_ns)
            line = InputLine(
                rig.factory,
                spec.gpio,
                pull=spec.pull,
                active_low=spec.active_low,
                on_edge=self.core.ingress(spec.name),
            )
            self.inputs[spec.name] = line
            if line.active:
                self._set_initial_level(spec.name, spec.kind)

        self.outputs: dict[str, OutputLine] = {
            o.name: OutputLine(rig.factory, o.gpio, active_high=o.active_high) for o in cfg.outputs
        }
        loopbacks: dict[str, str] = {}
        for o in cfg.outputs:
            if o.loopback_gpio is not None:
                channel = f"{o.name}_loopback"
                self.core.add_channel(channel, 0, 0)
                self.inputs[channel] = InputLine(
                    rig.factory,
                    o.loopback_gpio,
                    pull="down",
                    active_low=not o.active_high,
                    on_edge=self.core.ingress(channel),
                )
                loopbacks[o.name] = channel
        self.cues = CueScheduler(rig.clock, self.outputs, loopbacks)
        self.core.subscribe(self.cues.on_event)

        calibrations = load_calibrations(cfg.data_dir)
        pad_specs = cfg.pads if pads is None else [cfg.pad(n) for n in pads]
        self.pads: dict[str, PadStream] = {}
        for spec in pad_specs:
            self.core.add_channel(spec.name, spec.min_on_ns, spec.min_off_ns)
            self.pads[spec.name] = PadStream(
                spec,
                cfg.adc(spec.adc).gain,
                calibrations.get(spec.name, PadCalibration()),
                self.core.ingress(spec.name),
            )
        uncalibrated = [n for n, p in self.pads.items() if not p.calibration.calibrated]
        if uncalibrated:
            log.info(
                "uncalibrated pads (nominal sensitivity, force approximate): %s",
                ", ".join(uncalibrated),
            )

        self.readers: dict[str, AdsReader] = {}
        for adc in cfg.adcs:
            used = [s for s in pad_specs if s.adc == adc.name]
            if not used:
                continue
            by_channel = {s.channel: self.pads[s.name] for s in used}
            self.readers[adc.name] = AdsReader(
                name=adc.name,
                i2c=rig.i2c,
                chip=adc.chip,
                address=adc.address,
                gain=adc.gain,
                data_rate_sps=adc.data_rate_sps,
                channels=sorted(by_channel),
                clock=rig.clock,
                on_sample=lambda t, ch, code, m=by_channel: m[ch].add(t, code),
                on_gap=lambda ch, reason, n, t0, t1, m=by_channel: m[ch].add_gap(reason, n, t0, t1),
                on_fault=lambda msg, src=adc.name: self._fault(src, msg),
                rdy=(rig.factory, adc.rdy_gpio) if adc.rdy_gpio is not None else None,
            )
            reader = self.readers[adc.name]
            if reader.mode == "rdy":  # which clock stamped the RDY edges
                reader.timestamp_source = f"rdy_edge ({rig.provenance.timestamp_source})"
        self._started = False

    def _set_initial_level(self, name: str, kind: str) -> None:
        """A switch already closed at start: its channel starts active, and a person is told."""
        self.core.set_initial_level(name, 1)
        what = "a peg is already in it" if kind == "hole" else "held down or stuck"
        self._fault(
            name, f"{name} is closed at start ({what}); it is reported as active until released"
        )

    def _fault(self, source: str, message: str) -> None:
        with self._fault_lock:
            self.faults.append(Fault(self.clock.now_ns(), source, message))
        log.warning("%s", message)

    # -- running ---------------------------------------------------------------------------------
    def open_adcs(self) -> None:
        """Configure every used ADC; a missing chip is a fault, probed again, the others carry on.

        Counting starts once all are configured: conversions a chip finished while the next one
        was being set up belong to no recording and are not gaps.
        """
        for reader in self.readers.values():
            reader.open()
        t_start = self.clock.now_ns()
        for reader in self.readers.values():
            reader.begin(t_start)

    def start(self) -> None:
        if self._started:
            return
        self.open_adcs()
        world = self.rig.world
        if world is not None:
            world.add_pump(self.core)
            for reader in self.readers.values():
                world.add_pump(reader)
            world.add_pump(self.cues)
        else:
            self.core.start()
            for reader in self.readers.values():
                reader.start()
            self.cues.start()
        self._started = True

    def run_for(self, duration_s: float) -> None:
        """Let time pass while recording: virtual time on the simulator, real time on a Pi."""
        if self.rig.world is not None:
            self.rig.world.run_for(duration_s)
        else:
            threading.Event().wait(duration_s)
            self.core.pump()

    def stop(self) -> None:
        if not self._started:
            return
        world = self.rig.world
        if world is not None:
            for pump in [self.core, self.cues, *self.readers.values()]:
                world.remove_pump(pump)
            self.core.pump()
        else:
            self.cues.stop()
            for reader in self.readers.values():
                reader.stop()
            self.core.stop()
        now = self.clock.now_ns()
        for reader in self.readers.values():
            reader.finish(now)
        self._started = False

    def close(self) -> None:
        self.stop()
        for reader in self.readers.values():
            reader.close()
        for line in self.inputs.values():
            line.close()
        for out in self.outputs.values():
            out.close()

    # -- results ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Provenance, achieved rates, counts, gaps and faults: what goes with the data."""
        now = self.clock.now_ns()
        return {
            "provenance": self.rig.provenance.as_dict(),
            "anchor": {
                "mono_ns": self.anchor.mono_ns,
                "wall_ns": self.anchor.wall_ns,
                "uncertainty_ns": self.anchor.uncertainty_ns,
            },
            "duration_s": (now - self.anchor.mono_ns) / NS_PER_S,
            "events": len(self.events),
            "lost_edges": self.core.lost,
            "gaps": [asdict(g) for g in self.core.gaps],
            "faults": [f.message for f in self.faults],
            "pads": {
                name: {
                    "samples": p.n_samples,
                    "achieved_sps": round(p.achieved_sps(), 1),
                    "gaps": len(p.gaps),
                    "calibrated": p.calibration.calibrated,
                }
                for name, p in self.pads.items()
            },
            "adcs": {
                name: {
                    "mode": r.mode,
                    "timestamp_source": r.timestamp_source,
                    "errors": r.stats.errors,
                    "missed": r.stats.missed,
                }
                for name, r in self.readers.items()
            },
        }
