"""The portfolio never adds two currencies: cases on policies of different currencies (yuan,
dollars, a zero-decimal yen policy, and a policy the store does not hold) are kept apart in every
balance, recovery and over-time figure, on the API document and on the page; snapshots stored
before currencies were kept still load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from console.portfolio import portfolio
from console.portfolio_routes import page_context
from console.refresher import PortfolioRefresher, Snapshot
from console.service import TEMPLATES
from console.snapshots import save
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.model import Policy
from tests.console.test_refresher import DONE, Visibility, record
from workers.currencies import Currencies
from workers.dataplane import DataPlane
from workers.policy_store import PolicyStore

CNY = load_policy(POLICY_DIR / "consumer-credit-line.yaml")
USD = load_policy(POLICY_DIR / "instalment-loan.yaml")


def _yen_policy() -> Policy:
    doc = CNY.model_dump(mode="json")
    doc.update(name="yen-line", version=1, currency="JPY")
    return Policy.model_validate(doc)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[DataPlane]:
    """A SQLite data plane whose policy store holds the shipped policies and a yen one."""
    with DataPlane(f"sqlite:///{tmp_path / 'plane.db'}") as p:
        store = PolicyStore(p)
        store.put(CNY)
        store.put(USD)
        store.put(_yen_policy())
        yield p


def _visibility() -> Visibility:
    cny = {"policy": CNY.name, "version": CNY.version}
    usd = {"policy": USD.name, "version": USD.version}
    return Visibility(
        [
            record("C1", balance=100.0, paid=25.0, **cny),
            record("C2", stage="negotiation", balance=200.5, **cny),
            record("U1", balance=45.0, paid=5.0, **usd),
            record("U2", DONE, stage="resolved", balance=0.0, paid=60.0, **usd),
            record("J1", balance=8020.0, paid=2005.0, policy="yen-line", version=1),
            record("X1", balance=7.0, policy="gone-policy", version=4),  # not in the store
        ]
    )


async def test_every_amount_is_kept_per_currency(plane: DataPlane) -> None:
    """Open balance, by stage, segment, age and policy, recovery: one amount per currency, each
    with its currency's decimals (yen without any); an unreadable policy's under "?"."""
    asked: list[tuple[str, int]] = []
    store = PolicyStore(plane)
    real_version = store.version

    def version(name: str, number: int) -> Policy | None:
        asked.append((name, number))
        return real_version(name, number)

    store.version = version  # type: ignore[method-assign]
    currencies = Currencies(store)
    p = await portfolio(_visibility().client(), currencies=currencies)
    doc = p.to_json()
    assert doc["open"] == {
        "cases": 5,
        "balance": {"CNY": "300.50", "JPY": "8020", "USD": "45.00", "?": "7.00"},
    }
    assert doc["by_stage"]["reminder"] == {  # type: ignore[index]
        "cases": 4,
        "balance": {"CNY": "100.00", "JPY": "8020", "USD": "45.00", "?": "7.00"},
    }
    assert doc["by_stage"]["negotiation"] == {"cases": 1, "balance": {"CNY": "200.50"}}  # type: ignore[index]
    assert doc["by_stage"]["escalation"] == {"cases": 0, "balance": {}}  # type: ignore[index]
    assert doc["by_policy"]["yen-line v1"] == {"cases": 1, "balance": {"JPY": "8020"}}  # type: ignore[index]
    mild = doc["recovery"]["by_segment"]["mild"]  # type: ignore[index]
    assert list(mild) == ["CNY", "JPY", "USD", "?"]
    assert mild["USD"] == {"cases": 2, "paid": "65.00", "balance": "45.00", "rate": 65 / 110}
    assert mild["JPY"] == {"cases": 1, "paid": "2005", "balance": "8020", "rate": 0.2}
    assert mild["CNY"]["rate"] == 25 / 325.5
    assert mild["?"]["rate"] == 0.0
    assert p.cases["J1"] == ["reminder", "mild", "8020", "JPY"]
    assert p.cases["X1"][3] == "?"
    assert len(asked) == 4 and len(set(asked)) == 4  # once per policy version, not per case
    # A second pass (the console keeps one cache): versions found are not asked again, and the
    # one the store lacks is asked again only after `RETRY_MISSING` seconds.
    await portfolio(_visibility().client(), currencies=currencies)
    assert len(asked) == 4


def _render(r: PortfolioRefresher, snapshot: Snapshot) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    return env.get_template("portfolio.html").render(
        user=None, csrf="t", can={"view"}, msg="", error="", **page_context(r, snapshot)
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_page_shows_one_line_or_column_per_currency(plane: DataPlane) -> None:
    """The open balance is one line per currency, the stage table one balance column per
    currency, the segment chart one per currency: no figure adds yuan to dollars."""
    r = PortfolioRefresher(_visibility().client(), plane, interval=60)
    html = _render(r, await r.current())
    text = _text(html)
    assert "Open balance 300.50 CNY 8020 JPY 45.00 USD 7.00 ? On hold" in text
    assert (
        (
            "Stage Cases Balance (CNY) Balance (JPY) Balance (USD) Balance (currency unknown) "
            "reminder 4 100.00 8020 45.00 7.00 negotiation 1 200.50 \u2013 \u2013 \u2013"  # en dashes: none
        )
        in text
    )
    assert "Open balance by segment, JPY" in text
    assert "Open balance by segment, currency unknown" in text
    assert "mild JPY 1 2005 8020 20.0%" in text
    assert "yen-line v1 1 8020 JPY" in text
    # Neither the open balance of every currency added up (100 + 200.50 + 45 + 8020 + 7) nor the
    # reminder stage's (100 + 8020 + 45 + 7), in any spelling.
    for total in ("8372.5", "8,372", "8372", "8172", "8,172"):
        assert total not in text, total


async def test_snapshots_stored_before_currencies_still_load(plane: DataPlane) -> None:
    """A day stored with one balance string per stage and three-field case rows: figures over
    time show that balance under "?", roll rates read the old case map, the page renders."""
    month_ago = datetime.now(UTC) - timedelta(days=30)
    old_figures = {"by_stage": {"reminder": {"cases": 2, "balance": "145.00"}}}
    old_cases = {"C1": ["reminder", "mild", "100.00"], "U1": ["reminder", "mild", "45.00"]}
    save(plane.engine, month_ago, old_figures, old_cases)
    r = PortfolioRefresher(_visibility().client(), plane, interval=60)
    s = await r.current()
    assert s.over_time[0]["by_stage"]["reminder"] == {"cases": 2, "balance": {"?": "145.00"}}
    assert s.over_time[-1]["by_stage"]["negotiation"] == {"cases": 1, "balance": {"CNY": "200.50"}}
    assert s.roll is not None and s.roll.share("reminder", "reminder") == 1.0
    assert "2 145.00 ?" in _text(_render(r, s))


def test_a_version_the_store_lacks_is_asked_again_later(
    plane: DataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored meanwhile, a missing version is found once `RETRY_MISSING` has passed."""
    import workers.currencies as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    currencies = Currencies(PolicyStore(plane))
    later = _yen_policy().model_copy(update={"name": "late-line"})
    assert currencies.of("late-line", 1) == "?"
    PolicyStore(plane).put(later)
    assert currencies.of("late-line", 1) == "?"  # not asked again yet
    now[0] += module.RETRY_MISSING
    assert currencies.of("late-line", 1) == "JPY"
    assert Currencies.of_plane(None).of("late-line", 1) == "?"
