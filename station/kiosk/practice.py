"""Practice at the kiosk: the screens a prescribed practice session adds to self-guided mode.

The controller is :class:`station.ui.selfguided.SelfGuidedController` with
:mod:`station.ui.practice` (the core :class:`station.programs.run.PracticeRun` underneath); these
screens hold no logic and are routed by :func:`station.kiosk.selfguided.route`:

* ``sg_set_result`` - knowledge of results after each set: the set's key metric against the
  level's goal in plain words, OK (then the enforced rest, on ``sg_rest``);
* ``sg_effort`` - perceived effort on Borg's CR10, eleven big buttons with the scale's verbal
  anchors;
* ``sg_sensations`` - optional sensations as big toggles, Done;
* ``sg_practice_summary`` - today against the participant's own baseline, the decision in plain
  words and the next goal.

The plan, the ratings before and after, the run screen (the same live feedback as batteries) and
the rest are self-guided mode's own screens.
"""

from __future__ import annotations

from typing import Any

from kivy.factory import Factory
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from station.kiosk import theme
from station.kiosk.selfguided import _esc, _panel_label, _SGScreen, kiosk, route, selfguided
from station.ui.errors import Message
from station.ui.practice import CR10_ANCHORS, SENSATIONS


# -- knowledge of results after a set -------------------------------------------------------------
class SGSetResultScreen(_SGScreen):
    title_text = StringProperty("")
    sub_text = StringProperty("")
    next_text = StringProperty("")
    asking_pain = BooleanProperty(False)

    def on_pre_enter(self, *_: Any) -> None:
        self.asking_pain = False
        self.load()

    def on_asking_pain(self, *_: Any) -> None:
        """My hand hurts: a row of eleven buttons (pain now, 0-10) instead of the next step."""
        row = self.ids.pain_row
        row.clear_widgets()
        if not self.asking_pain:
            row.height = 0
            return
        row.height = theme.TOUCH_PX
        for value in range(11):
            key = Factory.KButton(text=str(value), font_size=theme.style.font_title)
            key.bind(on_release=lambda b: self.rate_pain(int(b.text)))
            row.add_widget(key)

    def toggle_pain(self) -> None:
        kiosk().controller.touch()
        self.asking_pain = not self.asking_pain

    def rate_pain(self, value: int) -> None:
        app = kiosk()
        stopped = app.call(selfguided(app).rate_pain_during, value, doing="saving your answer")
        self.asking_pain = False
        if stopped is False:
            self.next_text = f"Pain {value} out of 10 saved. Press OK to go on."
        elif stopped:  # told at once; the questions after follow
            message = Message(
                "Please stop now",
                f"You rated your pain {value} out of 10. That is too much pain to go on today.",
                "Please contact your therapist and tell them about your pain. What you did is "
                "saved; a few questions follow.",
                "warning",
            )
            app.show(message, back_to="sg_rating")
            return
        route(app)

    def load(self) -> None:
        run = selfguided(kiosk()).practice_run
        feedback = run.feedback if run is not None else None
        box = self.ids.result_lines
        box.clear_widgets()
        if feedback is None:
            return
        self.title_text = f"Set {feedback.set_index} of {feedback.sets} done"
        self.sub_text = f"{feedback.title}, {feedback.hand} hand"
        for line in feedback.lines:
            if line.met is None:
                verdict = "Your goal is set once your start is measured."
            elif line.met:
                verdict = "[color=#7ddc6f][b]Goal reached. Well done![/b][/color]"
            else:
                verdict = "[color=#ffd100][b]Not yet: keep going.[/b][/color]"
            text = (
                f"Your {_esc(line.words)}: [b][size={theme.style.font_title}]"
                f"{_esc(line.value)}[/size][/b]\nYour goal: {_esc(line.goal)}\n{verdict}"
            )
            box.add_widget(_panel_label(text, bool(line.met)))
        if not feedback.lines:
            box.add_widget(_panel_label("Set done."))
        self.next_text = (
            f"Next: a rest of {feedback.rest_s:g} s" if feedback.rest_s else "Next: continue"
        )

    def ok(self) -> None:
        app = kiosk()
        run = selfguided(app).practice_run
        if run is not None:
            app.controller.touch()
            app.call(run.acknowledge, doing="going on")
        route(app)

    def stop(self) -> None:
        app = kiosk()
        app.call(selfguided(app).stop, doing="stopping")
        route(app)


