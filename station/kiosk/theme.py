"""The kiosk's look: a dark theme (or a high-contrast one) and sizes that are usable by touch.

Touch targets are at least 9 mm: on the official 7-inch display (800 x 480 pixels over
154.08 x 85.92 mm, 5.19 px/mm) that is 47 px, so every button is at least :data:`TOUCH_PX`.

The upper-case constants are the standard theme at the normal text size. :data:`style` holds the
theme in use as Kivy properties: the ``.kv`` files bind to it (``theme.style.fg``,
``theme.style.font_body``), so a change of text size or contrast on the settings screen redraws
every screen at once (:meth:`Style.apply`).
"""

from __future__ import annotations

from typing import Any, Final

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty

#: The official Raspberry Pi 7-inch display: pixels per millimetre.
PX_PER_MM_7IN: Final = 800 / 154.08
MIN_TOUCH_MM: Final = 9.0
MIN_TOUCH_PX: Final = MIN_TOUCH_MM * PX_PER_MM_7IN  # 46.7 px
TOUCH_PX: Final = 50  # buttons are at least this tall and wide
GAP_PX: Final = 6
BANNER_PX: Final = 30
HEADER_PX: Final = 50

FONT_SMALL: Final = 15
FONT_BODY: Final = 18
FONT_BUTTON: Final = 19
FONT_TITLE: Final = 24
FONT_PHASE: Final = 34
FONT_HUGE: Final = 56

# colours (r, g, b, a); white on BG is 19:1, black on ACCENT 14:1, white on BUTTON 12:1
BG: Final = (0.04, 0.04, 0.05, 1)
PANEL: Final = (0.11, 0.11, 0.13, 1)
FG: Final = (1, 1, 1, 1)
MUTED: Final = (0.78, 0.78, 0.8, 1)
ACCENT: Final = (1, 0.82, 0.0, 1)
BUTTON: Final = (0.13, 0.2, 0.36, 1)
BUTTON_DOWN: Final = (0.28, 0.42, 0.7, 1)
PRIMARY: Final = ACCENT
PRIMARY_TEXT: Final = (0, 0, 0, 1)
DANGER: Final = (0.62, 0.08, 0.08, 1)
GOOD: Final = (0.2, 0.85, 0.35, 1)
BAD: Final = (1, 0.35, 0.3, 1)
SIM_BANNER: Final = (0.85, 0.3, 0.0, 1)

#: Colour of the phase banner by phase kind.
PHASE_COLOURS: Final = {
    "instructions": (0.16, 0.16, 0.2, 1),
    "ready": (0.55, 0.42, 0.0, 1),
    "go": (0.0, 0.5, 0.16, 1),
    "active": (0.0, 0.36, 0.12, 1),
    "rest": (0.2, 0.2, 0.45, 1),
    "done": (0.16, 0.16, 0.2, 1),
}

#: The palettes: every colour property of :class:`Style`.
STANDARD: Final[dict[str, tuple[float, ...]]] = {
    "bg": BG,
    "panel": PANEL,
    "fg": FG,
    "muted": MUTED,
    "accent": ACCENT,
    "button": BUTTON,
    "button_down": BUTTON_DOWN,
    "primary": PRIMARY,
    "primary_text": PRIMARY_TEXT,
    "danger": DANGER,
    "good": GOOD,
    "bad": BAD,
    "sim_banner": SIM_BANNER,
    "outline": (1, 1, 1, 0),
}
# pure black and white, muted text as bright as the rest, yellow accents, every button outlined
HIGH_CONTRAST: Final[dict[str, tuple[float, ...]]] = {
    "bg": (0, 0, 0, 1),
    "panel": (0.07, 0.07, 0.07, 1),
    "fg": (1, 1, 1, 1),
    "muted": (1, 1, 1, 1),
    "accent": (1, 0.92, 0.0, 1),
    "button": (0, 0, 0, 1),
    "button_down": (0.25, 0.25, 0.25, 1),
    "primary": (1, 0.92, 0.0, 1),
    "primary_text": (0, 0, 0, 1),
    "danger": (0.75, 0.0, 0.0, 1),
    "good": (0.0, 1.0, 0.3, 1),
    "bad": (1, 0.4, 0.3, 1),
    "sim_banner": (0.9, 0.35, 0.0, 1),
    "outline": (1, 1, 1, 1),
}
PHASE_HIGH_CONTRAST: Final = {
    "instructions": (0.0, 0.0, 0.0, 1),
    "ready": (0.6, 0.45, 0.0, 1),
    "go": (0.0, 0.55, 0.15, 1),
    "active": (0.0, 0.42, 0.12, 1),
    "rest": (0.15, 0.15, 0.55, 1),
    "done": (0.0, 0.0, 0.0, 1),
}
#: Set first by :meth:`Style.apply`.
GENERIC: Final = frozenset(
    {"bg", "panel", "fg", "button", "button_down", "font_body", "font_button"}
)
FONTS: Final = {
    "font_small": FONT_SMALL,
    "font_body": FONT_BODY,
    "font_button": FONT_BUTTON,
    "font_title": FONT_TITLE,
    "font_phase": FONT_PHASE,
    "font_huge": FONT_HUGE,
}


class Style(EventDispatcher):  # type: ignore[misc]
    """The theme in use (see the module docstring)."""

    bg = ColorProperty(BG)
    panel = ColorProperty(PANEL)
    fg = ColorProperty(FG)
    muted = ColorProperty(MUTED)
    accent = ColorProperty(ACCENT)
    button = ColorProperty(BUTTON)
    button_down = ColorProperty(BUTTON_DOWN)
    primary = ColorProperty(PRIMARY)
    primary_text = ColorProperty(PRIMARY_TEXT)
    danger = ColorProperty(DANGER)
    good = ColorProperty(GOOD)
    bad = ColorProperty(BAD)
    sim_banner = ColorProperty(SIM_BANNER)
    #: The outline drawn round buttons (transparent in the standard theme).
    outline = ColorProperty((1, 1, 1, 0))
    font_small = NumericProperty(FONT_SMALL)
    font_body = NumericProperty(FONT_BODY)
    font_button = NumericProperty(FONT_BUTTON)
    font_title = NumericProperty(FONT_TITLE)
    font_phase = NumericProperty(FONT_PHASE)
    font_huge = NumericProperty(FONT_HUGE)
    text_scale = NumericProperty(1.0)
    high_contrast = BooleanProperty(False)

    def apply(self, *, text_scale: float, high_contrast: bool) -> None:
        """Switch the palette and scale every font (the screens follow through their bindings).

        The generic values (background, text, buttons, body and button fonts) are set first: a
        widget whose base rule binds one of them and whose own rule binds a specific one (muted
        text, a title) gets the specific one last."""
        palette = HIGH_CONTRAST if high_contrast else STANDARD
        for name in sorted(palette, key=lambda n: n not in GENERIC):
            setattr(self, name, palette[name])
        for name in sorted(FONTS, key=lambda n: n not in GENERIC):
            setattr(self, name, round(FONTS[name] * text_scale))
        self.text_scale = text_scale
        self.high_contrast = high_contrast

    def phase_colour(self, kind: str) -> tuple[float, ...]:
        colours = PHASE_HIGH_CONTRAST if self.high_contrast else PHASE_COLOURS
        return colours.get(kind, colours["done"])

    def mix(self, a: Any, b: Any, t: float) -> list[float]:
        """``a`` blended towards ``b`` by ``t`` (0..1), rgb only, opaque."""
        return [a[i] + (b[i] - a[i]) * t for i in range(3)] + [1.0]


#: The theme in use.
style = Style()
