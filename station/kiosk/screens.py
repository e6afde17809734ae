"""The kiosk's screens. Each has its layout in ``kv/<name>.kv`` and holds no logic of its own:
it shows what the controllers (:mod:`station.ui`) hold and passes touches to them through the
app (:meth:`KioskApp.call`, which turns any exception into the message screen)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.factory import Factory
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from station.kiosk import theme
from station.kiosk.diagrams import DIAGRAMS, Diagram
from station.kiosk.theme import style
from station.kiosk.widgets import (
    FingerCue,
    ForceBar,
    ForceTrace,
    Metronome,
    PadForces,
    Pegboard,
    TapCounter,
)
from station.ui.errors import fault_message
from station.ui.run import ENDED, READY, REVIEW, RUNNING, LiveValues, RunSnapshot, TrialSummary
from station.ui.settings import TEXT_SIZES

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


#: The home screen names at most this many interrupted trials (the rest are counted).
MAX_INTERRUPTED_SHOWN = 3


def interrupted_notice(items: list[Any], problems: tuple[str, ...] = ()) -> str:
    """The home screen's notice: which sessions or trials a crash interrupted, what to do, and
    any other problem found at start (a damaged settings file)."""
    lines: list[str] = []
    if items:
        lines.append("Interrupted by a crash or power cut (the app was restarted):")
        for item in items[:MAX_INTERRUPTED_SHOWN]:
            lines.append(f"- {item.what}. {item.what_to_do}")
        if len(items) > MAX_INTERRUPTED_SHOWN:
            lines.append(
                f"... and {len(items) - MAX_INTERRUPTED_SHOWN} more (each session's results "
                "show its incomplete trials)."
            )
    lines.extend(p for p in problems if p)
    return "\n".join(lines)


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
                text=f"{row.code}   [size={style.font_small}]{row.summary}[/size]",
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
                    color=style.muted,
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
                text=f"{info.title}\n[size={style.font_small}]{info.steps}[/size]"
            )
            button.bind(on_release=lambda _b, name=info.name: self.choose(name))
            box.add_widget(button)

    def choose(self, name: str) -> None:
        kiosk().start_battery(name, virtual=self.ids.virtual_toggle.state == "down")


# -- run -----------------------------------------------------------------------------------------
#: What each protocol shows while it runs: every protocol of station/protocols has its own.
FEEDBACK: dict[str, tuple[str, ...]] = {
    "nine_hole_peg": ("pegboard",),
    "purdue_pegboard": ("purdue",),
    "finger_tapping": ("taps", "fingers"),
    "sync_continuation": ("metronome", "taps"),
    "reaction_time": ("fingers",),
    "finger_sequence": ("fingers", "taps"),
    "max_force": ("force", "fingers"),
    "force_steadiness": ("force", "fingers"),
    "force_tracking": ("trace", "force"),
    "finger_individuation": ("pads",),
}
#: "Go!" stays on screen this long after the go cue, s.
GO_SHOWN_S = 0.8
#: How the run screen's feedback widgets share its width.
WIDTHS = {"force": 0.35, "taps": 0.45, "trace": 0.75, "metronome": 0.55}


def diagram_details(protocol: str, params: dict[str, Any]) -> dict[str, str]:
    """What a protocol's instruction drawing needs from its parameters."""
    details: dict[str, str] = {}
    finger = params.get("finger") or params.get("simple_finger")
    fingers = params.get("fingers") or params.get("choice_fingers")
    if not finger and isinstance(fingers, list | tuple) and fingers:
        finger = fingers[0]
    if isinstance(finger, str):
        details["finger"] = finger
    if isinstance(params.get("sequence"), str):
        details["fingers"] = ",".join(f.strip() for f in params["sequence"].split(","))
    if params.get("subtest") in ("both", "assembly"):
        details["both"] = "1"
    if protocol == "max_force":
        details["mode"] = "max"
    return details


