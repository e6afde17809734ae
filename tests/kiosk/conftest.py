"""The Kivy app under Xvfb: this folder starts its own X server (``Xvfb``, installed by
``scripts/setup --dev``), sets Kivy's environment before Kivy is imported (no argument parsing, no
console log, SDL2 window of 800 x 480), and drives the app frame by frame with simulated touches.

Every screen the tests visit is saved under ``test-artifacts/screenshots/<size>/<name>.png`` and
checked to be neither blank (pixel variance) nor cut off (:func:`check_screen`: every shown widget
inside the window, every button at least 9 mm on the official 7-inch display, every label's text
within its label).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from station.config import StationConfig, load_config
from station.ui.app import AppController

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
WINDOW_SIZE = (800, 480)
XVFB_SCREEN = "1280x720x24"
START_TIMEOUT_S = 60.0  # a failure bound (a loaded CI machine)

KIOSK_BATTERY = """
name = "kiosktest"
title = "Kiosk test: force band and metronome"

[[step]]
protocol = "force_steadiness"
hands = ["dominant"]
trials = 1
[step.params]
hold_s = 2.0
settle_s = 0.5
welch_segment_s = 1.0
foreperiod_s = 0.5

[[step]]
protocol = "sync_continuation"
hands = ["dominant"]
trials = 1
[step.params]
n_sync = 6
n_continuation = 4
skip_beats = 1
interval_ms = 400.0
lead_in_s = 0.5
foreperiod_s = 0.5
"""

PEG_BATTERY = """
name = "pegs"
title = "Nine-Hole Peg Test, one trial"
[[step]]
protocol = "nine_hole_peg"
hands = ["dominant"]
practice = 0
trials = 1
[step.params]
foreperiod_s = 0.5
"""


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("Xvfb is not installed: run scripts/setup --dev (it installs xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            xvfb,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            XVFB_SCREEN,
            "+extension",
            "GLX",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    deadline = time.monotonic() + START_TIMEOUT_S
    data = b""
    try:
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(0.0, remaining))
            if not ready:
                proc.kill()
                pytest.fail(f"Xvfb did not start within {START_TIMEOUT_S} s")
            chunk = os.read(read_fd, 64)
            if not chunk:
                pytest.fail(f"Xvfb exited (status {proc.wait()}) before giving a display")
            data += chunk
    finally:
        os.close(read_fd)
    return proc, f":{data.decode().strip()}"


@pytest.fixture(scope="session")
def kivy_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One X server and one Kivy window for the whole session (Kivy has one window per
    process); the environment is set before the first Kivy import."""
    proc, display = _start_xvfb()
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "SDL_AUDIODRIVER")}
    os.environ["DISPLAY"] = display
    # SDL's silent audio device: the screen's sound cues load and play as on a station with a
    # speaker (tests/kiosk/test_kiosk_flows.py checks that they do), and no sound is made
    os.environ["SDL_AUDIODRIVER"] = "dummy"
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ["KIVY_NO_CONSOLELOG"] = "1"
    os.environ["KIVY_NO_FILELOG"] = "1"
    os.environ["KIVY_LOG_MODE"] = "PYTHON"
    os.environ["KIVY_WINDOW"] = "sdl2"
    os.environ["KIVY_HOME"] = str(tmp_path_factory.mktemp("kivy-home"))
    from station.kiosk.main import prepare_kivy

    prepare_kivy(tmp_path_factory.mktemp("kivy-data"), size=WINDOW_SIZE, fullscreen=False)
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    window = EventLoop.window
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield window
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Kiosk:
    """The running app, stepped frame by frame; touches go through the window as a finger's
    would (kivy.tests.common.UnitTestTouch)."""

    def __init__(self, app: Any, window: Any, controller: AppController):
        self.app = app
        self.window = window
        self.controller = controller

    # -- time passing ----------------------------------------------------------------------------
    def frames(self, n: int = 1) -> None:
        from kivy.base import EventLoop, ExceptionManager

        for _ in range(n):
            try:
                EventLoop.idle()
            except Exception as exc:  # as the main loop does: the app's handler decides
                if ExceptionManager.handle_exception(exc) == ExceptionManager.RAISE:
                    raise

    def wait_for(self, condition: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what} (screen {self.app.current!r})")
            self.frames(1)

    def wait_screen(self, name: str, timeout_s: float = 30.0) -> Any:
        self.wait_for(lambda: self.app.current == name, f"the {name} screen", timeout_s)
        self.frames(2)  # laid out and drawn
        return self.app.screen(name)

    # -- touches and keys ------------------------------------------------------------------------
    def tap(self, widget: Any) -> None:
        from kivy.tests.common import UnitTestTouch

        assert widget.get_root_window() is not None, f"{widget} is not on screen"
        assert not widget.disabled, f"{getattr(widget, 'text', widget)!r} is disabled"
        x, y = widget.to_window(*widget.center)
        assert 0 <= x < self.window.width and 0 <= y < self.window.height, "off screen"
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(1)
        touch.touch_up()
        self.frames(2)

    def key(self, name: str) -> None:
        from kivy.core.window import Keyboard

        code = Keyboard.keycodes[name]
        self.window.dispatch("on_key_down", code, 0, name, [])
        self.frames(1)
        self.window.dispatch("on_key_up", code, 0)
        self.frames(1)

    def button(self, text: str, screen: str | None = None) -> Any:
        """The visible button with this text on the current screen (or pop-up)."""
        from kivy.uix.behaviors import ButtonBehavior

        roots = [self.window.children[0]] if self.app._note is not None else []
        roots.append(self.app.root)
        for root in roots:
            for w in root.walk():
                if (
                    isinstance(w, ButtonBehavior)
                    and getattr(w, "text", "") == text
                    and w.get_root_window() is not None
                    and w.opacity > 0
                    and _on_screen(w, self)
                ):
                    return w
        pytest.fail(f"no button {text!r} on the {self.app.current} screen")

    # -- screenshots and layout checks -----------------------------------------------------------
    def shot(self, name: str, key_ids: tuple[str, ...] = ()) -> Path:
        """Save the window as test-artifacts/screenshots/<size>/<name>.png and check it."""
        self.frames(2)
        w, h = self.window.size
        path = SHOTS / f"{w}x{h}" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        root = self.window.children[0] if self.app._note is not None else self.app.root
        check_screen(self, self.app.screen(self.app.current), key_ids)
        written = Path(self.window.screenshot(name=str(path)))
        if written != path:  # Kivy numbers its screenshots: keep the plain name
            written.replace(path)
        pixels = _pixels(root)
        luminance = pixels[..., :3].astype(np.float64).mean(axis=2)
        assert luminance.std() > 10, f"{name}: the screen is blank (std {luminance.std():.1f})"
        background = np.abs(luminance - luminance.flat[0]) < 3
        assert background.mean() < 0.98, f"{name}: almost nothing drawn"
        return path


