"""Self-guided mode: a participant signs in, sees today's plan and is guided through it.

:class:`SelfGuidedController` holds one participant's visit, as a small state machine the kiosk
(or a test) drives and polls with :meth:`~SelfGuidedController.update`:

``signed_out`` -> :meth:`sign_in` (code and PIN; the code also from a printed QR card,
:mod:`station.cards`) -> ``plan`` (the assigned batteries, which are due today) -> :meth:`begin`
-> ``rate`` (pain, then fatigue, 0-10, before) -> ``active`` (each due battery through a
:class:`~station.ui.run.RunController` with ``self_guided=True``: the same engine and protocols as
clinician mode; a rest between blocks) -> ``break`` (a rest between batteries) -> ... -> ``rate``
(pain, fatigue, after) -> ``summary`` (each result against the participant's own past) ->
:meth:`sign_out`. A pain rating at or above the participant's stop value before the session
(``pain_stop``) ends the visit before anything runs: the participant is told to contact their
therapist.

Practice (a prescribed program, :mod:`station.ui.practice`): :meth:`practice_offer` is today's
session of the participant's prescription (or why not today); :meth:`begin_practice` -> ``rate``
(pain, fatigue before; the program's and the participant's stop value through
:class:`station.programs.run.PracticeRun`) -> ``active`` (a
:class:`~station.ui.practice.PracticeRunController`: knowledge of results after each set, the
enforced rest between sets) -> ``rate`` (pain, fatigue after) -> ``effort`` (Borg CR10) ->
``sensations`` -> ``summary`` (:meth:`practice_summary`). Without a touch for
:data:`IDLE_SIGN_OUT_S` (not counting a running trial or a rest)
the participant is signed out and an open session is stored as aborted.

Every rating is stored at once (:meth:`station.store.Store.add_rating`); the ratings before are
linked to the visit's first session once it has begun, those after to its last. Each session run
here gets the session note "self-guided ..." (author ``station``).

:class:`SelfGuidedSetup` is the clinician's side: a participant's PIN, pain stop value and
assignments (batteries, so many sessions a week, the rest between blocks).

Product choices (no clinical source sets them; stated in docs/kiosk.md): the default pain stop
value :data:`DEFAULT_PAIN_STOP_AT`, the idle sign-out time, the rests (``station.ui.rest``), and
comparing with the average of the last :data:`HISTORY_SESSIONS` complete sessions of the same
battery.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from station.assess import fmt
from station.battery import Battery, load_battery
from station.cards import parse_card
from station.errors import StationError
from station.programs.run import PracticeRun
from station.protocols import get_protocol
from station.records import Metric
from station.results import participant_results
from station.store import PinLockedError, SelfGuidedAccess
from station.store.store import check_pin
from station.ui.app import AppController
from station.ui.errors import Message
from station.ui.practice import (
    CR10_ANCHORS,
    SENSATIONS,
    PracticeOffer,
    PracticeRunController,
    PracticeView,
    practice_offer,
    practice_view,
)
from station.ui.rest import DEFAULT_REST_S, MIN_REST_S, RestInfo, RestTimer
from station.ui.run import ABORTED, ENDED, FAILED, REST, RUNNING, RunController

log = logging.getLogger("station.ui.selfguided")

# States (SelfGuidedController.state)
SIGNED_OUT: Final = "signed_out"
PLAN: Final = "plan"
RATE: Final = "rate"
ACTIVE: Final = "active"
BREAK: Final = "break"
SUMMARY: Final = "summary"
PAIN_STOP: Final = "pain_stop"
EFFORT: Final = "effort"  # practice: perceived effort (Borg CR10) after
SENSATIONS_STATE: Final = "sensations"  # practice: sensations after (optional)

#: A pain rating (0-10) at or above this before a session: it does not start. A product choice
#: (not a clinical rule): the clinician sets each participant's own value (1-10).
DEFAULT_PAIN_STOP_AT: Final = 7
#: Sign out after this long without a touch (not while a trial runs or a rest counts down), s.
IDLE_SIGN_OUT_S: Final = 180.0
#: The summary compares with the average of at most this many earlier complete sessions.
HISTORY_SESSIONS: Final = 3
RATING_MAX: Final = 10

#: What the participant's summary shows of each protocol: its headline metric (a session summary
#: metric), whether lower is better, its name in plain words, and the words for better / worse.
HEADLINES: Final[dict[str, tuple[str, bool, str, str, str]]] = {
    "nine_hole_peg": ("mean_total_time_s", True, "time", "Faster", "Slower"),
    "finger_tapping": ("mean_taps", False, "taps", "More taps", "Fewer taps"),
    "sync_continuation": (
        "mean_asynchrony_sd_ms",
        True,
        "timing spread",
        "More even",
        "Less even",
    ),
    "reaction_time": ("mean_median_rt_ms", True, "reaction time", "Quicker", "Slower"),
    "max_force": ("best_max_force_n", False, "strongest press", "Stronger", "Weaker"),
    "force_steadiness": ("mean_cv_percent", True, "force wobble", "Steadier", "Less steady"),
    "force_tracking": ("mean_rmse_n", True, "tracking error", "More accurate", "Less accurate"),
    "finger_individuation": (
        "mean_enslaving_mean_percent",
        True,
        "other fingers joining in",
        "More independent",
        "Less independent",
    ),
    "finger_sequence": ("mean_correct_sequences", False, "correct sequences", "More", "Fewer"),
    "purdue_pegboard": ("mean_score", False, "pins", "More pins", "Fewer pins"),
}

_SCALE_TEXT: Final = {
    "pain": ("How much pain do you have in your hand?", "no pain", "worst pain imaginable"),
    "fatigue": ("How tired is your hand?", "not tired", "as tired as it could be"),
}


class SignInError(StationError):
    """Sign-in refused; the message is for the participant."""


@dataclass(frozen=True)
class Question:
    """A rating the screen asks for: 0 to 10 on ``scale``."""

    scale: str
    timing: str  # "before" | "after"
    text: str
    low: str  # what 0 means
    high: str  # what 10 means
    number: int  # 1-based among this visit's ratings (before: 1-2, after: 3-4)


@dataclass(frozen=True)
class PlanItem:
    """An assignment as today's plan shows it."""

    assignment_id: int
    kind: str
    name: str
    title: str
    steps: str
    note: str
    sessions_per_week: int
    done_this_week: int
    done_today: bool
    rest_s: float
    available: bool  # its battery loads

    @property
    def due(self) -> bool:
        return (
            self.available and not self.done_today and self.done_this_week < self.sessions_per_week
        )

    @property
    def status_text(self) -> str:
        if not self.available:
            return "Not available: ask your therapist"
        if self.done_today:
            return f"Done today ({self.done_this_week} of {self.sessions_per_week} this week)"
        if not self.due:
            return f"Done for this week ({self.done_this_week} of {self.sessions_per_week})"
        return f"To do today ({self.done_this_week} of {self.sessions_per_week} done this week)"


