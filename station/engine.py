"""Running one trial of a protocol on a rig, and turning the recording into ``TrialData``.

The same function runs a trial for the terminal runner (``station assess``), the kiosk and the
tests; only ``say``/``on_phase`` (how people are told) and ``person`` (the virtual participant on
the simulated backend) differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from station.protocols.base import Pacer, Phase, Protocol, TrialContext
from station.recorder import Recorder
from station.records import CueRecord, EventRecord, PadSamples, TrialData
from station.rig import Rig


class TrialOutcome:
    """A finished trial: its raw data, provenance, faults and gaps, and the context."""

    def __init__(
        self,
        data: TrialData,
        provenance: dict[str, Any],
        faults: list[str],
        gaps: list[dict[str, Any]],
        ctx: TrialContext,
    ):
        self.data = data
        self.provenance = provenance
        self.faults = faults
        self.gaps = gaps
        self.ctx = ctx


def run_trial(
    protocol: Protocol,
    rig: Rig,
    *,
    hand: str,
    person_hand: str = "dominant",
    practice: bool = False,
    say: Callable[[str], None] = print,
    on_phase: Callable[[Phase, str], None] | None = None,
    person: Any = None,
    pacer: Pacer | None = None,
    on_start: Callable[[int], None] | None = None,
    on_context: Callable[[TrialContext], None] | None = None,
) -> TrialOutcome:
    """Run one trial. ``on_start(start_t_ns)`` is called once recording has begun;
    ``on_context(ctx)`` once the trial's context exists, before recording starts (the kiosk reads
    live values from ``ctx.recorder`` while the trial runs)."""
    roles = protocol.roles(rig.config, hand)
    rec = Recorder(
        rig, pads=protocol.pads(rig.config, hand), inputs=protocol.inputs(rig.config, hand)
    )
    ctx = TrialContext(
        protocol=protocol,
        recorder=rec,
        hand=hand,
        person_hand=person_hand,
        practice=practice,
        say=say,
        on_phase=on_phase,
        person=person,
        pacer=pacer,
    )
    try:
        if on_context is not None:
            on_context(ctx)
        rec.start()
        start_ns = rig.clock.now_ns()
        if on_start is not None:
            on_start(start_ns)
        try:
            protocol.run(ctx)
        except KeyboardInterrupt:
            ctx.status = "incomplete"
            ctx.notes.append("interrupted by the operator")
            raise
        finally:
            rec.cues.cancel_pending()
            rec.stop()
        end_ns = rig.clock.now_ns()
        summary = rec.summary()
        if rec.core.lost or rec.faults:
            ctx.notes.append("recorded with faults or lost edges: see faults and gaps")
        data = TrialData(
            protocol=protocol.name,
            version=protocol.version,
            params=protocol.params_dict(),
            hand=hand,
            practice=practice,
            start_t_ns=start_ns,
            end_t_ns=end_ns,
            go_t_ns=ctx.go_t_ns,
            events=[EventRecord(e.t_ns, e.channel, e.level, e.flags, e.seq) for e in rec.events],
            samples={name: _pad_samples(rec, name) for name in rec.pads},
            cues=[
                CueRecord(
                    c.output,
                    c.kind,
                    c.scheduled_on_ns,
                    c.scheduled_off_ns,
                    c.actual_on_ns,
                    c.actual_off_ns,
                    c.loopback_on_ns,
                )
                for c in rec.cues.cues
            ],
            roles=roles,
            status=ctx.status,
            notes="; ".join(ctx.notes),
        )
        provenance = {
            **summary["provenance"],
            "station_id": rig.config.station_id,
            "anchor": summary["anchor"],
            "pads": summary["pads"],
            "adcs": summary["adcs"],
            "lost_edges": summary["lost_edges"],
        }
        gaps = [asdict(g) for g in rec.core.gaps]
        return TrialOutcome(data, provenance, [f.message for f in rec.faults], gaps, ctx)
    finally:
        rec.close()


def _pad_samples(rec: Recorder, name: str) -> PadSamples:
    stream = rec.pads[name]
    t, code = stream.arrays()
    cal = stream.calibration
    return PadSamples(
        pad=name,
        t_ns=t,
        code=code,
        gain=stream.gain,
        supply_v=stream.spec.supply_v,
        divider_ohm=stream.spec.divider_ohm,
        slope_n_per_s=cal.slope_n_per_s,
        offset_n=cal.offset_n,
        calibrated=cal.calibrated,
        gaps=[asdict(g) for g in stream.gaps],
    )
