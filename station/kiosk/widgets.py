"""The kiosk's own widgets.

* Text that fits: :class:`KLabel`, :class:`KButton`, :class:`KToggle` draw their text at the
  theme's size or, when it would not fit the widget (a large text size on the 7-inch display), as
  large as fits (:class:`FitText`); :func:`text_extent` measures a text as a label draws it (the
  screenshot tests use it to check that nothing is cut off).
* Live feedback: the pegboard (holes light when a peg is in), the force bar with its target band
  (and the peak for a maximal effort), the force trace (target and force over the last seconds,
  for tracking), the force of every finger pad (individuation), the visual metronome, the tap
  counter and the finger cue (the cued finger lit, pressed fingers outlined). Each draws from a
  few Kivy properties that the run screen sets from the :class:`~station.ui.run.LiveValues` of the
  running trial, and redraws when the theme changes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.core.text.markup import MarkupLabel
from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.togglebutton import ToggleButton
from kivy.uix.widget import Widget

from station.kiosk.theme import style

FINGERS = ("thumb", "index", "middle", "ring", "little")

# -- text that fits ------------------------------------------------------------------------------
_EXTENTS: OrderedDict[tuple[Any, ...], tuple[int, int]] = OrderedDict()
_EXTENTS_MAX = 4000


def text_extent(label: Label, font_size: float | None = None) -> tuple[int, int]:
    """The size of ``label``'s text as drawn at ``font_size`` (default its own): on one line when
    the label shortens or has no wrapping width, else wrapped to its ``text_size`` width."""
    size = float(font_size if font_size is not None else label.font_size)
    wrap_w = label.text_size[0]
    width = None if one_line(label) else max(1.0, float(wrap_w))
    key = (label.text, label.font_name, bold := bool(label.bold), bool(label.markup), size, width)
    found = _EXTENTS.get(key)
    if found is not None:
        _EXTENTS.move_to_end(key)
        return found
    cls = MarkupLabel if label.markup else CoreLabel
    core = cls(
        text=label.text,
        font_size=size,
        font_name=label.font_name,
        bold=bold,
        italic=bool(label.italic),
        halign=label.halign,
        line_height=label.line_height,
        text_size=(width, None),
    )
    # the layout pass only (no texture: a GL texture per measurement is costly on a small GPU)
    core.resolve_font_name()
    w, h = core.render()
    internal = getattr(core, "_internal_size", None)
    if width is not None and internal:  # wrapped: its widest line, not the wrapping width
        w = internal[0]
    found = (int(w), int(h))
    _EXTENTS[key] = found
    if len(_EXTENTS) > _EXTENTS_MAX:
        _EXTENTS.popitem(last=False)
    return found


def room_for_text(label: Label) -> tuple[float, float]:
    """The room a label's text has: its wrapping width (or its width) by its height."""
    wrap_w = label.text_size[0]
    width = float(wrap_w) if wrap_w is not None else float(label.width)
    return width, float(label.height)


def text_fits(label: Label, font_size: float | None = None, margin_px: float = 1.0) -> bool:
    """Does the text fit its room with ``margin_px`` to spare (a label shortens or clips a text
    even a pixel too wide)?"""
    if not label.text:
        return True
    w, h = text_extent(label, font_size)
    room_w, room_h = room_for_text(label)
    if one_line(label):
        return w <= room_w - margin_px and h <= room_h
    return w <= room_w + 0.5 and h <= room_h  # wrapped: as wide as its room at most


def one_line(label: Label) -> bool:
    """Is the text drawn on one line (shortened, or with no wrapping width)?"""
    return bool(label.shorten) or label.text_size[0] is None


#: Kivy's own default font size of a label, px: a label still at it was given no size.
_KIVY_DEFAULT_FONT = 15.0


