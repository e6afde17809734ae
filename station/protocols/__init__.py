"""The standardized protocols, one module each, and their registry."""

from __future__ import annotations

from station.protocols.base import Protocol, ProtocolError
from station.protocols.finger_individuation import FingerIndividuation
from station.protocols.finger_sequence import FingerSequence
from station.protocols.finger_tapping import FingerTapping
from station.protocols.force_steadiness import ForceSteadiness
from station.protocols.force_tracking import ForceTracking
from station.protocols.max_force import MaxForce
from station.protocols.nine_hole_peg import NineHolePeg
from station.protocols.purdue_pegboard import PurduePegboard
from station.protocols.reaction_time import ReactionTime
from station.protocols.sync_continuation import SyncContinuation

PROTOCOLS: dict[str, type[Protocol]] = {
    cls.name: cls
    for cls in (
        NineHolePeg,
        PurduePegboard,
        FingerTapping,
        SyncContinuation,
        FingerSequence,
        ReactionTime,
        MaxForce,
        ForceSteadiness,
        ForceTracking,
        FingerIndividuation,
    )
}


def get_protocol(name: str) -> type[Protocol]:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(
            f"unknown protocol {name!r} (known: {', '.join(sorted(PROTOCOLS))})"
        ) from None
