"""The timing core: debounce on timestamps, nothing lost silently, virtual clock only."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.clock import VirtualClock
from hardware.sim.participant import VirtualParticipant
from station.timing import FLAG_GAP_BEFORE, FLAG_SHORT, Debouncer, Event, EventCore

MS = 1_000_000


def make_core(
    capacity: int = 65_536, min_on_ns: int = 5 * MS, min_off_ns: int = 5 * MS
) -> tuple[EventCore, list[Event]]:
    clock = VirtualClock()
    core = EventCore(clock, capacity=capacity)
    core.add_channel("btn", min_on_ns, min_off_ns)
    events: list[Event] = []
    core.subscribe(events.append)
    return core, events


def feed(core: EventCore, name: str, edges: list[tuple[int, int]]) -> None:
    cb = core.ingress(name)
    for t_ns, level in edges:
        cb(t_ns, level)


def test_clean_presses_keep_their_exact_times() -> None:
    core, events = make_core()
    t0 = core.clock.now_ns()
    edges = [(t0 + 100 * MS, 1), (t0 + 180 * MS, 0), (t0 + 300 * MS, 1), (t0 + 350 * MS, 0)]
    feed(core, "btn", edges)
    core.pump()
    assert [(e.t_ns, e.level) for e in events] == edges
    assert [e.seq for e in events] == [0, 1, 2, 3]
    assert all(e.flags == 0 for e in events)


def test_bounce_never_adds_a_press_and_keeps_first_edge_time() -> None:
    """Scripted presses with contact bounce from the virtual participant: exactly one event each."""
    core, events = make_core()
    person = VirtualParticipant("healthy", seed=3)
    t = core.clock.now_ns() + 50 * MS
    intended = []
    all_edges: list[tuple[int, int]] = []
    for _ in range(200):
        press, release = t, t + 60 * MS
        all_edges += person.switch_edges(press, release)
        intended.append((press, release))
        t += 150 * MS
    feed(core, "btn", all_edges)
    core.pump(now_ns=t + 1_000 * MS)
    downs = [e.t_ns for e in events if e.level == 1]
    ups = [e.t_ns for e in events if e.level == 0]
    assert len(all_edges) > 2 * len(intended) + 100  # there was bounce to remove
    assert downs == [p for p, _ in intended]
    assert ups == [r for _, r in intended]
    assert core.stats("btn").bounce_edges == len(all_edges) - 2 * len(intended)


def test_short_real_press_is_not_swallowed() -> None:
    """A 3 ms press with a 5 ms minimum on-time still comes out, flagged, at its last edge."""
    core, events = make_core()
    t0 = core.clock.now_ns() + 10 * MS
    feed(core, "btn", [(t0, 1), (t0 + 3 * MS, 0)])
    core.pump(now_ns=t0 + 4 * MS)
    assert [(e.t_ns, e.level) for e in events] == [(t0, 1)]  # release not yet mature
    assert core.next_due_ns() == t0 + 5 * MS
    core.pump(now_ns=t0 + 5 * MS)
    assert [(e.t_ns, e.level, e.flags) for e in events] == [
        (t0, 1, 0),
        (t0 + 3 * MS, 0, FLAG_SHORT),
    ]


def test_pending_release_is_resolved_before_a_later_edge() -> None:
    core, events = make_core()
    t0 = core.clock.now_ns() + 10 * MS
    feed(core, "btn", [(t0, 1), (t0 + 2 * MS, 0), (t0 + 30 * MS, 1)])
    core.pump(now_ns=t0 + 31 * MS)
    assert [(e.t_ns, e.level) for e in events] == [(t0, 1), (t0 + 2 * MS, 0), (t0 + 30 * MS, 1)]


@pytest.mark.parametrize("seed", range(5))
def test_random_presses_and_bounce_property(seed: int) -> None:
    """Any presses >= 20 ms apart with bounce < min times: events equal intended transitions."""
    rng = np.random.default_rng(seed)
    core, events = make_core(min_on_ns=8 * MS, min_off_ns=8 * MS)
    t = core.clock.now_ns() + 20 * MS
    edges: list[tuple[int, int]] = []
    truth: list[tuple[int, int]] = []
    for _ in range(300):
        for level in (1, 0):
            truth.append((t, level))
            edges.append((t, level))
            tb = t
            for _k in range(int(rng.integers(0, 6))):  # bounce burst within 4 ms
                tb += int(rng.integers(50_000, 600_000))
                edges.append((tb, 1 - level))
                tb += int(rng.integers(50_000, 600_000))
                edges.append((tb, level))
            t += int(rng.integers(20 * MS, 120 * MS))
    feed(core, "btn", edges)
    core.pump(now_ns=t + 100 * MS)
    assert [(e.t_ns, e.level) for e in events] == truth


def test_queue_overflow_is_counted_and_flagged() -> None:
    core, events = make_core(capacity=64)
    faults: list[str] = []
    core.on_fault(lambda ch, msg: faults.append(msg))
    t0 = core.clock.now_ns()
    edges = [(t0 + i * 10 * MS, (i + 1) & 1) for i in range(100)]
    feed(core, "btn", edges)  # no pump in between: the queue holds only 64
    core.pump(now_ns=t0 + 2_000 * MS)
    assert core.lost == 36
    assert (
        len(core.gaps) >= 1 and core.gaps[0].reason == "queue_overflow" and core.gaps[0].count == 36
    )
    assert any("overflowed" in m and "36" in m for m in faults)
    assert not any(e.flags & FLAG_GAP_BEFORE for e in events)  # these edges came before the loss
    n_before = len(events)
    feed(core, "btn", [(t0 + 1_100 * MS, 1), (t0 + 1_200 * MS, 0)])
    core.pump(now_ns=t0 + 2_000 * MS)
    after = events[n_before:]
    assert [e.flags & FLAG_GAP_BEFORE for e in after] == [FLAG_GAP_BEFORE, 0]


def test_missed_driver_edge_is_detected() -> None:
    core, _ = make_core()
    t0 = core.clock.now_ns() + 10 * MS
    feed(core, "btn", [(t0, 1), (t0 + 50 * MS, 1)])  # the release between them never came
    core.pump()
    assert core.stats("btn").missed_edges == 1
    assert [g.reason for g in core.gaps] == ["missed_edge"]


def test_chattering_channel_is_reported_once() -> None:
    core, _ = make_core()
    faults: list[tuple[str, str]] = []
    core.on_fault(lambda ch, msg: faults.append((ch, msg)))
    t = core.clock.now_ns() + 10 * MS
    edges = []
    for i in range(400):  # 400 edges 0.5 ms apart, then again after a gap
        edges.append((t + i * 500_000, (i + 1) & 1))
    feed(core, "btn", edges)
    core.pump()
    chatter = [m for ch, m in faults if ch == "btn" and "chattering" in m]
    assert len(chatter) == 1
    assert core.stats("btn").chattering


def test_initial_level_produces_no_invented_event() -> None:
    core, events = make_core()
    core.add_channel("held", 5 * MS, 5 * MS, level=1)
    t0 = core.clock.now_ns() + 10 * MS
    feed(core, "held", [(t0, 0)])
    core.pump()
    assert [(e.channel, e.level, e.t_ns) for e in events] == [("held", 0, t0)]


def test_debouncer_flush_without_pending_is_noop() -> None:
    db = Debouncer(5 * MS, 5 * MS)
    assert db.flush(10**12) is None
    assert not db.pending
