"""retention: a record's image may be purged (the row, label and times stay)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import neopain.app.models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.alter_column("image_name", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(
            sa.Column("image_purged_at", neopain.app.models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    # A purged image cannot come back: its rows keep a placeholder name that matches no file.
    op.execute("UPDATE records SET image_name = 'purged-' || public_id WHERE image_name IS NULL")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("image_purged_at")
        batch_op.alter_column("image_name", existing_type=sa.String(length=64), nullable=False)
