"""The portfolio's pure ratios: rates with a zero denominator, recovery, the roll-rate matrix
between two case maps, figures over time."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from console.portfolio_rates import (
    GONE,
    Recovery,
    amounts_json,
    case_currency,
    rate,
    roll_rates,
    trend,
)
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES

D1, D2 = date(2026, 10, 28), date(2026, 11, 27)


def test_rate_with_a_zero_denominator_is_no_data() -> None:
    """Nothing to divide by is `None`, not 0% (nor a ZeroDivisionError)."""
    assert rate(0, 0) is None
    assert rate(3, 0) is None
    assert rate(Decimal(0), Decimal("0.00")) is None
    assert rate(1, 4) == 0.25
    assert rate(0, 5) == 0.0


def test_recovery_is_paid_over_paid_plus_balance() -> None:
    """Two cases: 300 paid, 900 still owed: a quarter recovered."""
    r = Recovery()
    r.add(Decimal("100.00"), Decimal("400.00"))
    r.add(Decimal("200.00"), Decimal("500.00"))
    assert (r.cases, r.paid, r.balance) == (2, Decimal("300.00"), Decimal("900.00"))
    assert r.rate == 0.25
    assert r.to_json("CNY") == {"cases": 2, "paid": "300.00", "balance": "900.00", "rate": 0.25}


def test_amounts_keep_their_own_currency_decimals() -> None:
    """A zero-decimal currency shows no decimals; an unknown one comes last and keeps its own."""
    amounts = {
        "?": Decimal("12.5"),
        "USD": Decimal("45"),
        "JPY": Decimal("8020"),
        "CNY": Decimal("123.00"),
    }
    assert amounts_json(amounts) == {"CNY": "123.00", "JPY": "8020", "USD": "45.00", "?": "12.50"}
    assert list(amounts_json(amounts)) == ["CNY", "JPY", "USD", "?"]
    r = Recovery()
    r.add(Decimal(2005), Decimal(8020))
    assert r.to_json("JPY") == {"cases": 1, "paid": "2005", "balance": "8020", "rate": 0.2}


def test_recovery_of_nothing_owed_and_nothing_paid_is_no_data() -> None:
    """A group that owed nothing has no recovery rate."""
    r = Recovery()
    r.add(Decimal(0), Decimal(0))
    assert r.rate is None
    assert Recovery().rate is None


def test_roll_rates_from_two_case_maps() -> None:
    """Each starting stage's cases, spread over where they were at the end."""
    start = {
        "A": ["reminder", "s", "10.00"],
        "B": ["reminder", "s", "10.00"],
        "C": ["reminder", "s", "10.00"],
        "D": ["reminder", "s", "10.00"],
        "E": ["negotiation", "s", "10.00"],
        "F": ["resolved", "s", "0.00"],  # ended already: no row
    }
    end = {
        "A": ["reminder", "s", "10.00"],
        "B": ["negotiation", "s", "10.00"],
        "C": ["resolved", "s", "0.00"],
        "D": ["resolved", "s", "0.00"],
        "E": ["written_off", "s", "10.00"],
        "F": ["resolved", "s", "0.00"],
        "G": ["reminder", "s", "10.00"],  # opened since: not in any row
    }
    r = roll_rates(start, end, D1, D2)
    assert r.days == 30
    assert list(r.counts) == [str(s) for s in ACTIVE_STAGES]
    assert r.cases("reminder") == 4
    assert r.share("reminder", "reminder") == 0.25
    assert r.share("reminder", "negotiation") == 0.25
    assert r.share("reminder", "resolved") == 0.5
    assert r.share("negotiation", "written_off") == 1.0
    assert r.cases("escalation") == 0
    assert r.share("escalation", "resolved") is None  # no case started there
    assert GONE not in r.columns
    assert r.columns == tuple(str(s) for s in (*ACTIVE_STAGES, *TERMINAL_STAGES))
    doc = r.to_json()
    assert doc["start"] == "2026-10-28" and doc["end"] == "2026-11-27" and doc["days"] == 30
    assert doc["rows"]["reminder"] == {  # type: ignore[index]
        "cases": 4,
        "to": {
            "reminder": 0.25,
            "negotiation": 0.25,
            "escalation": 0.0,
            "legal_referral": 0.0,
            "resolved": 0.5,
            "settled": 0.0,
            "written_off": 0.0,
            "closed": 0.0,
        },
    }