def countdown_text(snap: RunSnapshot) -> str:
    """The big countdown over the drawing: whole seconds to a go beep, then "Go!"."""
    live = snap.live
    if snap.state != RUNNING or not live.countdown:
        return ""
    if live.go_in_s is not None:
        return str(max(1, math.ceil(live.go_in_s)))
    if snap.phase_kind in ("go", "active") and live.elapsed_s < GO_SHOWN_S:
        return "Go!"
    return ""


class RunScreen(KioskScreen):
    title_text = StringProperty("")
    progress_text = StringProperty("")
    phase_text = StringProperty("")
    phase_colour = ListProperty(list(theme.PHASE_COLOURS["instructions"]))
    instructions_text = StringProperty("")
    timer_text = StringProperty("")
    values_text = StringProperty("")
    countdown_text = StringProperty("")
    fault_text = StringProperty("")
    state = StringProperty("")
    auto = BooleanProperty(False)
    practice = BooleanProperty(False)
    mirrored = BooleanProperty(False)  # the whole screen (a left-hand test, with the setting on)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._shown = ("", "", -1)  # (protocol, hand, trial serial) the visuals were built for
        self._visuals = ""  # "diagram" or "feedback"
        self._peak_n = 0.0
        self._peak_serial = -1
        self.feedback: dict[str, Any] = {}
        self.diagram: Diagram | None = None
        #: The snapshot drawn last (the benchmark reads its sample time).
        self.shown: RunSnapshot | None = None

    # -- building the visuals --------------------------------------------------------------------
    def _build_feedback(self, snap: RunSnapshot) -> None:
        box = self.ids.visuals
        box.clear_widgets()
        self.feedback = {}
        mirror = snap.hand == "left"
        for kind in FEEDBACK.get(snap.protocol, ()):
            if kind == "pegboard":
                widget: Any = Pegboard()
            elif kind == "purdue":
                n = max(
                    1, len(snap.live.holes) // 2 or int(snap.params.get("holes_per_column", 25))
                )
                widget = Pegboard(columns=2, by_column=True, holes=[False] * (2 * n))
            elif kind == "force":
                widget = ForceBar()
            elif kind == "trace":
                widget = ForceTrace()
            elif kind == "pads":
                widget = PadForces(mirrored=mirror)
            elif kind == "metronome":
                widget = Metronome()
            elif kind == "taps":
                widget = TapCounter()
            else:
                widget = FingerCue(mirrored=mirror)
            if kind in WIDTHS and len(FEEDBACK[snap.protocol]) > 1:
                widget.size_hint_x = WIDTHS[kind]
            self.feedback[kind] = widget
        kinds = list(self.feedback)
        if mirror:
            kinds.reverse()  # the bar, the counter: on the tested hand's side
        for kind in kinds:
            box.add_widget(self.feedback[kind])
        self._visuals = "feedback"

    def _build_diagram(self, snap: RunSnapshot) -> None:
        box = self.ids.visuals
        box.clear_widgets()
        self.feedback = {}
        self.diagram = Diagram(
            kind=DIAGRAMS.get(snap.protocol, ""),
            mirrored=snap.hand == "left",
            details=diagram_details(snap.protocol, snap.params),
        )
        box.add_widget(self.diagram)
        self._visuals = "diagram"

    def apply_mirror(self, mirrored: bool) -> None:
        """Mirror the whole screen (buttons on the left, drawings on the far side) or not."""
        self.mirrored = mirrored
        for box, first in ((self.ids.main, self.ids.left), (self.ids.content, self.ids.info)):
            children = list(reversed(box.children))  # in the order they are laid out
            want_first = not mirrored
            if (children[0] == first) != want_first:  # ids hold weak proxies: compare, not `is`
                for child in children:
                    box.remove_widget(child)
                for child in reversed(children):
                    box.add_widget(child)

    def reset_visuals(self) -> None:
        """Build the visuals again at the next refresh (the settings changed)."""
        self._shown = ("", "", -1)
        if self.shown is not None and kiosk().controller.run is None:
            self.show(self.shown)

    # -- refreshing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        run = kiosk().controller.run
        if run is None:
            return
        self.show(run.snapshot())

    def show(self, snap: RunSnapshot) -> None:
        app = kiosk()
        key = (snap.protocol, snap.hand, snap.trial_serial)
        want = "diagram" if snap.state in (READY,) else "feedback"
        if key != self._shown or want != self._visuals:
            self._shown = key
            settings = app.controller.settings.settings
            self.apply_mirror(settings.mirror_screen(snap.hand))
            if want == "diagram":
                self._build_diagram(snap)
            else:
                self._build_feedback(snap)
        if snap.state != self.state and snap.state in (READY, REVIEW):
            app.settle_memory()  # between trials, not during one
        self.state = snap.state
        self.practice = snap.practice
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
            self.phase_text = (
                "Practice trial (not scored): start when ready"
                if snap.practice
                else "Ready: start the trial when the participant is ready"
            )
            self.instructions_text = snap.instructions
            kind = "instructions"
        else:
            self.instructions_text = ""
            self.phase_text = snap.phase_text or snap.phase_name.capitalize() or "..."
            kind = snap.phase_kind or "instructions"
        self.phase_colour = list(style.phase_colour(kind))
        self.timer_text = f"{live.elapsed_s:5.1f} s"
        self.values_text = self._values(snap)
        self.countdown_text = countdown_text(snap)
        self.fault_text = self._fault(live) if snap.state == RUNNING else ""
        self._show_feedback(snap)
        self.shown = snap
        if snap.state == RUNNING:
            app.play_cues(snap)
        if snap.state == REVIEW and not self.auto:
            app.go("review")
        elif snap.state in ENDED:
            app.run_ended(snap)

    def _show_feedback(self, snap: RunSnapshot) -> None:
        live = snap.live
        fb = self.feedback
        if "pegboard" in fb and live.holes:
            fb["pegboard"].holes = list(live.holes)
        if "purdue" in fb and live.holes:
            n = len(live.holes) // 2  # right column first in the roles; drawn on the right
            fb["purdue"].holes = list(live.holes[n:]) + list(live.holes[:n])
        force = live.forces_n.get(live.force_pad or "", 0.0)
        if snap.trial_serial != self._peak_serial:
            self._peak_serial = snap.trial_serial
            self._peak_n = 0.0
        if snap.phase_kind in ("go", "active"):
            self._peak_n = max(self._peak_n, force)
        if "force" in fb:
            bar = fb["force"]
            bar.max_n = live.force_max_n
            bar.force_n = force
            bar.target_n = live.target_n
            bar.band_n = live.band_n
            bar.peak_n = self._peak_n if snap.protocol == "max_force" else None
        if "trace" in fb:
            trace = fb["trace"]
            trace.max_n = live.force_max_n
            if snap.state == RUNNING and live.force_pad is not None:
                trace.add(live.t_s, force, live.target_n)
        if "pads" in fb:
            pads = fb["pads"]
            pads.max_n = live.force_max_n
            pads.forces = {f: live.forces_n.get(p, 0.0) for f, p in live.pad_fingers}
            pads.active = live.cue_finger or ""
            pads.target_n = live.target_n
            pads.band_n = live.band_n
        if "metronome" in fb:
            metronome = fb["metronome"]
            metronome.beat_age_s = live.beat_age_s
            if live.next_beat_in_s is not None and live.beat_interval_s:
                metronome.progress = 1.0 - live.next_beat_in_s / live.beat_interval_s
            else:
                metronome.progress = None
        if "taps" in fb:
            fb["taps"].count = live.taps
            fb["taps"].tick()
        if "fingers" in fb:
            cue = fb["fingers"]
            cue.finger = live.cue_finger or ""
            cue.pressed = list(live.pressed)
            if live.sequence:
                numbers: dict[str, str] = {}
                for i, f in enumerate(live.sequence):
                    numbers[f] = f"{numbers[f]},{i + 1}" if f in numbers else str(i + 1)
                cue.numbers = numbers

    @staticmethod
    def _fault(live: LiveValues) -> str:
        if not live.faults:
            return ""
        message = fault_message(live.faults[-1])
        more = f" ({len(live.faults)} faults)" if len(live.faults) > 1 else ""
        return (
            f"[b]{message.title}{more}:[/b] {_escape(message.text)}\n"
            f"[b]What to do:[/b] {_escape(message.what_to_do)}"
        )

    @staticmethod
    def _values(snap: RunSnapshot) -> str:
        live = snap.live
        parts = []
        if live.holes:
            parts.append(f"pegs in {live.holes_filled} of {len(live.holes)}")
        if snap.protocol in ("finger_tapping", "sync_continuation", "finger_sequence"):
            parts.append(f"taps {live.taps}")
        if live.stimuli_total:
            parts.append(f"light {live.stimuli_done} of {live.stimuli_total}")
            parts.append(f"presses {live.taps}")
        if live.beats_total:
            parts.append(f"beat {live.beats_done} of {live.beats_total}")
        if live.force_pad is not None:
            force = live.forces_n.get(live.force_pad, 0.0)
            target = f" / {live.target_n:.1f}" if live.target_n is not None else ""
            parts.append(f"{force:.1f}{target} N")
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


