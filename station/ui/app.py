"""The kiosk's application controller: what is open, who is logged in, what runs.

:class:`AppController` holds the rig, the store and the configuration, the clinician login with
its idle lock (on an injected monotonic clock, so tests move time by hand), the participant,
battery and results controllers, the current :class:`~station.ui.run.RunController`, and the
virtual-hardware panel on the simulated backend. :meth:`AppController.attempt` runs any
controller call and turns an exception into a :class:`~station.ui.errors.Message` for the screen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from station.battery import Battery, battery_names, load_battery
from station.config import StationConfig
from station.errors import StationError
from station.ui.auth import ClinicianAuth, PinError, check_pin_format
from station.ui.errors import Message, message_for
from station.ui.participants import ParticipantController, ParticipantRow
from station.ui.results import ResultsController
from station.ui.run import RunController
from station.ui.settings import SettingsController
from station.ui.virtual import VirtualHardwareController

log = logging.getLogger("station.ui.app")

T = TypeVar("T")
#: The home screen names at most this many failing devices (the report has them all).
MAX_DEVICES_NAMED = 5


@dataclass(frozen=True)
class InterruptedTrial:
    """A session (and its trial, if one was running) that a crash or power cut interrupted,
    as the home screen names it after the restart."""

    session_id: int
    participant: str
    battery: str
    protocol: str  # the protocol's title; "" when no trial was running
    hand: str
    trial: str  # "practice trial" or "trial N"; "" when no trial was running
    when: str  # local time the trial (or the session) began, "YYYY-MM-DD HH:MM"

    @property
    def what(self) -> str:
        if not self.protocol:
            return (
                f"{self.participant}: session {self.session_id} ({self.battery}, {self.when}) "
                "was interrupted between trials"
            )
        return (
            f"{self.participant}: {self.protocol}, {self.hand} hand, {self.trial} "
            f"({self.battery}, session {self.session_id}, {self.when}) was interrupted"
        )

    @property
    def what_to_do(self) -> str:
        if not self.protocol:
            return (
                "Its trials so far are kept; run the rest in a new session "
                f"(Clinician, participant {self.participant}, battery {self.battery})."
            )
        return (
            "The trial is kept as incomplete; repeat it in a new session "
            f"(Clinician, participant {self.participant}, battery {self.battery})."
        )


def _local_time(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns / 1e9, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def describe_interrupted(store: Any, items: list[Any]) -> list[InterruptedTrial]:
    """The store's recovered sessions and trials (:class:`station.store.Interrupted`), with the
    battery, the protocol's title, the trial's label and when it began."""
    from station.protocols import get_protocol

    out: list[InterruptedTrial] = []
    for item in items:
        try:
            session = store.session(item.session_id)
        except StationError as exc:  # the row is gone: name what the store said
            log.warning("interrupted session %s: %s", item.session_id, exc)
            continue
        started = session.started_utc
        if started.tzinfo is None:  # SQLite keeps naive times: they are UTC
            started = started.replace(tzinfo=UTC)
        when = started.astimezone().strftime("%Y-%m-%d %H:%M")
        protocol = hand = label = ""
        if item.trial_id is not None:
            try:
                protocol = get_protocol(item.protocol).title
            except StationError:
                protocol = str(item.protocol)
            hand = str(item.hand)
            trials = store.session_trials(item.session_id)
            this = next((t for t in trials if t.id == item.trial_id), None)
            if item.practice:
                label = "practice trial"
            else:
                n = sum(
                    1
                    for t in trials
                    if t.protocol == item.protocol
                    and t.hand == item.hand
                    and not t.practice
                    and t.trial_index <= (item.trial_index or 0)
                )
                label = f"trial {max(n, 1)}"
            if this is not None:
                when = _local_time(
                    session.anchor_wall_ns + (this.start_t_ns - session.anchor_mono_ns)
                )
        out.append(
            InterruptedTrial(
                item.session_id,
                item.participant_code,
                session.battery_name,
                protocol,
                hand,
                label,
                when,
            )
        )
    return out


@dataclass(frozen=True)
class BatteryInfo:
    name: str
    title: str
    steps: str  # "Nine-Hole Peg Test (dominant, non_dominant; 1 practice + 2)"


class AppController:
    """See the module docstring. ``clock`` is monotonic seconds (``time.monotonic``)."""

    def __init__(
        self,
        config: StationConfig,
        rig: Any,
        store: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.rig = rig
        self.store = store
        self.clock = clock
        self.auth = ClinicianAuth(config.data_dir, clock)
        self.participants = ParticipantController(store)
        self.results = ResultsController(store, config.data_dir)
        self.virtual = VirtualHardwareController(rig) if rig.simulated else None
        self.battery: Battery | None = None
        self.run: RunController | None = None
        #: On the simulated backend: trials in real time (False: as fast as the host allows).
        self.realtime = True
        self._clinician = False
        self._last_activity_s = clock()
        #: Sessions and trials a crash interrupted (found when the store was opened).
        found = list(getattr(store, "recovered", []))
        self.interrupted: list[InterruptedTrial] = describe_interrupted(store, found)
        self.recovered: list[str] = [item.describe() for item in found]
        #: The display settings (text size, contrast, mirroring, sound).
        self.settings = SettingsController(config.data_dir, simulated=bool(rig.simulated))
        #: What the device check found wrong, for the home screen (None: all ok, or not run).
        self.device_problem: str | None = None

    @classmethod
    def open(
        cls, config: StationConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> AppController:
        """Open the hardware and the store for recording (the store's lock: one recording
        process; ``recover``: sessions and trials a crash left running are marked incomplete and
        listed in :attr:`interrupted`)."""
        from station.rig import open_rig
        from station.store import Store

        rig = open_rig(config)
        try:
            store = Store.open(config.data_dir, recover=True)
        except BaseException:
            rig.close()
            raise
        return cls(config, rig, store, clock=clock)

    def close(self) -> None:
        if self.run is not None and not self.run.ended:
            self.run.abort()
            self.run.wait(10.0)
        try:
            self.store.close()
        finally:
            self.rig.close()

    def check_devices(self, sample_s: float = 0.5) -> str | None:
        """Test every device as ``station selftest`` does (a brief blink and beep of each
        output), before anything is recorded; keep the report in the data folder (the clinic
        server's status page and the hourly health check read it); return, and keep in
        :attr:`device_problem` for the home screen, what is wrong (None: every device ok).

        Never raises for a fault found: a check that cannot run, or a report that cannot be
        saved, is itself the problem returned."""
        from station.selftest import keep_last_report, run_selftest

        try:
            checks = run_selftest(self.rig, sample_s=sample_s)
        except (StationError, OSError) as exc:
            self.device_problem = (
                f"The device check at start could not run: {exc}. Check the wiring "
                "(station selftest --watch shows every device live)."
            )
            return self.device_problem
        failing = [c.name for c in checks if not c.ok]
        problem = None
        if failing:
            names = ", ".join(failing[:MAX_DEVICES_NAMED])
            if len(failing) > MAX_DEVICES_NAMED:
                names += f" and {len(failing) - MAX_DEVICES_NAMED} more"
            problem = (
                f"Device check: {len(failing)} of {len(checks)} devices failing ({names}). "
                "Check their cables before recording; station selftest --watch shows why."
            )
        why = keep_last_report(self.rig, checks)
        if why is not None:
            saved = f"The device check's report could not be saved: {why}."
            problem = f"{problem} {saved}" if problem else saved
        self.device_problem = problem
        return problem

    @property
    def simulated(self) -> bool:
        return bool(self.rig.simulated)

    # -- errors ----------------------------------------------------------------------------------
    def attempt(
        self, fn: Callable[..., T], *args: Any, doing: str = "", **kwargs: Any
    ) -> tuple[T | None, Message | None]:
        """``fn(*args, **kwargs)``; an exception becomes a message (and None)."""
        try:
            return fn(*args, **kwargs), None
        except Exception as exc:
            return None, message_for(exc, doing)

    # -- clinician login and the idle lock -------------------------------------------------------
    @property
    def needs_pin(self) -> bool:
        """No PIN is set yet: the kiosk asks for one before clinician mode."""
        return not self.auth.has_pin

    @property
    def clinician(self) -> bool:
        return self._clinician

    def set_first_pin(self, pin: str, again: str) -> None:
        if self.auth.has_pin:
            raise PinError("a PIN is already set (change it with `station kiosk --set-pin`)")
        check_pin_format(pin)
        if pin != again:
            raise PinError("the two PINs differ: enter the same PIN twice")
        self.auth.set_pin(pin)
        self._clinician = True
        self.touch()

    def login(self, pin: str) -> bool:
        ok = self.auth.verify(pin)
        self._clinician = ok
        if ok:
            self.touch()
        return ok

    def logout(self) -> None:
        self._clinician = False

    def touch(self) -> None:
        """Someone used the screen: the idle lock starts again."""
        self._last_activity_s = self.clock()

    @property
    def idle_s(self) -> float:
        return self.clock() - self._last_activity_s

    def check_idle_lock(self) -> bool:
        """Lock clinician mode after the configured idle time; True when it locked just now.
        A running trial holds the lock off (the clinician is watching, not touching)."""
        if not self._clinician:
            return False
        if self.run is not None and self.run.busy:
            self.touch()
            return False
        if self.idle_s >= self.auth.idle_lock_s:
            self._clinician = False
            return True
        return False

    def require_clinician(self) -> None:
        if not self._clinician:
            raise StationError("clinician mode is locked: enter the PIN")

    # -- participants and batteries --------------------------------------------------------------
    @property
    def participant(self) -> ParticipantRow | None:
        return self.participants.selected

    def batteries(self) -> list[BatteryInfo]:
        out = []
        for name in battery_names(self.config.data_dir):
            try:
                b = load_battery(name, self.config.data_dir)
            except StationError as exc:
                log.warning("battery %s not offered: %s", name, exc)
                continue
            steps = "; ".join(
                f"{s.protocol.title} ({', '.join(h.replace('_', '-') for h in s.hands)}"
                + (f"; {s.practice} practice + {s.trials})" if s.practice else f"; {s.trials})")
                for s in b.steps
            )
            out.append(BatteryInfo(b.name, b.title, steps))
        return out

    def choose_battery(self, name: str) -> Battery:
        self.battery = load_battery(name, self.config.data_dir)
        return self.battery

    # -- running ---------------------------------------------------------------------------------
    def start_run(
        self,
        *,
        person: Any = None,
        auto: bool = False,
        say: Callable[[str], None] | None = None,
        **options: Any,
    ) -> RunController:
        """Start the chosen battery for the selected participant (clinician mode, or ``auto``
        for the demo). ``options`` go to :class:`RunController` (``listener``, ``host_clock``)."""
        if not auto:
            self.require_clinician()
        if self.run is not None and not self.run.ended:
            raise StationError("a session is already running: finish or abort it first")
        if self.participants.selected is None:
            raise StationError("choose a participant first")
        if self.battery is None:
            raise StationError("choose a battery first")
        if person is not None and not self.simulated:
            raise StationError("the virtual participant acts on the simulated backend only")
        participant = self.store.get_participant(self.participants.selected.code)
        if participant is None:
            raise StationError(f"participant {self.participants.selected.code} is gone")
        self.run = RunController(
            self.rig,
            self.store,
            participant,
            self.battery,
            person=person,
            realtime=self.realtime,
            auto=auto,
            say=say,
            **options,
        )
        self.run.start()
        self.touch()
        return self.run

    def virtual_participant(self, profile: str | None = None, seed: int | None = None) -> Any:
        """The simulated backend's virtual participant (the configured profile and seed)."""
        if not self.simulated:
            raise StationError("the virtual participant acts on the simulated backend only")
        from hardware.sim.participant import VirtualParticipant

        return VirtualParticipant(
            profile or self.config.sim.profile, seed if seed is not None else self.config.sim.seed
        )