class FitText:
    """A label (or button) whose text is drawn at its ``font_size`` or, when that would not fit the
    widget, at the largest size that fits down to ``min_font_ratio`` of it. ``fit: False`` turns
    it off (texts that change every frame, like the timer).

    Its size and colour follow the theme (:data:`~station.kiosk.theme.style`: ``font_role``, and
    ``fg`` for a label) unless a ``.kv`` rule or the caller set them: a theme's change then
    leaves them alone (two rules bound to the theme would fight over one property)."""

    fit = BooleanProperty(True)
    min_font_ratio = NumericProperty(0.55)
    font_role = "font_body"
    follow_colour = True

    def __init__(self, **kwargs: Any):
        self._wanted_font: float | None = None
        self._fitting = False
        self._fit_trigger = Clock.create_trigger(self._fit_text, -1)
        super().__init__(**kwargs)
        label: Any = self
        self._theme_font = float(getattr(style, self.font_role))
        if "font_size" not in kwargs and float(label.font_size) == _KIVY_DEFAULT_FONT:
            label.font_size = self._theme_font
        if self._wanted_font is None:
            self._wanted_font = float(label.font_size)
        style.fbind(self.font_role, self._follow_font)
        self._theme_colour = list(style.fg)
        if self.follow_colour and "color" not in kwargs and list(label.color) == [1, 1, 1, 1]:
            label.color = self._theme_colour
        if self.follow_colour:
            style.fbind("fg", self._follow_colour)
        for name in ("text", "size", "text_size", "bold", "markup", "fit", "font_name"):
            label.fbind(name, self._fit_trigger)
        self._fit_trigger()

    def _follow_font(self, _style: Any, value: float) -> None:
        """The theme's size changed: follow it if this text still has the theme's size."""
        old, self._theme_font = self._theme_font, float(value)
        if self._wanted_font is not None and abs(self._wanted_font - old) < 0.01:
            self.font_size = float(value)  # type: ignore[attr-defined]

    def _follow_colour(self, _style: Any, value: Any) -> None:
        old, self._theme_colour = self._theme_colour, list(value)
        label: Any = self
        if [round(c, 4) for c in label.color] == [round(c, 4) for c in old]:
            label.color = list(value)

    def on_font_size(self, _w: Any, value: float) -> None:
        if not self._fitting:
            self._wanted_font = float(value)
            self._fit_trigger()

    @property
    def wanted_font_size(self) -> float:
        return self._wanted_font if self._wanted_font is not None else float(self.font_size)  # type: ignore[attr-defined]

    def _fit_text(self, *_: Any) -> None:
        label: Any = self
        wanted = self.wanted_font_size
        size = wanted
        if self.fit and label.text and label.width > 1 and label.height > 1:
            floor = wanted * float(self.min_font_ratio)
            while size > floor and not text_fits(label, size):
                size = max(floor, round(size * 0.92, 1))
        if abs(size - float(label.font_size)) > 0.05:
            self._fitting = True
            try:
                label.font_size = size
            finally:
                self._fitting = False


class KLabel(FitText, Label):
    """The kiosk's label (its look is in ``kv/theme.kv``)."""


class Outlined:
    """A button outlined in the high-contrast theme. The outline's instructions exist only while
    that theme is on: drawing even an invisible line round every button halved the frame rate
    under software rendering (docs/benchmarks.md)."""

    def __init__(self, **kwargs: Any):
        self._outline: Line | None = None
        self._outline_colour: Color | None = None
        super().__init__(**kwargs)
        style.fbind("high_contrast", self._draw_outline)
        for name in ("pos", "size", "disabled"):
            self.fbind(name, self._draw_outline)  # type: ignore[attr-defined]
        self._draw_outline()

    def _draw_outline(self, *_: Any) -> None:
        button: Any = self
        if not style.high_contrast:
            if self._outline is not None:
                button.canvas.after.clear()
                self._outline = self._outline_colour = None
            return
        if self._outline is None:
            with button.canvas.after:
                self._outline_colour = Color()
                self._outline = Line(width=1.5)
        assert self._outline_colour is not None
        self._outline_colour.rgba = (0, 0, 0, 0) if button.disabled else style.outline
        self._outline.rectangle = (button.x + 1, button.y + 1, button.width - 2, button.height - 2)


