"""The tables of the data plane, as SQLAlchemy Core metadata (the migrations create the same).

Times are stored in UTC: `UtcDateTime` makes SQLite (which has no time zones) and PostgreSQL
(`timestamptz`) hand back the same aware datetimes, so code never sees a naive one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UtcDateTime",
    "console_sessions",
    "console_tokens",
    "console_users",
    "metadata",
    "outbox",
    "policy_versions",
    "portfolio_snapshots",
    "rollouts",
]


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC on every database."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the data plane stores aware times only")
        value = value.astimezone(UTC)
        # SQLite keeps text without an offset; storing UTC keeps text order equal to time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

#: Every policy version ever used, by content hash: what a case pins, reachable by every worker.
#: Immutable: a row is written once and never changed.
policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("canonical", sa.Text, nullable=False),  # the policy's canonical JSON (what is hashed)
    sa.Column("first_used", UtcDateTime, nullable=False),
    # One content per name and version: an edit must bump the version (checked on every put).
    sa.UniqueConstraint("name", "version", name="policy_versions_name_version"),
)

#: Every contact (and non-contact step) that left, once per deterministic action id.
outbox = sa.Table(
    "outbox",
    metadata,
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
    sa.Index("outbox_case_at", "case_id", "at", "action_id"),
    sa.Index("outbox_at", "at", "action_id"),
)

#: Policy rollouts onto running cases: one row per rollout, its state and its counters.
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("policy", sa.String(200), nullable=False),
    sa.Column("from_versions", sa.JSON, nullable=False),  # {"1": 180, "2": 20}: cases per version
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("to_hash", sa.String(64), nullable=False),
    sa.Column(
        "state", sa.String(30), nullable=False
    ),  # dry_run, canary, promoting, paused, done...
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
    sa.Index("rollouts_policy", "policy", "created_at"),
)

#: Users of the operations console; passwords and API tokens are stored only as hashes.
console_users = sa.Table(
    "console_users",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(30), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("token_hash", sa.String(128), unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: API tokens of console users (several per user); only the SHA-256 of a token is stored.
console_tokens = sa.Table(
    "console_tokens",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column(
        "user_name",
        sa.String(200),
        sa.ForeignKey("console_users.name", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: Signed-in console sessions, shared by every console process; only the SHA-256 of the session
#: id is stored, with the session's CSRF token and when it expires.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
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
    sa.Index("console_sessions_expires", "expires_at"),
)

#: The live portfolio as the console computed it, one row per UTC day (the day's latest
#: refresh): the figures (`figures_json`, the document of `GET /api/portfolio`) and each case's
#: stage, segment and balance (`cases_json`, no personal data), from which the portfolio page
#: draws figures over time and roll rates between stages.
portfolio_snapshots = sa.Table(
    "portfolio_snapshots",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("taken_at", UtcDateTime, nullable=False),
    sa.Column("figures_json", sa.Text, nullable=False),
    sa.Column("cases_json", sa.Text, nullable=False),
)