@dataclass(frozen=True)
class SummaryLine:
    title: str  # "Nine-Hole Peg Test, right hand"
    measure: str  # what the value is, in plain words: "time"
    value: str  # "18.2 s"
    comparison: str  # against the last sessions, in plain words
    better: bool | None  # None: nothing to compare with, or the same
    since_first: str  # a reliable change since the first session, or ""


@dataclass(frozen=True)
class Summary:
    lines: tuple[SummaryLine, ...]
    ratings: tuple[str, ...]  # "Pain: 2 before, 3 after"
    notices: tuple[str, ...]  # stopped early, a problem, high pain after
    session_ids: tuple[int, ...]


def _steps_text(battery: Battery) -> str:
    words = {"both": "both hands"}
    out = []
    for step in battery.steps:
        hands = ", ".join(words.get(h, h.replace("_", "-")) for h in step.hands)
        out.append(f"{step.protocol.title} ({hands})")
    return "; ".join(out)


def _hand_text(hand: str) -> str:
    return "both hands" if hand == "both" else f"{hand} hand"


class SelfGuidedController:
    """One participant's self-guided visit (see the module docstring).

    :param wall_clock: the time now, aware (UTC); for "today", "this week" and the PIN lockout.
    :param tz: the station's time zone for "today" (default: the system's).
    """

    def __init__(
        self,
        app: AppController,
        *,
        wall_clock: Callable[[], datetime] | None = None,
        tz: tzinfo | None = None,
        idle_sign_out_s: float = IDLE_SIGN_OUT_S,
        rest_min_s: float = MIN_REST_S,
    ):
        self.app = app
        self.store = app.store
        self.wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self.tz = tz
        self.idle_sign_out_s = idle_sign_out_s
        self.rest_min_s = rest_min_s
        self._reset()

    def _reset(self) -> None:
        self.state = SIGNED_OUT
        self.code: str | None = None
        self.by_card = False
        self.person: Any = None
        self._questions: list[Question] = []
        self._before_ids: list[int] = []
        self._before: dict[str, float] = {}
        self._after: dict[str, float] = {}
        self._queue: list[PlanItem] = []
        self._item: PlanItem | None = None
        self._run: RunController | None = None
        self._noted: set[int] = set()
        self._linked = False
        self._break: RestTimer | None = None
        self.session_ids: list[int] = []
        self.notices: list[str] = []
        self.stop_message: Message | None = None
        self.signed_out_reason = ""
        self._was_busy = False
        self._practice: PracticeRun | None = None
        self._effort: float | None = None
        self._sensations = ""

    # -- signing in and out ----------------------------------------------------------------------
    @staticmethod
    def card_code(text: str) -> str | None:
        """The participant code in what a QR reader typed (``DXS1:<code>``), else None."""
        return parse_card(text)

    def _resolve(self, code: str) -> str:
        """The stored code: exactly as typed, else the one code that differs only in case."""
        code = code.strip()
        if not code or self.store.get_participant(code) is not None:
            return code
        same = [p.code for p in self.store.list_participants(search=code, limit=50)]
        same = [c for c in same if c.lower() == code.lower()]
        return same[0] if len(same) == 1 else code

    def sign_in(self, code: str, pin: str, *, by_card: bool = False) -> None:
        """Sign the participant in (clinician mode ends). Raises :class:`SignInError`."""
        if self.state != SIGNED_OUT:
            self.sign_out()
        code = self._resolve(code)
        if not code:
            raise SignInError("Type your code first (or show your card to the reader).")
        if not pin:
            raise SignInError("Type your PIN.")
        try:
            ok = self.store.verify_participant_pin(code, pin, now_utc=self.wall_clock())
        except PinLockedError as exc:
            if exc.blocked:
                raise SignInError(
                    "Too many wrong tries. Please ask your therapist for a new PIN."
                ) from None
            assert exc.until_utc is not None
            wait_s = (exc.until_utc - self.wall_clock()).total_seconds()
            minutes = max(1, math.ceil(wait_s / 60))
            raise SignInError(
                f"Too many wrong tries. Please wait {minutes} "
                f"minute{'s' if minutes != 1 else ''} and try again."
            ) from None
        if not ok:
            raise SignInError("That code and PIN do not match. Please try again.")
        self.app.logout()
        self.app.touch()
        self.state = PLAN
        self.code = code
        self.by_card = by_card

    def sign_out(self, reason: str = "") -> None:
        """End the visit: a session still open is stored as aborted."""
        run = self._run
        if run is not None and not run.ended:
            run.abort()
        self._reset()
        self.signed_out_reason = reason

    @property
    def signed_in(self) -> bool:
        return self.state != SIGNED_OUT

    def _require(self, *states: str) -> str:
        if self.state not in states:
            raise StationError(f"not now ({self.state.replace('_', ' ')})")
        assert self.code is not None
        return self.code

    # -- the plan --------------------------------------------------------------------------------
    def _local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz) if self.tz is not None else t.astimezone()

    def plan(self) -> list[PlanItem]:
        """Today's plan: each active assignment, with what is done today and this week."""
        code = self._require(PLAN, RATE, ACTIVE, BREAK, SUMMARY, PAIN_STOP)
        today = self._local(self.wall_clock()).date()
        week_start = today - timedelta(days=today.weekday())  # Monday
        done: dict[str, list[Any]] = {}
        for s in self.store.participant_sessions(code):
            day = self._local(s.started_utc).date()
            if s.status == "complete" and week_start <= day <= today:
                done.setdefault(s.battery_name, []).append(day)
        items = []
        data_dir = self.app.config.data_dir
        for a in self.store.assignments(code):
            try:
                battery = load_battery(a.name, data_dir)
                title, steps, available = battery.title, _steps_text(battery), True
            except StationError as exc:
                log.warning("assignment %s (%s) not available: %s", a.id, a.name, exc)
                title, steps, available = a.name, "", False
            days = done.get(a.name, [])
            items.append(
                PlanItem(
                    a.id,
                    a.kind,
                    a.name,
                    title,
                    steps,
                    a.note,
                    a.sessions_per_week,
                    len(days),
                    today in days,
                    a.rest_s,
                    available,
                )
            )
        return items

    @property
    def pain_stop_at(self) -> int:
        code = self._require(
            PLAN, RATE, ACTIVE, BREAK, SUMMARY, PAIN_STOP, EFFORT, SENSATIONS_STATE
        )
        if self._practice is not None:
            return int(self._practice.rules.pain_stop_at)
        value = self.store.self_guided_access(code).pain_stop_at
        return DEFAULT_PAIN_STOP_AT if value is None else int(value)

    def begin(self, *, person: Any = None) -> Question:
        """Start today's plan (the due items): the ratings before come first."""
        self._require(PLAN)
        due = [item for item in self.plan() if item.due]
        if not due:
            raise StationError("Nothing is planned for today. Well done!")
        if person is not None and not self.app.simulated:
            raise StationError("the virtual participant acts on the simulated backend only")
        self.person = person
        self._queue = due
        self._questions = [
            self._question("pain", "before", 1),
            self._question("fatigue", "before", 2),
        ]
        self.state = RATE
        self.app.touch()
        return self._questions[0]

    # -- practice (a prescribed program) -------------------------------------------------------
    def practice_offer(self) -> PracticeOffer | None:
        """Today's practice of the participant's prescription (None: none prescribed)."""
        code = self._require(PLAN)
        return practice_offer(
            self.app.rig,
            self.store,
            code,
            data_dir=self.app.config.data_dir,
            now_utc=self.wall_clock,
            tz=self.tz,
        )

    @property
    def practicing(self) -> bool:
        """This visit is a practice session (not the assigned batteries)."""
        return self._practice is not None

    def begin_practice(self, *, person: Any = None) -> Question:
        """Start today's practice: the ratings before come first. Refused (a stored ``hold``)
        when today's cap or this week's sessions are reached, or when it is paused."""
        code = self._require(PLAN)
        offer = self.practice_offer()
        if offer is None:
            raise StationError("No practice is prescribed for you. Please ask your therapist.")
        if person is not None and not self.app.simulated:
            raise StationError("the virtual participant acts on the simulated backend only")
        if self.app.run is not None and not self.app.run.ended:
            raise StationError("a session is already running on this station")
        try:
            practice = PracticeRun(
                self.app.rig,
                self.store,
                code,
                offer.prescription_id,
                data_dir=self.app.config.data_dir,
                person=person,
                say=log.info,
                now_utc=self.wall_clock,
                tz=self.tz,
            )
        except StationError as exc:  # paused, or the program cannot load: the offer says why
            log.warning("practice for %s refused: %s", code, exc)
            raise StationError(offer.reason or str(exc)) from None
        hold = practice.gate()  # stored, as `station practice` stores it
        if hold is not None:
            raise StationError(hold.reason)
        self.person = person
        self._practice = practice
        self._queue = []
        self._questions = [
            self._question("pain", "before", 1),
            self._question("fatigue", "before", 2),
        ]
        self.state = RATE
        self.app.touch()
        return self._questions[0]

    def _start_practice(self) -> None:
        practice = self._practice
        assert practice is not None
        run = PracticeRunController(practice, realtime=self.app.realtime, host_clock=self.app.clock)
        self._item = None
        self._run = run
        self.app.run = run
        self.state = ACTIVE
        run.start()
        self.app.touch()

    @property
    def practice_run(self) -> PracticeRunController | None:
        run = self.run
        return run if isinstance(run, PracticeRunController) else None

    def rate_pain_during(self, value: int) -> bool:
        """Pain now (0-10), between the sets of a practice session; True when it stops the
        session (at or above the stop value: the participant is told to contact their
        therapist; the questions after and the summary follow)."""
        self._require(ACTIVE)
        run = self.practice_run
        if run is None:
            raise StationError("not now: pain is rated between the sets of a practice session")
        self.app.touch()
        stop = run.rate_pain(value)
        if stop is None:
            return False
        self.notices.append(
            f"You rated your pain {value} out of 10. That is too much pain to go on today. "
            "Please contact your therapist and tell them about your pain."
        )
        return True

    #: Borg CR10's verbal anchors (0-10) and the sensations offered after a practice session.
    effort_anchors = CR10_ANCHORS
    sensation_choices = SENSATIONS

    def rate_effort(self, value: int) -> None:
        """Perceived effort on Borg's CR10 (0-10) after the practice session."""
        self._require(EFFORT)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= RATING_MAX:
            raise StationError(f"choose a number from 0 to {RATING_MAX}")
        self._effort = float(value)
        self.app.touch()
        self.state = SENSATIONS_STATE

    def report_sensations(self, chosen: list[str] | tuple[str, ...]) -> None:
        """The sensations felt (none: empty); the session is concluded: the ratings after, the
        effort and the sensations are stored and the progression rules decide."""
        self._require(SENSATIONS_STATE)
        unknown = [c for c in chosen if c not in SENSATIONS]
        if unknown:
            raise StationError(f"unknown sensation {unknown[0]!r}")
        practice = self._practice
        assert practice is not None
        self._sensations = ", ".join(c for c in SENSATIONS if c in chosen)
        self.app.touch()
        if practice.status is not None:  # the session ran (else: the station stopped it early)
            practice.conclude(
                int(self._after["pain"]),
                int(self._after["fatigue"]),
                effort=self._effort,
                sensations=self._sensations,
            )
        self.state = SUMMARY

    def practice_summary(self) -> PracticeView:
        """The practice session against the participant's own baseline, the decision and the
        next goal (only the notices when the session did not run)."""
        self._require(SUMMARY)
        practice = self._practice
        if practice is None:
            raise StationError("not now: this visit is not a practice session")
        notices = tuple(self._summary_notices())
        if practice.decision is None:  # the station stopped before the session began
            return PracticeView("Thank you", "", "", "", False, (), (), "", notices)
        return practice_view(practice.summary(), notices=notices, sensations=self._sensations)

    @staticmethod
    def _question(scale: str, timing: str, number: int) -> Question:
        text, low, high = _SCALE_TEXT[scale]
        prefix = "Before you start: " if timing == "before" else "Now that you have finished: "
        return Question(scale, timing, prefix + text[0].lower() + text[1:], low, high, number)

    # -- ratings ---------------------------------------------------------------------------------
    @property
    def question(self) -> Question | None:
        return self._questions[0] if self.state == RATE and self._questions else None

    def rate(self, value: int) -> None:
        """Answer the current question (0-10); stored at once."""
        code = self._require(RATE)
        q = self._questions[0]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= RATING_MAX:
            raise StationError(f"choose a number from 0 to {RATING_MAX}")
        if self._practice is not None:
            self._rate_practice(q, value)
            return
        session_id = self.session_ids[-1] if q.timing == "after" and self.session_ids else None
        rating = self.store.add_rating(
            code, q.scale, q.timing, value, session_id=session_id, t_utc=self.wall_clock()
        )
        self.app.touch()
        self._questions.pop(0)
        if q.timing == "before":
            self._before_ids.append(rating.id)
            self._before[q.scale] = float(value)
            if q.scale == "pain" and value >= self.pain_stop_at:
                self._stop_for_pain(value)
                return
        else:
            self._after[q.scale] = float(value)
        if self._questions:
            return
        if q.timing == "before":
            self._start_next()
        else:
            self.state = SUMMARY

    def _rate_practice(self, q: Question, value: int) -> None:
        """Practice: the runner stores the ratings (before: both at once, with its stop check;
        after: with the effort and sensations, when the session is concluded)."""
        practice = self._practice
        assert practice is not None
        self.app.touch()
        self._questions.pop(0)
        answers = self._before if q.timing == "before" else self._after
        answers[q.scale] = float(value)
        if self._questions:
            return
        if q.timing == "after":
            self.state = EFFORT
            return
        pain = int(self._before["pain"])
        stop = practice.rate_before(pain, int(self._before["fatigue"]))
        if stop is not None:
            self._stop_for_pain(pain)
            return
        self._start_practice()

    def _stop_for_pain(self, value: int) -> None:
        self._questions = []
        self._queue = []
        self.state = PAIN_STOP
        self.stop_message = Message(
            "Please do not practise today",
            f"You rated your pain {value} out of 10. That is too much pain to practise today.",
            "Please contact your therapist and tell them about your pain. Your answer has been "
            "saved.",
            "warning",
        )

    # -- running the plan ------------------------------------------------------------------------
    @property
    def item(self) -> PlanItem | None:
        """The battery running now (state ``active``) or next (``break``)."""
        return self._item if self.state == ACTIVE else (self._queue[0] if self._queue else None)

    @property
    def run(self) -> RunController | None:
        return self._run if self.state == ACTIVE else None

    def _start_next(self) -> None:
        code = self.code
        assert code is not None
        item = self._queue.pop(0)
        self._item = item
        if item.kind != "battery":  # the practice programs slot in here (a later issue)
            raise StationError(f"{item.kind} assignments are not supported yet")
        battery = load_battery(item.name, self.app.config.data_dir)
        participant = self.store.get_participant(code)
        if participant is None:
            raise StationError(f"participant {code} is gone")
        if self.app.run is not None and not self.app.run.ended:
            raise StationError("a session is already running on this station")
        run = RunController(
            self.app.rig,
            self.store,
            participant,
            battery,
            person=self.person,
            realtime=self.app.realtime,
            host_clock=self.app.clock,
            self_guided=True,
            rest_s=item.rest_s,
            rest_min_s=self.rest_min_s,
        )
        self._run = run
        self.app.run = run
        self.state = ACTIVE
        run.start()
        self.app.touch()

    def update(self) -> str:
        """Move the visit on (a session ended, a rest is over) and check the idle time; returns
        the state. The kiosk calls it on every frame; tests call it while they wait."""
        if self.state == ACTIVE and self._run is not None:
            self._follow_run(self._run)
        if self.state == BREAK and self._break is not None and self._break.done:
            self._break = None
            self._start_next()
        self.check_idle()
        return self.state

    def _follow_run(self, run: RunController) -> None:
        snap = run.snapshot()
        sid = snap.session_id
        if sid is not None and sid not in self._noted:
            self._noted.add(sid)
            self.session_ids.append(sid)
            how = "a printed card" if self.by_card else "their code"
            self.store.add_session_note(
                sid, f"self-guided: signed in by the participant with {how} and PIN", "station"
            )
            if not self._linked:
                self.store.attach_ratings(self._before_ids, sid)
                self._linked = True
        if snap.state not in ENDED:
            return
        title = self._item.title if self._item is not None else "the test"
        if self._practice is not None:
            title = "today's practice"
        self._run = None
        if snap.state == FAILED:
            if snap.message is not None:
                log.error("self-guided session stopped: %s", snap.message.text)
            self.notices.append(
                f"The station stopped with a problem during {title}. What you did until then "
                "is saved. Please tell your therapist."
            )
            self._queue = []
        elif snap.state == ABORTED and not (self._practice and self._practice.stop_decision):
            self.notices.append(f"You stopped {title} early. What you did until then is saved.")
            self._queue = []
        if self._queue:
            rest_s = self._item.rest_s if self._item is not None else 0.0
            nxt = self._queue[0].title
            self._break = RestTimer(self.app.clock, rest_s, self.rest_min_s, nxt)
            self.state = BREAK
            if self._break.done:
                self._break = None
                self._start_next()
            return
        self._questions = [
            self._question("pain", "after", 3),
            self._question("fatigue", "after", 4),
        ]
        self.state = RATE

    def stop(self) -> None:
        """The participant stops the running battery (it is kept, as aborted); the ratings after
        follow."""
        self._require(ACTIVE, BREAK)
        if self.state == BREAK:
            self._break = None
            self._queue = []
            self._questions = [
                self._question("pain", "after", 3),
                self._question("fatigue", "after", 4),
            ]
            self.state = RATE
            return
        if self._run is not None:
            self._run.abort()

    def rest(self) -> RestInfo | None:
        """The rest counting down now: between blocks (in the run) or between batteries."""
        if self.state == BREAK and self._break is not None:
            return self._break.info()
        run = self._run
        if self.state == ACTIVE and run is not None:
            snap = run.snapshot()
            if snap.state == REST:
                return RestInfo(
                    snap.rest_total_s, snap.rest_left_s, snap.rest_skip_in_s, snap.rest_next
                )
        return None

    def skip_rest(self) -> None:
        """End the rest early (once its minimum has passed)."""
        self.app.touch()
        if self.state == BREAK and self._break is not None:
            self._break.skip()
            self.update()
            return
        if self._run is not None:
            self._run.skip_rest()
            return
        raise StationError("not now: there is no rest to end")

    # -- idle ------------------------------------------------------------------------------------
    def check_idle(self) -> bool:
        """Sign out after the idle time without a touch; True when it signed out just now."""
        if self.state == SIGNED_OUT:
            return False
        run = self._run
        resting = self.state == BREAK or (
            run is not None and run.snapshot().state in (RUNNING, REST)
        )
        if resting or self._was_busy:
            # a trial running or a rest counting down (and the moment it ended): no touch needed
            self.app.touch()
            self._was_busy = resting
            return False
        if self.app.idle_s >= self.idle_sign_out_s:
            self.sign_out("Signed out after a few minutes without a touch.")
            return True
        return False

    # -- the summary -----------------------------------------------------------------------------
    def summary(self) -> Summary:
        """Each result of this visit against the participant's own past, in plain words."""
        code = self._require(SUMMARY, RATE, ACTIVE, BREAK)
        report = participant_results(self.store, code, self.app.config.data_dir)
        since: dict[tuple[int, str, str, str], dict[str, Any]] = {}
        for s in report["sessions"]:
            for r in s["metrics"]:
                since[(s["session_id"], r["protocol"], r["hand"], r["metric"])] = r
        history = self.store.participant_sessions(code)
        lines: list[SummaryLine] = []
        for sid in self.session_ids:
            session = next((s for s in history if s.id == sid), None)
            if session is None:
                continue
            earlier = [
                s
                for s in history
                if s.id not in self.session_ids
                and s.status == "complete"
                and s.battery_name == session.battery_name
                and s.started_utc <= session.started_utc
            ]
            for sm in session.metrics:
                head = HEADLINES.get(sm.protocol)
                if head is None or sm.metric.name != head[0] or sm.metric.value is None:
                    continue
                past = [
                    x.metric.value
                    for s in earlier
                    for x in s.metrics
                    if (x.protocol, x.hand, x.metric.name) == (sm.protocol, sm.hand, head[0])
                    and x.metric.value is not None
                ][-HISTORY_SESSIONS:]
                row = since.get((sid, sm.protocol, sm.hand, head[0]), {})
                lines.append(self._line(sm.protocol, sm.hand, sm.metric, past, head, row))
        return Summary(
            tuple(lines),
            self._rating_lines(),
            tuple(self._summary_notices()),
            tuple(self.session_ids),
        )

    def _line(
        self,
        protocol: str,
        hand: str,
        metric: Metric,
        past: list[float],
        head: tuple[str, bool, str, str, str],
        row: dict[str, Any],
    ) -> SummaryLine:
        _, lower_better, measure, better_word, worse_word = head
        try:
            title = get_protocol(protocol).title
        except StationError:
            title = protocol.replace("_", " ")
        value = metric.value
        assert value is not None
        shown = fmt(metric)
        better: bool | None = None
        if not past:
            comparison = "Your first time: this is your starting point."
        else:
            mean = sum(past) / len(past)
            noun = (
                "your last session"
                if len(past) == 1
                else f"the average of your last {len(past)} sessions"
            )
            mean_text = fmt(Metric(metric.name, mean, metric.unit))
            diff_text = fmt(Metric(metric.name, abs(value - mean), metric.unit))
            if mean_text == shown:
                comparison = f"About the same as {noun} ({mean_text})."
            else:
                better = (value < mean) if lower_better else (value > mean)
                word = better_word if better else worse_word
                comparison = f"{word} than {noun} ({mean_text}), by {diff_text}."
        since_first = ""
        if row.get("reliable_change"):
            pct = float(row["change_percent"])
            improved = (pct < 0) if lower_better else (pct > 0)
            word = (better_word if improved else worse_word).lower()
            since_first = (
                f"{abs(pct):.0f}% {word} than your first session: more than the "
                f"{row.get('threshold_percent', 0):g}% that counts as a real change."
            )
        return SummaryLine(
            f"{title}, {_hand_text(hand)}", measure, shown, comparison, better, since_first
        )

    def _rating_lines(self) -> tuple[str, ...]:
        out = []
        for scale in ("pain", "fatigue"):
            before, after = self._before.get(scale), self._after.get(scale)
            if before is None and after is None:
                continue
            parts = []
            if before is not None:
                parts.append(f"{before:.0f} before")
            if after is not None:
                parts.append(f"{after:.0f} after")
            out.append(f"{scale.capitalize()}: {', '.join(parts)} (out of 10)")
        return tuple(out)

    def _summary_notices(self) -> list[str]:
        notices = list(self.notices)
        pain_after = self._after.get("pain")
        if pain_after is not None and pain_after >= self.pain_stop_at:
            notices.append(
                "Your pain is high after the exercises. Please tell your therapist before you "
                "practise again."
            )
        return notices


