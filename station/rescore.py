"""Recomputing metrics from stored raw data: one trial, a session's summaries, or everything.

Trial metrics come from the protocol's pure ``score``; a session's summary metrics from its
``summarize`` over that session's trials (per protocol and hand; invalid and incomplete trials and
practice trials are left out by the protocols' summaries).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from station.protocols import get_protocol
from station.protocols.base import Protocol
from station.records import Metric, TrialData


def protocol_for(data: TrialData) -> Protocol:
    cls = get_protocol(data.protocol)
    return cls(cls.make_params(data.params))


def resummarize_session(store: Any, session_id: int) -> list[tuple[str, str, Metric]]:
    """Recompute and store a session's summary metrics from its stored trials."""
    groups: dict[tuple[str, str], list[tuple[TrialData, list[Metric]]]] = defaultdict(list)
    order: list[tuple[str, str]] = []
    for info in store.iter_trials(session_id=session_id, with_data=True):
        data = info.data
        data.status = info.status
        key = (info.protocol, info.hand)
        if key not in groups:
            order.append(key)
        groups[key].append((data, list(info.metrics)))
    summaries: list[tuple[str, str, Metric]] = []
    for key in order:
        trials = groups[key]
        protocol = protocol_for(trials[0][0])
        summaries += [(key[0], key[1], m) for m in protocol.summarize(trials)]
    store.replace_session_metrics(session_id, summaries)
    return summaries


def rescore_all(store: Any) -> tuple[int, int]:
    """Rescore every trial, then every session's summaries. Returns (trials, sessions)."""
    sessions: list[int] = []
    n = 0
    for info in store.iter_trials(with_data=True):
        store.replace_metrics(info.id, protocol_for(info.data).score(info.data))
        if info.session_id not in sessions:
            sessions.append(info.session_id)
        n += 1
    for session_id in sessions:
        resummarize_session(store, session_id)
    return n, len(sessions)


def invalidate_trial(store: Any, trial_id: int, reason: str) -> list[tuple[str, str, Metric]]:
    """Mark a trial invalid with the clinician's reason and recompute its session's summaries."""
    store.mark_invalid(trial_id, reason)
    return resummarize_session(store, store.trial(trial_id).session_id)