def ancestors(widget: Any) -> Iterator[Any]:
    """The widget's parents up to the window (whose parent is itself)."""
    parent = widget.parent
    while parent is not None and parent is not widget:
        yield parent
        widget, parent = parent, parent.parent


def _on_screen(widget: Any, kiosk: Kiosk) -> bool:
    current = kiosk.app.screen(kiosk.app.current)
    for parent in (widget, *ancestors(widget)):
        if parent is current or parent is kiosk.app.panel:
            return True
        if type(parent).__name__ == "ModalView":
            return True
        if type(parent).__name__.endswith("Screen") and parent is not current:
            return False
    return False


def _pixels(widget: Any) -> np.ndarray:
    image = widget.export_as_image()
    texture = image.texture
    data = np.frombuffer(texture.pixels, dtype=np.uint8)
    return data.reshape(texture.height, texture.width, 4)


def window_box(widget: Any) -> tuple[float, float, float, float]:
    x0, y0 = widget.to_window(widget.x, widget.y)
    x1, y1 = widget.to_window(widget.right, widget.top)
    return x0, y0, x1, y1


def hidden(widget: Any, stop: Any) -> bool:
    """Not shown: the widget, or a parent up to ``stop``, is transparent or has no size."""
    for w in (widget, *ancestors(widget)):
        if w.opacity == 0 or w.width <= 1 or w.height <= 1:
            return True
        if w is stop:
            return False
    return False


