"""The Kivy app: screens over the controllers of :mod:`station.ui`.

Import this module only after :func:`station.kiosk.main.prepare_kivy` has set Kivy's environment
and window configuration (Kivy reads them when it is first imported).
"""

from __future__ import annotations

import gc
import logging
import signal
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.window import Keyboard, Window
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, ScreenManager

from station.kiosk import practice as practice_screens
from station.kiosk import selfguided as sg_screens
from station.kiosk import theme
from station.kiosk.audio import CuePlayer
from station.kiosk.screens import (
    BatteryScreen,
    HomeScreen,
    KioskScreen,
    MessageScreen,
    ParticipantScreen,
    PinScreen,
    ResultsScreen,
    ReviewScreen,
    RunScreen,
    SettingsScreen,
    interrupted_notice,
)
from station.kiosk.theme import style
from station.ui.app import AppController
from station.ui.demo import DemoDriver
from station.ui.errors import Message, message_for
from station.ui.run import ABORTED, FAILED, FINISHED, RunSnapshot
from station.ui.virtual import VirtualHardwareController
from station.watchdog import Heartbeat

log = logging.getLogger("station.kiosk")

KV_DIR = Path(__file__).parent / "kv"
SCREENS = (
    ("home", HomeScreen),
    ("pin", PinScreen),
    ("participant", ParticipantScreen),
    ("battery", BatteryScreen),
    ("run", RunScreen),
    ("review", ReviewScreen),
    ("results", ResultsScreen),
    ("message", MessageScreen),
    ("settings", SettingsScreen),
    *sg_screens.SCREENS,  # self-guided mode (station.kiosk.selfguided)
    *practice_screens.SCREENS,  # practice in self-guided mode (station.kiosk.practice)
)
#: Screens that need the clinician logged in (the idle lock takes them away).
CLINICIAN_SCREENS = ("participant", "battery", "run", "review", "results", "settings", "sg_setup")
REFRESH_HZ = 60.0
#: The start-up objects are collected and frozen this long after the app starts, s.
SETTLE_AFTER_START_S = 1.0
_KEY_NAMES = {code: name for name, code in Keyboard.keycodes.items()}


def load_kv() -> None:
    """Load the theme and one ``.kv`` file per screen (once per process)."""
    for name in ("theme", *(n for n, _ in SCREENS)):
        path = str(KV_DIR / f"{name}.kv")
        if path not in Builder.files:
            Builder.load_file(path)


