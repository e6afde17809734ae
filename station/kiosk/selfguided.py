"""Self-guided mode's screens, over :class:`station.ui.selfguided.SelfGuidedController`.

Participant side (``sg_*.kv``, one file per screen): sign-in with a big keypad (a USB QR reader
acting as a keyboard fills the code from a printed card), today's plan, a 0-10 rating as eleven
big buttons, the run (the clinician's run screen, trimmed to Start and Stop), the rest timer, the
summary; for a prescribed practice program also the set results, effort and sensations
screens and the practice summary (:mod:`station.kiosk.practice`). Clinician side: ``sg_setup``
(a participant's PIN, pain stop value and assignments), reached from the battery screen.

The screens hold no logic: :func:`route` shows the screen that the controller's state calls for,
on every frame of a self-guided screen and once a second in any case (so the idle sign-out also
happens behind a message).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from station.kiosk import theme
from station.kiosk.screens import KioskScreen, RunScreen
from station.kiosk.widgets import KLabel
from station.store.store import PIN_MAX_DIGITS
from station.ui.errors import Message, message_for
from station.ui.practice import FEEDBACK
from station.ui.rest import DEFAULT_REST_S
from station.ui.run import ENDED, READY, REST, REVIEW, RUNNING, RunSnapshot
from station.ui.selfguided import (
    ACTIVE,
    BREAK,
    DEFAULT_PAIN_STOP_AT,
    EFFORT,
    PAIN_STOP,
    PLAN,
    RATE,
    SENSATIONS_STATE,
    SUMMARY,
    SelfGuidedController,
    SelfGuidedSetup,
    SignInError,
)

if TYPE_CHECKING:
    from station.kiosk.app import KioskApp

#: The participant's screens (the idle sign-out and the routing act on these).
SG_SCREENS = (
    "sg_signin",
    "sg_plan",
    "sg_rating",
    "sg_run",
    "sg_rest",
    "sg_summary",
    "sg_set_result",
    "sg_effort",
    "sg_sensations",
    "sg_practice_summary",
)
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
ENTER_KEYS = (13, 271)  # Enter, keypad Enter
BACKSPACE_KEY = 8
#: Steps of the clinician's setup screen.
REST_STEP_S = 10
MAX_REST_SETUP_S = 300


def kiosk() -> KioskApp:
    return App.get_running_app()  # type: ignore[return-value]


def selfguided(app: Any) -> SelfGuidedController:
    """The app's self-guided controller (made on first use, with its once-a-second tick)."""
    sg = getattr(app, "selfguided", None)
    if sg is None:
        sg = SelfGuidedController(app.controller)
        app.selfguided = sg
        event = Clock.schedule_interval(lambda _dt: tick(app), 1.0)
        app.bind(on_stop=lambda *_: event.cancel())
    return sg


def setup_controller(app: Any) -> SelfGuidedSetup:
    setup = getattr(app, "selfguided_setup", None)
    if setup is None:
        setup = SelfGuidedSetup(app.controller)
        app.selfguided_setup = setup
    return setup


def tick(app: Any) -> None:
    """Move the visit on and show its screen."""
    sg = selfguided(app)
    if not sg.signed_in:
        return
    _, message = app.controller.attempt(sg.update, doing="self-guided mode")
    if message is not None:
        app.show(message)
        return
    route(app)


def target_screen(sg: SelfGuidedController) -> str:
    state = sg.state
    if state == PLAN:
        return "sg_plan"
    if state == RATE:
        return "sg_rating"
    if state == BREAK or (state == ACTIVE and sg.rest() is not None):
        return "sg_rest"
    if state == ACTIVE:
        practice = sg.practice_run
        if practice is not None and practice.snapshot().state == FEEDBACK:
            return "sg_set_result"
        return "sg_run"
    if state == EFFORT:
        return "sg_effort"
    if state == SENSATIONS_STATE:
        return "sg_sensations"
    if state == SUMMARY:
        return "sg_practice_summary" if sg.practicing else "sg_summary"
    return "home"


def route(app: Any) -> None:
    """Show the screen the visit's state calls for (only over a self-guided screen, or the home
    screen when signed out behind a message)."""
    sg = selfguided(app)
    if sg.state == PAIN_STOP:
        message = sg.stop_message
        sg.sign_out()
        if message is not None:
            app.show(message, back_to="home")
        return
    want = target_screen(sg)
    current = app.current
    if current == "message":
        if want == "home" and app.screen("message").back_to in SG_SCREENS:
            app.screen("message").back_to = "home"
        return
    if current not in SG_SCREENS or current == want:
        return
    if want == "home" and sg.signed_out_reason:
        reason, sg.signed_out_reason = sg.signed_out_reason, ""
        app.show(Message("Signed out", reason, "Sign in again to go on.", "info"), back_to="home")
        return
    app.go(want)


