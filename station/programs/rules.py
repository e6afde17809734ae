"""Progression rules of graded practice: pure functions from a participant's recent practice to a
:class:`Decision` (advance, stay, regress, stop, hold) with every input and a plain-language
reason.

Inputs: the sessions of one prescription (:class:`SessionRecord`, oldest first), each with the
level practised, per exercise and hand the metric values of every set (:class:`BlockRecord`), and
the ratings (pain and fatigue 0-10 before and after, pain during, perceived effort on Borg's CR10);
the program's levels and their criteria; the :class:`Rules`.

Never a single noisy trial:

* a set's value is the median of its complete trials (for protocols that count repetitions inside
  one trial, the set is that trial); a session's value is the **median of its sets**, and an
  exercise with criteria has at least 3 sets (refused otherwise when a program is loaded), so one
  wild set can neither meet a goal nor cross a floor by itself (the median of two would be pulled
  halfway by it);
* advancing needs ``advance_sessions`` consecutive sessions at the level that all meet every
  criterion; regressing on performance needs ``regress_sessions`` consecutive sessions past a
  floor. Both are at least 2 (refused otherwise when a program is loaded).

The rules, in the order they are applied after a session (``decide``):

1. **stop**: pain during or after the session at or above ``pain_stop_at``: the session stops (the
   runner stops it at once when pain during reaches it), the level stays, the participant is told
   to contact their therapist. Before a session, pain at or above it means no session
   (:func:`check_pain`).
2. **regress for pain**: pain rose by ``pain_rise_regress`` or more, within the session (after or
   during minus before) or before this session over the participant's baseline pain (the median of
   the pain before their first ``baseline_sessions`` sessions of the prescription).
3. **regress for performance**: in each of the last ``regress_sessions`` sessions at the level the
   same criterion (exercise, hand, metric) was worse than its floor.
4. **advance**: in each of the last ``advance_sessions`` sessions at the level (since it was
   reached) every criterion was met, at least ``min_sets_fraction`` of the planned sets were done,
   pain was rated before and after, pain did not rise (by ``pain_rise_no_advance`` or more, within
   the session or over the baseline) and no session was stopped for pain since the first of them.
5. otherwise **stay**, saying what is still missing.

A regress at level 1 and an advance at the top level are a stay, with the reason. Before a
session :func:`check_cap` holds practice when the daily cap or the week's sessions are reached.

Every default below is a product default, not a clinical rule (no source in the seeds or the
reference notes gives these numbers); a program sets its own in ``[rules]``, and the participant's
pain stop value set by the clinician (self-guided mode) takes precedence over the program's.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from station.programs.metrics import format_value

if TYPE_CHECKING:
    from station.programs.program import Criterion, Program

#: Changes whenever what a rule does changes; stored with every decision.
RULES_VERSION: Final = "1"

DECISION_KINDS: Final = ("advance", "stay", "regress", "stop", "hold")

CONTACT_THERAPIST: Final = "Please contact your therapist."


@dataclass(frozen=True)
class Rules:
    """The progression rules' numbers (all product defaults; see the module docstring)."""

    advance_sessions: int = 3
    regress_sessions: int = 2
    pain_stop_at: int = 7
    pain_rise_regress: int = 2
    pain_rise_no_advance: int = 1
    baseline_sessions: int = 3
    min_sets_fraction: float = 0.8

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Each rule: its allowed range and what it means (for the loader's messages and the docs).
RULE_RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "advance_sessions": (2, 20, "consecutive sessions meeting every criterion to advance"),
    "regress_sessions": (2, 20, "consecutive sessions below a floor to regress"),
    "pain_stop_at": (1, 10, "pain (0-10) at or above which practice stops"),
    "pain_rise_regress": (1, 10, "a pain rise (points) that regresses"),
    "pain_rise_no_advance": (1, 10, "a pain rise (points) that blocks advancing"),
    "baseline_sessions": (1, 20, "first sessions whose median is the participant's baseline"),
    "min_sets_fraction": (0.1, 1.0, "part of the planned sets done for a session to count"),
}


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetValues:
    """One set of an exercise with one hand: each metric's value (the median of the set's
    complete trials; None when none gave one) and whether every repetition was completed."""

    set_index: int
    values: Mapping[str, float | None]
    complete: bool


