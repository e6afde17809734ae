"""What the screen says when something goes wrong: never a traceback, always what to do.

:func:`message_for` turns any exception into a :class:`Message` (a title, what happened, what to
do); :func:`fault_advice` says what to do about a fault recorded during a trial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from station.errors import ConfigError, StationError

log = logging.getLogger("station.ui")


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    what_to_do: str = ""
    severity: str = "error"  # "error" | "warning" | "info"


def message_for(exc: BaseException, doing: str = "") -> Message:
    """A person's account of ``exc`` (logged with its traceback for the maintainers)."""
    where = f" while {doing}" if doing else ""
    if isinstance(exc, ConfigError):
        return Message(
            "Configuration problem",
            f"The station's configuration is not valid{where}: {exc}",
            "Ask the technician to run `station config check` and fix the file it names.",
        )
    if isinstance(exc, StationError):
        return Message(
            "That did not work",
            f"{exc}",
            "Check what the message names and try again. The data recorded so far is kept.",
            "warning",
        )
    log.error("internal error%s", where, exc_info=exc)
    return Message(
        "Something went wrong",
        f"An internal error happened{where} ({type(exc).__name__}: {exc}).",
        "The data recorded so far is kept. Go back to the home screen and try again; if it "
        "happens again, tell the technician (details are in the station's log).",
    )


#: Fault text fragments -> what the person at the station should do.
_ADVICE: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("already in it",),
        "Take the peg out of that hole before the next trial.",
    ),
    (
        ("held down or stuck",),
        "Release the button; if it stays down, check the button and its cable.",
    ),
    (
        ("chatter",),
        "A switch is bouncing: check its contact and cable; repeat the trial if it mattered.",
    ),
    (
        ("adc", "ads", "i2c", "no answer", "not answering", "pad"),
        "A force sensor stopped answering: check the pad's cable and the ADC board, then repeat "
        "the trial (it is flagged).",
    ),
    (
        ("lost", "gap", "overflow"),
        "Some data was lost and is flagged; repeat the trial if the result looks wrong.",
    ),
)


def fault_advice(fault: str) -> str:
    text = fault.lower()
    for words, advice in _ADVICE:
        if any(w in text for w in words):
            return advice
    return "The trial is flagged with this fault; repeat it if the result looks wrong."


def fault_message(fault: str) -> Message:
    """A fault recorded while a trial runs, as the run screen's banner shows it: what happened,
    what to do, and that the trial goes on and is flagged."""
    return Message(
        "Hardware fault during the trial",
        fault,
        f"{fault_advice(fault)} The trial carries on; it is stored with this fault (flagged), "
        "and you can mark it invalid and repeat it after it ends.",
        "warning",
    )