class _SGScreen(KioskScreen):
    def refresh(self) -> None:
        tick(kiosk())


# -- sign-in -------------------------------------------------------------------------------------
class SGSignInScreen(_SGScreen):
    """Code (keypad with digits, or letters) then PIN; a QR card reader types ``DXS1:<code>``
    and Enter, which fills the code."""

    step = StringProperty("code")  # "code" | "pin"
    code = StringProperty("")
    pin = StringProperty("")
    letters = BooleanProperty(False)
    error = StringProperty("")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.by_card = False
        self._typed = ""

    def on_pre_enter(self, *_: Any) -> None:
        self.start()

    def on_enter(self, *_: Any) -> None:
        Window.bind(on_textinput=self._on_text, on_key_down=self._on_key)

    def on_leave(self, *_: Any) -> None:
        Window.unbind(on_textinput=self._on_text, on_key_down=self._on_key)

    def start(self) -> None:
        self.step, self.code, self.pin, self.error = "code", "", "", ""
        self.letters = False
        self.by_card = False
        self._typed = ""
        self.build_keys()

    def on_letters(self, *_: Any) -> None:
        self.build_keys()

    def on_step(self, *_: Any) -> None:
        if self.step == "pin":
            self.letters = False
        self.build_keys()

    def build_keys(self) -> None:
        grid = self.ids.keypad
        grid.clear_widgets()
        if self.letters and self.step == "code":
            grid.cols = 7
            keys: tuple[str, ...] = LETTERS
        else:
            grid.cols = 3
            keys = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "Del", "0", "Clear")
        for text in keys:
            button = Factory.KButton(text=text, font_size=theme.style.font_title)
            button.bind(on_release=lambda b: self.key(b.text))
            grid.add_widget(button)

    def key(self, text: str) -> None:
        kiosk().controller.touch()
        self.error = ""
        if text == "Del":
            if self.step == "code":
                self.code = self.code[:-1]
            else:
                self.pin = self.pin[:-1]
        elif text == "Clear":
            if self.step == "code":
                self.code = ""
            else:
                self.pin = ""
        elif self.step == "code":
            if len(self.code) < 32:
                self.code += text
                self.by_card = False
        elif text.isdigit() and len(self.pin) < PIN_MAX_DIGITS:
            self.pin += text

    def next(self) -> None:
        if self.step == "code":
            if not self.code:
                self.error = "Type your code first (or show your card to the reader)."
                return
            self.step = "pin"
            self.error = ""
        else:
            self.submit()

    def back(self) -> None:
        if self.step == "pin":
            self.step, self.pin, self.error = "code", "", ""
        else:
            self.cancel()

    def show_code(self) -> None:
        self.step, self.pin = "code", ""

    def submit(self) -> None:
        app = kiosk()
        sg = selfguided(app)
        pin, self.pin = self.pin, ""
        try:
            sg.sign_in(self.code, pin, by_card=self.by_card)
        except SignInError as exc:
            self.error = str(exc)
            return
        except Exception as exc:
            app.show(message_for(exc, "signing in"))
            return
        route_after_sign_in(app)

    def cancel(self) -> None:
        self.start()
        kiosk().go("home")

    # the keyboard: a QR reader (keyboard mode) or a real keyboard
    def _on_text(self, _window: Any, text: str) -> None:
        kiosk().controller.touch()
        self._typed += text
        if self.step == "code":
            code = "".join(c for c in self._typed if c.isalnum() or c in "-_")
            self.code = code[-32:]
            self.by_card = False
        elif text.isdigit() and len(self.pin) < PIN_MAX_DIGITS:
            self.pin += text

    def _on_key(self, _window: Any, key: int, *_: Any) -> bool:
        if key == BACKSPACE_KEY:
            self._typed = self._typed[:-1]
            self.key("Del")
            return True
        if key not in ENTER_KEYS:
            return False
        typed, self._typed = self._typed, ""
        card = SelfGuidedController.card_code(typed)
        if card is not None:
            self.code, self.by_card, self.pin, self.error = card, True, "", ""
            self.step = "pin"
        else:
            self.next()
        return True


def route_after_sign_in(app: Any) -> None:
    app.go("sg_plan")


