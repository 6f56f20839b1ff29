"""Token Status Lists (issue 18): status indices on sessions, private tokens, clients and
revoked jtis; the index allocator (a sequence on PostgreSQL, a counter row on SQLite)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("sessions", "private_tokens", "oauth_clients", "revoked_tokens")


def upgrade():
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("status_idx", sa.BigInteger(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_status_idx"), ["status_idx"])
    op.create_table(
        "status_index_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("next_idx", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO status_index_counter (id, next_idx) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE status_index_seq MINVALUE 0 START WITH 0")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE status_index_seq")
    op.drop_table("status_index_counter")
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_status_idx"))
            batch_op.drop_column("status_idx")
