"""The first schema: policy versions, outbox, rollouts, console users.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workers.dataplane.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
        sa.Column("first_used", UtcDateTime, nullable=False),
        sa.UniqueConstraint("name", "version", name="policy_versions_name_version"),
    )
    op.create_table(
        "outbox",
        sa.Column("action_id", sa.String(500), primary_key=True),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(50)),
        sa.Column("template", sa.String(200)),
        sa.Column("recipient", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("detail_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("via", sa.String(50), nullable=False, server_default="outbox"),
        sa.Column("provider_id", sa.Text),
    )
    op.create_index("outbox_case_at", "outbox", ["case_id", "at", "action_id"])
    op.create_index("outbox_at", "outbox", ["at", "action_id"])
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("from_versions", sa.JSON, nullable=False),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("to_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("percent", sa.Integer, nullable=False, server_default="100"),
        sa.Column("query", sa.Text),
        sa.Column("selected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("moved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("requested_by", sa.String(200)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime),
    )
    op.create_index("rollouts_policy", "rollouts", ["policy", "created_at"])
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(128), unique=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("console_users")
    op.drop_index("rollouts_policy", "rollouts")
    op.drop_table("rollouts")
    op.drop_index("outbox_at", "outbox")
    op.drop_index("outbox_case_at", "outbox")
    op.drop_table("outbox")
    op.drop_table("policy_versions")
