"""Battery files: shipped ones load; bad ones are refused naming file, line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.battery import BatteryError, battery_names, load_battery


def test_shipped_batteries_load() -> None:
    names = battery_names()
    assert {"standard", "nine_hole_peg"} <= set(names)
    for name in names:
        battery = load_battery(name)
        assert battery.steps and battery.sha256


def test_clinic_battery_in_data_dir_wins(tmp_path: Path) -> None:
    (tmp_path / "batteries").mkdir()
    (tmp_path / "batteries" / "standard.toml").write_text(
        'name = "standard"\ntitle = "Ours"\n[[step]]\nprotocol = "nine_hole_peg"\nhands = ["right"]\ntrials = 1\n'
    )
    battery = load_battery("standard", tmp_path)
    assert battery.title == "Ours" and battery.steps[0].hands == ("right",)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ('name = "x"\nfoo = 1\n[[step]]\nprotocol = "nine_hole_peg"\n', 2, "unknown key 'foo'"),
        ('name = "x"\n[[step]]\nprotocol = "nope"\n', 3, "unknown protocol 'nope'"),
        (
            'name = "x"\n[[step]]\nprotocol = "nine_hole_peg"\n[[step]]\nprotocol = "nine_hole_peg"\ntrials = -1\n',
            6,
            "'trials' must be",
        ),
        (
            'name = "x"\n[[step]]\nprotocol = "nine_hole_peg"\nhands = ["middle"]\n',
            4,
            "'hands' must be",
        ),
        (
            'name = "x"\n[[step]]\nprotocol = "nine_hole_peg"\n[step.params]\nfoo = 3\n',
            5,
            "no parameter 'foo'",
        ),
        (
            'name = "x"\n[[step]]\nprotocol = "nine_hole_peg"\n[step.params]\ntime_limit_s = "long"\n',
            5,
            "must be like",
        ),
        (
            'name = "x"\n[[step]]\nprotocol = "nine_hole_peg"\n[step.params]\nstart_rule = "touch"\n',
            5,
            "start_rule",
        ),
        ('name = "x"\n', 1, "at least one [[step]]"),
        ('name = "x"\n[[step]\n', 2, "not valid TOML"),
    ],
)
def test_bad_battery_names_file_line_and_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BatteryError) as err:
        load_battery(str(path))
    message = str(err.value)
    assert message.startswith(str(path))
    assert problem in message
    assert f"line {line}" in message


def test_unknown_battery_name_lists_known() -> None:
    with pytest.raises(BatteryError, match=r"known: .*standard"):
        load_battery("does-not-exist")
