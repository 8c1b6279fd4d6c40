"""Console tokens and sessions in the data plane; daily snapshots of the live portfolio.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workers.dataplane.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_tokens",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column(
            "user_name",
            sa.String(200),
            sa.ForeignKey("console_users.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column(
            "user_name",
            sa.String(200),
            sa.ForeignKey("console_users.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("console_sessions_expires", "console_sessions", ["expires_at"])
    op.create_table(
        "portfolio_snapshots",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("taken_at", UtcDateTime, nullable=False),
        sa.Column("figures_json", sa.Text, nullable=False),
        sa.Column("cases_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("portfolio_snapshots")
    op.drop_index("console_sessions_expires", "console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_tokens")