class KButton(Outlined, FitText, Button):
    """The kiosk's button: at least 9 mm each way (``kv/theme.kv``)."""

    font_role = "font_button"
    follow_colour = False  # its colours depend on its state: kv/theme.kv


class KToggle(Outlined, FitText, ToggleButton):
    """The kiosk's toggle button (``kv/theme.kv``)."""

    font_role = "font_button"
    follow_colour = False


# -- live feedback -------------------------------------------------------------------------------
def _restyle(widget: Any, method: Any) -> None:
    """Redraw ``widget`` (``method``) when the theme changes."""
    style.fbind("high_contrast", method)
    style.fbind("fg", method)


class Pegboard(Widget):
    """The board's holes in a grid; a hole lights when its peg is in. ``by_column``: the holes
    fill the columns one after the other (a Purdue board's two columns), else the rows."""

    holes = ListProperty([False] * 9)
    columns = NumericProperty(3)
    by_column = BooleanProperty(False)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.bind(
            pos=self._draw,
            size=self._draw,
            holes=self._draw,
            columns=self._draw,
            by_column=self._draw,
        )
        _restyle(self, self._draw)

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
            Color(*style.panel)
            RoundedRectangle(
                pos=(x0 - 4, y0 - cell * rows - 4), size=(cell * cols + 8, cell * rows + 8)
            )
            for i, filled in enumerate(self.holes):
                c, r = divmod(i, rows) if self.by_column else divmod(i, cols)[::-1]
                cx = x0 + cell * (c + 0.5)
                cy = y0 - cell * (r + 0.5)
                if filled:
                    Color(*style.accent)
                    Ellipse(pos=(cx - d / 2, cy - d / 2), size=(d, d))
                else:
                    Color(*style.muted)
                    Line(circle=(cx, cy, d / 2), width=max(1.0, min(2.0, d / 10)))


class ForceBar(Widget):
    """A vertical bar: the force now, the target line and its band, on a 0..``max_n`` scale;
    ``peak_n`` (when set) marks the highest force so far (a maximal effort).

    The canvas instructions are made once and moved on each change (cheaper than redrawing)."""

    force_n = NumericProperty(0.0)
    max_n = NumericProperty(20.0)
    target_n = ObjectProperty(None, allownone=True)
    band_n = ObjectProperty(None, allownone=True)  # (low, high)
    peak_n = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        with self.canvas:
            self._back_colour = Color(*style.panel)
            self._back = Rectangle()
            self._band_colour = Color(*style.good[:3], 0.0)
            self._band = Rectangle()
            self._fill_colour = Color(*style.fg)
            self._fill = Rectangle()
            self._peak_colour = Color(*style.bad[:3], 0.0)
            self._peak = Rectangle(size=(0, 0))  # a quad: a wide Line costs more to draw
            self._target_colour = Color(*style.accent[:3], 0.0)
            self._target = Line(points=[0, 0, 0, 0], width=3, cap="none")
            self._frame_colour = Color(*style.muted)
            self._frame = Line(rectangle=(0, 0, 1, 1), width=1.2)
        self.bind(
            pos=self._draw,
            size=self._draw,
            force_n=self._draw,
            max_n=self._draw,
            target_n=self._draw,
            band_n=self._draw,
            peak_n=self._draw,
        )
        _restyle(self, self._draw)

    def _y(self, force: float) -> float:
        top = max(self.max_n, 1e-6)
        return self.y + self.height * min(max(force, 0.0), top) / top

    def _draw(self, *_: Any) -> None:
        w = min(self.width, 90)
        x = self.center_x - w / 2
        self._back_colour.rgba = style.panel
        self._frame_colour.rgba = style.muted
        self._back.pos, self._back.size = (x, self.y), (w, self.height)
        self._frame.rectangle = (x, self.y, w, self.height)
        band = self.band_n
        if band is not None:
            low, high = band
            self._band.pos = (x, self._y(low))
            self._band.size = (w, max(2.0, self._y(high) - self._y(low)))
            self._band_colour.rgba = (*style.good[:3], 0.45)
        else:
            self._band_colour.a = 0.0
        inside = band is not None and band[0] <= self.force_n <= band[1]
        self._fill_colour.rgba = style.good if inside else style.fg
        self._fill.pos = (x + w * 0.2, self.y)
        self._fill.size = (w * 0.6, self._y(self.force_n) - self.y)
        if self.peak_n is not None and self.peak_n > 0:
            y = self._y(self.peak_n)
            self._peak.pos, self._peak.size = (x, y - 1.5), (w, 3)
            self._peak_colour.rgba = (*style.bad[:3], 1.0)
        else:
            self._peak.size = (0, 0)
            self._peak_colour.a = 0.0
        if self.target_n is not None:
            y = self._y(self.target_n)
            self._target.points = [x - 8, y, x + w + 8, y]
            self._target_colour.rgba = (*style.accent[:3], 1.0)
        else:
            self._target_colour.a = 0.0


