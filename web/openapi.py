"""The OpenAPI 3.1 document of ``/api/v1``, written by hand and kept true by tests.

``tests/web/test_openapi.py`` checks that it names exactly the API routes the app has, that
responses match its schemas, and runs schemathesis against it (no request gets a 5xx).
"""

from __future__ import annotations

import copy
from typing import Any, Final

from station import __version__

API_VERSION: Final = "1"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str | list[str]) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"]}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "total": {"type": "integer", "minimum": 0, "description": "matches in all"},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
    }


_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_CODE = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}
_NS = {"type": "integer", "description": "nanoseconds on the session's monotonic clock"}
_UTC = {"type": "string", "format": "date-time"}
_JSON_OBJECT = {"type": "object"}


def _path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_LIMIT = _query(
    "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size"
)
_OFFSET = _query(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
    "items to skip",
)
_PARTICIPANT = _path_param("code", _CODE, "participant code (pseudonym)")
_SESSION = _path_param("session_id", _ID, "session id")
_TRIAL = _path_param("trial_id", _ID, "trial id")

_STANDARD_ERRORS = {
    "400": _error("a malformed parameter (the message names it)"),
    "401": _error("not signed in, or the API token is unknown or revoked"),
}


def _get(
    summary: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    not_found: bool = False,
    admin: bool = False,
    audited: bool = False,
    tag: str = "data",
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok, **_STANDARD_ERRORS}
    if admin:
        responses["403"] = _error("the admin role is needed")
    if not_found:
        responses["404"] = _error("no such record")
    description = summary
    if audited:
        description += " Recorded in the audit log."
    if admin:
        description += " Admins only."
    operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": [tag],
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    return {"get": operation}