def _escape(text: str) -> str:
    """Text shown in a markup label, as it is (no markup inside it)."""
    return text.replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


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
        t = run.snapshot().last_trial
        if t is not None:
            self.show_trial(t)

    def show_trial(self, t: TrialSummary) -> None:
        self.title_text = f"{t.title}: {t.hand} hand, {t.label}"
        self.status_ok = t.status == "complete" and not t.faults
        status = {
            "complete": "Complete",
            "timeout": "Timed out",
            "incomplete": "Incomplete",
        }.get(t.status, t.status)
        if t.faults:
            n = len(t.faults)
            status += f", flagged: {n} fault{'s' if n > 1 else ''}"
        self.status_text = status
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
                Factory.ResultCell(text=name, bold=True, color=style.accent, size_hint_x=width)
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
            change_colour = style.accent if row.reliable else style.fg
            cells = (
                (f"{row.protocol.replace('_', ' ')} {row.hand[0].upper()}", style.fg),
                (row.metric.replace("_", " "), style.fg),
                (row.value, style.fg),
                (row.norm, style.muted),
                (row.baseline, style.muted),
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


# -- settings ------------------------------------------------------------------------------------
class SettingsScreen(KioskScreen):
    """Text size, high contrast, mirroring the run screen for the left hand, sound (clinician)."""

    text_size = StringProperty("normal")
    high_contrast = BooleanProperty(False)
    mirror_run_screen = BooleanProperty(False)
    sound = BooleanProperty(False)
    back_to = StringProperty("participant")
    note_text = StringProperty("")

    def on_pre_enter(self, *_: Any) -> None:
        self.load()

    def load(self) -> None:
        controller = kiosk().controller.settings
        s = controller.settings
        self.text_size = s.text_size
        self.high_contrast = s.high_contrast
        self.mirror_run_screen = s.mirror_run_screen
        self.sound = controller.sound_on
        audio = kiosk().audio
        self.note_text = (
            "Sound: no audio output was found here; the screen stays silent."
            if audio is not None and audio.unavailable
            else "Sound plays the buzzer's beeps and clicks on the screen's speaker: feedback "
            "only, a little later than the buzzer; timing always uses the buzzer."
        )

    def change(self, **changes: Any) -> None:
        app = kiosk()
        if app.call(app.controller.settings.change, **changes, doing="saving the setting"):
            app.apply_settings()
        self.load()

    def set_text_size(self, name: str) -> None:
        if name in TEXT_SIZES:
            self.change(text_size=name)

    def back(self) -> None:
        kiosk().go(self.back_to)