class ForceTrace(Widget):
    """The force (white) and the target (yellow, wide) over the last ``window_s`` seconds, newest
    on the right (on the left when ``mirrored``): force tracking's display."""

    window_s = NumericProperty(5.0)
    max_n = NumericProperty(20.0)
    mirrored = BooleanProperty(False)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._points: deque[tuple[float, float, float | None]] = deque()
        with self.canvas:
            self._back_colour = Color(*style.panel)
            self._back = Rectangle()
            self._target_colour = Color(*style.accent[:3], 0.55)
            self._target = Line(points=[], width=6, joint="round")
            self._force_colour = Color(*style.fg)
            self._force = Line(points=[], width=2, joint="round")
            self._frame_colour = Color(*style.muted)
            self._frame = Line(rectangle=(0, 0, 1, 1), width=1.2)
        self.bind(pos=self._draw, size=self._draw, max_n=self._draw, mirrored=self._draw)
        _restyle(self, self._draw)

    def clear(self) -> None:
        self._points.clear()
        self._draw()

    def add(self, t_s: float, force_n: float, target_n: float | None) -> None:
        points = self._points
        if points and t_s <= points[-1][0]:
            if t_s < points[-1][0] - 1.0:  # a new trial started
                points.clear()
            else:
                return
        points.append((t_s, force_n, target_n))
        while points and points[0][0] < t_s - self.window_s:
            points.popleft()
        self._draw()

    def _draw(self, *_: Any) -> None:
        self._back_colour.rgba = style.panel
        self._frame_colour.rgba = style.muted
        self._force_colour.rgba = style.fg
        self._target_colour.rgba = (*style.accent[:3], 0.55)
        self._back.pos, self._back.size = self.pos, self.size
        self._frame.rectangle = (self.x, self.y, self.width, self.height)
        if not self._points:
            self._force.points = []
            self._target.points = []
            return
        t_end = self._points[-1][0]
        top = max(self.max_n, 1e-6)

        def xy(t: float, f: float) -> tuple[float, float]:
            u = 1.0 - (t_end - t) / self.window_s
            if self.mirrored:
                u = 1.0 - u
            return (
                self.x + self.width * u,
                self.y + self.height * min(max(f, 0.0), top) / top,
            )

        force: list[float] = []
        target: list[float] = []
        for t, f, g in self._points:
            force.extend(xy(t, f))
            if g is not None:
                target.extend(xy(t, g))
        self._force.points = force
        self._target.points = target


