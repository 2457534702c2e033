"""slots tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op  # noqa: F401
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "merchant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column(
            "categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("tier IN ('head', 'waist', 'tail')", name=op.f("ck_merchant_tier")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant")),
    )
    with op.batch_alter_table("merchant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merchant_tier"), ["tier"], unique=False)

    op.create_table(
        "slot_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_slot_type_capacity")),
        sa.CheckConstraint("window_seconds = 86400", name=op.f("ck_slot_type_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_type")),
        sa.UniqueConstraint("code", name=op.f("uq_slot_type_code")),
    )
    op.create_table(
        "allocation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("optimal", sa.Boolean(), nullable=False),
        sa.Column("gap", sa.Float(), nullable=False),
        sa.Column("stats", _json(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("superseded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("live_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("released_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('solved', 'published', 'superseded')",
            name=op.f("ck_allocation_run_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_allocation_run_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_run")),
    )
    with op.batch_alter_table("allocation_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_run_event_id"), ["event_id"], unique=False)
        # At most one published run per event, enforced by the database.
        batch_op.create_index(
            "uq_allocation_run_one_published",
            ["event_id"],
            unique=True,
            sqlite_where=sa.text("status = 'published'"),
            postgresql_where=sa.text("status = 'published'"),
        )

    op.create_table(
        "slot_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("slot_type_id", sa.Integer(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("windows", _json(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("all_or_nothing", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.CheckConstraint("score >= 0", name=op.f("ck_slot_application_score")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_slot_application_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchant.id"],
            name=op.f("fk_slot_application_merchant_id_merchant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slot_type_id"],
            ["slot_type.id"],
            name=op.f("fk_slot_application_slot_type_id_slot_type"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_application")),
    )
    with op.batch_alter_table("slot_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_slot_application_event_id"), ["event_id"], unique=False
        )
        batch_op.create_index(
            "ix_slot_application_event_id_merchant_id", ["event_id", "merchant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_slot_application_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "slot_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("slot_type_id", sa.Integer(), nullable=False),
        sa.Column("windows", _json(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("category_quotas", _json(), nullable=False),
        sa.Column("tier_quotas", _json(), nullable=False),
        sa.Column("per_merchant_max", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_slot_plan_capacity")),
        sa.CheckConstraint(
            "per_merchant_max IS NULL OR per_merchant_max >= 1",
            name=op.f("ck_slot_plan_per_merchant_max"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_slot_plan_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slot_type_id"],
            ["slot_type.id"],
            name=op.f("fk_slot_plan_slot_type_id_slot_type"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_plan")),
        sa.UniqueConstraint("event_id", "slot_type_id", name="uq_slot_plan_event_id_slot_type_id"),
    )
    with op.batch_alter_table("slot_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slot_plan_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slot_plan_slot_type_id"), ["slot_type_id"], unique=False
        )

    op.create_table(
        "allocation_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("slot_type_id", sa.Integer(), nullable=False),
        sa.Column("window_date", sa.Date(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.CheckConstraint("position >= 1", name=op.f("ck_allocation_assignment_position")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["slot_application.id"],
            name=op.f("fk_allocation_assignment_application_id_slot_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["allocation_run.id"],
            name=op.f("fk_allocation_assignment_run_id_allocation_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_assignment")),
        sa.UniqueConstraint(
            "run_id", "application_id", "window_date", name="uq_allocation_assignment_unit"
        ),
    )
    with op.batch_alter_table("allocation_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_assignment_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_allocation_assignment_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "allocation_refusal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("window_date", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('capacity', 'category_quota', 'tier_quota', 'merchant_cap', "
            "'all_or_nothing', 'outscored')",
            name=op.f("ck_allocation_refusal_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["slot_application.id"],
            name=op.f("fk_allocation_refusal_application_id_slot_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["allocation_run.id"],
            name=op.f("fk_allocation_refusal_run_id_allocation_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_refusal")),
        sa.UniqueConstraint(
            "run_id", "application_id", "window_date", name="uq_allocation_refusal_unit"
        ),
    )
    with op.batch_alter_table("allocation_refusal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_refusal_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_allocation_refusal_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "slot_lock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("window_date", sa.Date(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["slot_application.id"],
            name=op.f("fk_slot_lock_application_id_slot_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_slot_lock_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_lock")),
        sa.UniqueConstraint("application_id", "window_date", name="uq_slot_lock_unit"),
    )
    with op.batch_alter_table("slot_lock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slot_lock_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slot_lock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_lock_event_id"))
    op.drop_table("slot_lock")
    with op.batch_alter_table("allocation_refusal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_refusal_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_refusal_application_id"))
    op.drop_table("allocation_refusal")
    with op.batch_alter_table("allocation_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_assignment_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_assignment_application_id"))
    op.drop_table("allocation_assignment")
    with op.batch_alter_table("slot_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_plan_slot_type_id"))
        batch_op.drop_index(batch_op.f("ix_slot_plan_event_id"))
    op.drop_table("slot_plan")
    with op.batch_alter_table("slot_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_application_merchant_id"))
        batch_op.drop_index("ix_slot_application_event_id_merchant_id")
        batch_op.drop_index(batch_op.f("ix_slot_application_event_id"))
    op.drop_table("slot_application")
    with op.batch_alter_table("allocation_run", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_allocation_run_one_published",
            sqlite_where=sa.text("status = 'published'"),
            postgresql_where=sa.text("status = 'published'"),
        )
        batch_op.drop_index(batch_op.f("ix_allocation_run_event_id"))
    op.drop_table("allocation_run")
    op.drop_table("slot_type")
    with op.batch_alter_table("merchant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merchant_tier"))
    op.drop_table("merchant")
