"""The standardized protocols, one module each, and their registry."""

from __future__ import annotations

from station.protocols.base import Protocol, ProtocolError
from station.protocols.nine_hole_peg import NineHolePeg

PROTOCOLS: dict[str, type[Protocol]] = {cls.name: cls for cls in (NineHolePeg,)}


def get_protocol(name: str) -> type[Protocol]:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(
            f"unknown protocol {name!r} (known: {', '.join(sorted(PROTOCOLS))})"
        ) from None
