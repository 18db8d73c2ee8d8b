"""Signals and follow-ups (issue 16).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("contact", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("case_reference", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("acked_at", sa.String(32), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
        sa.UniqueConstraint("public_id", name="uq_signals_public_id"),
    )
    op.create_index("ix_signals_recipient_acked_at", "signals", ["recipient", "acked_at"])
    op.create_index("ix_signals_expires_at", "signals", ["expires_at"])
    op.create_table(
        "follow_ups",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("case_reference", sa.Text, nullable=False),
        sa.Column("agencies", sa.Text, nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_follow_ups"),
        sa.UniqueConstraint("public_id", name="uq_follow_ups_public_id"),
    )
    op.create_index("ix_follow_ups_owner", "follow_ups", ["owner"])
    op.create_index("ix_follow_ups_expires_at", "follow_ups", ["expires_at"])
    op.create_table(
        "follow_up_members",
        sa.Column("follow_up_id", Id, nullable=False),
        sa.Column("member", sa.Integer, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("bsn_pseudonym", sa.LargeBinary(32), nullable=True),
        sa.Column("name_pseudonym", sa.LargeBinary(32), nullable=True),
        sa.Column("bsn_birth_pseudonym", sa.LargeBinary(32), nullable=True),
        sa.Column("windows", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["follow_up_id"], ["follow_ups.id"],
                                name="fk_follow_up_members_follow_up_id_follow_ups",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_follow_up_members_follow_up_id", "follow_up_members", ["follow_up_id"])
    op.create_index("ix_follow_up_members_bsn_pseudonym", "follow_up_members",
                    ["bsn_pseudonym"])
    op.create_index("ix_follow_up_members_name_pseudonym", "follow_up_members",
                    ["name_pseudonym"])


def downgrade() -> None:
    op.drop_table("follow_up_members")
    op.drop_table("follow_ups")
    op.drop_table("signals")
