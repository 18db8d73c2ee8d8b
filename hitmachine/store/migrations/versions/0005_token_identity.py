"""Token names compared like account names, and tokens linked to a web account.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from hitmachine.core.text import name_key

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("name_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("user_id", Id, nullable=True))
        batch.create_foreign_key("fk_tokens_user_id_users", "users", ["user_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index("ix_tokens_name_key", ["name_key"])
    tokens = sa.table("tokens", sa.column("id", Id), sa.column("name", sa.String),
                      sa.column("name_key", sa.String))
    conn = op.get_bind()
    for token_id, name in conn.execute(sa.select(tokens.c.id, tokens.c.name)).all():
        conn.execute(sa.update(tokens).where(tokens.c.id == token_id)
                     .values(name_key=name_key(name)))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_name_key")
        batch.drop_constraint("fk_tokens_user_id_users", type_="foreignkey")
        batch.drop_column("user_id")
        batch.drop_column("name_key")
