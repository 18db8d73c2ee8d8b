"""Entries carry the agency's (BSN, birth date) pseudonym, for the age rules.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: entries published before (and entries without a BSN or a birth date) have
    # none; an age-bounded agency's BSN hit from such an entry is not disclosed.
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("bsn_birth_pseudonym", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("bsn_birth_pseudonym")