class VirtualPanel(BoxLayout):
    """On-screen virtual hardware (simulated backend): finger buttons, home pad, dish, pegs, the
    finger pads and the force level. Buttons act while held, like the real ones."""

    def __init__(self, virtual: VirtualHardwareController, app: KioskApp, **kwargs: Any):
        super().__init__(
            orientation="vertical",
            size_hint_y=None,
            height=2 * theme.TOUCH_PX + theme.GAP_PX,
            spacing=theme.GAP_PX,
            **kwargs,
        )
        self.virtual = virtual
        self.app = app
        self.buttons: dict[str, Any] = {}
        row1 = BoxLayout(spacing=theme.GAP_PX)
        for finger in ("thumb", "index", "middle", "ring", "little"):
            if finger in virtual.buttons:
                self._hold(row1, f"btn:{finger}", finger.capitalize(), self._button(finger))
        if virtual.home_pad is not None:
            b = Factory.KToggle(text="Home pad", allow_no_selection=True, font_size=16)
            b.bind(state=self._home)
            row1.add_widget(b)
            self.buttons["home"] = b
        if virtual.dish_pad is not None:
            self._tap(row1, "dish", "Dish", virtual.drop_in_dish)
        row2 = BoxLayout(spacing=theme.GAP_PX)
        self._tap(row2, "peg_in", "Peg in", virtual.insert_next_peg)
        self._tap(row2, "peg_out", "Peg out", virtual.remove_last_peg)
        for finger, pad in virtual.finger_pads.items():
            self._hold(row2, f"pad:{finger}", f"Pad {finger[0].upper()}", self._pad(pad))
        self._tap(row2, "force_down", "-", lambda: self._force(-1.0))
        self.level = Factory.KLabel(text="", halign="center", font_size=16)
        row2.add_widget(self.level)
        self._tap(row2, "force_up", "+", lambda: self._force(1.0))
        self.add_widget(row1)
        self.add_widget(row2)
        self.refresh()

    def _hold(self, row: Any, key: str, text: str, actions: tuple[Any, Any]) -> None:
        press, release = actions
        b = Factory.KButton(text=text, font_size=16)
        b.bind(on_press=lambda *_: self.app.call(press, doing="pressing"))
        b.bind(on_release=lambda *_: self.app.call(release, doing="releasing"))
        row.add_widget(b)
        self.buttons[key] = b

    def _tap(self, row: Any, key: str, text: str, action: Any) -> None:
        b = Factory.KButton(text=text, font_size=16)
        b.bind(on_release=lambda *_: self.app.call(action, doing=text.lower()))
        row.add_widget(b)
        self.buttons[key] = b

    def _button(self, finger: str) -> tuple[Any, Any]:
        v = self.virtual
        return (lambda: v.press_button(finger)), (lambda: v.release_button(finger))

    def _pad(self, pad: str) -> tuple[Any, Any]:
        v = self.virtual
        return (lambda: v.press_pad(pad)), (lambda: v.release_pad(pad))

    def _home(self, _: Any, state: str) -> None:
        v = self.virtual
        if v.home_pad is None:
            return
        if state == "down":
            self.app.call(v.press_pad, v.home_pad, 3.0, doing="pressing the home pad")
        else:
            self.app.call(v.release_pad, v.home_pad, doing="releasing the home pad")

    def _force(self, step_n: float) -> None:
        self.virtual.set_force_level(self.virtual.force_level_n + step_n)
        self.refresh()

    def refresh(self) -> None:
        self.level.text = f"{self.virtual.force_level_n:.0f} N"


class _ErrorsToScreen(ExceptionHandler):
    """Any exception escaping a Kivy callback: the message screen, and the app carries on."""

    def __init__(self, app: KioskApp):
        self.app = app

    def handle_exception(self, inst: BaseException) -> int:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        self.app.show_error(inst, "")
        return ExceptionManager.PASS


