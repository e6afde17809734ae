"""``station calibrate pad``: known weights, a force fit per pad, poor fits refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.calibrate import SimOperator, calibrate_pad
from station.calibration import (
    NOMINAL_SLOPE_N_PER_S,
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    calibration_path,
    fit_calibration,
    load_calibrations,
    save_calibration,
)
from station.config import StationConfig, reference_config_path
from station.recorder import Recorder
from station.rig import Rig, open_rig
from tests.conftest import run_cli

REF = ["--config", str(reference_config_path())]


def true_slope(rig: Rig, pad: str) -> float:
    return 1.0 / rig.sim_pads[pad].sensitivity_s_per_n


def force_read(rig: Rig, pad: str, force_n: float) -> tuple[bool, float]:
    """Put ``force_n`` on the simulated pad and record it: (calibrated?, mean force read)."""
    rig.sim_pads[pad].force = lambda t_ns: force_n
    rec = Recorder(rig, pads=[pad], inputs=[])
    try:
        rec.start()
        rec.run_for(0.2)
        stream = rec.pads[pad]
        return stream.calibration.calibrated, float(stream.force_n().mean())
    finally:
        rec.close()


def test_calibration_fits_the_pads_true_sensitivity_and_is_stored(
    sim_rig: Rig, ref_config: StationConfig
) -> None:
    said: list[str] = []
    fit = calibrate_pad(
        sim_rig, "pad_index", SimOperator(sim_rig, say=said.append), say=said.append
    )

    assert fit.calibrated and fit.n_points == 5
    assert fit.slope_n_per_s == pytest.approx(true_slope(sim_rig, "pad_index"), rel=0.02)
    assert abs(fit.offset_n) < 0.1
    assert fit.r2 is not None and fit.r2 > 0.999
    assert fit.wall_time_utc is not None and fit.wall_time_utc.endswith("Z")
    path = calibration_path(ref_config.data_dir)
    assert path.exists()
    doc = json.loads(path.read_text())
    assert set(doc["pads"]) == {"pad_index"}
    assert doc["pads"]["pad_index"]["slope_n_per_s"] == fit.slope_n_per_s
    assert load_calibrations(ref_config.data_dir)["pad_index"] == fit
    assert any("1000 g placed on pad_index" in line for line in said)
    assert any("saved to" in line and str(path) in line for line in said)


def test_a_later_recording_uses_the_stored_fit(ref_config: StationConfig) -> None:
    """A pad 25% more sensitive than nominal reads wrong until calibrated, then right."""

    def rig_with_sensitive_pad() -> Rig:
        rig = open_rig(ref_config)
        rig.sim_pads["pad_index"].sensitivity_s_per_n = 1.25 / NOMINAL_SLOPE_N_PER_S
        return rig

    rig = rig_with_sensitive_pad()
    calibrated, before = force_read(rig, "pad_index", 5.0)
    assert not calibrated and before == pytest.approx(6.25, rel=0.03)
    fit = calibrate_pad(rig, "pad_index", SimOperator(rig, say=lambda s: None), say=lambda s: None)
    assert fit.slope_n_per_s == pytest.approx(true_slope(rig, "pad_index"), rel=0.02)
    rig.close()

    fresh = rig_with_sensitive_pad()  # same data folder (STATION_DATA_DIR), new hardware session
    try:
        calibrated, after = force_read(fresh, "pad_index", 5.0)
        assert calibrated
        assert after == pytest.approx(5.0, rel=0.03)
        _, other = force_read(fresh, "pad_middle", 5.0)  # other pads stay on the nominal fit
        assert other == pytest.approx(
            5.0 * fresh.sim_pads["pad_middle"].sensitivity_s_per_n * NOMINAL_SLOPE_N_PER_S, rel=0.03
        )
    finally:
        fresh.close()


def test_calibrating_a_second_pad_keeps_the_first(sim_rig: Rig, ref_config: StationConfig) -> None:
    quiet = SimOperator(sim_rig, say=lambda s: None)
    first = calibrate_pad(sim_rig, "pad_index", quiet, (0.0, 200.0, 500.0), say=lambda s: None)
    second = calibrate_pad(sim_rig, "pad_little", quiet, (0.0, 200.0, 500.0), say=lambda s: None)
    stored = load_calibrations(ref_config.data_dir)
    assert stored == {"pad_index": first, "pad_little": second}
    assert second.slope_n_per_s == pytest.approx(true_slope(sim_rig, "pad_little"), rel=0.02)


def test_misplaced_weight_is_refused_and_nothing_saved(
    sim_rig: Rig, ref_config: StationConfig
) -> None:
    operator = SimOperator(sim_rig, say=lambda s: None, misplace={500.0: 0.5})
    with pytest.raises(CalibrationError, match="poor fit"):
        calibrate_pad(sim_rig, "pad_index", operator, say=lambda s: None)
    assert not calibration_path(ref_config.data_dir).exists()
    assert load_calibrations(ref_config.data_dir) == {}


def test_refused_fit_leaves_an_earlier_calibration_alone(
    sim_rig: Rig, ref_config: StationConfig
) -> None:
    good = fit_calibration([0.0, 1e-4, 2e-4], [0.0, 2.5, 5.0], "2026-01-01T00:00:00Z")
    save_calibration(ref_config.data_dir, "pad_index", good)
    before = calibration_path(ref_config.data_dir).read_bytes()
    operator = SimOperator(sim_rig, say=lambda s: None, misplace={200.0: 0.3})
    with pytest.raises(CalibrationError):
        calibrate_pad(sim_rig, "pad_index", operator, say=lambda s: None)
    assert calibration_path(ref_config.data_dir).read_bytes() == before


def test_missing_adc_is_a_clear_calibration_error(sim_rig: Rig) -> None:
    sim_rig.world.unplug_adc(0x48)
    with pytest.raises(CalibrationError, match=r"adc0 is not answering.*0x48"):
        calibrate_pad(
            sim_rig, "pad_index", SimOperator(sim_rig, say=lambda s: None), say=lambda s: None
        )


@pytest.mark.parametrize(
    ("loads_n", "problem"),
    [
        ([0.0, 5.0], "at least 3 different loads"),
        ([0.0, 5.0, 5.0], "at least 3 different loads"),
        ([10.0, 5.0, 0.0], "does not rise"),
    ],
)
def test_fit_refuses_degenerate_data(loads_n: list[float], problem: str) -> None:
    conductance = [0.0, 1e-4, 2e-4][: len(loads_n)]
    with pytest.raises(CalibrationError, match=problem):
        fit_calibration(conductance, loads_n)


def test_fit_refuses_one_point_far_off_the_line() -> None:
    g = [k * 1e-4 for k in range(11)]
    f = [k * 2.5 for k in range(11)]
    f[5] += 3.0  # one load 3 N off: R^2 stays above 0.98, its residual (2.7 N) does not pass
    with pytest.raises(CalibrationError, match="off the line"):
        fit_calibration(g, f)


def test_corrupt_calibration_file_is_a_clear_error(ref_config: StationConfig) -> None:
    path = calibration_path(ref_config.data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    with pytest.raises(CalibrationError, match="unreadable calibration file"):
        load_calibrations(ref_config.data_dir)


# -- through the command line ----------------------------------------------------------------------


def test_cli_calibrate_pad_on_the_simulator(
    ref_config: StationConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli([*REF, "calibrate", "pad", "pad_index"], capsys)
    assert code == 0, err
    assert "virtual operator" in out and "saved to" in out
    stored = load_calibrations(ref_config.data_dir)
    assert set(stored) == {"pad_index"} and stored["pad_index"].calibrated
    assert stored["pad_index"].n_points == 5
    assert "Traceback" not in out + err


def test_cli_calibrate_with_chosen_weights(
    ref_config: StationConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        [*REF, "calibrate", "pad", "pad_dish", "--weights-g", "0,250,750"], capsys
    )
    assert code == 0, err
    fit = load_calibrations(ref_config.data_dir)["pad_dish"]
    assert fit.n_points == 3
    assert "750 g placed" in out
    assert f"{0.75 * STANDARD_GRAVITY_M_S2:.2f} N" in out


@pytest.mark.parametrize("weights", ["0,100", "500", "0,100,100", "0,100,-200", "0,1oo,200", ""])
def test_cli_refuses_bad_weights(
    weights: str, capsys: pytest.CaptureFixture[str], ref_config: StationConfig
) -> None:
    code, out, err = run_cli(
        [*REF, "calibrate", "pad", "pad_index", "--weights-g", weights], capsys
    )
    assert code == 2
    assert "argument --weights-g" in err
    assert "Traceback" not in out + err
    assert not calibration_path(ref_config.data_dir).exists()


def test_cli_unknown_pad(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*REF, "calibrate", "pad", "pad_nose"], capsys)
    assert code == 2
    [line] = [x for x in err.splitlines() if x.startswith("station: error:")]
    assert "no pad named 'pad_nose'" in line and "pad_index" in line
    assert "Traceback" not in out + err


def test_cli_refused_fit_exits_1(
    monkeypatch: pytest.MonkeyPatch, ref_config: StationConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    import station.calibrate

    class Clumsy(SimOperator):
        def __init__(self, rig: Rig) -> None:
            super().__init__(rig, misplace={500.0: 0.5})

    monkeypatch.setattr(station.calibrate, "SimOperator", Clumsy)
    code, out, err = run_cli([*REF, "calibrate", "pad", "pad_index"], capsys)
    assert code == 1
    [line] = [x for x in err.splitlines() if x.startswith("station: error:")]
    assert "poor fit" in line
    assert "Traceback" not in out + err
    assert not calibration_path(ref_config.data_dir).exists()


def test_data_dir_is_created_on_first_save(ref_config: StationConfig, tmp_path: Path) -> None:
    assert not ref_config.data_dir.exists()
    fit = fit_calibration([0.0, 1e-4, 2e-4], [0.0, 2.5, 5.0])
    path = save_calibration(ref_config.data_dir, "pad_home", fit)
    assert path == ref_config.data_dir / "calibration.json"
    assert [p.name for p in ref_config.data_dir.iterdir()] == ["calibration.json"]  # no temp left
    assert str(ref_config.data_dir).startswith(str(tmp_path))
