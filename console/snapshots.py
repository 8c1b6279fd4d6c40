"""The portfolio's stored snapshots and the outbox's contact counts, in the data plane.

One row of `portfolio_snapshots` per UTC day, overwritten by each refresh of that day (so the
table grows by one row a day whatever the refresh interval): the figures document and the case
map (`{case_id: [stage, segment, balance]}`, no personal data). Case maps are large (about 50
bytes a case) and only roll rates read them, so `save` empties those older than it is told to
keep; the figures stay. Figures over time read the
documents; roll rates read two case maps. Plain SQLAlchemy Core, the same on SQLite and
PostgreSQL; calls are blocking, so the refresher runs them in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from console.portfolio_rates import rate
from engine.case.vocabulary import ActionKind
from workers.dataplane.schema import outbox, portfolio_snapshots

__all__ = [
    "ChannelContacts",
    "Stored",
    "cases_near",
    "contacts_by_channel",
    "figures_since",
    "save",
]

_T = portfolio_snapshots
#: What an emptied (or empty) case map holds.
_NO_CASES = "{}"


@dataclass(frozen=True)
class Stored:
    """A stored snapshot's day and when it was taken."""

    day: date
    taken_at: datetime


def save(
    engine: sa.Engine,
    taken_at: datetime,
    figures: Mapping[str, Any],
    cases: Mapping[str, Sequence[str]],
    keep_cases_days: int | None = None,
) -> Stored:
    """Keep this snapshot as its UTC day's (replacing an earlier one of the same day), and empty
    the case maps of days more than `keep_cases_days` before it (None: keep every one)."""
    day = taken_at.astimezone(UTC).date()
    values = {
        "day": day,
        "taken_at": taken_at,
        "figures_json": json.dumps(figures, separators=(",", ":"), sort_keys=True),
        "cases_json": json.dumps(cases, separators=(",", ":"), sort_keys=True),
    }
    update = {k: values[k] for k in ("taken_at", "figures_json", "cases_json")}
    dialect = engine.dialect.name
    with engine.begin() as conn:
        if dialect == "postgresql":
            pg = postgresql.insert(_T).values(**values)
            conn.execute(pg.on_conflict_do_update(index_elements=[_T.c.day], set_=update))
        else:
            lite = sqlite.insert(_T).values(**values)
            conn.execute(lite.on_conflict_do_update(index_elements=[_T.c.day], set_=update))
        if keep_cases_days is not None:
            cutoff = day - timedelta(days=keep_cases_days)
            conn.execute(
                _T.update()
                .where(_T.c.day < cutoff, _T.c.cases_json != _NO_CASES)
                .values(cases_json=_NO_CASES)
            )
    return Stored(day, taken_at)


def figures_since(engine: sa.Engine, first: date) -> list[tuple[Stored, dict[str, Any]]]:
    """The stored figures documents from `first` on, oldest first."""
    query = (
        sa.select(_T.c.day, _T.c.taken_at, _T.c.figures_json)
        .where(_T.c.day >= first)
        .order_by(_T.c.day)
    )
    with engine.connect() as conn:
        return [
            (Stored(row.day, row.taken_at), json.loads(row.figures_json))
            for row in conn.execute(query)
        ]


def cases_near(
    engine: sa.Engine, target: date, before: date
) -> tuple[Stored, dict[str, list[str]]] | None:
    """The case map of the stored snapshot whose day is nearest `target` among days before
    `before` that still have one (the older on a tie), or None when there is none. The days are
    one row a day, so they are picked here rather than by date arithmetic each database spells
    differently."""
    with engine.connect() as conn:
        days = (
            conn.execute(sa.select(_T.c.day).where(_T.c.day < before, _T.c.cases_json != _NO_CASES))
            .scalars()
            .all()
        )
        if not days:
            return None
        day = min(days, key=lambda d: (abs((d - target).days), d))
        row = conn.execute(sa.select(_T.c.taken_at, _T.c.cases_json).where(_T.c.day == day)).one()
    return Stored(day, row.taken_at), json.loads(row.cases_json)


@dataclass(frozen=True)
class ChannelContacts:
    """Contacts sent through one channel and the cases they reached."""

    contacts: int
    cases: int

    @property
    def per_case(self) -> float | None:
        """Contacts per case reached through this channel."""
        return rate(self.contacts, self.cases)

    def to_json(self, all_cases: int) -> dict[str, object]:
        """The counts, per case reached and per case of the portfolio (`all_cases`)."""
        return {
            "contacts": self.contacts,
            "cases_reached": self.cases,
            "per_case_reached": self.per_case,
            "per_case": rate(self.contacts, all_cases),
        }


def contacts_by_channel(engine: sa.Engine) -> dict[str, ChannelContacts]:
    """Every contact the outbox recorded, by channel: one grouped query."""
    query = (
        sa.select(
            outbox.c.channel,
            sa.func.count().label("contacts"),
            sa.func.count(sa.distinct(outbox.c.case_id)).label("cases"),
        )
        .where(outbox.c.kind == str(ActionKind.CONTACT))
        .group_by(outbox.c.channel)
        .order_by(outbox.c.channel)
    )
    with engine.connect() as conn:
        return {
            str(row.channel or "(none)"): ChannelContacts(int(row.contacts), int(row.cases))
            for row in conn.execute(query)
        }