# -- plan ----------------------------------------------------------------------------------------
class SGPlanScreen(_SGScreen):
    greeting = StringProperty("")
    info = StringProperty("")
    any_due = BooleanProperty(False)
    practice_due = BooleanProperty(False)
    simulated = BooleanProperty(False)

    def on_pre_enter(self, *_: Any) -> None:
        app = kiosk()
        sg = selfguided(app)
        self.simulated = app.controller.simulated
        self.greeting = f"Hello, {sg.code}" if sg.code else "Hello"
        items = app.call(sg.plan, doing="loading your plan") or []
        box = self.ids.plan_items
        box.clear_widgets()
        for item in items:
            lines = [f"[b]{_esc(item.title)}[/b]", _esc(item.status_text)]
            if item.steps:
                lines.append(f"[size={theme.style.font_small}]{_esc(item.steps)}[/size]")
            if item.note:
                lines.append(f"[color=#ffd100]{_esc(item.note)}[/color]")
            box.add_widget(_panel_label("\n".join(lines), item.due))
        self.any_due = any(item.due for item in items)
        offer = app.call(sg.practice_offer, doing="loading your practice")
        self.practice_due = offer is not None and offer.available
        if offer is not None:
            box.add_widget(_panel_label(_offer_text(offer), offer.available))
        if not items and offer is None:
            self.info = "Nothing is assigned to you yet. Please ask your therapist."
        elif not self.any_due and not self.practice_due:
            self.info = "Nothing is planned for today. Well done!"
        elif self.practice_due and not self.any_due:
            self.info = "Press Practice when you are ready."
        else:
            self.info = "Press Start (tests) or Practice when you are ready."

    def _person(self) -> Any:
        app = kiosk()
        if self.simulated and self.ids.virtual_toggle.state == "down":
            return app.call(app.controller.virtual_participant, doing="setting up")
        return None

    def begin(self) -> None:
        app = kiosk()
        sg = selfguided(app)
        if app.call(sg.begin, person=self._person(), doing="starting") is not None:
            route(app)

    def begin_practice(self) -> None:
        app = kiosk()
        sg = selfguided(app)
        if app.call(sg.begin_practice, person=self._person(), doing="starting") is not None:
            route(app)

    def sign_out(self) -> None:
        sign_out(kiosk())


def _offer_text(offer: Any) -> str:
    """Today's practice on the plan: the program and level, each exercise with its dose (or
    why not today)."""
    lines = [f"[b]Practice: {_esc(offer.heading)}[/b]"]
    if not offer.available:
        lines.append(f"[color=#ffd100]{_esc(offer.reason)}[/color]")
        return "\n".join(lines)
    lines.append("To do today" + (f": {_esc(offer.goal)}" if offer.goal else ""))
    small = theme.style.font_small
    lines += [f"[size={small}]{_esc(x)}[/size]" for x in offer.exercises]
    return "\n".join(lines)


def sign_out(app: Any) -> None:
    selfguided(app).sign_out()
    app.go("home")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


class SGPanelLabel(KLabel):
    """A block of text on a panel (``kv/sg_plan.kv``), a bar on its left when ``highlight``."""

    highlight = BooleanProperty(False)


def _panel_label(text: str, highlight: bool = False) -> Any:
    """A block of text on a panel, as tall as its text (lists that scroll)."""
    label = SGPanelLabel(text=text, highlight=highlight)
    label.bind(texture_size=lambda w, size: setattr(w, "height", size[1] + 16))
    return label


# -- rating --------------------------------------------------------------------------------------
class SGRatingScreen(_SGScreen):
    question_text = StringProperty("")
    low_text = StringProperty("")
    high_text = StringProperty("")
    number_text = StringProperty("")
    chosen = NumericProperty(-1)

    def on_pre_enter(self, *_: Any) -> None:
        self.load()

    def load(self) -> None:
        q = selfguided(kiosk()).question
        if q is None:
            return
        self.question_text = q.text
        self.low_text = f"0 = {q.low}"
        self.high_text = f"10 = {q.high}"
        self.number_text = f"Question {q.number} of 4"
        self.chosen = -1
        for button in self._buttons():
            button.state = "normal"

    def _buttons(self) -> list[Any]:
        return list(reversed(self.ids.scale.children))

    def choose(self, value: int) -> None:
        kiosk().controller.touch()
        self.chosen = value

    def confirm(self) -> None:
        app = kiosk()
        sg = selfguided(app)
        if self.chosen < 0:
            return
        _, message = app.controller.attempt(sg.rate, int(self.chosen), doing="saving your answer")
        if message is not None:
            app.show(message)
            return
        if sg.state == RATE:
            self.load()  # the next question (the screen stays)
        route(app)

    def sign_out(self) -> None:
        sign_out(kiosk())


