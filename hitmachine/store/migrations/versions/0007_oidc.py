"""Single sign-on: web accounts linked to an identity provider's subject, and the sign-in
attempts under way there (issue 17).

Revision ID: 0007
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oidc_identities",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("subject_key", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "oidc_attempts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("state_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("binding_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("next_path", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_oidc_attempts_created_at", "oidc_attempts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_attempts_created_at", "oidc_attempts")
    op.drop_table("oidc_attempts")
    op.drop_table("oidc_identities")
