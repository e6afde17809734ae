"""``station kiosk``: start the touchscreen app (or set the PIN, or run the demo without a display).

Fullscreen on a Raspberry Pi, windowed (800 x 480, the official display's size, unless
``--size``) elsewhere. Kivy's environment is set here, before Kivy is first imported: no
command-line parsing by Kivy (``KIVY_NO_ARGS``), its settings and logs under
``<data_dir>/kivy``, Python logging, Escape does not quit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.config import StationConfig
from station.errors import StationError, UsageError

#: Windowed size on a desktop unless --size: the official 7-inch display.
DEFAULT_SIZE = (800, 480)
SIZES = ((800, 480), (1024, 600), (1280, 720))


def has_display() -> bool:
    """Is there somewhere to open a window: X11 or Wayland, or a Pi's KMS/DRM console?"""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    from station.rig import is_raspberry_pi

    return is_raspberry_pi() and any(Path("/dev/dri").glob("card*"))


def kivy_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("kivy") is not None


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise UsageError(
            f"--size: give WIDTHxHEIGHT in pixels, e.g. 800x480; got {text!r}"
        ) from None
    if not (320 <= w <= 7680 and 240 <= h <= 4320):
        raise UsageError(f"--size: {w}x{h} is not a usable window size")
    return w, h


def prepare_kivy(
    data_dir: Path, *, size: tuple[int, int], fullscreen: bool, verbose: bool = False
) -> None:
    """Set Kivy's environment and window configuration; call before importing any of Kivy."""
    kivy_home = Path(data_dir) / "kivy"
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_HOME", str(kivy_home))
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # not xclip/xsel, which may be missing
    if not verbose:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    # Kivy logs through Python logging (KIVY_LOG_MODE=PYTHON): its start-up chatter only with -v
    level = logging.INFO if verbose else logging.ERROR
    # a filter, not only a level: Kivy sets its logger's level from its config while importing
    logging.getLogger("kivy").addFilter(lambda record: record.levelno >= level)
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_enable", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "0" if fullscreen else "1")
    Config.set("graphics", "maxfps", "60")


def run_kiosk(
    config: StationConfig,
    *,
    demo: bool = False,
    fast: bool = False,
    battery: str | None = None,
    size: tuple[int, int] | None = None,
    fullscreen: bool | None = None,
    verbose: bool = False,
    bench: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    from station.ui.app import AppController

    if not has_display() or not kivy_available():
        why = (
            "no display here (no DISPLAY or WAYLAND_DISPLAY)"
            if not has_display()
            else "Kivy is not installed (scripts/setup --kiosk, or pip install '.[kiosk]')"
        )
        if not demo:
            raise StationError(
                f"station kiosk needs a screen: {why}; `station kiosk --demo` runs the "
                "demonstration in the terminal instead"
            )
        print(f"{why}: running the demonstration in the terminal", file=sys.stderr)
        from station.ui.demo import run_terminal_demo

        controller = AppController.open(config)
        controller.realtime = not fast
        try:
            return run_terminal_demo(controller, battery=battery, say=say)
        finally:
            controller.close()

    from station.rig import is_raspberry_pi

    on_pi = is_raspberry_pi()
    full = on_pi if fullscreen is None else fullscreen
    prepare_kivy(config.data_dir, size=size or DEFAULT_SIZE, fullscreen=full, verbose=verbose)
    controller = AppController.open(config)
    controller.realtime = not fast
    try:
        # every device tested before anything is recorded: what is wrong is on the home screen,
        # and the report keeps the hourly health check and the server's status page current
        controller.check_devices()
        from station.kiosk.app import KioskApp
        from station.ui.demo import DemoDriver

        driver = DemoDriver(controller, battery=battery) if (demo or bench) else None
        if bench:
            from station.kiosk.bench import KioskBench

            figures: dict[str, Any] = {}
            bench_run = KioskBench(figures)
            app = KioskApp(controller, demo=None, on_home=bench_run.home_shown)
            bench_run.attach(app, driver)
            app.run()
            say(json.dumps(figures, indent=2))
            return 0
        app = KioskApp(controller, demo=driver)
        app.stop_on_signals()
        app.run()
        return 0
    finally:
        controller.close()
