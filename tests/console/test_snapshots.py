"""The portfolio's stored snapshots and the outbox's contact counts, on SQLite and on a real
PostgreSQL (the `database_url` fixture runs each test on both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from console.snapshots import cases_near, contacts_by_channel, figures_since, save
from workers.dataplane import DataPlane
from workers.dataplane.schema import outbox, portfolio_snapshots

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def plane(database_url: str) -> Iterator[DataPlane]:
    """A fresh data plane at the newest schema."""
    with DataPlane(database_url) as p:
        yield p


def _doc(cases: int) -> dict[str, object]:
    return {"open": {"cases": cases, "balance": "0.00"}, "by_stage": {}}


def test_a_day_keeps_its_latest_snapshot(plane: DataPlane) -> None:
    """Two refreshes on one UTC day leave one row: the later one's figures and cases."""
    save(plane.engine, NOON, _doc(1), {"A": ["reminder", "s", "1.00"]})
    stored = save(
        plane.engine, NOON + timedelta(hours=3), _doc(2), {"B": ["negotiation", "s", "2.00"]}
    )
    assert stored.day == date(2026, 11, 27)
    with plane.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(portfolio_snapshots)).scalar() == 1
        )
    [(s, doc)] = figures_since(plane.engine, date(2026, 11, 1))
    assert s.taken_at == NOON + timedelta(hours=3)
    assert doc["open"] == {"cases": 2, "balance": "0.00"}
    near = cases_near(plane.engine, date(2026, 11, 27), before=date(2026, 11, 28))
    assert near is not None
    assert near[1] == {"B": ["negotiation", "s", "2.00"]}


def test_the_day_is_the_utc_day(plane: DataPlane) -> None:
    """A snapshot taken late in the evening in Shanghai's time is stored under its UTC day."""
    from zoneinfo import ZoneInfo

    taken = datetime(2026, 11, 28, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # 27th, 18:00 UTC
    assert save(plane.engine, taken, _doc(0), {}).day == date(2026, 11, 27)


def test_figures_since_skips_older_days_and_orders_oldest_first(plane: DataPlane) -> None:
    """The last 90 days' documents, in day order whatever the insertion order."""
    for back in (0, 100, 5, 89, 90):
        save(plane.engine, NOON - timedelta(days=back), _doc(back), {})
    rows = figures_since(plane.engine, NOON.date() - timedelta(days=89))
    assert [doc["open"]["cases"] for _, doc in rows] == [89, 5, 0]  # type: ignore[index]
    assert [s.day for s, _ in rows] == sorted(s.day for s, _ in rows)


def test_cases_near_picks_the_day_nearest_the_target(plane: DataPlane) -> None:
    """Nearest 30 days back, the older on a tie, never the latest day itself."""
    today = NOON.date()
    for back in (0, 1, 28, 32, 45):
        save(plane.engine, NOON - timedelta(days=back), _doc(back), {"X": [str(back), "", "0"]})
    near = cases_near(plane.engine, today - timedelta(days=30), before=today)
    assert near is not None
    assert near[0].day == today - timedelta(days=32)  # 28 and 32 are both 2 away: the older
    assert near[1] == {"X": ["32", "", "0"]}


def test_with_less_than_30_days_stored_the_oldest_is_used(plane: DataPlane) -> None:
    """A portfolio snapshotted for ten days: roll rates start from the oldest day."""
    for back in (0, 3, 10):
        save(plane.engine, NOON - timedelta(days=back), _doc(back), {"X": ["reminder", "", "1"]})
    near = cases_near(plane.engine, NOON.date() - timedelta(days=30), before=NOON.date())
    assert near is not None and near[0].day == NOON.date() - timedelta(days=10)


def test_cases_near_needs_a_day_before_the_latest(plane: DataPlane) -> None:
    """Only today's row: no starting snapshot for roll rates."""
    save(plane.engine, NOON, _doc(0), {})
    assert cases_near(plane.engine, NOON.date() - timedelta(days=30), before=NOON.date()) is None


def test_contacts_by_channel_counts_contacts_and_cases_reached(plane: DataPlane) -> None:
    """Contacts only (not bureau reports), grouped by channel, cases counted once."""
    rows = [
        ("C1", "contact", "sms"),
        ("C1", "contact", "sms"),
        ("C2", "contact", "sms"),
        ("C1", "contact", "call"),
        ("C3", "bureau_report", None),
    ]
    with plane.engine.begin() as conn:
        for i, (case_id, kind, channel) in enumerate(rows):
            conn.execute(
                outbox.insert().values(
                    action_id=f"{case_id}/{i}",
                    case_id=case_id,
                    kind=kind,
                    channel=channel,
                    at=NOON,
                    recorded_at=NOON,
                )
            )
    found = contacts_by_channel(plane.engine)
    assert set(found) == {"call", "sms"}
    assert (found["sms"].contacts, found["sms"].cases) == (3, 2)
    assert found["sms"].per_case == 1.5
    assert found["call"].to_json(4) == {
        "contacts": 1,
        "cases_reached": 1,
        "per_case_reached": 1.0,
        "per_case": 0.25,
    }


def test_no_contact_yet(plane: DataPlane) -> None:
    """An empty outbox: no channel, no division by zero."""
    assert contacts_by_channel(plane.engine) == {}


def test_old_case_maps_are_emptied_and_never_picked(plane: DataPlane) -> None:
    """Saving with `keep_cases_days` empties older case maps but keeps their figures; a day
    without its case map is not a start for roll rates."""
    for back in (100, 61, 59):
        save(plane.engine, NOON - timedelta(days=back), _doc(back), {"X": ["reminder", "", "1"]})
    save(plane.engine, NOON, _doc(0), {"X": ["reminder", "", "1"]}, keep_cases_days=60)
    with plane.engine.connect() as conn:
        maps = dict(
            conn.execute(
                sa.select(portfolio_snapshots.c.day, portfolio_snapshots.c.cases_json)
            ).all()
        )
    today = NOON.date()
    assert maps[today - timedelta(days=100)] == "{}" == maps[today - timedelta(days=61)]
    assert maps[today - timedelta(days=59)] != "{}"
    assert len(figures_since(plane.engine, today - timedelta(days=200))) == 4
    near = cases_near(plane.engine, today - timedelta(days=90), before=today)
    assert near is not None and near[0].day == today - timedelta(days=59)