def check_screen(kiosk: Kiosk, screen: Any, key_ids: tuple[str, ...]) -> None:
    """Nothing cut off and everything touchable: every shown widget (and the key ones by id)
    inside the window; every button at least 9 mm each way on the 7-inch display; every label's
    text, as drawn, within its label (wrapped to its width and not taller than it, or on one line
    not wider than it: a shortened text "..." counts as cut off). Widgets in a scrolling list are
    left out (they scroll into view)."""
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label
    from kivy.uix.scrollview import ScrollView
    from kivy.uix.textinput import TextInput

    from station.kiosk.theme import MIN_TOUCH_PX
    from station.kiosk.widgets import one_line, room_for_text, text_extent

    width, height = kiosk.window.size
    tol = 1.0

    def inside(w: Any, what: str) -> None:
        x0, y0, x1, y1 = window_box(w)
        assert x1 - x0 > 1 and y1 - y0 > 1, f"{what} has no size"
        assert -tol <= x0 and -tol <= y0 and x1 <= width + tol and y1 <= height + tol, (
            f"{what} is cut off: {x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f} in {width}x{height}"
        )

    for key in key_ids:
        inside(screen.ids[key], f"{screen.name}.{key}")
    roots = [screen]
    if screen.name == "run" and kiosk.app.panel is not None:
        roots.append(kiosk.app.panel)

    def in_scroll(w: Any) -> bool:
        return any(isinstance(p, ScrollView) for p in ancestors(w))

    checked = 0
    for root in roots:
        for w in root.walk(restrict=True):
            if hidden(w, root) or in_scroll(w):
                continue
            text = w.text if isinstance(w, Label) else ""
            what = f"{screen.name}: {type(w).__name__} {text[:40]!r}"
            inside(w, what)
            checked += 1
            if isinstance(w, ButtonBehavior):
                assert w.width >= MIN_TOUCH_PX and w.height >= MIN_TOUCH_PX, (
                    f"{what} is {w.width:.0f}x{w.height:.0f} px: below 9 mm ({MIN_TOUCH_PX:.0f} px)"
                )
            if text.strip() and not isinstance(w, TextInput):
                text_w, text_h = text_extent(w)
                room_w, room_h = room_for_text(w)
                slack = 0.0 if one_line(w) else 1.0  # one line: a pixel more is shortened
                assert text_w <= room_w + slack and text_h <= room_h + 1, (
                    f"{what}: its text is cut off ({text_w}x{text_h} px of text in "
                    f"{room_w:.0f}x{room_h:.0f} px, font {w.font_size:.1f})"
                )
    assert checked > 3, f"{screen.name}: almost nothing on screen to check"


@pytest.fixture
def kiosk_config() -> StationConfig:
    config = load_config(None)
    batteries = config.data_dir / "batteries"
    batteries.mkdir(parents=True, exist_ok=True)
    (batteries / "kiosktest.toml").write_text(KIOSK_BATTERY)
    (batteries / "pegs.toml").write_text(PEG_BATTERY)
    return config


@pytest.fixture
def before_build() -> Callable[[AppController], None]:
    """What happens to the controller before the app is built (a test module overrides this
    fixture, e.g. to run the device check as `station kiosk` does)."""
    return lambda controller: None


@pytest.fixture
def kiosk(
    kivy_window: Any, kiosk_config: StationConfig, before_build: Callable[[AppController], None]
) -> Iterator[Kiosk]:
    """A fresh app (its own controller, rig and store) in the session's window."""
    from kivy.app import App
    from kivy.base import EventLoop

    from station.kiosk.app import KioskApp

    kivy_window.size = WINDOW_SIZE
    controller = AppController.open(kiosk_config)
    before_build(controller)
    app = KioskApp(controller)
    app._run_prepare()  # what App.run() does before its main loop (Kivy's own async tests too)
    driver = Kiosk(app, kivy_window, controller)
    driver.frames(3)
    try:
        yield driver
    finally:
        try:
            if controller.run is not None and not controller.run.ended:
                controller.run.abort()
                controller.run.wait(10.0)
            app.dispatch("on_stop")
            for child in list(kivy_window.children):
                kivy_window.remove_widget(child)
            EventLoop.touches.clear()
            App._running_app = None
        finally:
            controller.close()
