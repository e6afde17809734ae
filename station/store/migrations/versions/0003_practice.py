"""Graded practice: prescriptions, their changes, practice sessions and trials, decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Five new tables, and a ``kind`` column on ``sessions`` (``assessment``, the value every existing
session gets, or ``practice``). Written out in full (not imported from ``station.store.schema``)
so that this revision keeps describing the schema as it was.

The column is added with a plain ``ALTER TABLE ... ADD COLUMN`` (a constant default, NOT NULL and
a column CHECK are allowed there, SQLite 3.37+ checks existing rows), never by copying the table:
with foreign keys on, dropping the old ``sessions`` to replace it with a copy would cascade into
every trial. The downgrade drops the column the same way (SQLite 3.35+).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column(
            "kind",
            sa.String(length=32),
            sa.CheckConstraint("kind IN ('assessment', 'practice')", name=op.f("ck_sessions_kind")),
            server_default="assessment",
            nullable=False,
        ),
    )
    op.create_table(
        "prescriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("program_name", sa.String(length=64), nullable=False),
        sa.Column("program_version", sa.String(length=32), nullable=False),
        sa.Column("program_hash", sa.String(length=128), nullable=False),
        sa.Column("levels", sa.Integer(), nullable=False),
        sa.Column("start_level", sa.Integer(), nullable=False),
        sa.Column("current_level", sa.Integer(), nullable=False),
        sa.Column("sessions_per_week", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_utc", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'ended')", name=op.f("ck_prescriptions_status")
        ),
        sa.CheckConstraint(
            "levels >= 1 AND start_level >= 1 AND start_level <= levels "
            "AND current_level >= 1 AND current_level <= levels",
            name=op.f("ck_prescriptions_levels"),
        ),
        sa.CheckConstraint(
            "sessions_per_week >= 1 AND sessions_per_week <= 14",
            name=op.f("ck_prescriptions_sessions_per_week"),
        ),
        sa.CheckConstraint(
            "daily_cap >= 1 AND daily_cap <= 10", name=op.f("ck_prescriptions_daily_cap")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_prescriptions_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriptions")),
    )
    op.create_index(
        op.f("ix_prescriptions_participant_id_status"),
        "prescriptions",
        ["participant_id", "status"],
    )
    op.create_table(
        "prescription_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prescription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("t_utc", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('created', 'level', 'dose', 'status', 'note')",
            name=op.f("ck_prescription_changes_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_prescription_changes_prescription_id_prescriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_changes")),
    )
    op.create_index(
        op.f("ix_prescription_changes_prescription_id_t_utc"),
        "prescription_changes",
        ["prescription_id", "t_utc"],
    )
    op.create_table(
        "practice_sessions",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("prescription_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("program_version", sa.String(length=32), nullable=False),
        sa.Column("program_hash", sa.String(length=128), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("sensations", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_practice_sessions_prescription_id_prescriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_practice_sessions_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_practice_sessions")),
    )
    op.create_index(
        op.f("ix_practice_sessions_prescription_id"), "practice_sessions", ["prescription_id"]
    )
    op.create_table(
        "practice_trials",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("exercise", sa.String(length=64), nullable=False),
        sa.Column("hand", sa.String(length=32), nullable=False),
        sa.Column("set_index", sa.Integer(), nullable=False),
        sa.Column("rep_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_practice_trials_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_practice_trials_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", name=op.f("pk_practice_trials")),
    )
    op.create_index(op.f("ix_practice_trials_session_id"), "practice_trials", ["session_id"])
    op.create_table(
        "practice_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prescription_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("level_before", sa.Integer(), nullable=False),
        sa.Column("level_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("rule_version", sa.String(length=32), nullable=False),
        sa.Column("t_utc", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('advance', 'stay', 'regress', 'stop', 'hold')",
            name=op.f("ck_practice_decisions_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_practice_decisions_prescription_id_prescriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_practice_decisions_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice_decisions")),
    )
    op.create_index(
        op.f("ix_practice_decisions_prescription_id_t_utc"),
        "practice_decisions",
        ["prescription_id", "t_utc"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_practice_decisions_prescription_id_t_utc"), "practice_decisions")
    op.drop_table("practice_decisions")
    op.drop_index(op.f("ix_practice_trials_session_id"), "practice_trials")
    op.drop_table("practice_trials")
    op.drop_index(op.f("ix_practice_sessions_prescription_id"), "practice_sessions")
    op.drop_table("practice_sessions")
    op.drop_index(op.f("ix_prescription_changes_prescription_id_t_utc"), "prescription_changes")
    op.drop_table("prescription_changes")
    op.drop_index(op.f("ix_prescriptions_participant_id_status"), "prescriptions")
    op.drop_table("prescriptions")
    # ALTER TABLE ... DROP COLUMN, not a table copy (see the module docstring).
    op.execute("ALTER TABLE sessions DROP COLUMN kind")