@dataclass(frozen=True)
class BlockRecord:
    """An exercise with one hand in a session: its planned sets and those done."""

    exercise: str
    hand: str
    planned_sets: int
    sets: tuple[SetValues, ...] = ()

    def set_values(self, metric: str) -> list[float]:
        return [v for s in self.sets if (v := s.values.get(metric)) is not None]

    def session_value(self, metric: str) -> float | None:
        """The median over the sets (never a single trial decides; see the module docstring)."""
        values = self.set_values(metric)
        return float(statistics.median(values)) if values else None

    @property
    def sets_done(self) -> int:
        return sum(1 for s in self.sets if s.complete)


@dataclass(frozen=True)
class SessionRecord:
    """One practice session of a prescription, as the rules see it."""

    session_id: int | None
    started_utc: datetime
    level: int
    status: str  # complete | incomplete | aborted | running
    blocks: tuple[BlockRecord, ...] = ()
    pain_before: float | None = None
    pain_during: float | None = None  # the highest pain rated during the session
    pain_after: float | None = None
    fatigue_before: float | None = None
    fatigue_after: float | None = None
    effort: float | None = None  # Borg CR10 after the session

    def block(self, exercise: str, hand: str) -> BlockRecord | None:
        return next((b for b in self.blocks if b.exercise == exercise and b.hand == hand), None)

    @property
    def sets_fraction(self) -> float:
        planned = sum(b.planned_sets for b in self.blocks)
        return sum(b.sets_done for b in self.blocks) / planned if planned else 0.0


@dataclass(frozen=True)
class Decision:
    """What the rules decided, why (plain language), and everything they used."""

    kind: str  # advance | stay | regress | stop | hold
    level_before: int
    level_after: int
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    rule_version: str = RULES_VERSION
    session_id: int | None = None

    @property
    def contact_therapist(self) -> bool:
        return self.kind == "stop" or bool(self.inputs.get("contact_therapist"))


# -- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionResult:
    exercise: str
    hand: str
    criterion: Criterion
    set_values: tuple[float, ...]
    value: float | None  # the session's value: the median of the sets
    baseline: float | None  # the participant's (for a criterion relative to it)
    met: bool  # the session's value meets the goal
    below_floor: bool  # the session's value is past the floor
    sets_met: int  # sets meeting the goal (shown; the session's value decides)
    sets_past_floor: int  # sets past the floor

    def as_dict(self) -> dict[str, Any]:
        c = self.criterion
        return {
            "exercise": self.exercise,
            "hand": self.hand,
            "metric": c.metric,
            "set_values": list(self.set_values),
            "value": self.value,
            "goal": c.describe(self.baseline),
            "target": c.target,
            "better_than_baseline_percent": c.better_than_baseline_percent,
            "baseline": self.baseline,
            "floor": c.floor,
            "sets_met": self.sets_met,
            "sets_past_floor": self.sets_past_floor,
            "met": self.met,
            "below_floor": self.below_floor,
            "source": c.source,
        }

    def text(self) -> str:
        c = self.criterion
        value = format_value(self.value, c.unit)
        n = len(self.set_values)
        sets = f" ({self.sets_met} of {n} sets met it)" if 0 < self.sets_met < n else ""
        return (
            f"{c.words} ({self.exercise}, {self.hand} hand) {value}, goal "
            f"{c.describe(self.baseline)}{sets}"
        )


@dataclass(frozen=True)
class SessionEval:
    record: SessionRecord
    results: tuple[CriterionResult, ...]
    pain_rise: float | None  # within the session: max(after, during) - before
    pain_over_baseline: float | None  # before - the baseline pain

    @property
    def all_met(self) -> bool:
        return bool(self.results) and all(r.met for r in self.results)

    @property
    def below_floor(self) -> tuple[CriterionResult, ...]:
        return tuple(r for r in self.results if r.below_floor)

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "session_id": r.session_id,
            "started_utc": r.started_utc.isoformat(),
            "level": r.level,
            "status": r.status,
            "sets_fraction": round(r.sets_fraction, 4),
            "pain_before": r.pain_before,
            "pain_during": r.pain_during,
            "pain_after": r.pain_after,
            "fatigue_before": r.fatigue_before,
            "fatigue_after": r.fatigue_after,
            "effort_borg_cr10": r.effort,
            "pain_rise": self.pain_rise,
            "pain_over_baseline": self.pain_over_baseline,
            "criteria": [x.as_dict() for x in self.results],
        }


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def baseline_pain(history: Sequence[SessionRecord], rules: Rules) -> float | None:
    """The median pain before the first ``baseline_sessions`` sessions that rated it."""
    rated = [s.pain_before for s in history if s.pain_before is not None]
    return _median(rated[: rules.baseline_sessions])


