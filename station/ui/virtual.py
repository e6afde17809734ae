"""The virtual-hardware panel: a person at a desktop presses buttons, inserts pegs and presses
pads of the simulated station, on screen or with keys.

Every action is scheduled into the simulation (:meth:`SimWorld.schedule`, thread-safe) at the
current virtual time, so it reaches the recording exactly as a real edge would: stamped by the
(mock) GPIO driver, debounced by the timing core, seen by the protocol. Pad forces are held from
that time on (:class:`HeldForce`). Between trials virtual time stands still: an action then takes
effect when the next trial starts.

Keys (see docs/kiosk.md): ``1``-``5`` the thumb..little finger buttons and ``space`` the index
button; ``p`` a peg into the next empty hole, ``o`` a peg out of the last filled one; ``h`` the hand
on the home pad (held), ``d`` a peg dropped in the dish; ``q``/``w``/``e``/``r`` the index, middle,
ring and little finger pads pressed (held) with the force level, which ``up``/``down`` change by
1 N.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Final

from station.errors import StationError

log = logging.getLogger("station.ui.virtual")

#: The force a pad key presses with until changed, N.
DEFAULT_FORCE_N: Final = 5.0
FORCE_STEP_N: Final = 1.0
MAX_FORCE_N: Final = 60.0
#: A resting hand on the home pad, and a peg dropped in the dish, N.
HOME_FORCE_N: Final = 3.0
DISH_FORCE_N: Final = 1.5
#: Actions are scheduled this far after the current virtual time (the next simulation step).
ACTION_DELAY_NS: Final = 1_000

BUTTON_KEYS: Final = {"1": "thumb", "2": "index", "3": "middle", "4": "ring", "5": "little"}
PAD_KEYS: Final = {"q": "index", "w": "middle", "e": "ring", "r": "little"}
KEY_HELP: Final = (
    "keys: 1-5 finger buttons (space: index), p/o peg in/out, h home pad (hold), "
    "d dish, q/w/e/r finger pads (hold), up/down force"
)


class HeldForce:
    """A pad's force as a function of virtual time: the earlier force until each change, then the
    change's constant force (pressing or releasing at a moment of the simulation)."""

    #: Changes kept; the ADC only asks about the present, so older ones are never needed.
    MAX_CHANGES = 8

    def __init__(self, previous: Any, t0_ns: int, force_n: float):
        if isinstance(previous, HeldForce):
            self.base = previous.base
            earlier = [c for c in previous.changes if c[0] < t0_ns]
            self.changes: list[tuple[int, float]] = earlier[-self.MAX_CHANGES :]
        else:
            self.base = previous
            self.changes = []
        self.changes.append((int(t0_ns), float(force_n)))

    def __call__(self, t_ns: int) -> float:
        for t0, force in reversed(self.changes):
            if t_ns >= t0:
                return force
        return float(self.base(t_ns))


@dataclass(frozen=True)
class PanelState:
    """What the panel draws: what is pressed, and the force level."""

    buttons_down: frozenset[str]  # fingers
    holes_filled: tuple[bool, ...]
    pads_pressed: frozenset[str]  # pad names
    force_level_n: float


