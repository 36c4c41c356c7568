"""audit chain: rows numbered and hash-chained, append-only by trigger; subject, client, session, detail

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
TRIGGERS = {
    "sqlite": [
        ("CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"),
        ("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"),
    ],
    "postgresql": [
        ("CREATE FUNCTION neopain_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"),
        ("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION neopain_audit_append_only()"),
        ("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION neopain_audit_append_only()"),
    ],
}
DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"],
    "postgresql": [
        "DROP TRIGGER audit_events_append_only ON audit_events",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "DROP FUNCTION neopain_audit_append_only()",
    ],
}


def _chain_existing_rows() -> tuple[int, str]:
    """Number and chain the rows written before the chain existed, in id order."""
    from neopain.app.core.audit import CHAINED, row_digest
    from neopain.app.models.base import UTCDateTime

    bind = op.get_bind()
    names = ("id", "user_id", "username", "action", "object_type", "object_id")
    table = sa.table(
        "audit_events", sa.column("at", UTCDateTime()), *(sa.column(c) for c in names),
        *(sa.column(c) for c in ("seq", "prev_hash", "row_hash")),
    )
    rows = bind.execute(sa.select(table.c.id, table.c.at, *(table.c[c] for c in names[1:]))
                        .order_by(table.c.id)).all()
    seq, last = 0, GENESIS
    for row in rows:
        seq += 1
        values = {**row._asdict(), "seq": seq, "subject": "", "client": "", "session_ref": "", "detail": None}
        digest = row_digest(last, SimpleNamespace(**{k: values[k] for k in CHAINED}))
        bind.execute(table.update().where(table.c.id == row.id).values(seq=seq, prev_hash=last, row_hash=digest))
        last = digest
    return seq, last


def upgrade() -> None:
    # A later batch_alter_table on audit_events rebuilds the table on SQLite, which drops its triggers:
    # such a migration must create them again.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("session_ref", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    seq, last = _chain_existing_rows()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_seq"), ["seq"])
        batch_op.create_index(batch_op.f("ix_audit_events_subject"), ["subject"], unique=False)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": seq, "row_hash": last}])
    for statement in TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_subject"))
        batch_op.drop_constraint(batch_op.f("uq_audit_events_seq"), type_="unique")
        for column in ("row_hash", "prev_hash", "detail", "session_ref", "client", "subject", "seq"):
            batch_op.drop_column(column)