def baselines(
    history: Sequence[SessionRecord], rules: Rules
) -> dict[tuple[str, str, str], float | None]:
    """Per (exercise, hand, metric): the median session value over the first
    ``baseline_sessions`` sessions that have one (any level)."""
    found: dict[tuple[str, str, str], list[float]] = {}
    for s in history:
        for b in s.blocks:
            for metric in {m for st in b.sets for m in st.values}:
                value = b.session_value(metric)
                if value is None:
                    continue
                key = (b.exercise, b.hand, metric)
                values = found.setdefault(key, [])
                if len(values) < rules.baseline_sessions:
                    values.append(value)
    return {k: _median(v) for k, v in found.items()}


def evaluate(
    program: Program,
    record: SessionRecord,
    rules: Rules,
    base: Mapping[tuple[str, str, str], float | None],
    pain_base: float | None,
) -> SessionEval:
    """Every criterion of the session's level, for every hand planned, against the session."""
    level = program.level(record.level)
    results: list[CriterionResult] = []
    for exercise in level.exercises:
        hands = [b.hand for b in record.blocks if b.exercise == exercise.id] or []
        for hand in hands:
            block = record.block(exercise.id, hand)
            for c in exercise.criteria:
                values = tuple(block.set_values(c.metric)) if block else ()
                value = _median(values)
                baseline = base.get((exercise.id, hand, c.metric))
                results.append(
                    CriterionResult(
                        exercise.id,
                        hand,
                        c,
                        values,
                        value,
                        baseline,
                        c.met(value, baseline),
                        c.below_floor(value),
                        sum(1 for v in values if c.met(v, baseline)),
                        sum(1 for v in values if c.below_floor(v)),
                    )
                )
    rise = None
    if record.pain_before is not None:
        later = [p for p in (record.pain_after, record.pain_during) if p is not None]
        if later:
            rise = max(later) - record.pain_before
    over = (
        record.pain_before - pain_base
        if record.pain_before is not None and pain_base is not None
        else None
    )
    return SessionEval(record, tuple(results), rise, over)


# -- decisions ----------------------------------------------------------------------------------


def _decision(
    kind: str,
    level: int,
    new_level: int,
    reason: str,
    inputs: dict[str, Any],
    rules: Rules,
    session_id: int | None,
) -> Decision:
    return Decision(
        kind, level, new_level, reason, inputs, rules.as_dict(), RULES_VERSION, session_id
    )


def check_cap(
    level: int,
    rules: Rules,
    *,
    sessions_today: int,
    daily_cap: int,
    sessions_this_week: int,
    sessions_per_week: int,
) -> Decision | None:
    """Before a session: ``hold`` when today's cap or this week's sessions are reached."""
    inputs = {
        "sessions_today": sessions_today,
        "daily_cap": daily_cap,
        "sessions_this_week": sessions_this_week,
        "sessions_per_week": sessions_per_week,
    }
    if sessions_today >= daily_cap:
        times = "session" if daily_cap == 1 else "sessions"
        reason = (
            f"No more practice today: today's {daily_cap} {times} (the most your therapist set "
            "for a day) are done. Rest your hand; the next session is tomorrow."
        )
        return _decision("hold", level, level, reason, inputs, rules, None)
    if sessions_this_week >= sessions_per_week:
        reason = (
            f"No more practice this week: this week's {sessions_per_week} sessions are done. "
            "Rest counts too; the next session is next week."
        )
        return _decision("hold", level, level, reason, inputs, rules, None)
    return None