# -- perceived effort (Borg CR10) -----------------------------------------------------------------
class SGEffortScreen(_SGScreen):
    chosen = NumericProperty(-1)

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        grid = self.ids.scale
        for value in range(11):
            word = CR10_ANCHORS.get(value, "")
            key = Factory.SGEffortKey(
                text=f"[b]{value}[/b]\n[size={theme.style.font_small}]{word}[/size]"
            )
            key.value = value
            key.bind(on_release=lambda b: self.choose(b.value))
            grid.add_widget(key)

    def on_pre_enter(self, *_: Any) -> None:
        self.chosen = -1
        for key in self.ids.scale.children:
            key.state = "normal"

    def choose(self, value: int) -> None:
        kiosk().controller.touch()
        self.chosen = value

    def confirm(self) -> None:
        app = kiosk()
        if self.chosen < 0:
            return
        app.call(selfguided(app).rate_effort, int(self.chosen), doing="saving your answer")
        route(app)


# -- sensations -----------------------------------------------------------------------------------
class SGSensationsScreen(_SGScreen):
    any_chosen = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        grid = self.ids.choices
        for name in SENSATIONS:
            toggle = Factory.KToggle(text=name.capitalize(), font_size=theme.style.font_title)
            toggle.sensation = name
            toggle.bind(state=lambda *_: self._changed())
            grid.add_widget(toggle)

    def _toggles(self) -> list[Any]:
        return list(reversed(self.ids.choices.children))

    def _changed(self) -> None:
        kiosk().controller.touch()
        self.any_chosen = any(t.state == "down" for t in self._toggles())

    def on_pre_enter(self, *_: Any) -> None:
        for toggle in self._toggles():
            toggle.state = "normal"
        self.any_chosen = False

    def done(self) -> None:
        app = kiosk()
        chosen = [t.sensation for t in self._toggles() if t.state == "down"]
        app.call(selfguided(app).report_sensations, chosen, doing="saving your answers")
        route(app)


# -- summary --------------------------------------------------------------------------------------
class SGPracticeSummaryScreen(_SGScreen):
    title_text = StringProperty("")

    def on_pre_enter(self, *_: Any) -> None:
        app = kiosk()
        view = app.call(selfguided(app).practice_summary, doing="loading your results")
        box = self.ids.lines
        box.clear_widgets()
        if view is None:
            return
        self.title_text = view.title
        for notice in view.notices:
            box.add_widget(_panel_label(f"[color=#ffd100][b]{_esc(notice)}[/b][/color]"))
        if view.decision_head:
            text = f"[b]{_esc(view.decision_head)}[/b]\n{_esc(view.decision_reason)}"
            if view.contact_therapist:
                text = f"[color=#ffd100]{text}[/color]"
            box.add_widget(_panel_label(text, view.decision_kind == "advance"))
        for line in view.lines:
            mark = "goal reached" if line.met else "not yet"
            text = f"[b]{_esc(line.title)}[/b] ({mark})\n{_esc(line.text)}"
            box.add_widget(_panel_label(text, line.met))
        if view.ratings:
            box.add_widget(_panel_label("\n".join(_esc(r) for r in view.ratings)))
        if view.next_goal:
            box.add_widget(_panel_label(f"[b]Next goal[/b]\n{_esc(view.next_goal)}"))

    def finish(self) -> None:
        from station.kiosk.selfguided import sign_out

        sign_out(kiosk())


#: Registered by the app (name, class); the .kv file of each is ``kv/<name>.kv``.
SCREENS = (
    ("sg_set_result", SGSetResultScreen),
    ("sg_effort", SGEffortScreen),
    ("sg_sensations", SGSensationsScreen),
    ("sg_practice_summary", SGPracticeSummaryScreen),
)
