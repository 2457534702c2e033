"""feed_event_stamp: a change count per event, kept by triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Every insert, update or delete of an `event`, `phase` or `task` row adds one
to its event's row of `feed_event_stamp` (app/feeds/models.py says why).
Triggers rather than application code, so that every writer is counted:
services, the launch clock, bulk UPDATEs, cascaded deletes.

On SQLite, a later batch migration that recreates `event`, `phase` or
`task` (move and copy) drops these triggers: such a migration must create
them again (`create_triggers()` below).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each counted table and the column naming its event.
COUNTED = {"event": "id", "phase": "event_id", "task": "event_id"}

# Add one to an event's count, making its row on the first change.
_BUMP = (
    "INSERT INTO feed_event_stamp (event_id, changes) SELECT {ref}, 1 WHERE {cond} "
    "ON CONFLICT (event_id) DO UPDATE SET changes = feed_event_stamp.changes + 1;"
)

# PostgreSQL: one function per event column, for the row's event and, on an
# UPDATE that moves the row to another event, for the old one too.
_PG_FUNCTION = """
CREATE FUNCTION feed_event_stamp_by_{column}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {bump_old}
    ELSE
        {bump_new}
        IF TG_OP = 'UPDATE' THEN
            {bump_moved}
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""


def _bumps(column: str) -> tuple[str, str, str]:
    """The statements that count a change to a row: for its new event, its
    old event, and its old event when an UPDATE moved it (the column is NOT
    NULL, so `<>` will do)."""
    new, old = f"NEW.{column}", f"OLD.{column}"
    return (
        _BUMP.format(ref=new, cond="true"),
        _BUMP.format(ref=old, cond="true"),
        _BUMP.format(ref=old, cond=f"{old} <> {new}"),
    )


def _trigger_name(table: str, operation: str = "change") -> str:
    return f"feed_event_stamp_{table}_{operation.lower()}"


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in sorted(set(COUNTED.values())):
            bump_new, bump_old, bump_moved = _bumps(column)
            op.execute(
                _PG_FUNCTION.format(
                    column=column, bump_new=bump_new, bump_old=bump_old, bump_moved=bump_moved
                )
            )
        for table, column in COUNTED.items():
            # Deferred to COMMIT: an immediate trigger would lock the count
            # row in the middle of a transaction, so two writers taking the
            # event's rows in different orders (a shift against a task PATCH,
            # a launch against a PATCH that locks its event) would deadlock
            # instead of one of them failing its version check.
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {_trigger_name(table)} "
                f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"EXECUTE FUNCTION feed_event_stamp_by_{column}()"
            )
        return
    # SQLite: row triggers, one per operation.
    for table, column in COUNTED.items():
        bump_new, bump_old, bump_moved = _bumps(column)
        by_operation = {
            "INSERT": bump_new,
            "UPDATE": f"{bump_new} {bump_moved}",
            "DELETE": bump_old,
        }
        for operation, statements in by_operation.items():
            op.execute(
                f"CREATE TRIGGER {_trigger_name(table, operation)} AFTER {operation} ON {table} "
                f"FOR EACH ROW BEGIN {statements} END"
            )


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in COUNTED:
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table)} ON {table}")
        for column in sorted(set(COUNTED.values())):
            op.execute(f"DROP FUNCTION IF EXISTS feed_event_stamp_by_{column}()")
        return
    for table in COUNTED:
        for operation in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, operation)}")


def upgrade() -> None:
    op.create_table(
        "feed_event_stamp",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_feed_event_stamp")),
    )
    op.execute("INSERT INTO feed_event_stamp (event_id, changes) SELECT id, 1 FROM event")
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_table("feed_event_stamp")
