"""Per-pad force calibration: force against FSR conductance, fitted from known weights.

FSR force is roughly linear in conductance (Interlink FSR 402 guide; timing-and-hardware.md), so a
pad is calibrated with a straight line ``force_n = slope_n_per_s * G + offset_n`` fitted by least
squares to the mean conductance measured under each known weight. A fit is refused when it would
mislead: fewer than three distinct loads, a slope that is not positive, R^2 below
:data:`MIN_R2`, or a point further than :data:`MAX_RESIDUAL_FRACTION` of the largest load (and
at least :data:`MAX_RESIDUAL_FLOOR_N`) from the line. These limits are engineering choices for an
FSR whose part repeatability is about +-2% and hysteresis about +10% (same source); forces from a
pad are approximate and reported as such.

Fits live in ``<data_dir>/calibration.json``, written atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from station.errors import StationError

STANDARD_GRAVITY_M_S2 = 9.80665
MIN_R2 = 0.98
MAX_RESIDUAL_FRACTION = 0.10
MAX_RESIDUAL_FLOOR_N = 0.2
#: Nominal sensitivity of an uncalibrated pad: ~4e-5 S per N puts an FSR 402 at about 2.5 kOhm
#: under 10 N, inside the range Interlink's guide shows. Uncalibrated forces are flagged.
NOMINAL_SLOPE_N_PER_S = 1.0 / 4.0e-5


class CalibrationError(StationError):
    """A calibration fit was refused or the calibration file is unreadable."""


@dataclass(frozen=True)
class PadCalibration:
    slope_n_per_s: float = NOMINAL_SLOPE_N_PER_S
    offset_n: float = 0.0
    calibrated: bool = False
    r2: float | None = None
    max_residual_n: float | None = None
    n_points: int = 0
    wall_time_utc: str | None = None

    def force_n(self, conductance_s: float) -> float:
        return max(0.0, self.slope_n_per_s * conductance_s + self.offset_n)

    def force_n_array(self, conductance_s: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, self.slope_n_per_s * conductance_s + self.offset_n)


def fit_calibration(
    conductance_s: list[float], force_n: list[float], wall_time_utc: str | None = None
) -> PadCalibration:
    """Fit force against conductance; raises :class:`CalibrationError` for a poor fit."""
    g = np.asarray(conductance_s, dtype=float)
    f = np.asarray(force_n, dtype=float)
    if len(g) != len(f):
        raise CalibrationError("calibration needs one conductance per load")
    if len(np.unique(np.round(f, 6))) < 3:
        raise CalibrationError(
            f"calibration needs at least 3 different loads, got {len(np.unique(f))}"
        )
    slope, offset = np.polyfit(g, f, 1)
    pred = slope * g + offset
    ss_res = float(np.sum((f - pred) ** 2))
    ss_tot = float(np.sum((f - f.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    max_res = float(np.max(np.abs(f - pred)))
    limit = max(MAX_RESIDUAL_FLOOR_N, MAX_RESIDUAL_FRACTION * float(f.max()))
    if slope <= 0:
        raise CalibrationError(
            "force does not rise with conductance: is the pad wired to the right channel?"
        )
    if r2 < MIN_R2:
        raise CalibrationError(
            f"poor fit: R^2 = {r2:.3f} (needs >= {MIN_R2}); check the weights sit flat on the pad"
        )
    if max_res > limit:
        raise CalibrationError(
            f"poor fit: a load is {max_res:.2f} N off the line (limit {limit:.2f} N); repeat that weight"
        )
    return PadCalibration(float(slope), float(offset), True, r2, max_res, len(f), wall_time_utc)


def calibration_path(data_dir: Path) -> Path:
    return data_dir / "calibration.json"


def load_calibrations(data_dir: Path) -> dict[str, PadCalibration]:
    path = calibration_path(data_dir)
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {name: PadCalibration(**entry) for name, entry in doc.get("pads", {}).items()}
    except (OSError, ValueError, TypeError) as exc:
        raise CalibrationError(
            f"{path}: unreadable calibration file ({exc}); recalibrate or restore it"
        ) from None


def save_calibration(data_dir: Path, pad: str, calibration: PadCalibration) -> Path:
    """Store one pad's fit, keeping the others; atomic and durable."""
    current = load_calibrations(data_dir)
    current[pad] = calibration
    path = calibration_path(data_dir)
    write_json_atomic(path, {"pads": {k: asdict(v) for k, v in sorted(current.items())}})
    return path


def write_json_atomic(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
