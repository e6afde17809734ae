"""The ``station`` command: help, config tools, and clear usage errors (exit 2, no traceback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from station import __version__, cli
from station.config import reference_config_path

REF = ["--config", str(reference_config_path())]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["--help"], capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: station")
    for command in ("selftest", "calibrate", "bench", "demo", "config"):
        assert command in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["selftest", "--help"], ["--json", "--seconds", "--watch"]),
        (["calibrate", "pad", "--help"], ["name", "--weights-g"]),
        (["config", "--help"], ["check", "path"]),
    ],
)
def test_subcommand_help(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    for word in words:
        assert word in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"station {__version__}"


def test_config_check_summarises_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*REF, "config", "check"], capsys)
    assert code == 0, err
    [line] = out.strip().splitlines()
    assert line.startswith(f"{reference_config_path()}: ok: station 'reference-01'")
    assert "hardware sim" in line  # STATION_HARDWARE=sim wins over the file's auto
    for part in ("9 holes", "5 buttons", "6 outputs", "4 ADCs", "6 pads"):
        assert part in line


def test_config_check_shows_the_data_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli([*REF, "config", "check"], capsys)
    assert code == 0 and out.strip().endswith(f"data in {tmp_path / 'data'}")


def test_config_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*REF, "config", "path"], capsys)
    assert code == 0 and out.strip() == str(reference_config_path())


def test_config_path_follows_station_config(
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(('id = "reference-01"', 'id = "bench-2"'))
    monkeypatch.setenv("STATION_CONFIG", str(path))
    code, out, _ = run_cli(["config", "path"], capsys)
    assert code == 0 and out.strip() == str(path)
    code, out, _ = run_cli(["config", "check"], capsys)
    assert code == 0 and "station 'bench-2'" in out


def test_config_path_default_without_anything_set(capsys: pytest.CaptureFixture[str]) -> None:
    etc = Path("/etc/dexterity-station/station.toml")
    code, out, _ = run_cli(["config", "path"], capsys)
    assert code == 0
    assert out.strip() == str(etc if etc.exists() else reference_config_path())


def assert_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("station") and ": error: " in last, err
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
        ([], ["required", "COMMAND"]),
        (["config"], ["required", "WHAT"]),
        (["config", "fix"], ["invalid choice: 'fix'"]),
        (["calibrate", "knob"], ["invalid choice: 'knob'"]),
        (["calibrate", "pad"], ["required", "name"]),
        (["bench"], ["required", "WHAT"]),
        (["selftest", "--colour"], ["unrecognized arguments: --colour"]),
    ],
)
def test_unknown_or_missing_command(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert_usage_error(*run_cli(argv, capsys), *needles)


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["selftest", "--seconds", "-1"], ["argument --seconds", "must be > 0"]),
        (["selftest", "--seconds", "0"], ["argument --seconds", "must be > 0"]),
        (["selftest", "--seconds", "soon"], ["argument --seconds", "not a number: 'soon'"]),
        (["demo", "--seconds", "-5"], ["argument --seconds", "must be > 0"]),
        (["demo", "--seed", "lucky"], ["argument --seed", "invalid int value: 'lucky'"]),
        (
            ["calibrate", "pad", "pad_index", "--weights-g", "0,100"],
            ["argument --weights-g", "at least 3"],
        ),
        (
            ["calibrate", "pad", "pad_index", "--weights-g", "light,heavy"],
            ["argument --weights-g", "'light,heavy'"],
        ),
    ],
)
def test_bad_argument_values(
    argv: list[str],
    needles: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_usage_error(*run_cli([*REF, *argv], capsys), *needles)
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_errors_are_one_line_with_verbose_too(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(("address = 0x4B", "address = 0x4C"))
    code, out, err = run_cli(["-v", "--config", str(path), "config", "check"], capsys)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("station: error:")]
    assert len(errors) == 1 and '[[adc]] "adc3" address' in errors[0]


def test_internal_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import station.selftest

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("something unexpected")

    monkeypatch.setattr(station.selftest, "run_selftest", broken)
    code, out, err = run_cli([*REF, "selftest"], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    assert (
        "station: internal error: RuntimeError: something unexpected (run with -v for details)"
        in err.splitlines()
    )


def test_pi_backend_without_a_pi_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Forcing the real backend on a machine without lgpio/RPi.GPIO: one line, exit 1."""
    pytest.importorskip("gpiozero")
    try:
        import lgpio  # noqa: F401

        pytest.skip("lgpio is installed: this machine may be a Pi")
    except ImportError:
        pass
    monkeypatch.setenv("STATION_HARDWARE", "pi")
    code, out, err = run_cli(["selftest"], capsys)
    assert code == 1
    assert "no GPIO pin factory could be opened" in err and "pi' extra" in err
    assert "Traceback" not in out + err
