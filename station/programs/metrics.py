"""What a program's criteria and doses can refer to in each protocol.

* :data:`CRITERION_METRICS`: the trial metrics a level's criterion may use, per protocol, with the
  direction that is better, their unit and plain words for the participant's feedback. Each name
  is a metric the protocol's pure scoring function gives (``tests/programs`` checks this against
  real simulated trials), so a program cannot name a metric that never comes.
* :data:`REPS_PARAMETER`: how an exercise's ``reps`` (repetitions per set) reaches the protocol.
  Protocols that count repetitions inside one trial get it as that parameter (the metronome's
  clicks, the reaction cues, the maximal efforts); for the others one trial is one repetition and
  a set is ``reps`` trials in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from station.records import unit_text


@dataclass(frozen=True)
class CriterionMetric:
    name: str
    unit: str  # for display: "%", "ms", "s", "N", "" (a count or a ratio)
    higher_is_better: bool
    words: str  # plain words: "sequence accuracy"


def _m(name: str, unit: str, higher: bool, words: str) -> CriterionMetric:
    return CriterionMetric(name, unit, higher, words)


CRITERION_METRICS: Final[dict[str, dict[str, CriterionMetric]]] = {
    protocol: {m.name: m for m in metrics}
    for protocol, metrics in {
        "finger_sequence": (
            _m("accuracy_pct", "%", True, "sequence accuracy"),
            _m("correct_sequences", "", True, "correct sequences"),
            _m("errors", "", False, "wrong presses"),
            _m("ipi_cv", "", False, "unevenness between presses (CV)"),
            _m("ipi_mean_ms", "ms", False, "time between presses"),
            _m("sequence_time_mean_ms", "ms", False, "time per sequence"),
        ),
        "sync_continuation": (
            _m("asynchrony_sd_ms", "ms", False, "timing spread with the clicks (SD)"),
            _m("missed_beats", "", False, "missed clicks"),
            _m("extra_taps", "", False, "extra taps"),
            _m("continuation_iti_cv", "", False, "unevenness of your own tempo (CV)"),
            _m("continuation_iti_sd_ms", "ms", False, "spread of your own tempo (SD)"),
        ),
        "finger_tapping": (
            _m("taps", "", True, "taps"),
            _m("iti_cv", "", False, "unevenness of tapping (CV)"),
        ),
        "reaction_time": (
            _m("median_rt_ms", "ms", False, "reaction time"),
            _m("errors", "", False, "wrong fingers"),
        ),
        "max_force": (_m("max_force_n", "N", True, "strongest press"),),
        "force_steadiness": (_m("cv_percent", "%", False, "force wobble (CV)"),),
        "force_tracking": (
            _m("rmse_percent_max", "%", False, "tracking error (% of your maximum)"),
            _m("rmse_n", "N", False, "tracking error"),
            _m("lag_ms", "ms", False, "tracking delay"),
        ),
        "finger_individuation": (
            _m("enslaving_mean_percent", "%", False, "other fingers joining in"),
        ),
        "nine_hole_peg": (
            _m("total_time_s", "s", False, "time for the nine pegs"),
            _m("pegs_per_s", "/s", True, "pegs per second"),
        ),
        "purdue_pegboard": (_m("score", "", True, "pins"),),
    }.items()
}

#: The parameter that counts an exercise's repetitions inside one trial; protocols not listed
#: run one trial per repetition.
REPS_PARAMETER: Final[dict[str, str]] = {
    "sync_continuation": "n_sync",
    "reaction_time": "n_stimuli",
    "max_force": "n_efforts",
}

#: The drills of the seed articles a program's exercise can be (``drill = "..."``), with what
#: each is in plain words. "other" is for a clinic's own exercise.
DRILLS: Final[dict[str, str]] = {
    "slow_presses": "slow, deliberate finger presses",
    "isolated_fingers": "isolated finger movements (lifts practised as isolated presses)",
    "sequences": "finger sequences in the natural order",
    "mismatched_sequences": "mismatched finger sequences",
    "metronome_tapping": "rhythmic tapping with a metronome at a rising tempo",
    "force_hold": "holding a force target steady",
    "force_tracking": "tracking a moving force target",
    "peg_transfer": "peg transfers against a time goal",
    "other": "another exercise (see its instructions)",
}

#: What a criterion checks (``kind``), for grouping in feedback and reports.
CRITERION_KINDS: Final = ("accuracy", "consistency", "speed", "steadiness", "independence")


def criterion_metric(protocol: str, metric: str) -> CriterionMetric | None:
    return CRITERION_METRICS.get(protocol, {}).get(metric)


def format_value(value: float | None, unit: str) -> str:
    """``92.5 %``, ``41 ms``, ``0.083``: for feedback and reasons."""
    if value is None:
        return "no value"
    magnitude = abs(value)
    if unit in ("", "/s") and magnitude < 10:
        text = f"{value:.3g}" if not float(value).is_integer() else f"{value:.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    else:
        text = f"{value:.3g}" if magnitude < 10 else f"{value:.1f}".removesuffix(".0")
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit_text(unit)}".strip()
