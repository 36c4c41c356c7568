"""observations: instrument windows scored from camera frames or a clip, and each baby's baselines

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import neopain.app.models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC = neopain.app.models.base.UTCDateTime


def _user(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"),
                                   ondelete="SET NULL")


def _baselines() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("baby_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTC(timezone=True), nullable=False),
        sa.Column("means", sa.JSON(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("replaced_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["baby_id"], ["babies.id"], name=op.f("fk_baselines_baby_id_babies"),
                                ondelete="CASCADE"),
        _user("recorded_by", "baselines"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
        sa.UniqueConstraint("public_id", name=op.f("uq_baselines_public_id")),
    )
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_baselines_baby_id"), ["baby_id"], unique=False)


def _observations() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("baby_id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("instrument", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("retrospective", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("started_at", UTC(timezone=True), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("window_end", sa.Float(), nullable=False),
        sa.Column("baseline_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("nfcs_version", sa.String(length=16), nullable=False),
        sa.Column("timeline", sa.JSON(), nullable=False),
        sa.Column("proposals", sa.JSON(), nullable=True),
        sa.Column("scorable", sa.Boolean(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("interpretation", sa.String(length=80), nullable=True),
        sa.Column("pain", sa.Boolean(), nullable=True),
        sa.Column("missing", sa.JSON(), nullable=True),
        sa.Column("started_by", sa.Integer(), nullable=True),
        sa.Column("saved_by", sa.Integer(), nullable=True),
        sa.Column("saved_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["baby_id"], ["babies.id"], name=op.f("fk_observations_baby_id_babies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assessment_id"], ["assessments.id"],
                                name=op.f("fk_observations_assessment_id_assessments"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["baseline_id"], ["baselines.id"],
                                name=op.f("fk_observations_baseline_id_baselines"), ondelete="SET NULL"),
        _user("started_by", "observations"),
        _user("saved_by", "observations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_observations_public_id")),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        for column in ("baby_id", "assessment_id", "status", "started_at"):
            batch_op.create_index(batch_op.f(f"ix_observations_{column}"), [column], unique=False)


def upgrade() -> None:
    _baselines()
    _observations()


def downgrade() -> None:
    op.drop_table("observations")
    op.drop_table("baselines")
