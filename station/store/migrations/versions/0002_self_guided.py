"""Self-guided mode and notes: participants' PINs and settings, assignments, ratings, session notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Four new tables, no change to the existing ones. Written out in full (not imported from
``station.store.schema``) so that this revision keeps describing the schema as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "self_guided",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("pin_salt_hex", sa.String(length=128), nullable=True),
        sa.Column("pin_hash_hex", sa.String(length=128), nullable=True),
        sa.Column("pin_kdf", sa.JSON(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pain_stop_at", sa.SmallInteger(), nullable=True),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_self_guided_failures")),
        sa.CheckConstraint(
            "pain_stop_at IS NULL OR (pain_stop_at >= 1 AND pain_stop_at <= 10)",
            name=op.f("ck_self_guided_pain_stop_at"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_self_guided_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("participant_id", name=op.f("pk_self_guided")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sessions_per_week", sa.Integer(), nullable=False),
        sa.Column("rest_s", sa.Double(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_utc", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('battery', 'program')", name=op.f("ck_assignments_kind")),
        sa.CheckConstraint(
            "sessions_per_week >= 1 AND sessions_per_week <= 14",
            name=op.f("ck_assignments_sessions_per_week"),
        ),
        sa.CheckConstraint("rest_s >= 0 AND rest_s <= 600", name=op.f("ck_assignments_rest_s")),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_assignments_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(
        op.f("ix_assignments_participant_id_active"), "assignments", ["participant_id", "active"]
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("trial_id", sa.Integer(), nullable=True),
        sa.Column("scale", sa.String(length=32), nullable=False),
        sa.Column("timing", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("t_utc", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "timing IN ('before', 'during', 'after')", name=op.f("ck_ratings_timing")
        ),
        sa.CheckConstraint(
            "source IN ('participant', 'clinician')", name=op.f("ck_ratings_source")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_ratings_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_ratings_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_ratings_trial_id_trials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
    )
    op.create_index(op.f("ix_ratings_participant_id_t_utc"), "ratings", ["participant_id", "t_utc"])
    op.create_index(op.f("ix_ratings_session_id"), "ratings", ["session_id"])
    op.create_table(
        "session_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("t_utc", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_notes_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_session_notes_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_notes")),
    )
    op.create_index(op.f("ix_session_notes_session_id"), "session_notes", ["session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_session_notes_session_id"), table_name="session_notes")
    op.drop_table("session_notes")
    op.drop_index(op.f("ix_ratings_session_id"), table_name="ratings")
    op.drop_index(op.f("ix_ratings_participant_id_t_utc"), table_name="ratings")
    op.drop_table("ratings")
    op.drop_index(op.f("ix_assignments_participant_id_active"), table_name="assignments")
    op.drop_table("assignments")
    op.drop_table("self_guided")
