"""signing-key lifecycle: publish-then-sign and revocation

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 21:40:00

`activates_at`: when a key starts signing (a rotation publishes it first and lets it sign
after AUTHSVC_KEY_PUBLISH_DELAY); existing keys signed from their creation. `revoked_at`:
set by `flask keys revoke`.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activates_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE signing_keys SET activates_at = created_at")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.alter_column("activates_at", existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("activates_at")
