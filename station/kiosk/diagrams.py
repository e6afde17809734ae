"""Instruction drawings: what to do in each test, drawn with Kivy's canvas (no images).

The run screen shows one beside the instructions while a trial is ready to start
(:func:`diagram_for`). Each is drawn in a 400 x 300 design box scaled to the widget; for the left
hand (``mirrored``) every x is mirrored, so the dish, the pressing finger and the thumb are on the
side they are on the station. The station's layout is seen from above, the participant at the
bottom; the right hand's thumb is on the left of its fingers.

* pegboard (Nine-Hole Peg Test): the 3 x 3 board, the dish on the tested hand's side, the home
  pad, arrows from the dish into the holes and back;
* purdue: the board's two columns and the cups at its top, an arrow from the tested hand's cup
  down its column (both hands: both);
* tapping: the hand over the buttons, the tapping finger moving up and down;
* metronome: the same with the speaker's clicks and the beats (clicks, then on your own);
* reaction: the lights over the buttons, one lit, its finger pressing;
* sequence: the buttons numbered in the order to press them;
* force (maximal force, steadiness): a finger pressing its pad, the bar with the target band
  (or the arrow to the top for a maximal effort);
* tracking: the pad and the moving target the force follows;
* individuation: the four finger pads, one finger pressing (its light on), the others resting.
"""

from __future__ import annotations

import math
from typing import Any

from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle, Triangle
from kivy.properties import BooleanProperty, DictProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from station.kiosk.theme import style
from station.kiosk.widgets import FINGERS, text_fits

DESIGN_W = 400.0
DESIGN_H = 300.0
#: The smallest text a drawing writes, px.
MIN_TEXT_PX = 10.0
#: Each protocol's drawing.
DIAGRAMS: dict[str, str] = {
    "nine_hole_peg": "pegboard",
    "purdue_pegboard": "purdue",
    "finger_tapping": "tapping",
    "sync_continuation": "metronome",
    "reaction_time": "reaction",
    "finger_sequence": "sequence",
    "max_force": "force",
    "force_steadiness": "force",
    "force_tracking": "tracking",
    "finger_individuation": "individuation",
}


