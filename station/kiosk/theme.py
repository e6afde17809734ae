"""The kiosk's look: a high-contrast dark theme and sizes that are usable by touch.

Touch targets are at least 9 mm: on the official 7-inch display (800 x 480 pixels over
154.08 x 85.92 mm, 5.19 px/mm) that is 47 px, so every button is at least :data:`TOUCH_PX`.
"""

from __future__ import annotations

from typing import Final

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