class VirtualHardwareController:
    """On-screen and keyboard control of the simulated station (simulated backend only)."""

    def __init__(self, rig: Any):
        if not getattr(rig, "simulated", False):
            raise StationError("the virtual-hardware panel is for the simulated backend only")
        self.rig = rig
        cfg = rig.config
        self.buttons = {b.finger: b for b in cfg.buttons if b.finger}
        self.holes = [h.name for h in cfg.holes]
        self.finger_pads = {p.finger: p.name for p in cfg.pads if p.kind == "finger" and p.finger}
        self.home_pad = next((p.name for p in cfg.pads if p.kind == "home"), None)
        self.dish_pad = next((p.name for p in cfg.pads if p.kind == "dish"), None)
        self.force_level_n = DEFAULT_FORCE_N
        self._lock = threading.Lock()
        self._down: set[str] = set()
        self._filled = [False] * len(self.holes)
        self._pressed: set[str] = set()
        self._keys_down: set[str] = set()

    # -- state -----------------------------------------------------------------------------------
    def state(self) -> PanelState:
        with self._lock:
            return PanelState(
                frozenset(self._down),
                tuple(self._filled),
                frozenset(self._pressed),
                self.force_level_n,
            )

    def _now_ns(self) -> int:
        return int(self.rig.clock.now_ns()) + ACTION_DELAY_NS

    def _drive(self, input_name: str, closed: bool) -> None:
        spec = self.rig.config.input(input_name)
        pin = self.rig.factory.mock_pin(spec.gpio)
        level = (not closed) if spec.active_low else closed
        t = self._now_ns()

        def act() -> None:
            try:
                pin.drive_at(level, t)
            except RuntimeError as exc:  # an output line: a wiring mistake, not a crash
                log.warning("virtual hardware: %s", exc)

        self.rig.world.schedule(t, act)

    # -- buttons ---------------------------------------------------------------------------------
    def press_button(self, finger: str) -> None:
        button = self._button(finger)
        with self._lock:
            if finger in self._down:
                return
            self._down.add(finger)
        self._drive(button.name, True)

    def release_button(self, finger: str) -> None:
        button = self._button(finger)
        with self._lock:
            if finger not in self._down:
                return
            self._down.discard(finger)
        self._drive(button.name, False)

    def _button(self, finger: str) -> Any:
        try:
            return self.buttons[finger]
        except KeyError:
            raise StationError(f"no button for the {finger} finger on this station") from None

    # -- pegs ------------------------------------------------------------------------------------
    def set_peg(self, index: int, inserted: bool) -> None:
        if not 0 <= index < len(self.holes):
            raise StationError(f"no hole {index + 1} (the board has {len(self.holes)})")
        with self._lock:
            if self._filled[index] == inserted:
                return
            self._filled[index] = inserted
        self._drive(self.holes[index], inserted)

    def toggle_peg(self, index: int) -> None:
        with self._lock:
            filled = self._filled[index] if 0 <= index < len(self._filled) else False
        self.set_peg(index, not filled)

    def insert_next_peg(self) -> int | None:
        with self._lock:
            index = next((i for i, f in enumerate(self._filled) if not f), None)
        if index is not None:
            self.set_peg(index, True)
        return index

    def remove_last_peg(self) -> int | None:
        with self._lock:
            index = next((i for i in reversed(range(len(self._filled))) if self._filled[i]), None)
        if index is not None:
            self.set_peg(index, False)
        return index

    # -- pads ------------------------------------------------------------------------------------
    def press_pad(self, pad: str, force_n: float | None = None) -> None:
        sim_pad = self._pad(pad)
        force = self.force_level_n if force_n is None else float(force_n)
        if not 0 <= force <= MAX_FORCE_N:
            raise StationError(f"a force of 0 to {MAX_FORCE_N:g} N, not {force:g}")
        with self._lock:
            self._pressed.add(pad)
        sim_pad.force = HeldForce(sim_pad.force, self._now_ns(), force)

    def release_pad(self, pad: str) -> None:
        sim_pad = self._pad(pad)
        with self._lock:
            self._pressed.discard(pad)
        sim_pad.force = HeldForce(sim_pad.force, self._now_ns(), 0.0)

    def drop_in_dish(self) -> None:
        """A peg lands in the dish: a short tap on the dish pad (0.1 s of virtual time)."""
        if self.dish_pad is None:
            raise StationError("this station has no dish pad")
        sim_pad = self._pad(self.dish_pad)
        t = self._now_ns()
        sim_pad.force = HeldForce(HeldForce(sim_pad.force, t, DISH_FORCE_N), t + 100_000_000, 0.0)

    def set_force_level(self, force_n: float) -> None:
        with self._lock:
            self.force_level_n = min(max(0.0, float(force_n)), MAX_FORCE_N)
            pressed = set(self._pressed)
        for pad in pressed:  # a held pad follows the level
            if pad != self.home_pad:
                self.press_pad(pad)

    def _pad(self, name: str) -> Any:
        try:
            return self.rig.sim_pads[name]
        except KeyError:
            raise StationError(f"no pad named {name!r} on this station") from None

    # -- keys ------------------------------------------------------------------------------------
    def key_down(self, key: str) -> bool:
        """A key went down (repeats ignored); True when it is one of the panel's keys."""
        key = key.lower()
        if key in self._keys_down:
            return self._is_panel_key(key)
        if not self._is_panel_key(key):
            return False
        self._keys_down.add(key)
        if key in BUTTON_KEYS or key == "spacebar":
            self.press_button(BUTTON_KEYS.get(key, "index"))
        elif key == "p":
            self.insert_next_peg()
        elif key == "o":
            self.remove_last_peg()
        elif key == "h" and self.home_pad is not None:
            self.press_pad(self.home_pad, HOME_FORCE_N)
        elif key == "d" and self.dish_pad is not None:
            self.drop_in_dish()
        elif key in PAD_KEYS and PAD_KEYS[key] in self.finger_pads:
            self.press_pad(self.finger_pads[PAD_KEYS[key]])
        elif key == "up":
            self.set_force_level(self.force_level_n + FORCE_STEP_N)
        elif key == "down":
            self.set_force_level(self.force_level_n - FORCE_STEP_N)
        return True

    def key_up(self, key: str) -> bool:
        key = key.lower()
        if key not in self._keys_down:
            return self._is_panel_key(key)
        self._keys_down.discard(key)
        if key in BUTTON_KEYS or key == "spacebar":
            self.release_button(BUTTON_KEYS.get(key, "index"))
        elif key == "h" and self.home_pad is not None:
            self.release_pad(self.home_pad)
        elif key in PAD_KEYS and PAD_KEYS[key] in self.finger_pads:
            self.release_pad(self.finger_pads[PAD_KEYS[key]])
        return True

    @staticmethod
    def _is_panel_key(key: str) -> bool:
        return (
            key in BUTTON_KEYS
            or key in PAD_KEYS
            or key in {"spacebar", "p", "o", "h", "d", "up", "down"}
        )
