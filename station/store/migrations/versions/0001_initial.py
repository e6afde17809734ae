"""The initial schema: participants, sessions, trials, raw data (events, samples, cues), metrics.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (not imported from ``station.store.schema``) so that this revision keeps
describing the schema as it was when later revisions change the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(length=32), nullable=True),
        sa.Column("dominant_hand", sa.String(length=32), nullable=True),
        sa.Column("affected_side", sa.String(length=32), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "sex IS NULL OR sex IN ('female', 'male', 'other')",
            name=op.f("ck_participants_sex"),
        ),
        sa.CheckConstraint(
            "dominant_hand IS NULL OR dominant_hand IN ('right', 'left')",
            name=op.f("ck_participants_dominant_hand"),
        ),
        sa.CheckConstraint(
            "affected_side IS NULL OR affected_side IN ('right', 'left', 'both', 'none')",
            name=op.f("ck_participants_affected_side"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("code", name=op.f("uq_participants_code")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("battery_name", sa.String(length=64), nullable=False),
        sa.Column("battery_hash", sa.String(length=128), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("software_version", sa.String(length=64), nullable=False),
        sa.Column("hardware_backend", sa.String(length=32), nullable=False),
        sa.Column("timestamp_source", sa.String(length=64), nullable=False),
        sa.Column("anchor_mono_ns", sa.BigInteger(), nullable=False),
        sa.Column("anchor_wall_ns", sa.BigInteger(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'incomplete', 'aborted')",
            name=op.f("ck_sessions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_sessions_participant_id_participants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(
        op.f("ix_sessions_participant_id_started_utc"),
        "sessions",
        ["participant_id", "started_utc"],
    )
    op.create_index(op.f("ix_sessions_status"), "sessions", ["status"])

    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=64), nullable=False),
        sa.Column("protocol_version", sa.String(length=32), nullable=False),
        sa.Column("protocol_hash", sa.String(length=128), nullable=False),
        sa.Column("hand", sa.String(length=32), nullable=False),
        sa.Column("practice", sa.Boolean(), nullable=False),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("invalid_reason", sa.Text(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("start_t_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_t_ns", sa.BigInteger(), nullable=True),
        sa.Column("go_t_ns", sa.BigInteger(), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("faults", sa.JSON(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'incomplete', 'invalid', 'timeout')",
            name=op.f("ck_trials_status"),
        ),
        sa.CheckConstraint("hand IN ('right', 'left', 'both')", name=op.f("ck_trials_hand")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_trials_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_trials_session_id_seq")),
    )
    op.create_index(op.f("ix_trials_status"), "trials", ["status"])
    op.create_index(op.f("ix_trials_protocol_hand"), "trials", ["protocol", "hand"])

    op.create_table(
        "events",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("t_ns", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_events_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "ordinal", name=op.f("pk_events")),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("pad", sa.String(length=64), nullable=False),
        sa.Column("pad_index", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("t_ns", sa.LargeBinary(), nullable=False),
        sa.Column("code", sa.LargeBinary(), nullable=False),
        sa.Column("gain", sa.Double(), nullable=False),
        sa.Column("supply_v", sa.Double(), nullable=False),
        sa.Column("divider_ohm", sa.Double(), nullable=False),
        sa.Column("slope_n_per_s", sa.Double(), nullable=False),
        sa.Column("offset_n", sa.Double(), nullable=False),
        sa.Column("calibrated", sa.Boolean(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_samples_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
        sa.UniqueConstraint("trial_id", "pad", "chunk", name=op.f("uq_samples_trial_id_pad_chunk")),
    )
    op.create_table(
        "cues",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("output", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scheduled_on_ns", sa.BigInteger(), nullable=False),
        sa.Column("scheduled_off_ns", sa.BigInteger(), nullable=False),
        sa.Column("actual_on_ns", sa.BigInteger(), nullable=True),
        sa.Column("actual_off_ns", sa.BigInteger(), nullable=True),
        sa.Column("loopback_on_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_cues_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "ordinal", name=op.f("pk_cues")),
    )
    op.create_table(
        "metrics",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_metrics_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "ordinal", name=op.f("pk_metrics")),
    )
    op.create_table(
        "session_metrics",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=64), nullable=False),
        sa.Column("hand", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_metrics_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "ordinal", name=op.f("pk_session_metrics")),
    )


def downgrade() -> None:
    for table in (
        "session_metrics",
        "metrics",
        "cues",
        "samples",
        "events",
        "trials",
        "sessions",
        "participants",
    ):
        op.drop_table(table)
