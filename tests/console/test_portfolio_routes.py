"""The portfolio page's template on snapshots built from visibility records given by hand: roll
rates with two stored days, figures over time, per-case facts, and a failed refresh said in one
line above the last good figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from console.portfolio_routes import page_context
from console.refresher import PortfolioRefresher
from console.service import TEMPLATES
from console.snapshots import save
from tests.console.test_refresher import DONE, Visibility, record
from workers.dataplane import DataPlane


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[DataPlane]:
    """A SQLite data plane."""
    with DataPlane(f"sqlite:///{tmp_path / 'plane.db'}") as p:
        yield p


def _render(r: PortfolioRefresher, snapshot: object, can: set[str]) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    context = page_context(r, snapshot)  # type: ignore[arg-type]
    return env.get_template("portfolio.html").render(
        user=None, csrf="t", can=can, msg="", error="", **context
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_page_shows_roll_rates_trend_and_facts(plane: DataPlane) -> None:
    """Two stored days: the roll-rate table names its interval; the facts tables are filled."""
    v = Visibility(
        [
            record("A", stage="negotiation", kept=3, broken=1, deferred_by=["quiet_hours"]),
            record("B", DONE, stage="resolved", balance=0.0, paid=100.0, variant="challenger"),
        ]
    )
    r = PortfolioRefresher(v.client(), plane, interval=60)
    month_ago = datetime.now(UTC) - timedelta(days=29)
    earlier = {"A": ["reminder", "mild", "100.00"], "B": ["reminder", "mild", "100.00"]}
    save(plane.engine, month_ago, {"by_stage": {"reminder": {"cases": 2}}}, earlier)
    snapshot = await r.current()
    text = _text(_render(r, snapshot, {"view"}))
    assert f"on {month_ago.date()} were on {snapshot.as_of.date()} (29 days)" in text
    assert "reminder 2 0.0% 50.0% 0.0% 0.0% 50.0%" in text  # half negotiating, half paid
    assert "75.0% (3 kept, 1 broken)" in text
    assert "quiet_hours 1" in text
    assert "challenger ? 1 100.00 0.00 100.0%" in text  # no policy named: currency unknown
    assert 'id="chart-over-time"' in _render(r, snapshot, {"view"})
    assert "Refresh now" not in text
    assert "Refresh now" in _text(_render(r, snapshot, {"view", "refresh"}))


async def test_a_failed_refresh_is_said_above_the_last_good_figures(plane: DataPlane) -> None:
    """The page keeps the figures and says when and why the refresh failed, in one line."""
    v = Visibility([record("A")])
    r = PortfolioRefresher(v.client(), plane, interval=60)
    good = await r.current()
    v.refuse = True
    await r.refresh()
    text = _text(_render(r, good, {"view"}))
    assert re.search(
        r"The refresh at \d\d:\d\d:\d\d UTC failed: portfolio query rejected: visibility is down\. "
        r"These are the last good figures\.",
        text,
    )
    assert "Roll rates: needs two snapshots" in text
    assert re.search(r"Open cases 1 ", text)


async def test_the_title_is_the_pages_name(plane: DataPlane) -> None:
    """The browser tab reads 'Portfolio', and each table is on the page once."""
    r = PortfolioRefresher(Visibility([record("A")]).client(), plane, interval=60)
    html = _render(r, await r.current(), {"view"})
    assert re.search(r"<title>([^<]*)</title>", html)[1] == "Portfolio · Overdue console"  # type: ignore[index]
    assert html.count('id="recovery-segment"') == 1
