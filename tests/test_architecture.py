"""The house rules on dependencies, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no sources found in {package}/"
    return files


def test_hardware_imports_neither_station_nor_web() -> None:
    for path in sources("hardware"):
        assert not imported_top_levels(path) & {"station", "web"}, path


def test_station_core_imports_neither_kivy_nor_flask() -> None:
    for path in sources("station"):
        if "kiosk" in path.relative_to(REPO / "station").parts:
            continue
        assert not imported_top_levels(path) & {"kivy", "flask"}, path


def test_web_never_touches_hardware() -> None:
    for path in sources("web"):
        assert "hardware" not in imported_top_levels(path), path


def test_one_exception_base() -> None:
    from hardware.errors import StationError as HardwareLayerBase
    from station.errors import ConfigError, HardwareError, StationError

    assert StationError is HardwareLayerBase
    assert issubclass(ConfigError, StationError) and issubclass(HardwareError, StationError)