# -- run -----------------------------------------------------------------------------------------
class SGRunScreen(RunScreen):
    """The clinician's run screen (same live feedback), for the participant: Start and Stop;
    trials are kept without a review."""

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        ids = self.ids
        for name in ("note_btn", "skip_btn"):
            if name in ids and ids[name].parent is not None:
                ids[name].parent.remove_widget(ids[name])
        if "start_btn" in ids:
            ids.start_btn.text = "Start"
        if "abort_btn" in ids:
            ids.abort_btn.text = "Stop"

    def on_pre_enter(self, *_: Any) -> None:
        app = kiosk()
        panel = app.panel
        if panel is not None and panel.parent is not self.ids.body:
            self._panel_home = panel.parent
            if panel.parent is not None:
                panel.parent.remove_widget(panel)
            self.ids.body.add_widget(panel)

    def on_leave(self, *_: Any) -> None:
        app = kiosk()
        panel = app.panel
        home = getattr(self, "_panel_home", None)
        if panel is not None and home is not None and panel.parent is self.ids.body:
            self.ids.body.remove_widget(panel)
            home.add_widget(panel)

    def refresh(self) -> None:
        run = selfguided(kiosk()).run
        if run is not None:
            self.show(run.snapshot())
        tick(kiosk())

    def show(self, snap: RunSnapshot) -> None:
        if snap.state == REVIEW:  # kept at once: the screen shows the trial's end
            snap = replace(snap, state=RUNNING)
        if snap.state in ENDED or snap.state in (REST, FEEDBACK):
            return  # the visit moves on (route)
        super().show(snap)
        if snap.state == READY:
            self.phase_text = (
                "Practice (not counted): press Start when you are ready"
                if snap.practice
                else "Press Start when you are ready"
            )

    def start_trial(self) -> None:
        app = kiosk()
        run = selfguided(app).run
        if run is not None:
            app.controller.touch()
            app.call(run.start_trial, doing="starting")

    def abort(self) -> None:
        app = kiosk()
        app.call(selfguided(app).stop, doing="stopping")


# -- rest ----------------------------------------------------------------------------------------
class SGRestScreen(_SGScreen):
    left_text = StringProperty("")
    next_text = StringProperty("")
    button_text = StringProperty("Continue")
    can_skip = BooleanProperty(False)

    def refresh(self) -> None:
        app = kiosk()
        rest = selfguided(app).rest()
        if rest is not None:
            left = int(rest.left_s + 0.999)
            self.left_text = f"{left // 60}:{left % 60:02d}"
            self.next_text = f"Next: {rest.next_text}" if rest.next_text else ""
            self.can_skip = rest.can_skip
            self.button_text = (
                "Continue" if rest.can_skip else f"Continue in {int(rest.skip_in_s + 0.999)} s"
            )
        tick(app)

    def skip(self) -> None:
        app = kiosk()
        app.call(selfguided(app).skip_rest, doing="ending the rest")
        route(app)

    def stop(self) -> None:
        app = kiosk()
        app.call(selfguided(app).stop, doing="stopping")
        route(app)


# -- summary -------------------------------------------------------------------------------------
class SGSummaryScreen(_SGScreen):
    title_text = StringProperty("")

    def on_pre_enter(self, *_: Any) -> None:
        app = kiosk()
        summary = app.call(selfguided(app).summary, doing="loading your results")
        box = self.ids.lines
        box.clear_widgets()
        if summary is None:
            return
        self.title_text = "Well done: your results" if summary.lines else "Thank you"
        for notice in summary.notices:
            box.add_widget(_panel_label(f"[color=#ffd100][b]{_esc(notice)}[/b][/color]"))
        for line in summary.lines:
            text = f"[b]{_esc(line.title)}[/b]: {_esc(line.measure)} [b]{_esc(line.value)}[/b]"
            text += f"\n{_esc(line.comparison)}"
            if line.since_first:
                text += f"\n[color=#ffd100]{_esc(line.since_first)}[/color]"
            box.add_widget(_panel_label(text, bool(line.better)))
        if summary.ratings:
            box.add_widget(_panel_label("\n".join(_esc(r) for r in summary.ratings)))

    def finish(self) -> None:
        sign_out(kiosk())


