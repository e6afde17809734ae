"""The kiosk's screens. Each has its layout in ``kv/<name>.kv`` and holds no logic of its own:
it shows what the controllers (:mod:`station.ui`) hold and passes touches to them through the
app (:meth:`KioskApp.call`, which turns any exception into the message screen)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.factory import Factory
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from station.kiosk import theme
from station.kiosk.widgets import FingerCue, ForceBar, Metronome, Pegboard
from station.ui.run import ENDED, READY, REVIEW, RUNNING, RunSnapshot

if TYPE_CHECKING:
    from station.kiosk.app import KioskApp


def kiosk() -> KioskApp:
    return App.get_running_app()  # type: ignore[return-value]


class KioskScreen(Screen):
    def refresh(self) -> None:
        """Called about 60 times a second while the screen is shown."""


# -- home ----------------------------------------------------------------------------------------
class HomeScreen(KioskScreen):
    station_text = StringProperty("")
    notice_text = StringProperty("")
    simulated = BooleanProperty(False)


# -- PIN -----------------------------------------------------------------------------------------
class PinScreen(KioskScreen):
    """Enter the PIN (``mode`` "login"), or set the first one: enter it ("set"), then again
    ("confirm")."""

    prompt = StringProperty("")
    entered = StringProperty("")
    error = StringProperty("")
    mode = StringProperty("login")
    _first = ""

    def start(self, mode: str, message: str = "") -> None:
        self.mode = mode
        self.entered = ""
        self._first = ""
        self.error = message
        self.prompt = {
            "login": "Clinician PIN",
            "set": "No PIN yet: choose a clinician PIN (4-8 digits)",
        }[mode]

    def key(self, text: str) -> None:
        self.error = ""
        if text == "Del":
            self.entered = self.entered[:-1]
        elif text.isdigit() and len(self.entered) < 8:
            self.entered += text

    def submit(self) -> None:
        app = kiosk()
        pin, self.entered = self.entered, ""
        if self.mode == "login":
            ok = app.call(app.controller.login, pin, doing="checking the PIN")
            if ok:
                app.after_login()
            elif ok is False:
                self.error = "Wrong PIN"
        elif self.mode == "set":
            if not pin.isdigit() or not 4 <= len(pin) <= 8:
                self.error = "4 to 8 digits"
                return
            self._first = pin
            self.mode = "confirm"
            self.prompt = "Enter the same PIN again"
        else:
            first, self._first = self._first, ""
            if pin != first:
                self.start("set", "The two PINs differ: start again")
                return
            app.call(app.controller.set_first_pin, first, pin, doing="saving the PIN")
            if app.controller.clinician:
                app.after_login()

    def cancel(self) -> None:
        kiosk().go_home()


# -- participant ---------------------------------------------------------------------------------
class ParticipantScreen(KioskScreen):
    def on_pre_enter(self, *_: Any) -> None:
        self.search(self.ids.search.text)

    def search(self, text: str) -> None:
        app = kiosk()
        rows = app.call(app.controller.participants.search, text, doing="searching") or []
        box = self.ids.found
        box.clear_widgets()
        for row in rows:
            button = Factory.KButton(
                text=f"{row.code}   [size={theme.FONT_SMALL}]{row.summary}[/size]",
                markup=True,
                size_hint_y=None,
                height=theme.TOUCH_PX,
                halign="left",
            )
            button.bind(on_release=lambda _b, code=row.code: self.choose(code))
            box.add_widget(button)
        if not rows:
            box.add_widget(
                Factory.KLabel(
                    text="No participant found: create one on the right.",
                    color=theme.MUTED,
                    size_hint_y=None,
                    height=theme.TOUCH_PX,
                )
            )

    def choose(self, code: str) -> None:
        app = kiosk()
        if app.call(app.controller.participants.select, code, doing="choosing") is not None:
            app.go("battery")

    def _choice(self, *names: str) -> str | None:
        for name in names:
            if self.ids[name].state == "down":
                return name.split("_", 1)[1]
        return None

    def create(self) -> None:
        app = kiosk()
        row = app.call(
            app.controller.participants.create,
            self.ids.code.text,
            birth_year=self.ids.year.text,
            sex=self._choice("sex_female", "sex_male", "sex_other"),
            dominant_hand=self._choice("dom_right", "dom_left"),
            affected_side=self._choice("aff_none", "aff_right", "aff_left", "aff_both"),
            doing="creating the participant",
        )
        if row is not None:
            self.ids.code.text = ""
            self.ids.year.text = ""
            app.go("battery")


# -- battery -------------------------------------------------------------------------------------
class BatteryScreen(KioskScreen):
    participant_text = StringProperty("")
    simulated = BooleanProperty(False)

    def on_pre_enter(self, *_: Any) -> None:
        app = kiosk()
        p = app.controller.participant
        self.participant_text = p.code if p is not None else "-"
        box = self.ids.batteries
        box.clear_widgets()
        for info in app.call(app.controller.batteries, doing="listing batteries") or []:
            button = Factory.ListButton(
                text=f"{info.title}\n[size={theme.FONT_SMALL}]{info.steps}[/size]"
            )
            button.bind(on_release=lambda _b, name=info.name: self.choose(name))
            box.add_widget(button)

    def choose(self, name: str) -> None:
        kiosk().start_battery(name, virtual=self.ids.virtual_toggle.state == "down")


# -- run -----------------------------------------------------------------------------------------
#: What each protocol shows while it runs (anything else: the timer alone).
FEEDBACK: dict[str, tuple[str, ...]] = {
    "nine_hole_peg": ("pegboard",),
    "finger_tapping": ("fingers",),
    "sync_continuation": ("metronome",),
    "reaction_time": ("fingers",),
    "finger_sequence": ("fingers",),
    "max_force": ("force", "fingers"),
    "force_steadiness": ("force", "fingers"),
    "force_tracking": ("force", "fingers"),
    "finger_individuation": ("force", "fingers"),
}


class RunScreen(KioskScreen):
    title_text = StringProperty("")
    progress_text = StringProperty("")
    phase_text = StringProperty("")
    phase_colour = ListProperty(list(theme.PHASE_COLOURS["instructions"]))
    instructions_text = StringProperty("")
    timer_text = StringProperty("")
    values_text = StringProperty("")
    state = StringProperty("")
    auto = BooleanProperty(False)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._protocol = ""
        self.feedback: dict[str, Any] = {}

    def _build_feedback(self, protocol: str, hand: str) -> None:
        box = self.ids.visuals
        box.clear_widgets()
        self.feedback = {}
        for kind in FEEDBACK.get(protocol, ()):
            if kind == "pegboard":
                widget: Any = Pegboard()
            elif kind == "force":
                widget = ForceBar(size_hint_x=0.4)
            elif kind == "metronome":
                widget = Metronome()
            else:
                widget = FingerCue(mirrored=hand == "left")
            self.feedback[kind] = widget
            box.add_widget(widget)

    def refresh(self) -> None:
        run = kiosk().controller.run
        if run is None:
            return
        self.show(run.snapshot())

    def show(self, snap: RunSnapshot) -> None:
        if snap.protocol != self._protocol:
            self._protocol = snap.protocol
            self._build_feedback(snap.protocol, snap.hand)
        self.state = snap.state
        practice = " (practice)" if snap.practice else ""
        self.title_text = (
            f"{snap.protocol_title}: {snap.hand} hand, {snap.trial_label}{practice}"
            if snap.protocol
            else snap.battery_title
        )
        self.progress_text = (
            f"test {snap.blocks_done + 1} of {snap.blocks_total}" if snap.blocks_total else ""
        )
        live = snap.live
        if snap.state == READY:
            self.phase_text = "Ready: start the trial when the participant is ready"
            self.instructions_text = snap.instructions
            kind = "instructions"
        else:
            self.instructions_text = ""
            self.phase_text = snap.phase_text or snap.phase_name.capitalize() or "..."
            kind = snap.phase_kind or "instructions"
        self.phase_colour = list(theme.PHASE_COLOURS.get(kind, theme.PHASE_COLOURS["done"]))
        self.timer_text = f"{live.elapsed_s:5.1f} s"
        self.values_text = self._values(snap)
        fb = self.feedback
        if "pegboard" in fb and live.holes:
            fb["pegboard"].holes = list(live.holes)
        if "force" in fb:
            bar = fb["force"]
            bar.max_n = live.force_max_n
            bar.force_n = live.forces_n.get(live.force_pad or "", 0.0)
            bar.target_n = live.target_n
            bar.band_n = live.band_n
        if "metronome" in fb:
            metronome = fb["metronome"]
            metronome.beat_age_s = live.beat_age_s
            if live.next_beat_in_s is not None and live.beat_interval_s:
                metronome.progress = 1.0 - live.next_beat_in_s / live.beat_interval_s
            else:
                metronome.progress = None
        if "fingers" in fb:
            fb["fingers"].finger = live.cue_finger or ""
        app = kiosk()
        if snap.state == REVIEW and not self.auto:
            app.go("review")
        elif snap.state in ENDED:
            app.run_ended(snap)

    @staticmethod
    def _values(snap: RunSnapshot) -> str:
        live = snap.live
        parts = []
        if live.holes:
            parts.append(f"pegs in {live.holes_filled} of {len(live.holes)}")
        if snap.protocol in ("finger_tapping", "sync_continuation", "finger_sequence"):
            parts.append(f"taps {live.taps}")
        if live.beats_total:
            parts.append(f"beat {live.beats_done} of {live.beats_total}")
        if live.force_pad is not None:
            force = live.forces_n.get(live.force_pad, 0.0)
            target = f" / {live.target_n:.1f}" if live.target_n is not None else ""
            parts.append(f"{force:.1f}{target} N")
        if live.faults:
            parts.append(f"fault: {live.faults[-1]}")
        return "\n".join(parts)

    def start_trial(self) -> None:
        app = kiosk()
        if app.controller.run is not None:
            app.call(app.controller.run.start_trial, doing="starting the trial")

    def skip(self) -> None:
        app = kiosk()
        if app.controller.run is not None:
            app.call(app.controller.run.skip, doing="skipping")

    def abort(self) -> None:
        app = kiosk()
        if app.controller.run is not None:
            app.call(app.controller.run.abort, doing="stopping the session")


# -- review --------------------------------------------------------------------------------------
class ReviewScreen(KioskScreen):
    title_text = StringProperty("")
    status_text = StringProperty("")
    status_ok = BooleanProperty(True)
    metrics_text = StringProperty("")
    faults_text = StringProperty("")

    def on_pre_enter(self, *_: Any) -> None:
        run = kiosk().controller.run
        if run is None:
            return
        snap = run.snapshot()
        t = snap.last_trial
        if t is None:
            return
        self.title_text = f"{t.title}: {t.hand} hand, {t.label}"
        self.status_ok = t.status == "complete"
        self.status_text = {
            "complete": "Complete",
            "timeout": "Timed out",
            "incomplete": "Incomplete",
        }.get(t.status, t.status)
        lines = [f"{name.replace('_', ' ')}: [b]{value}[/b]" for name, value in t.metrics]
        self.metrics_text = "\n".join(lines) or t.headline
        self.faults_text = "\n".join(f"{f}\n  -> {advice}" for f, advice in t.faults)
        self.ids.reason.text = ""
        for child in self._reason_buttons():
            child.state = "normal"

    def _reason_buttons(self) -> list[Any]:
        return [w for w in self.walk() if getattr(w, "group", None) == "reason"]

    def refresh(self) -> None:
        run = kiosk().controller.run
        if run is None:
            return
        snap = run.snapshot()
        if snap.state in (READY, RUNNING):
            kiosk().go("run")
        elif snap.state in ENDED:
            kiosk().run_ended(snap)

    def _reason(self) -> str:
        typed = self.ids.reason.text.strip()
        chosen = next((w.text for w in self._reason_buttons() if w.state == "down"), "")
        return typed or chosen

    def keep(self) -> None:
        app = kiosk()
        if app.controller.run is not None:
            app.call(app.controller.run.keep, doing="keeping the trial")

    def mark_invalid(self) -> None:
        app = kiosk()
        reason = self._reason()
        if not reason:
            app.show_message("Give a reason", "Choose or type why the trial is invalid.", "")
            return
        if app.controller.run is not None:
            app.call(app.controller.run.mark_invalid, reason, doing="marking the trial invalid")

    def skip(self) -> None:
        app = kiosk()
        if app.controller.run is not None:
            app.call(app.controller.run.skip, doing="skipping")

    def abort(self) -> None:
        app = kiosk()
        if app.controller.run is not None:
            app.call(app.controller.run.abort, doing="stopping the session")


# -- results -------------------------------------------------------------------------------------
RESULT_COLUMNS = (
    ("test", 0.2),
    ("metric", 0.27),
    ("value", 0.14),
    ("norm", 0.13),
    ("baseline", 0.13),
    ("change", 0.13),
)


class ResultsScreen(KioskScreen):
    title_text = StringProperty("")
    summary_text = StringProperty("")

    def show(self, code: str, session_id: int | None) -> None:
        app = kiosk()
        session = app.call(
            app.controller.results.session, code, session_id, doing="loading the results"
        )
        header = self.ids.header
        header.clear_widgets()
        for name, width in RESULT_COLUMNS:
            header.add_widget(
                Factory.ResultCell(text=name, bold=True, color=theme.ACCENT, size_hint_x=width)
            )
        table = self.ids.table
        table.clear_widgets()
        if session is None:
            self.title_text = f"Results: {code}"
            self.summary_text = "No session stored yet."
            return
        sim = ", SIMULATED" if session.simulated else ""
        self.title_text = f"Results: {code}, session {session.session_id}"
        self.summary_text = f"{session.battery}, {session.status}{sim}, {session.started_utc}"
        for row in session.rows:
            change_colour = theme.ACCENT if row.reliable else theme.FG
            cells = (
                (f"{row.protocol.replace('_', ' ')} {row.hand[0].upper()}", theme.FG),
                (row.metric.replace("_", " "), theme.FG),
                (row.value, theme.FG),
                (row.norm, theme.MUTED),
                (row.baseline, theme.MUTED),
                (row.change + (" *" if row.reliable else ""), change_colour),
            )
            for (text, colour), (_, width) in zip(cells, RESULT_COLUMNS, strict=True):
                table.add_widget(Factory.ResultCell(text=text, color=colour, size_hint_x=width))


# -- message -------------------------------------------------------------------------------------
class MessageScreen(KioskScreen):
    title_text = StringProperty("")
    body_text = StringProperty("")
    what_to_do = StringProperty("")
    severity = StringProperty("error")
    back_to = StringProperty("home")

    def ok(self) -> None:
        kiosk().go(self.back_to)
