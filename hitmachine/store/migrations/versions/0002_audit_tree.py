"""The audit Merkle tree: tree state, signed checkpoints, pending and request-id indexes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_tree",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("compact_range", sa.LargeBinary, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_tree"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("key_hash", sa.String(8), nullable=False),
        sa.Column("signed_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
        sa.UniqueConstraint("size", name="uq_audit_checkpoints_size"),
    )
    op.create_index("ix_audit_checkpoints_signed_at", "audit_checkpoints", ["signed_at"])
    seq_is_null = sa.text("seq IS NULL")
    op.create_index("ix_audit_records_pending", "audit_records", ["id"],
                    sqlite_where=seq_is_null, postgresql_where=seq_is_null)
    op.create_index("ix_audit_records_request_id", "audit_records", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_records_request_id", table_name="audit_records")
    op.drop_index("ix_audit_records_pending", table_name="audit_records")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tree")
