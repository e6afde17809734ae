"""The timing core: driver-stamped edges in, debounced events out, nothing lost silently.

Following pyControl, the driver callback only stamps and queues; everything else happens later on
the consumer's own thread:

1. :meth:`EventCore.ingress` makes the per-channel callback handed to an input line. It takes the
   driver's timestamp (integer ns, CLOCK_MONOTONIC), numbers the edge, and puts it on a bounded
   queue. When the queue is full the edge is dropped, counted, and a :class:`Gap` is recorded.
2. :meth:`EventCore.pump` (the consumer thread, or the simulation loop) runs each edge through the
   channel's :class:`Debouncer` and hands accepted transitions to subscribers as :class:`Event`.

Debouncing works on timestamps only: the first edge of a transition is reported with its own
time; edges within the channel's minimum on/off time after it are bounce; a transition that is
still present when that time has passed is reported at the time of its last edge, so a real press
shorter than the minimum is never swallowed.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hardware.clock import Clock
from hardware.worker import Worker

#: Event flag: raw edges were lost before this event (queue overflow or a missed driver edge).
FLAG_GAP_BEFORE = 1
#: Event flag: reported after its channel's minimum on/off time (a short real transition).
FLAG_SHORT = 2
#: Event flag: the channel was chattering (far more bounce than a switch in use gives) when it came.
FLAG_CHATTER = 4


@dataclass(frozen=True, slots=True)
class Event:
    """A debounced transition on a channel.

    ``t_ns``: driver timestamp (CLOCK_MONOTONIC ns); ``level``: 1 active (pressed, peg in, force
    above onset), 0 inactive; ``seq``: number of this event in the recording, gapless;
    ``raw_seq``: number of the raw edge whose arrival produced it (for a short transition that is
    the next edge; -1 when a flush reported it); ``flags``: ``FLAG_*`` bits.
    """

    t_ns: int
    channel: str
    level: int
    seq: int
    raw_seq: int
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Gap:
    """Raw edges that never reached the debouncer, or a detected hole in a stream."""

    channel: str
    reason: str  # "queue_overflow" | "missed_edge"
    count: int
    t_first_ns: int
    t_last_ns: int


@dataclass
class ChannelStats:
    raw_edges: int = 0
    events: int = 0
    bounce_edges: int = 0
    missed_edges: int = 0
    chattering: bool = False


class Debouncer:
    """Timestamp debouncer for one channel with minimum on and off times (ns)."""

    __slots__ = ("level", "min_off_ns", "min_on_ns", "raw_level", "t_level", "t_raw")

    def __init__(self, min_on_ns: int, min_off_ns: int, level: int = 0, t_ns: int = -(1 << 62)):
        self.min_on_ns = min_on_ns
        self.min_off_ns = min_off_ns
        self.level = level
        self.t_level = t_ns
        self.raw_level = level
        self.t_raw = t_ns

    def _hold_ns(self) -> int:
        return self.min_on_ns if self.level else self.min_off_ns

    def feed(self, t_ns: int, level: int) -> list[tuple[int, int, int]]:
        """Process one raw edge; returns accepted transitions as ``(t_ns, level, flags)``."""
        out: list[tuple[int, int, int]] = []
        if self.raw_level != self.level and t_ns >= self.t_level + self._hold_ns():
            out.append(self._accept(self.t_raw, self.raw_level, FLAG_SHORT))
        self.raw_level = level
        self.t_raw = t_ns
        if level != self.level and t_ns >= self.t_level + self._hold_ns():
            out.append(self._accept(t_ns, level, 0))
        return out

    def flush(self, now_ns: int) -> tuple[int, int, int] | None:
        """Report a pending transition whose hold time has passed by ``now_ns``."""
        if self.raw_level != self.level and now_ns >= self.t_level + self._hold_ns():
            return self._accept(self.t_raw, self.raw_level, FLAG_SHORT)
        return None

    @property
    def pending(self) -> bool:
        return self.raw_level != self.level

    def _accept(self, t_ns: int, level: int, flags: int) -> tuple[int, int, int]:
        self.level = level
        self.t_level = t_ns
        return (t_ns, level, flags)


@dataclass
class _Channel:
    name: str
    debouncer: Debouncer
    stats: ChannelStats = field(default_factory=ChannelStats)
    recent_bounce_ns: deque[int] = field(default_factory=deque)
    gap_pending: bool = False


Subscriber = Callable[[Event], None]
FaultSink = Callable[[str, str], None]
"""``sink(channel, message)``: a fault a person should know about."""


class EventCore:
    """Queue plus per-channel debouncing from driver edges to subscribers.

    :param clock: the clock the drivers stamp with (for flushing pending transitions).
    :param capacity: the most raw edges waiting in the queue; beyond it edges are dropped and
        counted (``lost``), never silently.
    :param chatter_edges_per_s: bounce edges per second above which a channel is flagged
        chattering (a fault, reported once per episode; its events carry ``FLAG_CHATTER``). A
        person taps at most about 10 Hz per finger: 20 transitions/s with a few bounce edges each
        stay well below the default of 200.
    """

    def __init__(self, clock: Clock, capacity: int = 65_536, chatter_edges_per_s: float = 200.0):
        self.clock = clock
        self.capacity = capacity
        self.chatter_edges_per_s = chatter_edges_per_s
        self._queue: queue.SimpleQueue[tuple[int, int, int, int, int]] = queue.SimpleQueue()
        self._raw_seq = itertools.count()
        self._gap_mark = [0]  # set by a producer that dropped an edge; carried by the next one
        self._channels: list[_Channel] = []
        self._index: dict[str, int] = {}
        self._pending: set[int] = set()  # channels whose debouncer holds a pending transition
        self._subscribers: list[Subscriber] = []
        self._fault_sinks: list[FaultSink] = []
        self._seq = 0
        self.lost = 0
        self.gaps: list[Gap] = []
        self._overflow: list[int] | None = None  # [count, t_first, t_last, channel]
        self._worker = Worker("event-core", self._step)
        self._poll_s = 0.005
        self._pump_lock = threading.Lock()

    # -- setup ---------------------------------------------------------------------------------
    def add_channel(
        self, name: str, min_on_ns: int, min_off_ns: int, level: int = 0, t_ns: int | None = None
    ) -> int:
        """Register a channel with its debounce times and its level at the start."""
        if name in self._index:
            raise ValueError(f"channel {name!r} registered twice")
        start = self.clock.now_ns() if t_ns is None else t_ns
        self._index[name] = len(self._channels)
        # The level at start is taken as settled for its hold time: no transition is invented.
        self._channels.append(
            _Channel(
                name, Debouncer(min_on_ns, min_off_ns, level, start - max(min_on_ns, min_off_ns))
            )
        )
        return self._index[name]

    def set_initial_level(self, name: str, level: int) -> None:
        """Set a channel's settled level before any edge (a switch found closed at start)."""
        index = self._index[name]
        db = self._channels[index].debouncer
        db.level = db.raw_level = level
        self._pending.discard(index)

    def next_due_ns(self) -> int | None:
        """When a pending transition matures (for the simulation loop), else None."""
        if not self._pending:
            return None
        dbs = [self._channels[i].debouncer for i in tuple(self._pending)]
        return min((db.t_level + db._hold_ns() for db in dbs), default=None)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def on_fault(self, sink: FaultSink) -> None:
        self._fault_sinks.append(sink)

    def channel_names(self) -> list[str]:
        return [c.name for c in self._channels]

    def stats(self, name: str) -> ChannelStats:
        return self._channels[self._index[name]].stats

    def pending_edges(self) -> int:
        """Raw edges queued and not yet processed (approximate while producers run)."""
        return self._queue.qsize()

    def level(self, name: str) -> int:
        """The debounced level of a channel as of the last pump."""
        return self._channels[self._index[name]].debouncer.level

    # -- producer side (driver threads) -----------------------------------------------------------
    def ingress(self, name: str) -> Callable[[int, int], None]:
        """The callback for one channel: ``cb(t_ns, level)``; only numbers and enqueues.

        When the queue is full the edge is dropped and counted, and the next edge that does get
        queued (from any producer thread) carries a gap mark, so the consumer flags what follows.
        """
        index = self._index[name]
        put = self._queue.put
        qsize = self._queue.qsize
        next_seq = self._raw_seq.__next__
        capacity = self.capacity
        gap_mark = self._gap_mark

        def on_edge(t_ns: int, level: int) -> None:
            n = next_seq()
            if qsize() >= capacity:
                self._dropped(index, t_ns)
                gap_mark[0] = 1
                return
            if gap_mark[0]:
                gap_mark[0] = 0
                put((t_ns, index, level, n, 1))
            else:
                put((t_ns, index, level, n, 0))

        return on_edge

    def _dropped(self, index: int, t_ns: int) -> None:
        self.lost += 1
        ov = self._overflow
        if ov is None:
            self._overflow = [1, t_ns, t_ns, index]
        else:
            ov[0] += 1
            ov[2] = t_ns

    # -- consumer side -------------------------------------------------------------------------
    def pump(self, now_ns: int | None = None) -> int:
        """Process every queued edge, then flush matured transitions. Returns edges processed."""
        with self._pump_lock:
            n = 0
            if not self._queue.empty():
                get = self._queue.get_nowait
                while True:
                    try:
                        t_ns, index, level, raw_seq, gap = get()
                    except queue.Empty:
                        break
                    n += 1
                    self._process(t_ns, index, level, raw_seq, gap)
            if self._overflow is not None:
                self._close_overflow()
            if self._pending:
                now = self.clock.now_ns() if now_ns is None else now_ns
                for index in sorted(self._pending):  # in channel order
                    ch = self._channels[index]
                    accepted = ch.debouncer.flush(now)
                    if accepted is not None:
                        self._pending.discard(index)
                        self._emit(ch, accepted, -1)
            return n

    def _close_overflow(self) -> None:
        ov = self._overflow
        if ov is not None:
            self._overflow = None
            count, t_first, t_last, index = ov
            name = self._channels[index].name
            self.gaps.append(Gap(name, "queue_overflow", count, t_first, t_last))
            self._fault("*", f"event queue overflowed: {count} raw edges lost (first on {name})")

    def _process(self, t_ns: int, index: int, level: int, raw_seq: int, gap: int = 0) -> None:
        if gap:
            # Edges were dropped just before this one: every channel's next event is flagged.
            for other in self._channels:
                other.gap_pending = True
        ch = self._channels[index]
        st = ch.stats
        st.raw_edges += 1
        db = ch.debouncer
        if level == db.raw_level:
            # Two edges to the same level: the driver lost the edge between them.
            st.missed_edges += 1
            ch.gap_pending = True
            self.gaps.append(Gap(ch.name, "missed_edge", 1, db.t_raw, t_ns))
        accepted = db.feed(t_ns, level)
        if db.raw_level != db.level:
            self._pending.add(index)
        else:
            self._pending.discard(index)
        if not accepted or accepted[-1][0] != t_ns:
            self._bounce(ch, t_ns)
        for item in accepted:
            self._emit(ch, item, raw_seq)

    def _bounce(self, ch: _Channel, t_ns: int) -> None:
        ch.stats.bounce_edges += 1
        recent = ch.recent_bounce_ns
        recent.append(t_ns)
        window_start = t_ns - 1_000_000_000
        while recent and recent[0] < window_start:
            recent.popleft()
        if len(recent) > self.chatter_edges_per_s:
            if not ch.stats.chattering:
                ch.stats.chattering = True
                self._fault(
                    ch.name,
                    f"{ch.name} is chattering: {len(recent)} bounce edges in the last second "
                    "(worn or loose switch?); its events are flagged",
                )
        elif ch.stats.chattering and len(recent) < self.chatter_edges_per_s / 2:
            ch.stats.chattering = False

    def _emit(self, ch: _Channel, accepted: tuple[int, int, int], raw_seq: int) -> None:
        t_ns, level, flags = accepted
        if ch.gap_pending:
            flags |= FLAG_GAP_BEFORE
            ch.gap_pending = False
        if ch.stats.chattering:
            recent = ch.recent_bounce_ns
            while recent and recent[0] < t_ns - 1_000_000_000:
                recent.popleft()
            if len(recent) < self.chatter_edges_per_s / 2:
                ch.stats.chattering = False  # calm again
            else:
                flags |= FLAG_CHATTER
        ev = Event(t_ns, ch.name, level, self._seq, raw_seq, flags)
        self._seq += 1
        ch.stats.events += 1
        for sub in self._subscribers:
            sub(ev)

    def _fault(self, channel: str, message: str) -> None:
        for sink in self._fault_sinks:
            sink(channel, message)

    # -- thread ----------------------------------------------------------------------------------
    def _step(self) -> None:
        try:
            item = self._queue.get(timeout=self._poll_s)
        except queue.Empty:
            self.pump()
            return
        with self._pump_lock:
            self._process(*item)
        self.pump()

    def start(self, poll_s: float = 0.005) -> None:
        """Run the consumer on its own thread (real hardware and real-time simulation)."""
        self._poll_s = poll_s
        self._worker.start()

    def stop(self) -> None:
        if not self._worker.running:
            return
        self._worker.stop()
        self.pump()
