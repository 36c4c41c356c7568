"""units: wards for babies and clinicians, break-glass, a second identifier, the camera's owner

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Existing babies and clinicians go into one unit, "Main unit": nothing anyone could see before is hidden.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import neopain.app.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FIRST_UNIT = "Main unit"
UTC = neopain.app.models.base.UTCDateTime


def upgrade() -> None:
    units = op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("name", name=op.f("uq_units_name")),
    )
    op.create_table(
        "user_units",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_units_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_user_units_unit_id_units"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "unit_id", name=op.f("pk_user_units")),
    )
    op.create_table(
        "break_glass",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("baby_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_break_glass_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["baby_id"], ["babies.id"], name=op.f("fk_break_glass_baby_id_babies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewed_by"], ["users.id"], name=op.f("fk_break_glass_reviewed_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass")),
    )
    with op.batch_alter_table("break_glass", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_break_glass_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_break_glass_baby_id"), ["baby_id"], unique=False)
    bind = op.get_bind()
    bind.execute(units.insert().values(name=FIRST_UNIT, created_at=sa.func.now()))
    first = bind.execute(sa.select(units.c.id)).scalar_one()
    bind.execute(sa.text("INSERT INTO user_units (user_id, unit_id) SELECT id, :unit FROM users "
                         "WHERE role IN ('nurse', 'researcher')"), {"unit": first})
    with op.batch_alter_table("babies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identifier", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
    bind.execute(sa.text("UPDATE babies SET unit_id = :unit"), {"unit": first})
    with op.batch_alter_table("babies", schema=None) as batch_op:
        batch_op.alter_column("unit_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_babies_unit_id_units"), "units", ["unit_id"], ["id"],
                                    ondelete="RESTRICT")
        batch_op.create_index(batch_op.f("ix_babies_unit_id"), ["unit_id"], unique=False)
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_assessments_owner_id_users"), "users", ["owner_id"], ["id"],
                                    ondelete="SET NULL")
    bind.execute(sa.text("UPDATE assessments SET owner_id = started_by"))


def downgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_assessments_owner_id_users"), type_="foreignkey")
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("babies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_babies_unit_id"))
        batch_op.drop_constraint(batch_op.f("fk_babies_unit_id_units"), type_="foreignkey")
        batch_op.drop_column("unit_id")
        batch_op.drop_column("identifier")
    op.drop_table("break_glass")
    op.drop_table("user_units")
    op.drop_table("units")