# -- the clinician's side -------------------------------------------------------------------------
@dataclass(frozen=True)
class AssignmentRow:
    assignment_id: int
    name: str
    title: str
    sessions_per_week: int
    rest_s: float
    note: str

    @property
    def text(self) -> str:
        rest = f", rest {self.rest_s:g} s" if self.rest_s else ", no rest"
        return f"{self.title}: {self.sessions_per_week}x a week{rest}"


class SelfGuidedSetup:
    """What a clinician sets for a participant's self-guided mode (clinician mode only)."""

    def __init__(self, app: AppController):
        self.app = app
        self.store = app.store

    def access(self, code: str) -> SelfGuidedAccess:
        self.app.require_clinician()
        return self.store.self_guided_access(code)

    def set_pin(self, code: str, pin: str, again: str) -> None:
        self.app.require_clinician()
        check_pin(pin)
        if pin != again:
            raise StationError("the two PINs differ: enter the same PIN twice")
        self.store.set_participant_pin(code, pin)
        self.app.touch()

    def clear_pin(self, code: str) -> None:
        self.app.require_clinician()
        self.store.clear_participant_pin(code)

    def pain_stop_at(self, code: str) -> int:
        value = self.access(code).pain_stop_at
        return DEFAULT_PAIN_STOP_AT if value is None else int(value)

    def set_pain_stop_at(self, code: str, value: int) -> None:
        self.app.require_clinician()
        self.store.set_pain_stop_at(code, None if value == DEFAULT_PAIN_STOP_AT else value)

    def assign(
        self,
        code: str,
        battery: str,
        *,
        sessions_per_week: int = 3,
        rest_s: float = DEFAULT_REST_S,
        note: str = "",
    ) -> AssignmentRow:
        self.app.require_clinician()
        load_battery(battery, self.app.config.data_dir)  # refuses an unknown or bad battery
        a = self.store.add_assignment(
            code, battery, sessions_per_week=sessions_per_week, rest_s=rest_s, note=note
        )
        self.app.touch()
        return self._row(a)

    def unassign(self, assignment_id: int) -> None:
        self.app.require_clinician()
        self.store.end_assignment(assignment_id)

    def assignments(self, code: str) -> list[AssignmentRow]:
        self.app.require_clinician()
        return [self._row(a) for a in self.store.assignments(code)]

    def _row(self, a: Any) -> AssignmentRow:
        try:
            title = load_battery(a.name, self.app.config.data_dir).title
        except StationError:
            title = f"{a.name} (missing)"
        return AssignmentRow(a.id, a.name, title, a.sessions_per_week, a.rest_s, a.note)