def test_a_case_missing_at_the_end_counts_as_gone() -> None:
    """Visibility dropped an ended case's record: it is counted, in its own column."""
    r = roll_rates({"A": ["escalation", "s", "1"]}, {}, D1, D2)
    assert r.columns[-1] == GONE
    assert r.share("escalation", GONE) == 1.0


_STAGES = [str(s) for s in (*ACTIVE_STAGES, *TERMINAL_STAGES)]
_maps = st.dictionaries(
    st.text("ABCDEFGH", min_size=1, max_size=3),
    st.sampled_from(_STAGES).map(lambda s: [s, "s", "1.00"]),
    max_size=30,
)


@settings(max_examples=50)
@given(start=_maps, end=_maps)
def test_each_row_of_shares_adds_up_to_one(
    start: dict[str, list[str]], end: dict[str, list[str]]
) -> None:
    """Every case open at the start is somewhere at the end: a row's shares sum to 1."""
    r = roll_rates(start, end, D1, D2)
    for stage in r.counts:
        shares = [r.share(stage, c) for c in r.columns]
        if r.cases(stage) == 0:
            assert all(s is None for s in shares)
        else:
            assert abs(sum(s or 0.0 for s in shares) - 1.0) < 1e-9
    assert sum(r.cases(s) for s in r.counts) == sum(
        1 for row in start.values() if row[0] in r.counts
    )


def test_trend_orders_days_and_fills_missing_stages() -> None:
    """Figures over time: oldest first, every active stage on every day, balances per currency."""
    rows = trend(
        [
            (
                D2,
                {
                    "by_stage": {
                        "reminder": {"cases": 3, "balance": {"USD": "9.00", "CNY": "30.00"}}
                    }
                },
            ),
            (D1, {"by_stage": {"negotiation": {"cases": 1, "balance": {"JPY": "500"}}}}),
        ]
    )
    assert [r["day"] for r in rows] == ["2026-10-28", "2026-11-27"]
    assert rows[0]["by_stage"]["reminder"] == {"cases": 0, "balance": {}}
    assert rows[0]["by_stage"]["negotiation"] == {"cases": 1, "balance": {"JPY": "500"}}
    assert rows[1]["by_stage"]["reminder"] == {
        "cases": 3,
        "balance": {"CNY": "30.00", "USD": "9.00"},
    }
    assert set(rows[1]["by_stage"]) == {str(s) for s in ACTIVE_STAGES}


def test_a_figures_document_stored_before_currencies_reads_as_unknown() -> None:
    """An old day's balance is one string that may add currencies: it is kept under "?", never
    taken for one currency; a zero one is no balance."""
    rows = trend([(D1, {"by_stage": {"reminder": {"cases": 2, "balance": "30.00"}}})])
    assert rows[0]["by_stage"]["reminder"] == {"cases": 2, "balance": {"?": "30.00"}}
    old = trend([(D1, {"by_stage": {"negotiation": {"cases": 0, "balance": "0.00"}}})])
    assert old[0]["by_stage"]["negotiation"] == {"cases": 0, "balance": {}}


def test_a_case_map_row_without_currency_is_of_an_unknown_one() -> None:
    """Rows stored before the currency was kept have three fields."""
    assert case_currency(["reminder", "s", "10.00", "JPY"]) == "JPY"
    assert case_currency(["reminder", "s", "10.00"]) == "?"
    r = roll_rates(
        {"A": ["reminder", "s", "1.00"]}, {"A": ["negotiation", "s", "1", "JPY"]}, D1, D2
    )
    assert r.share("reminder", "negotiation") == 1.0
