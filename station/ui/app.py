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
from typing import Any, TypeVar

from station.battery import Battery, battery_names, load_battery
from station.config import StationConfig
from station.errors import StationError
from station.ui.auth import ClinicianAuth, PinError, check_pin_format
from station.ui.errors import Message, message_for
from station.ui.participants import ParticipantController, ParticipantRow
from station.ui.results import ResultsController
from station.ui.run import RunController
from station.ui.virtual import VirtualHardwareController

log = logging.getLogger("station.ui.app")

T = TypeVar("T")


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
        self.recovered: list[str] = [item.describe() for item in getattr(store, "recovered", [])]

    @classmethod
    def open(
        cls, config: StationConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> AppController:
        """Open the hardware and the store (the store's lock: one recording process)."""
        from station.rig import open_rig
        from station.store import Store

        rig = open_rig(config)
        try:
            store = Store.open(config.data_dir)
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