def check_pain(
    level: int, pain: float, timing: str, rules: Rules, session_id: int | None = None
) -> Decision | None:
    """Pain rated before or during a session: ``stop`` at or above ``pain_stop_at``."""
    if pain < rules.pain_stop_at:
        return None
    when = {"before": "before practice", "during": "during practice"}.get(timing, timing)
    reason = (
        f"Stopped: you rated your pain {pain:g} of 10 {when}, at or above {rules.pain_stop_at}, "
        f"where practice stops. Do not practise today. {CONTACT_THERAPIST}"
    )
    inputs = {"pain": pain, "timing": timing, "pain_stop_at": rules.pain_stop_at}
    inputs["contact_therapist"] = True
    return _decision("stop", level, level, reason, inputs, rules, session_id)


def decide(
    program: Program,
    level: int,
    history: Sequence[SessionRecord],
    rules: Rules,
    *,
    level_since_utc: datetime | None = None,
    stops_utc: Sequence[datetime] = (),
) -> Decision:
    """The decision after the last session of ``history`` (oldest first), at ``level``.

    ``level_since_utc``: when the prescription reached ``level`` (its last level change); only
    sessions at the level since then count towards advancing or regressing. ``stops_utc``: when
    practice was stopped for pain before a session (no session record), which blocks advancing.
    """
    if not history:
        raise ValueError("decide() needs the session just done")
    last = history[-1]
    levels = len(program.levels)
    pain_base = baseline_pain(history, rules)
    base = baselines(history, rules)
    window = [
        s
        for s in history
        if s.level == level and (level_since_utc is None or s.started_utc >= level_since_utc)
    ]
    evals = [evaluate(program, s, rules, base, pain_base) for s in window]
    in_window = bool(window) and window[-1] is last
    now: SessionEval | None = evals[-1] if in_window else None
    if now is None and last.level <= levels:  # the last session was at another level
        now = evaluate(program, last, rules, base, pain_base)
    inputs: dict[str, Any] = {
        "program": program.name,
        "program_version": program.version,
        "level": level,
        "levels": levels,
        "level_since_utc": level_since_utc.isoformat() if level_since_utc else None,
        "baseline_pain": pain_base,
        "stops_for_pain_utc": [t.isoformat() for t in stops_utc],
        "sessions": [e.as_dict() for e in evals],
    }
    if now is not None and not in_window:
        inputs["last_session"] = now.as_dict()
    sid = last.session_id

    def make(kind: str, new_level: int, reason: str, **extra: Any) -> Decision:
        return _decision(kind, level, new_level, reason, {**inputs, **extra}, rules, sid)

    # 1. stop: pain during or after at or above the stop value
    rated = {"after": last.pain_after, "during": last.pain_during, "before": last.pain_before}
    peak = max((p for p in rated.values() if p is not None), default=None)
    if peak is not None and peak >= rules.pain_stop_at:
        when = next(w for w, p in rated.items() if p == peak)
        return make(
            "stop",
            level,
            f"Stopped: you rated your pain {peak:g} of 10 {when} practice, at or above "
            f"{rules.pain_stop_at}, where practice stops. Your level stays {level}. "
            f"{CONTACT_THERAPIST}",
            contact_therapist=True,
        )

    # 2. regress for a pain rise
    if now is not None:
        rises = []
        if now.pain_rise is not None and now.pain_rise >= rules.pain_rise_regress:
            rises.append(
                f"your pain rose from {last.pain_before:g} before to "
                f"{last.pain_before + now.pain_rise:g} of 10"
            )
        if now.pain_over_baseline is not None and now.pain_over_baseline >= rules.pain_rise_regress:
            rises.append(
                f"your pain before practice ({last.pain_before:g} of 10) is "
                f"{now.pain_over_baseline:g} above where you started ({pain_base:g})"
            )
        if rises:
            rule = f"a rise of {rules.pain_rise_regress} or more makes the practice easier"
            what = " and ".join(rises)
            if level > 1:
                return make(
                    "regress",
                    level - 1,
                    f"Back to level {level - 1}: {what}; {rule}. Tell your therapist if it "
                    "keeps rising.",
                    contact_therapist=True,
                )
            return make(
                "stay",
                level,
                f"Staying at level 1, the easiest: {what}. {CONTACT_THERAPIST}",
                contact_therapist=True,
            )

    # 3. regress for performance: the same criterion past its floor in regress_sessions
    #    sessions in a row
    if not in_window:  # the level changed since this session: nothing to count at this level
        return make(
            "stay",
            level,
            f"Staying at level {level}: this session was at level {last.level}, before the "
            "level changed; the sessions from now on count.",
        )
    n_reg = rules.regress_sessions
    if len(evals) >= n_reg:
        recent = evals[-n_reg:]
        keys = [
            {(r.exercise, r.hand, r.criterion.metric): r for r in e.below_floor} for e in recent
        ]
        common = [k for k in keys[-1] if all(k in found for found in keys)]
        if common:
            first = keys[-1][common[0]]
            seen = ", ".join(
                format_value(found[common[0]].value, first.criterion.unit) for found in keys
            )
            floor = format_value(first.criterion.floor, first.criterion.unit)
            what = (
                f"in your last {n_reg} sessions {first.criterion.words} ({first.exercise}, "
                f"{first.hand} hand) was {seen}, past the limit of {floor}"
            )
            if level > 1:
                return make("regress", level - 1, f"Back to level {level - 1}: {what}.")
            return make(
                "stay", level, f"Staying at level 1, the easiest: {what}. {CONTACT_THERAPIST}"
            )

    # 4. advance
    n_adv = rules.advance_sessions
    streak = 0
    blockers: list[str] = []
    for e in reversed(evals):
        problems = _advance_problems(e, rules)
        if problems:
            if streak == 0:
                blockers = problems
            break
        streak += 1
    first_of_run = evals[-min(streak, n_adv)].record.started_utc if streak else None
    stopped = [t for t in stops_utc if first_of_run is not None and t >= first_of_run]
    if streak >= n_adv and not stopped:
        goals = "; ".join(
            f"{r.criterion.words} {format_value(r.value, r.criterion.unit)} "
            f"(goal {r.criterion.describe(r.baseline)})"
            for r in evals[-1].results
        )
        if level < levels:
            return make(
                "advance",
                level + 1,
                f"Up to level {level + 1}: in each of your last {n_adv} sessions at level {level} "
                f"you met every goal ({goals}) and your pain did not rise.",
            )
        return make(
            "stay",
            level,
            f"You met every goal of the last level in {n_adv} sessions in a row ({goals}). "
            "Keep it up; your therapist will review your program.",
        )

    # 5. stay
    if stopped:
        reason = (
            f"Staying at level {level}: practice was stopped for pain on "
            f"{stopped[-1].date().isoformat()}; advancing waits for {n_adv} sessions in a row "
            "after it that meet every goal without pain rising."
        )
    elif blockers:
        reason = f"Staying at level {level}: this session {'; '.join(blockers)}."
    else:
        reason = (
            f"Staying at level {level}: {streak} of the {n_adv} sessions in a row needed to "
            "advance have met every goal so far."
        )
    return make("stay", level, reason, sessions_meeting_goals_in_a_row=streak)


def _advance_problems(e: SessionEval, rules: Rules) -> list[str]:
    """Why a session does not count towards advancing (empty: it counts)."""
    r = e.record
    problems: list[str] = []
    if r.sets_fraction + 1e-9 < rules.min_sets_fraction:
        done = sum(b.sets_done for b in r.blocks)
        planned = sum(b.planned_sets for b in r.blocks)
        problems.append(f"was not finished ({done} of {planned} sets done)")
    unmet = [x for x in e.results if not x.met]
    if unmet:
        problems.append("did not meet " + "; ".join(x.text() for x in unmet))
    if not e.results:
        problems.append("has no criterion to check")
    if r.pain_before is None or r.pain_after is None:
        problems.append("has no pain rating before and after")
    if e.pain_rise is not None and e.pain_rise >= rules.pain_rise_no_advance:
        problems.append(f"pain rose by {e.pain_rise:g} during practice")
    if e.pain_over_baseline is not None and e.pain_over_baseline >= rules.pain_rise_no_advance:
        problems.append(
            f"pain before practice was {e.pain_over_baseline:g} above where you started"
        )
    return problems
