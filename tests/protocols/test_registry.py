"""Every registered protocol follows the house shape: name, version, documented parameters with
units, phases of the known kinds, a protocol hash, and the key metrics it reports first."""

from __future__ import annotations

import dataclasses

import pytest

from station.protocols import PROTOCOLS, get_protocol
from station.protocols.base import PHASE_KINDS, ProtocolError


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_protocol_shape(name: str) -> None:
    cls = get_protocol(name)
    assert cls.name == name and cls.version and cls.title
    assert dataclasses.is_dataclass(cls.Params)
    for field in dataclasses.fields(cls.Params):
        assert field.metadata.get("doc"), f"{name}.{field.name} has no doc"
    assert {p.kind for p in cls.phases} <= set(PHASE_KINDS)
    assert cls.phases[0].kind == "instructions" and cls.phases[-1].kind == "done"
    assert cls.key_metrics, f"{name} names no key metrics"
    assert len(cls.protocol_hash()) == 16
    protocol = cls()
    assert protocol.params_dict()  # serializable parameters


def test_unknown_protocol_lists_known() -> None:
    with pytest.raises(ProtocolError, match=r"known: .*nine_hole_peg"):
        get_protocol("nope")


def test_make_params_refuses_unknown_and_wrong_types() -> None:
    cls = get_protocol("nine_hole_peg")
    with pytest.raises(ProtocolError, match="no parameter 'speed'"):
        cls.make_params({"speed": 1})
    with pytest.raises(ProtocolError, match="must be like"):
        cls.make_params({"time_limit_s": "300"})
    assert cls.make_params({"time_limit_s": 120}).time_limit_s == 120.0
