"""A second factor for web accounts: TOTP secrets (sealed), recovery codes, challenges.

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
        "user_factors",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("secret_sealed", sa.String(255), nullable=False),
        sa.Column("enrolled_at", sa.String(32), nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_factors"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_user_factors_user_id_users"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("used_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_recovery_codes_user_id_users"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "factor_challenges",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("challenge_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("pending_secret", sa.String(255), nullable=True),
        sa.Column("next_path", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_factor_challenges"),
        sa.UniqueConstraint("challenge_hash", name="uq_factor_challenges_challenge_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_factor_challenges_user_id_users"),
    )
    op.create_index("ix_factor_challenges_user_id", "factor_challenges", ["user_id"])
    op.create_index("ix_factor_challenges_created_at", "factor_challenges", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_factor_challenges_created_at", table_name="factor_challenges")
    op.drop_index("ix_factor_challenges_user_id", table_name="factor_challenges")
    op.drop_table("factor_challenges")
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("user_factors")