class PadForces(Widget):
    """One bar per finger pad (finger individuation): the instructed finger's bar shows its
    target band and is outlined; the others should stay low."""

    forces = DictProperty({})  # finger -> force, N
    active = StringProperty("")
    target_n = ObjectProperty(None, allownone=True)
    band_n = ObjectProperty(None, allownone=True)
    max_n = NumericProperty(20.0)
    mirrored = BooleanProperty(False)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._labels: dict[str, Label] = {}
        self.bind(
            pos=self._draw,
            size=self._draw,
            forces=self._draw,
            active=self._draw,
            target_n=self._draw,
            band_n=self._draw,
            max_n=self._draw,
            mirrored=self._draw,
        )
        _restyle(self, self._draw)

    def _draw(self, *_: Any) -> None:
        fingers = [f for f in FINGERS if f in self.forces]
        if self.mirrored:
            fingers.reverse()
        for name in list(self._labels):
            if name not in fingers:
                self.remove_widget(self._labels.pop(name))
        self.canvas.before.clear()
        n = max(1, len(fingers))
        gap = 6.0
        label_h = 24.0
        w = (self.width - gap * (n - 1)) / n
        h = max(1.0, self.height - label_h)
        top = max(self.max_n, 1e-6)

        def y_of(force: float) -> float:
            return self.y + label_h + h * min(max(force, 0.0), top) / top

        with self.canvas.before:
            for i, finger in enumerate(fingers):
                x = self.x + i * (w + gap)
                active = finger == self.active
                Color(*style.panel)
                Rectangle(pos=(x, self.y + label_h), size=(w, h))
                if active and self.band_n is not None:
                    low, high = self.band_n
                    Color(*style.good[:3], 0.45)
                    Rectangle(pos=(x, y_of(low)), size=(w, max(2.0, y_of(high) - y_of(low))))
                force = float(self.forces.get(finger, 0.0))
                inside = (
                    active and self.band_n is not None and self.band_n[0] <= force <= self.band_n[1]
                )
                Color(*(style.good if inside else style.fg if active else style.muted))
                Rectangle(
                    pos=(x + w * 0.2, self.y + label_h), size=(w * 0.6, y_of(force) - y_of(0))
                )
                if active and self.target_n is not None:
                    Color(*style.accent)
                    y = y_of(float(self.target_n))
                    Line(points=[x, y, x + w, y], width=3, cap="none")
                Color(*(style.accent if active else style.muted))
                Line(rectangle=(x, self.y + label_h, w, h), width=2.5 if active else 1.0)
        # the names: made outside the canvas block (a label made inside would draw into it)
        for i, finger in enumerate(fingers):
            label = self._labels.get(finger)
            if label is None:
                label = Label(text=finger, bold=True, halign="center", valign="middle")
                self._labels[finger] = label
                self.add_widget(label)
            label.font_size = min(style.font_small, w / 4.5)
            label.color = style.accent if finger == self.active else style.fg
            label.pos = (self.x + i * (w + gap), self.y)
            label.size = (w, label_h)
            label.text_size = (w, label_h)


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
            self._disc_colour = Color(*style.panel)
            self._disc = Ellipse()
            self._rim_colour = Color(*style.muted)
            self._rim = Line(circle=(0, 0, 1), width=2)
            self._sweep_colour = Color(*style.accent[:3], 0.0)
            self._sweep = Line(circle=(0, 0, 1, 0, 1), width=3, cap="none")
        self.bind(pos=self._draw, size=self._draw, glow=self._draw, progress=self._draw)
        _restyle(self, self._draw)

    def on_beat_age_s(self, _: Any, age: float | None) -> None:
        self.lit = age is not None and 0 <= age < self.flash_s
        if age is None or age < 0:
            self.glow = 0.0
        elif age < self.flash_s:
            self.glow = 1.0
        else:
            self.glow = max(0.0, 1.0 - (age - self.flash_s) / self.fade_s) * 0.6

    def _draw(self, *_: Any) -> None:
        r = max(1.0, min(self.width, self.height) * 0.4)
        cx, cy = self.center
        self._disc_colour.rgba = style.mix(style.panel, style.accent, self.glow)
        self._rim_colour.rgba = style.muted
        self._disc.pos, self._disc.size = (cx - r, cy - r), (2 * r, 2 * r)
        self._rim.circle = (cx, cy, r)
        if self.progress is not None:
            angle = max(1.0, 360.0 * min(max(float(self.progress), 0.0), 1.0))
            self._sweep.circle = (cx, cy, r + 8, 0, angle)
            self._sweep_colour.rgba = (*style.accent[:3], 1.0)
        else:
            self._sweep_colour.a = 0.0