_SCHEMAS: Final[dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "message": {"type": "string", "minLength": 1},
                },
            }
        },
    },
    "Metric": {
        "type": "object",
        "required": ["name", "value", "unit", "detail"],
        "properties": {
            "name": {"type": "string"},
            "value": _nullable("number"),
            "unit": {"type": "string", "description": "UCUM: s, ms, N, Hz, /s, %, 1"},
            "detail": {"type": "string", "description": "why a value is missing, or remarks"},
        },
    },
    "SessionMetric": {
        "allOf": [
            _ref("Metric"),
            {
                "type": "object",
                "required": ["protocol", "hand"],
                "properties": {"protocol": {"type": "string"}, "hand": {"type": "string"}},
            },
        ]
    },
    "Participant": {
        "type": "object",
        "required": [
            "code",
            "birth_year",
            "sex",
            "dominant_hand",
            "affected_side",
            "notes",
            "created_utc",
        ],
        "properties": {
            "code": _CODE,
            "birth_year": _nullable("integer"),
            "sex": {"enum": ["female", "male", "other", None]},
            "dominant_hand": {"enum": ["right", "left", None]},
            "affected_side": {"enum": ["right", "left", "both", "none", None]},
            "notes": {"type": "string"},
            "created_utc": _UTC,
        },
    },
    "Session": {
        "type": "object",
        "required": [
            "id",
            "participant_code",
            "battery_name",
            "status",
            "started_utc",
            "ended_utc",
            "hardware_backend",
            "simulated",
            "anchor_mono_ns",
            "anchor_wall_ns",
            "metrics",
        ],
        "properties": {
            "id": _ID,
            "participant_code": _CODE,
            "battery_name": {"type": "string"},
            "battery_hash": {"type": "string"},
            "station_id": {"type": "string"},
            "status": {"enum": ["running", "complete", "incomplete", "aborted"]},
            "started_utc": _UTC,
            "ended_utc": {"anyOf": [_UTC, {"type": "null"}]},
            "software_version": {"type": "string"},
            "hardware_backend": {"type": "string"},
            "simulated": {"type": "boolean", "description": "recorded on the simulated backend"},
            "timestamp_source": {"type": "string"},
            "anchor_mono_ns": {"type": "integer"},
            "anchor_wall_ns": {
                "type": "integer",
                "description": "utc_ns = anchor_wall_ns + (t_ns - anchor_mono_ns)",
            },
            "provenance": _JSON_OBJECT,
            "notes": {"type": "string"},
            "metrics": {"type": "array", "items": _ref("SessionMetric")},
        },
    },
    "Trial": {
        "type": "object",
        "required": [
            "id",
            "session_id",
            "participant_code",
            "seq",
            "protocol",
            "hand",
            "practice",
            "status",
            "metrics",
        ],
        "properties": {
            "id": _ID,
            "session_id": _ID,
            "participant_code": _CODE,
            "seq": {"type": "integer"},
            "protocol": {"type": "string"},
            "protocol_version": {"type": "string"},
            "protocol_hash": {"type": "string"},
            "hand": {"enum": ["right", "left", "both"]},
            "practice": {"type": "boolean"},
            "trial_index": {"type": "integer"},
            "status": {"enum": ["running", "complete", "incomplete", "invalid", "timeout"]},
            "invalid_reason": _nullable("string"),
            "params": _JSON_OBJECT,
            "start_t_ns": _NS,
            "end_t_ns": {"type": ["integer", "null"]},
            "go_t_ns": {"type": ["integer", "null"]},
            "roles": {"type": "object", "additionalProperties": {"type": "string"}},
            "provenance": _JSON_OBJECT,
            "faults": {"type": "array", "items": {"type": "string"}},
            "gaps": {"type": "array", "items": _JSON_OBJECT},
            "notes": {"type": "string"},
            "metrics": {"type": "array", "items": _ref("Metric")},
        },
    },
    "Event": {
        "type": "object",
        "required": ["t_ns", "channel", "level", "flags", "seq"],
        "properties": {
            "t_ns": _NS,
            "channel": {"type": "string"},
            "level": {"type": "integer"},
            "flags": {"type": "integer"},
            "seq": {"type": "integer"},
        },
    },
    "Cue": {
        "type": "object",
        "required": ["output", "kind", "scheduled_on_ns", "scheduled_off_ns"],
        "properties": {
            "output": {"type": "string"},
            "kind": {"type": "string"},
            "scheduled_on_ns": {"type": "integer"},
            "scheduled_off_ns": {"type": "integer"},
            "actual_on_ns": {"type": ["integer", "null"]},
            "actual_off_ns": {"type": ["integer", "null"]},
            "loopback_on_ns": {"type": ["integer", "null"]},
        },
    },
    "PadSamples": {
        "type": "object",
        "required": ["pad", "n", "t_ns", "force_n", "code", "calibrated"],
        "properties": {
            "pad": {"type": "string"},
            "n": {"type": "integer", "minimum": 0},
            "t_ns": {"type": "array", "items": {"type": "integer"}},
            "force_n": {
                "type": ["array", "null"],
                "items": {"type": ["number", "null"]},
                "description": "newtons, 4 decimals; null if the codes cannot be converted",
            },
            "code": {"type": "array", "items": {"type": "integer"}},
            "calibrated": {"type": "boolean"},
            "gain": {"type": "number"},
            "supply_v": {"type": "number"},
            "divider_ohm": {"type": "number"},
            "slope_n_per_s": {"type": "number"},
            "offset_n": {"type": "number"},
            "gaps": {"type": "array", "items": _JSON_OBJECT},
        },
    },
    "TrialRaw": {
        "type": "object",
        "required": [
            "trial_id",
            "session_id",
            "participant_code",
            "protocol",
            "hand",
            "start_t_ns",
            "end_t_ns",
            "anchor_mono_ns",
            "anchor_wall_ns",
            "events",
            "cues",
            "samples",
        ],
        "properties": {
            "trial_id": _ID,
            "session_id": _ID,
            "participant_code": _CODE,
            "protocol": {"type": "string"},
            "protocol_version": {"type": "string"},
            "hand": {"type": "string"},
            "practice": {"type": "boolean"},
            "status": {"type": "string"},
            "start_t_ns": {"type": "integer"},
            "end_t_ns": {"type": "integer"},
            "go_t_ns": {"type": ["integer", "null"]},
            "anchor_mono_ns": {"type": "integer"},
            "anchor_wall_ns": {"type": "integer"},
            "params": _JSON_OBJECT,
            "roles": {"type": "object", "additionalProperties": {"type": "string"}},
            "events": {"type": "array", "items": _ref("Event")},
            "cues": {"type": "array", "items": _ref("Cue")},
            "samples": {"type": "array", "items": _ref("PadSamples")},
        },
    },
    "ResultRow": {
        "type": "object",
        "required": ["protocol", "hand", "metric", "value", "unit"],
        "properties": {
            "protocol": {"type": "string"},
            "hand": {"type": "string"},
            "metric": {"type": "string"},
            "value": _nullable("number"),
            "unit": {"type": "string"},
            "baseline": {"type": "boolean", "description": "this session is the baseline"},
            "change_percent": {"type": ["number", "null"]},
            "reliable_change": {"type": "boolean"},
            "threshold_percent": {"type": ["number", "null"]},
            "threshold_source": {"type": ["string", "null"]},
            "z": {"type": ["number", "null"], "description": "against the matching norm"},
            "norm": {
                "type": "object",
                "properties": {
                    "mean": {"type": "number"},
                    "sd": {"type": "number"},
                    "n": {"type": ["integer", "null"]},
                    "citation": {"type": "string"},
                },
            },
        },
    },
    "Results": {
        "type": "object",
        "required": ["participant", "sessions", "norms_loaded"],
        "properties": {
            "participant": {
                "type": "object",
                "required": ["code"],
                "properties": {"code": _CODE},
            },
            "sessions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["session_id", "started_utc", "battery", "status", "metrics"],
                    "properties": {
                        "session_id": _ID,
                        "started_utc": {"type": "string"},
                        "battery": {"type": "string"},
                        "status": {"type": "string"},
                        "backend": {"type": "string"},
                        "metrics": {"type": "array", "items": _ref("ResultRow")},
                    },
                },
            },
            "norms_loaded": {"type": "integer", "minimum": 0},
        },
    },
    "Battery": {
        "type": "object",
        "required": ["name", "title", "steps", "error"],
        "properties": {
            "name": {"type": "string"},
            "title": _nullable("string"),
            "sha256": _nullable("string"),
            "error": {
                "type": ["string", "null"],
                "description": "why a clinic's battery file cannot be used (null when it can)",
            },
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["protocol", "hands", "practice", "trials", "params"],
                    "properties": {
                        "protocol": {"type": "string"},
                        "hands": {"type": "array", "items": {"type": "string"}},
                        "practice": {"type": "integer", "minimum": 0},
                        "trials": {"type": "integer", "minimum": 1},
                        "params": _JSON_OBJECT,
                    },
                },
            },
        },
    },
    "Token": {
        "type": "object",
        "required": ["id", "user", "label", "created_utc", "active"],
        "properties": {
            "id": _ID,
            "user": {"type": "string"},
            "label": {"type": "string"},
            "created_utc": _UTC,
            "last_used_utc": {"anyOf": [_UTC, {"type": "null"}]},
            "revoked_utc": {"anyOf": [_UTC, {"type": "null"}]},
            "active": {"type": "boolean"},
        },
    },
    "User": {
        "type": "object",
        "required": ["name", "role", "created_utc", "last_sign_in_utc", "locked_until"],
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": ["admin", "clinician"]},
            "created_utc": _UTC,
            "last_sign_in_utc": {"anyOf": [_UTC, {"type": "null"}]},
            "locked_until": {"anyOf": [_UTC, {"type": "null"}]},
        },
    },
    "Me": {
        "type": "object",
        "required": ["name", "role", "via", "token"],
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": ["admin", "clinician"]},
            "via": {"enum": ["session", "token"]},
            "token": {"anyOf": [_ref("Token"), {"type": "null"}]},
        },
    },
    "AuditEntry": {
        "type": "object",
        "required": ["id", "at_utc", "user", "via", "action", "participant_code", "detail"],
        "properties": {
            "id": _ID,
            "at_utc": _UTC,
            "user": {"type": "string"},
            "via": {"type": "string"},
            "token_id": {"type": ["integer", "null"]},
            "action": {"type": "string"},
            "participant_code": {"type": ["string", "null"]},
            "method": {"type": ["string", "null"]},
            "route": {"type": ["string", "null"]},
            "export_kind": {"type": ["string", "null"]},
            "remote_addr": {"type": ["string", "null"]},
            "detail": _JSON_OBJECT,
        },
    },
}