class KioskApp(App):
    title = "Dexterity Station"

    def __init__(
        self,
        controller: AppController,
        *,
        demo: DemoDriver | None = None,
        on_home: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.controller = controller
        self.demo = demo
        self.on_home_shown = on_home  # called once, when the home screen is first drawn
        self.sm: ScreenManager | None = None
        self.panel: VirtualPanel | None = None
        self._return_to: str | None = None
        self._note: ModalView | None = None
        self._handler = _ErrorsToScreen(self)
        #: The screen's sound cues (see station.kiosk.audio).
        self.audio = CuePlayer(controller.config.data_dir / "kivy" / "sounds")
        #: systemd's watchdog, beaten from this event loop (a no-op outside systemd).
        self.heartbeat = Heartbeat()
        #: A stop signal arrived (see :meth:`stop_on_signals`); the next frame stops the app.
        self.stop_signal: int | None = None
        self._said_stopping = False

    # -- building --------------------------------------------------------------------------------
    def build(self) -> Any:
        load_kv()
        self.apply_settings()
        c = self.controller
        root = BoxLayout(orientation="vertical")
        if c.simulated:
            root.add_widget(Factory.SimBanner())
        self.sm = ScreenManager(transition=NoTransition())
        for name, cls in SCREENS:
            self.sm.add_widget(cls(name=name))
        root.add_widget(self.sm)
        home: HomeScreen = self.screen("home")  # type: ignore[assignment]
        home.simulated = c.simulated
        home.station_text = f"station {c.config.station_id}" + (
            ", simulated hardware" if c.simulated else ""
        )
        home.notice_text = interrupted_notice(c.interrupted, (c.settings.problem, c.device_problem))
        self.screen("battery").simulated = c.simulated  # type: ignore[attr-defined]
        if c.virtual is not None:
            self.panel = VirtualPanel(c.virtual, self)
            self.screen("run").ids.body.add_widget(self.panel)
        return root

    def on_start(self) -> None:
        # after the home screen is up (not delaying its first frame)
        Clock.schedule_once(lambda _dt: self.settle_memory(freeze=True), SETTLE_AFTER_START_S)
        ExceptionManager.add_handler(self._handler)
        Window.bind(on_key_down=self._key_down, on_key_up=self._key_up)
        Window.bind(on_touch_down=self._activity)
        Clock.schedule_interval(self._tick, 1 / REFRESH_HZ)
        Clock.schedule_interval(self._idle_check, 1.0)
        if self.on_home_shown is not None:
            Clock.schedule_once(lambda _dt: self.on_home_shown(), 0)
        if self.demo is not None:
            Clock.schedule_once(lambda _dt: self.start_demo(), 0)
        # once the first frame is on the screen (drawn and swapped)
        Window.bind(on_flip=self._first_flip)

    def _status(self) -> str:
        c = self.controller
        return f"kiosk of station {c.config.station_id}" + (
            " (simulated hardware)" if c.simulated else ""
        )

    def _first_flip(self, *_: Any) -> None:
        Window.unbind(on_flip=self._first_flip)
        self.heartbeat.ready(self._status())
        if self.heartbeat.interval_s is not None:
            Clock.schedule_interval(self._beat, self.heartbeat.interval_s)

    def _beat(self, _dt: float) -> None:
        self.heartbeat.beat()

    def stop_on_signals(self, signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> None:
        """Stop cleanly on these signals (``systemctl stop``, a shutdown): a trial running is
        aborted and stored as such, the store is closed. The handler only notes the signal; the
        next frame stops the app (nothing of Kivy's runs inside a signal handler)."""

        def note(signum: int, _frame: Any) -> None:
            self.stop_signal = signum

        for signum in signums:
            signal.signal(signum, note)

    def on_stop(self) -> None:
        # once (Kivy calls on_stop again when App.stop() ended the loop): systemd is told once
        if self.heartbeat.enabled and not self._said_stopping:
            self._said_stopping = True
            why = f" ({signal.Signals(self.stop_signal).name})" if self.stop_signal else ""
            self.heartbeat.stopping("stopping" + why)
        Clock.unschedule(self._beat)
        ExceptionManager.remove_handler(self._handler)
        Window.unbind(on_key_down=self._key_down, on_key_up=self._key_up)
        Window.unbind(on_touch_down=self._activity)
        Window.unbind(on_flip=self._first_flip)
        Clock.unschedule(self._tick)
        Clock.unschedule(self._idle_check)

    # -- navigation ------------------------------------------------------------------------------
    def screen(self, name: str) -> KioskScreen:
        assert self.sm is not None
        return self.sm.get_screen(name)  # type: ignore[no-any-return]

    @property
    def current(self) -> str:
        return self.sm.current if self.sm is not None else ""

    def go(self, name: str) -> None:
        if self.sm is None or self.sm.current == name:
            return
        if name in CLINICIAN_SCREENS and not self.controller.clinician and not self._demo_running:
            self._return_to = name
            self.screen("pin").start("set" if self.controller.needs_pin else "login")  # type: ignore[attr-defined]
            name = "pin"
        self.sm.current = name

    def go_home(self) -> None:
        run = self.controller.run
        if run is not None and not run.ended:
            self.go("run")
            return
        self.go("home")

    @property
    def _demo_running(self) -> bool:
        run = self.controller.run
        return run is not None and run.auto

    def open_clinician(self) -> None:
        c = self.controller
        if c.clinician:
            self.go("participant")
            return
        self._return_to = "participant"
        self.screen("pin").start("set" if c.needs_pin else "login")  # type: ignore[attr-defined]
        self.go("pin")

    def after_login(self) -> None:
        target, self._return_to = self._return_to or "participant", None
        self.go(target)

    def start_battery(self, name: str, *, virtual: bool) -> None:
        c = self.controller
        if self.call(c.choose_battery, name, doing="loading the battery") is None:
            return
        person = self.call(c.virtual_participant, doing="setting up") if virtual else None
        run = self.call(c.start_run, person=person, doing="starting the session")
        if run is not None:
            self.screen("run").auto = False  # type: ignore[attr-defined]
            self.go("run")

    def new_session(self) -> None:
        self.go("battery")

    # -- settings and sound ----------------------------------------------------------------------
    def open_settings(self) -> None:
        screen: SettingsScreen = self.screen("settings")  # type: ignore[assignment]
        if self.current not in ("settings", "pin", "message", ""):
            screen.back_to = self.current
        self.go("settings")

    def apply_settings(self) -> None:
        """Apply the display settings: the theme and text size (every screen follows), sound,
        and the run screen's mirroring (at its next refresh)."""
        settings = self.controller.settings
        s = settings.settings
        style.apply(text_scale=s.text_scale, high_contrast=s.high_contrast)
        Window.clearcolor = style.bg
        self.audio.enabled = settings.sound_on
        if self.sm is not None:
            run: RunScreen = self.screen("run")  # type: ignore[assignment]
            run.reset_visuals()

    def settle_memory(self, *, freeze: bool = False) -> None:
        """A full garbage collection now, while nothing moves on screen (the app has started, or
        a trial is waiting to start or to be reviewed), so that one is unlikely during a trial: a
        full pass takes 100-200 ms on a small computer, a frozen screen and a stalled simulation
        (docs/benchmarks.md). ``freeze``: the app's start-up objects (modules, screens, widgets)
        are moved out of the collector's sight for good (``gc.freeze``), so later passes are
        short."""
        gc.collect()
        if freeze:
            gc.freeze()

    def play_cues(self, snap: RunSnapshot) -> None:
        """Sound the buzzer's cues that have fired (the run screen calls this)."""
        try:
            self.audio.update(snap.trial_serial, snap.live)
        except Exception:  # sound is feedback only: never let it stop the screen
            log.exception("sound cues failed; they are off")
            self.audio.unavailable = True

    def start_demo(self) -> None:
        c = self.controller
        driver = self.demo or DemoDriver(c)
        self.demo = driver
        run = self.call(driver.start, doing="starting the demonstration")
        if run is not None:
            self.screen("run").auto = True  # type: ignore[attr-defined]
            self.sm.current = "run"  # type: ignore[union-attr]

    def run_ended(self, snap: RunSnapshot) -> None:
        if self.current not in ("run", "review"):
            return
        if snap.state == FAILED and snap.message is not None:
            self.show(snap.message, back_to="home")
            return
        participant = self.controller.run.participant.code if self.controller.run else ""
        if snap.state in (FINISHED, ABORTED):
            results: ResultsScreen = self.screen("results")  # type: ignore[assignment]
            results.show(participant, snap.session_id)
            if snap.state == ABORTED:
                results.summary_text = "Session aborted. " + results.summary_text
            self.sm.current = "results"  # type: ignore[union-attr]

    # -- messages and errors ---------------------------------------------------------------------
    def call(self, fn: Any, *args: Any, doing: str = "", **kwargs: Any) -> Any:
        """Run a controller call; on an exception show the message screen and return None."""
        value, message = self.controller.attempt(fn, *args, doing=doing, **kwargs)
        if message is not None:
            self.show(message)
        return value

    def show(self, message: Message, back_to: str | None = None) -> None:
        screen: MessageScreen = self.screen("message")  # type: ignore[assignment]
        screen.title_text = message.title
        screen.body_text = message.text
        screen.what_to_do = message.what_to_do
        screen.severity = message.severity
        current = self.current
        screen.back_to = back_to or (current if current not in ("message", "") else "home")
        if self._note is not None:
            self._note.dismiss(animation=False)
        if self.sm is not None:
            self.sm.current = "message"

    def show_message(self, title: str, text: str, what_to_do: str) -> None:
        self.show(Message(title, text, what_to_do, "warning"))

    def show_error(self, exc: BaseException, doing: str) -> None:
        try:
            self.show(message_for(exc, doing), back_to="home")
        except Exception:  # the message screen itself failed: log, never crash
            log.exception("could not show an error")

    # -- notes -----------------------------------------------------------------------------------
    def open_note(self) -> None:
        run = self.controller.run
        if run is None:
            return
        view = ModalView(size_hint=(0.9, None), height=2 * theme.TOUCH_PX + 40, auto_dismiss=False)
        box = BoxLayout(orientation="vertical", padding=10, spacing=theme.GAP_PX)
        text = Factory.KInput(hint_text="note for the record (no names)")
        row = BoxLayout(size_hint_y=None, height=theme.TOUCH_PX, spacing=theme.GAP_PX)
        save = Factory.PrimaryButton(text="Save note")
        cancel = Factory.KButton(text="Cancel")

        def do_save(*_: Any) -> None:
            view.dismiss(animation=False)
            self.call(run.add_note, text.text, doing="saving the note")

        save.bind(on_release=do_save)
        cancel.bind(on_release=lambda *_: view.dismiss(animation=False))
        row.add_widget(save)
        row.add_widget(cancel)
        box.add_widget(text)
        box.add_widget(row)
        view.add_widget(box)
        view.bind(on_dismiss=lambda *_: setattr(self, "_note", None))
        self._note = view
        view.open()
        text.focus = True

    # -- periodic --------------------------------------------------------------------------------
    def _tick(self, _dt: float) -> None:
        if self.stop_signal is not None:
            log.info("stopping on %s", signal.Signals(self.stop_signal).name)
            Clock.unschedule(self._tick)
            self.stop()
            return
        if self.sm is None:
            return
        screen = self.sm.current_screen
        if isinstance(screen, KioskScreen):
            screen.refresh()
        if self.panel is not None:
            self.panel.refresh()

    def _idle_check(self, _dt: float) -> None:
        if self.controller.check_idle_lock() and self.current in CLINICIAN_SCREENS:
            self._return_to = self.current
            pin: PinScreen = self.screen("pin")  # type: ignore[assignment]
            minutes = self.controller.auth.settings.idle_lock_min
            pin.start("login", f"Locked after {minutes:g} min without a touch")
            if self._note is not None:
                self._note.dismiss(animation=False)
            self.sm.current = "pin"  # type: ignore[union-attr]

    def _activity(self, *_: Any) -> None:
        self.controller.touch()

    def _typing(self) -> bool:
        return self._note is not None or self.current in ("participant", "review")

    def _key_down(self, _w: Any, key: int, _sc: int, _cp: str | None, _mods: Any) -> bool:
        self.controller.touch()
        v = self.controller.virtual
        if v is None or self._typing() or self.current != "run":
            return False
        name = _KEY_NAMES.get(key, "")
        handled = bool(self.call(v.key_down, name, doing="virtual hardware"))
        return handled

    def _key_up(self, _w: Any, key: int, _sc: int) -> bool:
        v = self.controller.virtual
        if v is None or self._typing() or self.current != "run":
            return False
        return bool(self.call(v.key_up, _KEY_NAMES.get(key, ""), doing="virtual hardware"))