# -- the clinician's setup -----------------------------------------------------------------------
class SGSetupScreen(KioskScreen):
    """A participant's PIN (entered twice), pain stop value and assignments."""

    code = StringProperty("")
    pin_status = StringProperty("")
    entered = StringProperty("")
    pin_prompt = StringProperty("New PIN")
    error = StringProperty("")
    pain_stop = NumericProperty(DEFAULT_PAIN_STOP_AT)
    battery_text = StringProperty("")
    per_week = NumericProperty(3)
    rest_s = NumericProperty(DEFAULT_REST_S)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._first = ""
        self._names: list[str] = []
        self._titles: list[str] = []
        self._index = 0

    def on_pre_enter(self, *_: Any) -> None:
        app = kiosk()
        p = app.controller.participant
        self.code = p.code if p is not None else ""
        infos = app.call(app.controller.batteries, doing="listing the batteries") or []
        self._names = [info.name for info in infos]
        self._titles = [info.title for info in infos]
        self._index = 0
        self.entered, self._first, self.error = "", "", ""
        self.pin_prompt = "New PIN"
        self.load()

    def load(self) -> None:
        app = kiosk()
        setup = setup_controller(app)
        if not self.code:
            return
        access = app.call(setup.access, self.code, doing="loading")
        if access is not None:
            if access.blocked:
                self.pin_status = "PIN blocked (too many wrong tries): set a new one"
            elif access.has_pin:
                self.pin_status = "PIN set"
            else:
                self.pin_status = "No PIN yet: the participant cannot sign in"
            self.pain_stop = (
                access.pain_stop_at if access.pain_stop_at is not None else DEFAULT_PAIN_STOP_AT
            )
        self._show_battery()
        box = self.ids.assigned
        box.clear_widgets()
        rows = app.call(setup.assignments, self.code, doing="loading") or []
        for row in rows:
            line = Factory.BoxLayout(size_hint_y=None, height=theme.TOUCH_PX, spacing=theme.GAP_PX)
            line.add_widget(Factory.KLabel(text=row.text, font_size=theme.style.font_small))
            remove = Factory.KButton(text="Remove", size_hint_x=None, width=110)
            remove.bind(on_release=lambda _b, i=row.assignment_id: self.unassign(i))
            line.add_widget(remove)
            box.add_widget(line)
        if not rows:
            box.add_widget(
                Factory.KLabel(
                    text="Nothing assigned yet.",
                    color=theme.style.muted,
                    size_hint_y=None,
                    height=theme.TOUCH_PX,
                )
            )

    def _show_battery(self) -> None:
        self.battery_text = self._titles[self._index] if self._titles else "-"

    def key(self, text: str) -> None:
        self.error = ""
        if text == "Del":
            self.entered = self.entered[:-1]
        elif text.isdigit() and len(self.entered) < PIN_MAX_DIGITS:
            self.entered += text

    def set_pin(self) -> None:
        app = kiosk()
        pin, self.entered = self.entered, ""
        if not self._first:
            if not pin.isdigit() or not 4 <= len(pin) <= PIN_MAX_DIGITS:
                self.error = f"4 to {PIN_MAX_DIGITS} digits"
                return
            self._first = pin
            self.pin_prompt = "The same PIN again"
            return
        first, self._first = self._first, ""
        self.pin_prompt = "New PIN"
        if pin != first:
            self.error = "The two PINs differ: start again"
            return
        app.call(setup_controller(app).set_pin, self.code, first, pin, doing="saving the PIN")
        self.load()

    def change_pain_stop(self, step: int) -> None:
        app = kiosk()
        value = int(min(10, max(1, self.pain_stop + step)))
        app.call(setup_controller(app).set_pain_stop_at, self.code, value, doing="saving")
        self.load()

    def change_battery(self, step: int) -> None:
        if self._names:
            self._index = (self._index + step) % len(self._names)
            self._show_battery()

    def change_per_week(self, step: int) -> None:
        self.per_week = int(min(14, max(1, self.per_week + step)))

    def change_rest(self, step: int) -> None:
        self.rest_s = float(min(MAX_REST_SETUP_S, max(0, self.rest_s + step * REST_STEP_S)))

    def assign(self) -> None:
        app = kiosk()
        if not self._names:
            return
        app.call(
            setup_controller(app).assign,
            self.code,
            self._names[self._index],
            sessions_per_week=int(self.per_week),
            rest_s=float(self.rest_s),
            doing="assigning",
        )
        self.load()

    def unassign(self, assignment_id: int) -> None:
        app = kiosk()
        app.call(setup_controller(app).unassign, assignment_id, doing="removing")
        self.load()


#: Registered by the app (name, class); the .kv file of each is ``kv/<name>.kv``.
SCREENS = (
    ("sg_signin", SGSignInScreen),
    ("sg_plan", SGPlanScreen),
    ("sg_rating", SGRatingScreen),
    ("sg_run", SGRunScreen),
    ("sg_rest", SGRestScreen),
    ("sg_summary", SGSummaryScreen),
    ("sg_setup", SGSetupScreen),
)
