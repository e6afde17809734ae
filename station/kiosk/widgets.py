"""Live-feedback widgets: the pegboard, the force bar with its target band, the visual metronome
and the finger cue. Each draws from a few Kivy properties that the run screen sets from the
:class:`~station.ui.run.LiveValues` of the running trial."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from station.kiosk import theme

FINGERS = ("thumb", "index", "middle", "ring", "little")


class Pegboard(Widget):
    """The board's holes in a grid; a hole lights when its peg is in."""

    holes = ListProperty([False] * 9)
    columns = NumericProperty(3)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.bind(pos=self._draw, size=self._draw, holes=self._draw, columns=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        n = max(1, len(self.holes))
        cols = max(1, int(self.columns))
        rows = (n + cols - 1) // cols
        cell = min(self.width / cols, self.height / rows)
        d = cell * 0.72
        x0 = self.center_x - cell * cols / 2
        y0 = self.center_y + cell * rows / 2
        with self.canvas:
            Color(*theme.PANEL)
            RoundedRectangle(
                pos=(x0 - 4, y0 - cell * rows - 4), size=(cell * cols + 8, cell * rows + 8)
            )
            for i, filled in enumerate(self.holes):
                r, c = divmod(i, cols)
                cx = x0 + cell * (c + 0.5)
                cy = y0 - cell * (r + 0.5)
                if filled:
                    Color(*theme.ACCENT)
                    Ellipse(pos=(cx - d / 2, cy - d / 2), size=(d, d))
                else:
                    Color(*theme.MUTED)
                    Line(circle=(cx, cy, d / 2), width=2)


class ForceBar(Widget):
    """A vertical bar: the force now, the target line and its band, on a 0..``max_n`` scale.

    The canvas instructions are made once and moved on each change (cheaper than redrawing)."""

    force_n = NumericProperty(0.0)
    max_n = NumericProperty(20.0)
    target_n = ObjectProperty(None, allownone=True)
    band_n = ObjectProperty(None, allownone=True)  # (low, high)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        with self.canvas:
            Color(*theme.PANEL)
            self._back = Rectangle()
            self._band_colour = Color(0.2, 0.85, 0.35, 0.0)
            self._band = Rectangle()
            self._fill_colour = Color(*theme.FG)
            self._fill = Rectangle()
            self._target_colour = Color(*theme.ACCENT[:3], 0.0)
            self._target = Line(points=[0, 0, 0, 0], width=3, cap="none")
            Color(*theme.MUTED)
            self._frame = Line(rectangle=(0, 0, 1, 1), width=1.2)
        self.bind(
            pos=self._draw,
            size=self._draw,
            force_n=self._draw,
            max_n=self._draw,
            target_n=self._draw,
            band_n=self._draw,
        )

    def _y(self, force: float) -> float:
        top = max(self.max_n, 1e-6)
        return self.y + self.height * min(max(force, 0.0), top) / top

    def _draw(self, *_: Any) -> None:
        w = min(self.width, 90)
        x = self.center_x - w / 2
        self._back.pos, self._back.size = (x, self.y), (w, self.height)
        self._frame.rectangle = (x, self.y, w, self.height)
        band = self.band_n
        if band is not None:
            low, high = band
            self._band.pos = (x, self._y(low))
            self._band.size = (w, max(2.0, self._y(high) - self._y(low)))
            self._band_colour.a = 0.45
        else:
            self._band_colour.a = 0.0
        inside = band is not None and band[0] <= self.force_n <= band[1]
        self._fill_colour.rgba = theme.GOOD if inside else theme.FG
        self._fill.pos = (x + w * 0.2, self.y)
        self._fill.size = (w * 0.6, self._y(self.force_n) - self.y)
        if self.target_n is not None:
            y = self._y(self.target_n)
            self._target.points = [x - 8, y, x + w + 8, y]
            self._target_colour.a = 1.0
        else:
            self._target_colour.a = 0.0


class Metronome(Widget):
    """A disc that flashes at each metronome click (lit for ``flash_s`` after its onset, then
    fading), with a ring sweeping round to the next click (``progress`` 0..1)."""

    beat_age_s = ObjectProperty(None, allownone=True)
    progress = ObjectProperty(None, allownone=True)
    flash_s = NumericProperty(0.12)
    fade_s = NumericProperty(0.25)
    lit = BooleanProperty(False)
    glow = NumericProperty(0.0)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        with self.canvas:
            self._disc_colour = Color(*theme.PANEL)
            self._disc = Ellipse()
            Color(*theme.MUTED)
            self._rim = Line(circle=(0, 0, 1), width=2)
            self._sweep_colour = Color(*theme.ACCENT[:3], 0.0)
            self._sweep = Line(circle=(0, 0, 1, 0, 1), width=3, cap="none")
        self.bind(pos=self._draw, size=self._draw, glow=self._draw, progress=self._draw)

    def on_beat_age_s(self, _: Any, age: float | None) -> None:
        self.lit = age is not None and 0 <= age < self.flash_s
        if age is None or age < 0:
            self.glow = 0.0
        elif age < self.flash_s:
            self.glow = 1.0
        else:
            self.glow = max(0.0, 1.0 - (age - self.flash_s) / self.fade_s) * 0.6

    def _draw(self, *_: Any) -> None:
        r = min(self.width, self.height) * 0.4
        cx, cy = self.center
        g = self.glow
        base, accent = theme.PANEL, theme.ACCENT
        self._disc_colour.rgb = [base[i] + (accent[i] - base[i]) * g for i in range(3)]
        self._disc.pos, self._disc.size = (cx - r, cy - r), (2 * r, 2 * r)
        self._rim.circle = (cx, cy, r)
        if self.progress is not None:
            angle = max(1.0, 360.0 * min(max(float(self.progress), 0.0), 1.0))
            self._sweep.circle = (cx, cy, r + 8, 0, angle)
            self._sweep_colour.a = 1.0
        else:
            self._sweep_colour.a = 0.0


class FingerCue(Widget):
    """Five finger boxes (thumb to little); the cued finger is lit."""

    finger = StringProperty("")
    mirrored = BooleanProperty(False)  # left hand: little finger first

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._labels: list[Label] = []
        for name in FINGERS:
            label = Label(text=name[0].upper(), font_size=theme.FONT_TITLE, bold=True)
            self._labels.append(label)
            self.add_widget(label)
        self.bind(pos=self._draw, size=self._draw, finger=self._draw, mirrored=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.before.clear()
        order = list(reversed(FINGERS)) if self.mirrored else list(FINGERS)
        n = len(order)
        gap = 6
        w = (self.width - gap * (n - 1)) / n
        h = min(self.height, w * 1.6)
        y = self.center_y - h / 2
        with self.canvas.before:
            for i, name in enumerate(order):
                x = self.x + i * (w + gap)
                lit = name == self.finger
                Color(*(theme.ACCENT if lit else theme.PANEL))
                RoundedRectangle(pos=(x, y), size=(w, h), radius=[8])
                label = self._labels[FINGERS.index(name)]
                label.color = theme.PRIMARY_TEXT if lit else theme.FG
                label.pos = (x, y)
                label.size = (w, h)
