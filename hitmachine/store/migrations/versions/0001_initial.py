"""Initial schema: index, syncs, tokens, audit records.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agency_sets",
        sa.Column("agency", sa.String(32), primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=True),
        sa.Column("entry_count", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("agency", name="pk_agency_sets"),
    )
    op.create_table(
        "syncs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(36), nullable=False),
        sa.Column("agency", sa.String(32), nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=True),
        sa.Column("batch_count", sa.Integer, nullable=False),
        sa.Column("entry_count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_syncs"),
        sa.UniqueConstraint("public_id", name="uq_syncs_public_id"),
    )
    op.create_index("ix_syncs_agency_status", "syncs", ["agency", "status"])
    op.create_table(
        "sync_batches",
        sa.Column("sync_id", Id, nullable=False),
        sa.Column("batch_no", sa.Integer, nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("sync_id", "batch_no", name="pk_sync_batches"),
        sa.ForeignKeyConstraint(["sync_id"], ["syncs.id"], ondelete="CASCADE",
                                name="fk_sync_batches_sync_id_syncs"),
    )
    op.create_table(
        "entries",
        sa.Column("agency", sa.String(32), nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("bsn_pseudonym", sa.LargeBinary(32), nullable=True),
        sa.Column("name_pseudonym", sa.LargeBinary(32), nullable=True),
    )
    op.create_index("ix_entries_bsn_pseudonym", "entries", ["bsn_pseudonym"])
    op.create_index("ix_entries_name_pseudonym", "entries", ["name_pseudonym"])
    op.create_index("ix_entries_agency_generation", "entries", ["agency", "generation"])
    op.create_table(
        "tokens",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("agency", sa.String(32), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("revoked_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_table(
        "audit_records",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("organisation", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.Column("legal_basis", sa.Text, nullable=True),
        sa.Column("case_reference", sa.Text, nullable=True),
        sa.Column("subjects", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("agencies", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("pruned", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_records"),
        sa.UniqueConstraint("seq", name="uq_audit_records_seq"),
    )
    op.create_index("ix_audit_records_recorded_at", "audit_records", ["recorded_at"])
    op.create_index("ix_audit_records_event", "audit_records", ["event"])
    op.create_index("ix_audit_records_actor", "audit_records", ["actor"])


def downgrade() -> None:
    for table in ("audit_records", "tokens", "entries", "sync_batches", "syncs", "agency_sets"):
        op.drop_table(table)