class Diagram(Widget):
    """The drawing of one kind of test (``kind``, one of :data:`DIAGRAMS`' values).

    ``details`` says what the drawing needs from the trial's parameters: ``finger`` (the tapped or
    pressed finger), ``fingers`` (a sequence's order, comma-separated), ``both`` ("1": both hands,
    Purdue), ``mode`` ("max" for a maximal effort)."""

    kind = StringProperty("")
    mirrored = BooleanProperty(False)
    details = DictProperty({})

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._texts: list[Label] = []
        self._pending: list[tuple[float, float, str, float, bool]] = []
        self._scale = 1.0
        self._origin = (0.0, 0.0)
        self.bind(pos=self.redraw, size=self.redraw, kind=self.redraw, mirrored=self.redraw)
        self.bind(details=self.redraw)
        style.fbind("high_contrast", self.redraw)
        style.fbind("font_small", self.redraw)

    # -- the design box ---------------------------------------------------------------------------
    def p(self, x: float, y: float) -> tuple[float, float]:
        """A point of the design box in window pixels (mirrored for the left hand)."""
        if self.mirrored:
            x = DESIGN_W - x
        ox, oy = self._origin
        return ox + x * self._scale, oy + y * self._scale

    def s(self, length: float) -> float:
        return length * self._scale

    def rect(self, x: float, y: float, w: float, h: float, radius: float = 0.0) -> None:
        """A rectangle given by its design-box corner (lower left before mirroring)."""
        x0, y0 = self.p(x, y)
        x1, _ = self.p(x + w, y)
        left = min(x0, x1)
        if radius:
            RoundedRectangle(
                pos=(left, y0), size=(abs(x1 - x0), self.s(h)), radius=[self.s(radius)]
            )
        else:
            Rectangle(pos=(left, y0), size=(abs(x1 - x0), self.s(h)))

    def outline(self, x: float, y: float, w: float, h: float, width: float = 1.5) -> None:
        x0, y0 = self.p(x, y)
        x1, _ = self.p(x + w, y)
        Line(rectangle=(min(x0, x1), y0, abs(x1 - x0), self.s(h)), width=width)

    def circle(self, x: float, y: float, r: float, filled: bool = True, width: float = 2) -> None:
        cx, cy = self.p(x, y)
        rr = self.s(r)
        if filled:
            Ellipse(pos=(cx - rr, cy - rr), size=(2 * rr, 2 * rr))
        else:
            Line(circle=(cx, cy, rr), width=width)

    def arrow(
        self, points: list[tuple[float, float]], width: float = 3.0, head: float = 14
    ) -> None:
        """A line through design-box points with a head at the last one."""
        pts = [self.p(x, y) for x, y in points]
        Line(points=[c for xy in pts for c in xy], width=width, joint="round", cap="round")
        (xa, ya), (xb, yb) = pts[-2], pts[-1]
        angle = math.atan2(yb - ya, xb - xa)
        h = self.s(head)
        left = (xb - h * math.cos(angle - 0.45), yb - h * math.sin(angle - 0.45))
        right = (xb - h * math.cos(angle + 0.45), yb - h * math.sin(angle + 0.45))
        Triangle(points=[xb, yb, *left, *right])

    def write(self, x: float, y: float, text: str, w: float = 120, bold: bool = False) -> None:
        """A word or two centred on a design-box point, as large as fits (never cut off); made
        after the drawing (a label made inside ``with self.canvas`` would draw into it)."""
        self._pending.append((x, y, text, w, bold))

    def _make_text(self, x: float, y: float, text: str, w: float, bold: bool) -> None:
        cx, cy = self.p(x, y)
        width = self.s(w)
        label = Label(
            text=text,
            bold=bold,
            color=style.fg,
            halign="center",
            valign="middle",
            size_hint=(None, None),
            text_size=(width, None),
        )
        size = min(float(style.font_small), max(MIN_TEXT_PX, self.s(18)))
        lines = text.count("\n") + 1
        while True:
            label.height = size * 1.3 * lines + 4
            label.width = width
            if size <= MIN_TEXT_PX or text_fits(label, size):
                break
            size = max(MIN_TEXT_PX, size - 1)
        label.font_size = size
        label.pos = (cx - width / 2, cy - label.height / 2)
        self._texts.append(label)
        self.add_widget(label)

    def redraw(self, *_: Any) -> None:
        for label in self._texts:
            self.remove_widget(label)
        self._texts = []
        self.canvas.clear()
        self._scale = max(1e-3, min(self.width / DESIGN_W, self.height / DESIGN_H))
        self._origin = (
            self.center_x - DESIGN_W * self._scale / 2,
            self.center_y - DESIGN_H * self._scale / 2,
        )
        if self.width < 4 or self.height < 4:
            return
        draw = getattr(self, f"_draw_{self.kind}", None)
        self._pending = []
        if draw is not None:
            with self.canvas:
                draw()
        for args in self._pending:
            self._make_text(*args)
        self._pending = []

    # -- pieces ----------------------------------------------------------------------------------
    def hand(self, x_index: float, y_tip: float, pitch: float, *, active: str = "") -> None:
        """A hand seen from above, palm down, the participant at the bottom: the fingertips at
        ``y_tip``, the index finger's at ``x_index``, the fingers ``pitch`` apart (the thumb on
        the left for the right hand). The ``active`` finger is drawn lit."""
        finger_w = pitch * 0.62
        base = y_tip - 78
        skin = style.mix(style.panel, style.fg, 0.45)
        Color(*skin)
        self.rect(x_index - finger_w / 2 - 4, base - 72, pitch * 3 + finger_w + 8, 84, radius=20)
        lengths = {"index": 74, "middle": 80, "ring": 76, "little": 62}
        for i, name in enumerate(("index", "middle", "ring", "little")):
            cx = x_index + i * pitch
            Color(*(style.accent if name == active else skin))
            self.rect(cx - finger_w / 2, base, finger_w, lengths[name], radius=finger_w / 2)
        Color(*(style.accent if active == "thumb" else skin))
        a = self.p(x_index - 6, base - 40)
        b = self.p(x_index - pitch, y_tip - 36)
        Line(points=[*a, *b], width=self.s(finger_w / 2), cap="round")

    def buttons(
        self,
        y: float,
        *,
        active: str = "",
        numbers: dict[str, str] | None = None,
        led: str | None = None,
    ) -> dict[str, float]:
        """The five finger buttons in a row at height ``y`` (their cue lights above them when
        ``led`` is given, that finger's lit); the ``active`` finger's button is ringed. Returns
        each finger's x."""
        xs = {name: 70 + i * 62 for i, name in enumerate(FINGERS)}
        for name, x in xs.items():
            if led is not None:
                if name == led:
                    Color(*style.accent)
                    self.circle(x, y + 50, 9)
                    for k in range(8):
                        a = k * math.pi / 4
                        Line(
                            points=[
                                *self.p(x + 13 * math.cos(a), y + 50 + 13 * math.sin(a)),
                                *self.p(x + 20 * math.cos(a), y + 50 + 20 * math.sin(a)),
                            ],
                            width=1.5,
                        )
                else:
                    Color(*style.muted)
                    self.circle(x, y + 50, 8, filled=False, width=1.5)
            Color(*style.button)
            self.circle(x, y, 22)
            Color(*style.muted)
            self.circle(x, y, 22, filled=False, width=1.5)
            if name == active:
                Color(*style.accent)
                self.circle(x, y, 28, filled=False, width=2.5)
                self.circle(x, y, 35, filled=False, width=1.2)
            if numbers and name in numbers:
                self.write(x, y, numbers[name], w=44, bold=True)
        return xs

    def pad(self, x: float, y: float, w: float = 90, lit: bool = False) -> None:
        Color(*(style.accent if lit else style.button))
        self.rect(x - w / 2, y, w, 22, radius=6)
        Color(*style.muted)
        self.outline(x - w / 2, y, w, 22)

    def finger_from_above(self, x: float, y_tip: float, *, pressing: bool, lit: bool) -> None:
        """A finger seen from the side, its tip on a pad at ``y_tip``."""
        Color(*(style.accent if lit else style.mix(style.panel, style.fg, 0.55)))
        self.rect(x - 16, y_tip, 32, 110, radius=16)
        if pressing:
            Color(*style.accent)
            self.arrow([(x + 34, y_tip + 90), (x + 34, y_tip + 30)], width=3)

    def mini_bar(self, x: float, y: float, h: float, *, band: bool, fill: float) -> None:
        """A small force bar: a filled part and (``band``) the target band with its line."""
        Color(*style.panel)
        self.rect(x, y, 36, h)
        if band:
            Color(*style.good[:3], 0.5)
            self.rect(x, y + h * 0.5, 36, h * 0.14)
            Color(*style.accent)
            yy = y + h * 0.57
            Line(points=[*self.p(x - 6, yy), *self.p(x + 42, yy)], width=2.5)
        Color(*(style.good if band else style.fg))
        self.rect(x + 8, y, 20, h * fill)
        Color(*style.muted)
        self.outline(x, y, 36, h)

    # -- the drawings ----------------------------------------------------------------------------
    def _draw_pegboard(self) -> None:
        # the board in the middle, the dish on the tested hand's side, the home pad in front
        Color(*style.panel)
        self.rect(110, 100, 150, 150, radius=10)
        Color(*style.muted)
        self.outline(110, 100, 150, 150)
        holes = [(135 + 50 * c, 125 + 50 * r) for r in range(3) for c in range(3)]
        for i, (x, y) in enumerate(holes):
            Color(*(style.accent if i < 5 else style.muted))
            self.circle(x, y, 13, filled=i < 5, width=2)
        Color(*style.button)
        self.circle(330, 175, 40)
        Color(*style.muted)
        self.circle(330, 175, 40, filled=False)
        for dx, dy in ((-12, 6), (8, -10), (14, 12), (-4, -14)):
            Color(*style.accent)
            self.circle(330 + dx, 175 + dy, 5)
        self.write(330, 118, "dish", w=80)
        Color(*style.accent)
        self.arrow([(300, 205), (260, 238), (236, 230)], width=3)
        Color(*style.fg)
        self.arrow([(236, 120), (270, 112), (300, 140)], width=3)
        self.write(300, 262, "1  in", w=80, bold=True)
        self.write(270, 92, "2  out", w=90, bold=True)
        self.pad(330, 30, w=110, lit=True)
        self.write(330, 14, "home pad", w=130)
        Color(*style.fg)
        self.arrow([(330, 56), (330, 90)], width=2)

    def _draw_purdue(self) -> None:
        Color(*style.panel)
        self.rect(130, 20, 140, 260, radius=10)
        Color(*style.muted)
        self.outline(130, 20, 140, 260)
        for i, x in enumerate((145, 178, 222, 255)):  # the cups at the top
            Color(*style.button)
            self.rect(x - 14, 238, 28, 32, radius=6)
            Color(*style.accent if i in (0, 3) else style.muted)
            self.circle(x, 254, 5)
        both = self.details.get("both") == "1"
        columns = (175, 225)
        for c, x in enumerate(columns):
            for r in range(8):
                y = 205 - r * 23
                filled = r < 3 and (both or c == 1)
                Color(*(style.accent if filled else style.muted))
                self.circle(x, y, 7, filled=filled, width=1.5)
        Color(*style.accent)
        self.arrow([(255, 236), (300, 200), (240, 172)], width=3)
        if both:
            self.arrow([(145, 236), (100, 200), (160, 172)], width=3)
        self.write(330, 110, "top to\nbottom", w=110)
        Color(*style.fg)
        self.arrow([(300, 150), (300, 60)], width=2)

    def _draw_tapping(self) -> None:
        finger = self.details.get("finger", "index")
        xs = self.buttons(190, active=finger)
        self.hand(xs["index"], 190, 62, active=finger)
        self.write(200, 285, "tap as fast as you can", w=360, bold=True)

    def _draw_metronome(self) -> None:
        finger = self.details.get("finger", "index")
        xs = self.buttons(150, active=finger)
        self.hand(xs["index"], 150, 62, active=finger)
        # the speaker and its clicks
        Color(*style.fg)
        self.rect(22, 250, 14, 22)
        Triangle(points=[*self.p(36, 250), *self.p(54, 236), *self.p(54, 286)])
        Triangle(points=[*self.p(36, 272), *self.p(54, 286), *self.p(36, 250)])
        for k in range(3):
            x = 66 + 9 * k
            Line(points=[*self.p(x, 250 - 6 * k), *self.p(x + 5, 261), *self.p(x, 272 + 6 * k)])
        # the beats: with the clicks, then on your own
        for i in range(8):
            x = 120 + i * 34
            if i < 5:
                Color(*style.accent)
                self.circle(x, 262, 9)
            else:
                Color(*style.muted)
                self.circle(x, 262, 9, filled=False, width=2)
        self.write(188, 230, "with the clicks", w=160)
        self.write(324, 230, "keep going", w=110)

    def _draw_reaction(self) -> None:
        finger = self.details.get("finger", "index")
        xs = self.buttons(180, active=finger, led=finger)
        self.hand(xs["index"], 180, 62, active=finger)
        self.write(200, 285, "a light comes on: press its button", w=380, bold=True)

    def _draw_sequence(self) -> None:
        order = [f for f in self.details.get("fingers", "").split(",") if f]
        numbers: dict[str, str] = {}
        for i, finger in enumerate(order):
            numbers[finger] = f"{numbers[finger]},{i + 1}" if finger in numbers else str(i + 1)
        xs = self.buttons(190, numbers=numbers)
        self.hand(xs["index"], 150, 62)
        Color(*style.accent)
        pts = [(xs[f], 240) for f in order if f in xs]
        if len(pts) >= 2:
            self.arrow(pts, width=3)
        self.write(200, 285, "press in this order", w=300, bold=True)

    def _draw_force(self) -> None:
        maximal = self.details.get("mode") == "max"
        self.pad(150, 60, w=120, lit=False)
        self.write(150, 40, "pad", w=80)
        self.finger_from_above(150, 82, pressing=True, lit=True)
        if maximal:
            self.mini_bar(290, 60, 200, band=False, fill=0.8)
            Color(*style.accent)
            self.arrow([(350, 120), (350, 260)], width=3)
            self.write(290, 285, "as hard as you can", w=190)
        else:
            self.mini_bar(290, 60, 200, band=True, fill=0.57)
            self.write(290, 285, "stay in the band", w=190)

    def _draw_tracking(self) -> None:
        self.pad(80, 60, w=100)
        self.finger_from_above(80, 82, pressing=True, lit=True)
        Color(*style.panel)
        self.rect(170, 60, 210, 200)
        Color(*style.accent[:3], 0.6)
        wave = [self.p(170 + i * 5, 140 + 55 * math.sin(i * 2 * math.pi / 28)) for i in range(43)]
        Line(points=[c for xy in wave for c in xy], width=self.s(6))
        Color(*style.fg)
        follow = [
            self.p(170 + i * 5, 138 + 50 * math.sin((i - 2) * 2 * math.pi / 28))
            for i in range(2, 30)
        ]
        Line(points=[c for xy in follow for c in xy], width=2)
        Color(*style.muted)
        self.outline(170, 60, 210, 200)
        self.write(275, 285, "follow the line", w=210)

    def _draw_individuation(self) -> None:
        finger = self.details.get("finger", "index")
        names = ("index", "middle", "ring", "little")
        for i, name in enumerate(names):
            x = 90 + i * 75
            lit = name == finger
            self.pad(x, 40, w=62, lit=False)
            Color(*(style.accent if lit else style.muted))
            self.circle(x, 250, 9, filled=lit, width=1.5)
            self.finger_from_above(x, 62, pressing=lit, lit=lit)
            self.write(x, 20, name, w=74)
        self.write(200, 285, "the lit finger presses, the others relax", w=380)