def _items(item: str, **extra: Any) -> dict[str, Any]:
    properties = {"items": {"type": "array", "items": _ref(item)}, **extra}
    return {"type": "object", "required": list(properties), "properties": properties}


_PATHS: Final[dict[str, Any]] = {
    "/me": _get(
        "Who is asking: the user, the role and how they are authenticated.",
        _ok(_ref("Me"), "the signed-in user"),
        tag="account",
    ),
    "/openapi.json": _get(
        "This document.",
        _ok({"type": "object", "required": ["openapi", "paths"]}, "the OpenAPI document"),
        tag="account",
    ),
    "/participants": _get(
        "Participants by code, with search and pagination.",
        _ok(_page("Participant"), "a page of participants"),
        params=[
            _query(
                "search",
                {"type": "string", "maxLength": 64, "pattern": "^[^\\x00-\\x1f\\x7f]*$"},
                "part of the code or notes, any case (no control characters)",
            ),
            _LIMIT,
            _OFFSET,
        ],
        audited=True,
    ),
    "/participants/{code}": _get(
        "A participant.",
        _ok(_ref("Participant"), "the participant"),
        params=[_PARTICIPANT],
        not_found=True,
        audited=True,
    ),
    "/participants/{code}/sessions": _get(
        "A participant's sessions, oldest first, with their summary metrics.",
        _ok(
            _items("Session", participant_code=_CODE),
            "the sessions",
        ),
        params=[_PARTICIPANT],
        not_found=True,
        audited=True,
    ),
    "/participants/{code}/results": _get(
        "A participant's results: each session's summary metrics with the change from their "
        "baseline (reliable-change flags) and z-scores when a norm set is loaded.",
        _ok(_ref("Results"), "the results"),
        params=[_PARTICIPANT],
        not_found=True,
        audited=True,
    ),
    "/sessions/{session_id}": _get(
        "A session with its summary metrics.",
        _ok(_ref("Session"), "the session"),
        params=[_SESSION],
        not_found=True,
        audited=True,
    ),
    "/sessions/{session_id}/trials": _get(
        "A session's trials in order, with their metrics.",
        _ok(_items("Trial", session_id=_ID), "the trials"),
        params=[_SESSION],
        not_found=True,
        audited=True,
    ),
    "/trials/{trial_id}": _get(
        "A trial with its metrics.",
        _ok(_ref("Trial"), "the trial"),
        params=[_TRIAL],
        not_found=True,
        audited=True,
    ),
    "/trials/{trial_id}/raw": _get(
        "A trial's raw record: events, cues and, per pad, the sample times and forces.",
        _ok(_ref("TrialRaw"), "the raw record"),
        params=[_TRIAL],
        not_found=True,
        audited=True,
    ),
    "/batteries": _get(
        "The batteries this station can run (shipped and the clinic's own).",
        _ok(_items("Battery"), "the batteries"),
        tag="station",
    ),
    "/audit": _get(
        "The audit log, newest first.",
        _ok(_page("AuditEntry"), "a page of audit entries"),
        params=[
            _LIMIT,
            _OFFSET,
            _query(
                "user",
                {"type": "string", "pattern": "^[A-Za-z0-9:._-]{1,80}$"},
                "only this user",
            ),
            _query("participant", _CODE, "only this participant"),
            _query(
                "action",
                {"type": "string", "pattern": "^[a-z_]{1,32}(\\.[a-z_]{1,32}){0,3}$"},
                "only this action, e.g. participant.view",
            ),
        ],
        admin=True,
        audited=True,
        tag="admin",
    ),
    "/users": _get(
        "The accounts.",
        _ok(_items("User"), "the users"),
        admin=True,
        tag="admin",
    ),
    "/tokens": _get(
        "Every API token (never the token itself).",
        _ok(_items("Token"), "the tokens"),
        admin=True,
        tag="admin",
    ),
}


def build_openapi() -> dict[str, Any]:
    """The document (a fresh copy: callers may change it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Dexterity Station clinic API",
                "version": f"{API_VERSION} (software {__version__})",
                "description": (
                    "Read-only access to the station's participants, sessions, trials and raw "
                    "data. Authenticate with the session cookie of a signed-in browser or with "
                    "'Authorization: Bearer <token>' (tokens: `station user token NAME --label "
                    'L`). Errors are JSON {"error": {"status", "message"}}. Every view of '
                    "participant data is recorded in the audit log."
                ),
            },
            "servers": [{"url": "/api/v1"}],
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            "paths": _PATHS,
            "components": {
                "schemas": _SCHEMAS,
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "station_session"},
                },
            },
        }
    )
