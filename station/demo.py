"""``station demo``: the station running, with the virtual participant acting on simulated hardware.

Each round the participant taps with a metronome on the index button, does a pegboard run (home
pad lift-off, nine pegs in and out, dish) and holds a force on the ring-finger pad. Every event is
printed as it is recorded, and a summary with provenance, rates, gaps and faults at the end. On
real hardware (no virtual participant) it prints live events from whoever uses the station.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hardware.clock import NS_PER_S
from station.recorder import Recorder
from station.rig import Rig
from station.timing import Event

MS = 1_000_000
DEMO_PADS = ("pad_home", "pad_dish", "pad_ring")
ROUND_GAP_NS = 1_500 * MS


def _printer(rig: Rig, t0_ns: int, say: Callable[[str], None]) -> Callable[[Event], None]:
    kinds = {i.name: i.kind for i in rig.config.inputs} | {p.name: "pad" for p in rig.config.pads}
    words = {"hole": ("peg in", "peg out"), "button": ("down", "up"), "pad": ("press", "release")}

    def show(ev: Event) -> None:
        on, off = words.get(kinds.get(ev.channel, ""), ("on", "off"))
        flags = " [gap before]" if ev.flags & 1 else ""
        say(
            f"{(ev.t_ns - t0_ns) / NS_PER_S:9.3f} s  {ev.channel:11s} {on if ev.level else off}{flags}"
        )

    return show


def schedule_round(rig: Rig, rec: Recorder, person: object, start_ns: int) -> int:
    """Script one demo round from ``start_ns``; returns when it ends."""
    cfg = rig.config
    world = rig.world
    interval_ns = 500 * MS
    rec.cues.metronome("buzzer", start_ns, interval_ns, 8, click_ns=30 * MS)
    beats = [start_ns + i * interval_ns for i in range(8)]
    taps = person.synchronize(beats, continuation_taps=8)  # type: ignore[attr-defined]
    world.play_edges(cfg.input("btn_index").gpio, taps.edges)
    t = taps.taps[-1].release_t_ns + ROUND_GAP_NS
    holes = [h.name for h in cfg.holes]
    rec.cues.schedule("led_index", t, 200 * MS)
    pegs = person.pegboard(t, holes)  # type: ignore[attr-defined]
    for hole in holes:
        world.play_edges(cfg.input(hole).gpio, pegs.hole_edges[hole])
    rig.sim_pads["pad_home"].force = pegs.home_force
    rig.sim_pads["pad_dish"].force = pegs.dish_force
    t = pegs.home_return_ns + ROUND_GAP_NS
    rig.sim_pads["pad_ring"].force = person.force_profile("hold", t, 4.0, 5.0, "ring")  # type: ignore[attr-defined]
    return t + 4 * NS_PER_S + ROUND_GAP_NS


def run_demo(
    rig: Rig,
    *,
    seconds: float | None = None,
    fast: bool = False,
    profile: str | None = None,
    seed: int | None = None,
    say: Callable[[str], None] = print,
) -> int:
    pads = [p for p in DEMO_PADS if any(s.name == p for s in rig.config.pads)]
    rec = Recorder(rig, pads=pads)
    t0 = rig.clock.now_ns()
    rec.core.subscribe(_printer(rig, t0, say))
    stop = threading.Event()
    try:
        rec.start()
        if rig.world is None:
            say("real hardware: showing live events (Ctrl-C to stop)")
            stop.wait(seconds) if seconds else stop.wait()
            return 0
        from hardware.sim.participant import VirtualParticipant

        person = VirtualParticipant(
            profile or rig.config.sim.profile, seed if seed is not None else rig.config.sim.seed
        )
        say(
            f"SIMULATED station: virtual participant {person.profile.name!r}, {'fast' if fast else 'real time'}"
        )
        end_ns = None if seconds is None else t0 + round(seconds * NS_PER_S)
        next_round = t0 + 200 * MS
        runner = None
        if not fast:
            runner = threading.Thread(
                target=rig.world.run_realtime, args=(stop,), name="sim-world", daemon=True
            )
            runner.start()
        try:
            while end_ns is None or next_round < end_ns:
                round_end = schedule_round(rig, rec, person, next_round)
                if fast:
                    rig.world.run_until(round_end if end_ns is None else min(round_end, end_ns))
                else:
                    while rig.clock.now_ns() < round_end and not stop.is_set():
                        if end_ns is not None and rig.clock.now_ns() >= end_ns:
                            break
                        stop.wait(0.05)
                next_round = round_end
            if fast and end_ns is not None:
                rig.world.run_until(end_ns)
        finally:
            stop.set()
            if runner is not None:
                runner.join()
    finally:
        rec.stop()
        summary = rec.summary()
        rec.close()
    say(
        f"recorded {summary['events']} events in {summary['duration_s']:.1f} s; lost edges {summary['lost_edges']}; "
        f"gaps {len(summary['gaps'])}; faults {len(summary['faults'])}"
    )
    for name, pad in summary["pads"].items():
        say(f"  {name}: {pad['samples']} samples at {pad['achieved_sps']} /s")
    return 0
