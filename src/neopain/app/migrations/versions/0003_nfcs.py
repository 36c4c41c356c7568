"""nfcs: the model's NFCS reading of a saved frame, and which actions a clinician's coding covered

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nfcs_model", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("nfcs_coded", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("nfcs_coded")
        batch_op.drop_column("nfcs_model")
