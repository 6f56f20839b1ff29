"""Token Status Lists (issue 18): a version per list, bumped by triggers in the revoking
transaction, so a fetch or a 304 is one indexed read and the signed list can be cached

Every write that can change a status (a session's or private token's `revoked_at` or
`status_idx`, a user's `is_active`, a `revoked_tokens` row with a `status_idx`, a holder
inserted already revoked or for an inactive user) bumps the version of the list holding
that index, in the database itself: no use case can forget it, bulk UPDATEs included.
A version row starts at a random number, so a wiped and refilled table never repeats a
version (and ETag) with other statuses.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LIST_SIZE = 1 << 20  # authsvc.core.status_list.LIST_SIZE (a migration does not import code)
_HOLDERS = ("sessions", "private_tokens")

_SQLITE_BUMP = (
    "INSERT INTO status_list_versions (list_id, version) SELECT list_id, "
    "abs(random() % 1000000000000) FROM ({ids}) WHERE list_id IS NOT NULL "
    "ON CONFLICT (list_id) DO UPDATE SET version = version + 1;"
)


def _sqlite_upgrade() -> None:
    one = "SELECT {idx} / " + str(LIST_SIZE) + " AS list_id"
    for table in _HOLDERS:
        op.execute(
            f"CREATE TRIGGER status_{table}_update AFTER UPDATE OF revoked_at, status_idx "
            f"ON {table} FOR EACH ROW WHEN OLD.revoked_at IS NOT NEW.revoked_at "
            "OR OLD.status_idx IS NOT NEW.status_idx BEGIN "
            + _SQLITE_BUMP.format(ids=one.format(idx="NEW.status_idx"))
            + _SQLITE_BUMP.format(ids=one.format(idx="OLD.status_idx"))
            + " END"
        )
        op.execute(
            f"CREATE TRIGGER status_{table}_insert AFTER INSERT ON {table} FOR EACH ROW "
            "WHEN NEW.status_idx IS NOT NULL AND (NEW.revoked_at IS NOT NULL OR EXISTS "
            "(SELECT 1 FROM users WHERE id = NEW.user_id AND is_active = 0)) BEGIN "
            + _SQLITE_BUMP.format(ids=one.format(idx="NEW.status_idx"))
            + " END"
        )
    op.execute(
        "CREATE TRIGGER status_revoked_tokens_insert AFTER INSERT ON revoked_tokens "
        "FOR EACH ROW WHEN NEW.status_idx IS NOT NULL BEGIN "
        + _SQLITE_BUMP.format(ids=one.format(idx="NEW.status_idx"))
        + " END"
    )
    op.execute(
        "CREATE TRIGGER status_users_active AFTER UPDATE OF is_active ON users FOR EACH ROW "
        "WHEN OLD.is_active IS NOT NEW.is_active BEGIN "
        + _SQLITE_BUMP.format(
            ids=" UNION ".join(
                f"SELECT status_idx / {LIST_SIZE} AS list_id FROM {table} "
                "WHERE user_id = NEW.id AND status_idx IS NOT NULL"
                for table in _HOLDERS
            )
        )
        + " END"
    )


_PG_FUNCTIONS = f"""
CREATE FUNCTION status_list_bump(idx bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF idx IS NOT NULL THEN
        INSERT INTO status_list_versions (list_id, version)
        VALUES (idx / {LIST_SIZE}, floor(random() * 1e12)::bigint)
        ON CONFLICT (list_id) DO UPDATE SET version = status_list_versions.version + 1;
    END IF;
END $$;

CREATE FUNCTION status_holder_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.revoked_at IS NOT NULL OR EXISTS
            (SELECT 1 FROM users WHERE id = NEW.user_id AND NOT is_active) THEN
            PERFORM status_list_bump(NEW.status_idx);
        END IF;
    ELSE
        PERFORM status_list_bump(NEW.status_idx);
        IF OLD.status_idx IS DISTINCT FROM NEW.status_idx THEN
            PERFORM status_list_bump(OLD.status_idx);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION status_revoked_token_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM status_list_bump(NEW.status_idx);
    RETURN NULL;
END $$;

CREATE FUNCTION status_user_active_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    list bigint;
BEGIN
    FOR list IN
        SELECT DISTINCT status_idx / {LIST_SIZE} FROM (
            SELECT status_idx FROM sessions WHERE user_id = NEW.id AND status_idx IS NOT NULL
            UNION ALL
            SELECT status_idx FROM private_tokens
            WHERE user_id = NEW.id AND status_idx IS NOT NULL
        ) AS held ORDER BY 1
    LOOP
        PERFORM status_list_bump(list * {LIST_SIZE});
    END LOOP;
    RETURN NULL;
END $$;
"""


def _pg_upgrade() -> None:
    op.execute(_PG_FUNCTIONS)
    for table in _HOLDERS:
        op.execute(
            f"CREATE TRIGGER status_{table}_update AFTER UPDATE OF revoked_at, status_idx "
            f"ON {table} FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at "
            "OR OLD.status_idx IS DISTINCT FROM NEW.status_idx) "
            "EXECUTE FUNCTION status_holder_changed()"
        )
        op.execute(
            f"CREATE TRIGGER status_{table}_insert AFTER INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.status_idx IS NOT NULL) EXECUTE FUNCTION status_holder_changed()"
        )
    op.execute(
        "CREATE TRIGGER status_revoked_tokens_insert AFTER INSERT ON revoked_tokens "
        "FOR EACH ROW WHEN (NEW.status_idx IS NOT NULL) "
        "EXECUTE FUNCTION status_revoked_token_added()"
    )
    op.execute(
        "CREATE TRIGGER status_users_active AFTER UPDATE OF is_active ON users FOR EACH ROW "
        "WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active) "
        "EXECUTE FUNCTION status_user_active_changed()"
    )


def upgrade():
    op.create_table(
        "status_list_versions",
        sa.Column("list_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("list_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()
    else:
        _sqlite_upgrade()


def downgrade():
    triggers = [f"status_{t}_{op_}" for t in _HOLDERS for op_ in ("update", "insert")]
    triggers += ["status_revoked_tokens_insert", "status_users_active"]
    pg = op.get_bind().dialect.name == "postgresql"
    for name in triggers:
        table = name.removeprefix("status_").rpartition("_")[0]
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if pg else f"DROP TRIGGER IF EXISTS {name}")
    if pg:
        for fn in (
            "status_user_active_changed()",
            "status_revoked_token_added()",
            "status_holder_changed()",
            "status_list_bump(bigint)",
        ):
            op.execute(f"DROP FUNCTION {fn}")
    op.drop_table("status_list_versions")
