"""Store records as JSON documents of the API (field names as in the store's JSON export)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict
from typing import Any

import numpy as np

from station.records import PadSamples, TrialData
from station.store import SessionInfo, TrialInfo
from station.store.export import finite_number, metric_doc, participant_doc, utc_text
from web.accounts import ApiToken, AuditEntry, User

#: Decimals kept in ``force_n`` (0.1 mN; the raw ``code`` keeps full precision).
FORCE_DECIMALS = 4


# The store's export builds these documents too: one definition for both.
utc = utc_text
number = finite_number


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, np.generic):
        return finite(obj.item())
    return obj


metric = metric_doc
participant = participant_doc


def session(s: SessionInfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "participant_code": s.participant_code,
        "battery_name": s.battery_name,
        "battery_hash": s.battery_hash,
        "station_id": s.station_id,
        "status": s.status,
        "started_utc": utc(s.started_utc),
        "ended_utc": utc(s.ended_utc),
        "software_version": s.software_version,
        "hardware_backend": s.hardware_backend,
        "simulated": s.hardware_backend == "sim",
        "timestamp_source": s.timestamp_source,
        "anchor_mono_ns": s.anchor_mono_ns,
        "anchor_wall_ns": s.anchor_wall_ns,
        "provenance": s.provenance,
        "notes": s.notes,
        "metrics": [
            {"protocol": sm.protocol, "hand": sm.hand, **metric(sm.metric)} for sm in s.metrics
        ],
    }


def trial(t: TrialInfo) -> dict[str, Any]:
    return {
        "id": t.id,
        "session_id": t.session_id,
        "participant_code": t.participant_code,
        "seq": t.seq,
        "protocol": t.protocol,
        "protocol_version": t.protocol_version,
        "protocol_hash": t.protocol_hash,
        "hand": t.hand,
        "practice": t.practice,
        "trial_index": t.trial_index,
        "status": t.status,
        "invalid_reason": t.invalid_reason,
        "params": t.params,
        "start_t_ns": t.start_t_ns,
        "end_t_ns": t.end_t_ns,
        "go_t_ns": t.go_t_ns,
        "roles": t.roles,
        "provenance": t.provenance,
        "faults": t.faults,
        "gaps": t.gaps,
        "notes": t.notes,
        "metrics": [metric(m) for m in t.metrics],
    }


def _force(pad: PadSamples) -> list[float | None] | None:
    try:
        with np.errstate(all="ignore"):
            force = np.round(pad.force_n(), FORCE_DECIMALS)
    except (KeyError, ValueError, ZeroDivisionError):
        return None  # an unknown gain: the codes are still there
    return [v if math.isfinite(v) else None for v in force.tolist()]


def pad_samples(pad: PadSamples) -> dict[str, Any]:
    return {
        "pad": pad.pad,
        "n": len(pad.t_ns),
        "t_ns": pad.t_ns.tolist(),
        "force_n": _force(pad),
        "code": pad.code.tolist(),
        "calibrated": pad.calibrated,
        "gain": pad.gain,
        "supply_v": pad.supply_v,
        "divider_ohm": pad.divider_ohm,
        "slope_n_per_s": pad.slope_n_per_s,
        "offset_n": pad.offset_n,
        "gaps": pad.gaps,
    }


def raw(t: TrialInfo, s: SessionInfo, data: TrialData) -> dict[str, Any]:
    return {
        "trial_id": t.id,
        "session_id": t.session_id,
        "participant_code": t.participant_code,
        "protocol": data.protocol,
        "protocol_version": data.version,
        "hand": data.hand,
        "practice": data.practice,
        "status": t.status,
        "start_t_ns": data.start_t_ns,
        "end_t_ns": data.end_t_ns,
        "go_t_ns": data.go_t_ns,
        "anchor_mono_ns": s.anchor_mono_ns,
        "anchor_wall_ns": s.anchor_wall_ns,
        "params": data.params,
        "roles": data.roles,
        "events": [asdict(e) for e in data.events],
        "cues": [asdict(c) for c in data.cues],
        "samples": [pad_samples(p) for p in data.samples.values()],
    }


def battery(b: Any) -> dict[str, Any]:
    steps = []
    for step in b.steps:
        params = step.params
        if dataclasses.is_dataclass(params) and not isinstance(params, type):
            params = dataclasses.asdict(params)
        steps.append(
            {
                "protocol": step.protocol.name,
                "hands": list(step.hands),
                "practice": step.practice,
                "trials": step.trials,
                "params": finite(params) if isinstance(params, dict) else {},
            }
        )
    return {"name": b.name, "title": b.title, "sha256": b.sha256, "steps": steps, "error": None}


def user(u: User) -> dict[str, Any]:
    return {
        "name": u.name,
        "role": u.role,
        "created_utc": utc(u.created_utc),
        "last_sign_in_utc": utc(u.last_sign_in_utc),
        "locked_until": utc(u.locked_until),
    }


def token(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "user": t.user_name,
        "label": t.label,
        "created_utc": utc(t.created_utc),
        "last_used_utc": utc(t.last_used_utc),
        "revoked_utc": utc(t.revoked_utc),
        "active": t.active,
    }


def audit_entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at_utc": utc(e.at_utc),
        "user": e.user_name,
        "via": e.via,
        "token_id": e.token_id,
        "action": e.action,
        "participant_code": e.participant_code,
        "method": e.method,
        "route": e.route,
        "export_kind": e.export_kind,
        "remote_addr": e.remote_addr,
        "detail": e.detail,
    }
