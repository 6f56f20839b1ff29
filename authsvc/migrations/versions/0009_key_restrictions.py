"""Per-key restrictions (issue 22): allowlists, rate limits, last_used_ip, use counts

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("private_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_ips", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rate_limit", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("last_used_ip", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("refused_at", sa.DateTime(), nullable=True))
    op.create_table(
        "key_use_counts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start"),
    )
    op.create_index(
        op.f("ix_key_use_counts_window_start"), "key_use_counts", ["window_start"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_key_use_counts_window_start"), table_name="key_use_counts")
    op.drop_table("key_use_counts")
    with op.batch_alter_table("private_tokens", schema=None) as batch_op:
        batch_op.drop_column("refused_at")
        batch_op.drop_column("last_used_ip")
        batch_op.drop_column("rate_limit")
        batch_op.drop_column("allowed_ips")