class TapCounter(Widget):
    """The taps so far in large figures, in a ring that flashes at each new tap."""

    count = NumericProperty(0)
    flash_s = NumericProperty(0.12)
    glow = NumericProperty(0.0)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._last_tap_s = -1e9
        with self.canvas.before:
            self._ring_colour = Color(*style.muted)
            self._ring = Line(circle=(0, 0, 1), width=3)
        self._label = Label(text="0", bold=True, font_size=style.font_huge)
        self.add_widget(self._label)
        self.bind(pos=self._draw, size=self._draw, glow=self._draw)
        _restyle(self, self._draw)

    def on_count(self, _w: Any, count: float) -> None:
        previous = int(self._label.text or 0)
        self._label.text = str(int(count))
        if count > previous:
            self._last_tap_s = Clock.get_boottime()
            self.glow = 1.0

    def tick(self) -> None:
        """Fade the flash (the run screen calls this on each refresh)."""
        age = Clock.get_boottime() - self._last_tap_s
        self.glow = 1.0 if age < self.flash_s else max(0.0, 1.0 - (age - self.flash_s) / 0.2)

    def _draw(self, *_: Any) -> None:
        r = max(1.0, min(self.width, self.height) * 0.42)
        self._ring.circle = (self.center_x, self.center_y, r)
        self._ring.width = 3 + 3 * self.glow
        self._ring_colour.rgba = style.mix(style.muted, style.accent, self.glow)
        self._label.font_size = min(style.font_huge, r * 0.9)
        self._label.color = style.fg
        self._label.center = self.center
        self._label.size = (2 * r, 2 * r)


class FingerCue(Widget):
    """Five finger boxes (thumb to little; little first when ``mirrored``, the left hand): the
    cued finger is lit, a pressed finger's box is outlined in green, and ``numbers`` (finger ->
    text) writes a finger's place in a sequence under its letter."""

    finger = StringProperty("")
    mirrored = BooleanProperty(False)
    pressed = ListProperty([])
    numbers = DictProperty({})

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._labels: list[Label] = []
        for name in FINGERS:
            label = Label(text=name[0].upper(), font_size=style.font_title, bold=True)
            label.halign = "center"
            label.valign = "middle"
            self._labels.append(label)
            self.add_widget(label)
        self.bind(
            pos=self._draw,
            size=self._draw,
            finger=self._draw,
            mirrored=self._draw,
            pressed=self._draw,
            numbers=self._draw,
        )
        _restyle(self, self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.before.clear()
        order = list(reversed(FINGERS)) if self.mirrored else list(FINGERS)
        n = len(order)
        gap = 6
        w = max(1.0, (self.width - gap * (n - 1)) / n)
        h = max(1.0, min(self.height, w * 1.6))
        y = self.center_y - h / 2
        with self.canvas.before:
            for i, name in enumerate(order):
                x = self.x + i * (w + gap)
                lit = name == self.finger
                Color(*(style.accent if lit else style.panel))
                RoundedRectangle(pos=(x, y), size=(w, h), radius=[8])
                if name in self.pressed:
                    Color(*style.good)
                    Line(rounded_rectangle=(x + 2, y + 2, w - 4, h - 4, 8), width=3)
                elif style.high_contrast:
                    Color(*style.outline)
                    Line(rounded_rectangle=(x + 1, y + 1, w - 2, h - 2, 8), width=1.2)
                label = self._labels[FINGERS.index(name)]
                number = self.numbers.get(name, "")
                label.text = name[0].upper() + (f"\n{number}" if number else "")
                label.font_size = min(style.font_title, w * 0.5, h * 0.35)
                label.color = style.primary_text if lit else style.fg
                label.pos = (x, y)
                label.size = (w, h)
                label.text_size = (w, h)
