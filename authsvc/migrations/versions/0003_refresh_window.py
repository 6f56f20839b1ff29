"""refresh window: the refresh-token chain lives on its session

Revision ID: 0003
Revises: 0001 (the lead re-chains it after 0002 when merging)
Create Date: 2026-12-01

Each session keeps its current refresh jti (with the iat/exp it was signed with), the
jti it replaced and when: enough to rotate by compare-and-swap, to answer the immediate
predecessor within AUTHSVC_REFRESH_REUSE_WINDOW with the same successor, and to call
every other token of the session spent. The per-token table goes: a session's live
token moves onto the session, so tokens issued before the upgrade keep working.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (SQLite has it): a batch would rebuild `sessions`, which
    # refresh_tokens still references.
    op.add_column("sessions", sa.Column("refresh_jti", sa.String(length=64), nullable=True))
    op.add_column("sessions", sa.Column("refresh_iat", sa.BigInteger(), nullable=True))
    op.add_column("sessions", sa.Column("refresh_exp", sa.BigInteger(), nullable=True))
    op.add_column(
        "sessions", sa.Column("previous_refresh_jti", sa.String(length=64), nullable=True)
    )
    op.add_column("sessions", sa.Column("rotated_at", sa.DateTime(), nullable=True))
    op.add_column(
        "sessions",
        sa.Column("replay_recorded", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("sessions", sa.Column("reuse_recorded_at", sa.DateTime(), nullable=True))
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"], unique=False)

    # The unspent token of each session becomes its current one. Its predecessor is not
    # known (no replay across the upgrade); its iat/exp are needed only for a replay.
    op.execute(
        "UPDATE sessions SET refresh_jti = (SELECT r.jti FROM refresh_tokens r"
        " WHERE r.session_id = sessions.id AND r.used_at IS NULL"
        " ORDER BY r.issued_at DESC LIMIT 1)"
    )

    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_expires_at"))
    op.drop_table("refresh_tokens")


def downgrade():
    # refresh_tokens gets its foreign key last: on SQLite, dropping the session columns
    # rebuilds `sessions`, which a referencing table would forbid.
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("jti"),
    )
    # Each session's current token stays usable; the replay window is lost.
    op.execute(
        "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at)"
        " SELECT refresh_jti, id, COALESCE(rotated_at, created_at), expires_at FROM sessions"
        " WHERE refresh_jti IS NOT NULL"
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_expires_at"))
        batch_op.drop_column("reuse_recorded_at")
        batch_op.drop_column("replay_recorded")
        batch_op.drop_column("rotated_at")
        batch_op.drop_column("previous_refresh_jti")
        batch_op.drop_column("refresh_exp")
        batch_op.drop_column("refresh_iat")
        batch_op.drop_column("refresh_jti")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_refresh_tokens_session_id_sessions", "sessions", ["session_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_refresh_tokens_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False
        )
