"""The portfolio refresher on visibility records given by hand: the per-case facts (missing ones
count as nothing), the first request waiting for the first snapshot, a failed refresh keeping the
last good one, and the stored snapshots giving figures over time and roll rates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus as Proto
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from console.metrics import ConsoleMetrics
from console.portfolio import portfolio
from console.refresher import NotReady, PortfolioRefresher
from console.snapshots import save
from workers.dataplane import DataPlane
from workflows import search_attributes as sa

RUNNING = WorkflowExecutionStatus.RUNNING
DONE = WorkflowExecutionStatus(Proto.WORKFLOW_EXECUTION_STATUS_COMPLETED)
FAILED = WorkflowExecutionStatus(Proto.WORKFLOW_EXECUTION_STATUS_FAILED)


@dataclass
class Record:
    """What the portfolio reads of one visibility record."""

    id: str
    status: WorkflowExecutionStatus
    typed_search_attributes: TypedSearchAttributes


def record(case_id: str, status: WorkflowExecutionStatus = RUNNING, **facts: Any) -> Record:
    """A case's record with stage, segment, balance and any of the per-case facts (and its
    policy's name and version, which tell its currency)."""
    keys = {
        "stage": sa.STAGE,
        "segment": sa.SEGMENT,
        "balance": sa.AMOUNT_DUE,
        "variant": sa.VARIANT,
        "paid": sa.PAID,
        "kept": sa.PROMISES_KEPT,
        "broken": sa.PROMISES_BROKEN,
        "deferred_by": sa.DEFERRED_BY,
        "policy": sa.POLICY_NAME,
        "version": sa.POLICY_VERSION,
    }
    facts = {"stage": "reminder", "segment": "mild", "balance": 100.0, **facts}
    pairs = [SearchAttributePair(keys[k], v) for k, v in facts.items()]
    return Record(f"case-{case_id}", status, TypedSearchAttributes(pairs))


@dataclass
class Visibility:
    """Temporal's list query over a list of records, or a refusal when `refuse` is set."""

    records: list[Record] = field(default_factory=list)
    refuse: bool = False
    calls: int = 0

    async def list_workflows(self, query: str) -> AsyncIterator[Record]:
        self.calls += 1
        if self.refuse:
            raise RPCError("visibility is down", RPCStatusCode.UNAVAILABLE, b"")
        for r in self.records:
            yield r

    def client(self) -> Client:
        return cast(Client, self)


@pytest.fixture
def plane(tmp_path: Any) -> Iterator[DataPlane]:
    """A SQLite data plane (both databases are covered by test_snapshots)."""
    with DataPlane(f"sqlite:///{tmp_path / 'plane.db'}") as p:
        yield p


async def test_per_case_facts_and_missing_ones() -> None:
    """Promises, recovery by segment and variant, deferrals; a case started before these facts
    were indexed counts as nothing paid, no promise, no deferral; a failed run is not a case."""
    v = Visibility(
        [
            record(
                "A", variant="champion", paid=50.0, kept=2, broken=1, deferred_by=["quiet_hours"]
            ),
            record(
                "B",
                variant="challenger",
                kept=1,
                deferred_by=["quiet_hours", "call_cap"],
                balance=300.0,
                segment="severe",
            ),
            record("C", DONE, stage="resolved", balance=0.0, paid=400.0, variant="champion"),
            record("D"),  # before the facts: only stage, segment, balance
            record("E", FAILED, stage="negotiation"),
        ]
    )
    p = await portfolio(v.client())
    assert p.open.cases == 3 and dict(p.ended) == {"resolved": 1}
    assert (p.promises_kept, p.promises_broken, p.promise_kept_rate) == (3, 1, 0.75)
    assert dict(p.deferred_by) == {"quiet_hours": 2, "call_cap": 1}
    # No policy named, no policy store: every amount is of an unknown currency, kept apart.
    mild = p.recovery_by_segment["mild"]["?"].to_json("?")
    assert mild == {"cases": 3, "paid": "450.00", "balance": "200.00", "rate": 450 / 650}
    assert p.recovery_by_variant["challenger"]["?"].rate == 0.0
    assert p.recovery_by_variant["(none)"]["?"].cases == 1  # D
    assert p.cases == {
        "A": ["reminder", "mild", "100.00", "?"],
        "B": ["reminder", "severe", "300.00", "?"],
        "C": ["resolved", "mild", "0.00", "?"],
        "D": ["reminder", "mild", "100.00", "?"],
    }
    doc = p.to_json()
    assert doc["promises"] == {"kept": 3, "broken": 1, "kept_rate": 0.75}
    assert doc["complaints_open"] == 0


async def test_a_large_pass_counts_every_case() -> None:
    """Past the rows after which the pass yields to other requests, nothing is lost."""
    p = await portfolio(Visibility([record(f"C{i}", kept=1) for i in range(450)]).client())
    assert p.open.cases == 450 == len(p.cases) == p.promises_kept


async def test_no_promise_due_is_no_rate() -> None:
    """No kept and no broken promise: the rate is None, not 0%."""
    p = await portfolio(Visibility([record("A")]).client())
    assert p.promise_kept_rate is None
    assert p.to_json()["promises"] == {"kept": 0, "broken": 0, "kept_rate": None}


async def test_the_first_request_waits_for_the_first_snapshot(plane: DataPlane) -> None:
    """No snapshot yet: `current` computes one; later calls serve it without asking again."""
    v = Visibility([record("A")])
    r = PortfolioRefresher(v.client(), plane, interval=60)
    first = await r.current()
    assert first.portfolio.open.cases == 1
    v.records.append(record("B"))
    assert await r.current() is first and v.calls == 1
    again = await r.refresh()
    assert again is not None and again.portfolio.open.cases == 2 and v.calls == 2


async def test_a_failed_refresh_keeps_the_last_good_snapshot(plane: DataPlane) -> None:
    """Visibility refuses: the figures stay, the failure is one line, the next success clears it."""
    v = Visibility([record("A")])
    metrics = ConsoleMetrics()
    r = PortfolioRefresher(v.client(), plane, interval=60, metrics=metrics)
    good = await r.current()
    v.refuse = True
    assert await r.refresh() is None
    assert b"overdue_console_portfolio_refresh_failures_total 1.0" in metrics.render()
    assert await r.current() is good
    assert r.failure is not None
    assert r.failure.reason == "portfolio query rejected: visibility is down"
    v.refuse = False
    assert await r.refresh() is not None and r.failure is None


async def test_no_snapshot_at_all_is_a_clear_error(plane: DataPlane) -> None:
    """The very first computation fails: the request gets the reason, not a traceback."""
    r = PortfolioRefresher(Visibility(refuse=True).client(), plane, interval=60)
    with pytest.raises(NotReady, match="could not be computed: portfolio query rejected"):
        await r.current()


async def test_no_snapshot_yet_is_a_503_to_retry() -> None:
    """The console answers 'not ready' with 503 and Retry-After, not as a client's mistake."""
    import httpx
    from fastapi import FastAPI

    from console.app import _handlers

    app = FastAPI()
    _handlers(app)

    @app.get("/api/portfolio")
    async def failing() -> None:
        raise NotReady("the portfolio could not be computed: visibility is down")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        response = await http.get("/api/portfolio")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.json() == {
        "error": "the portfolio could not be computed: visibility is down; try again in a minute"
    }


async def test_stored_snapshots_give_figures_over_time_and_roll_rates(plane: DataPlane) -> None:
    """One snapshot: roll rates need two. With a stored day 30 days back, the matrix says where
    those cases went; figures over time list both days."""
    v = Visibility([record("A", stage="negotiation"), record("B", DONE, stage="settled")])
    r = PortfolioRefresher(v.client(), plane, interval=60)
    s = await r.current()
    assert s.roll is None and "needs two snapshots" in s.roll_note
    assert s.to_json()["roll_rates"] == {"note": s.roll_note}
    month_ago = datetime.now(UTC) - timedelta(days=30)
    earlier = {"A": ["reminder", "mild", "100.00"], "B": ["reminder", "mild", "100.00"]}
    save(
        plane.engine,
        month_ago,
        {"by_stage": {"reminder": {"cases": 2, "balance": "200.00"}}},
        earlier,
    )
    s2 = await r.refresh()
    assert s2 is not None and s2.roll is not None and s2.roll_note == ""
    assert (s2.roll.start, s2.roll.days) == (month_ago.date(), 30)
    assert s2.roll.cases("reminder") == 2
    assert s2.roll.share("reminder", "negotiation") == 0.5
    assert s2.roll.share("reminder", "settled") == 0.5
    days = [row["day"] for row in s2.over_time]
    assert days == [month_ago.date().isoformat(), s2.as_of.date().isoformat()]
    assert s2.over_time[-1]["by_stage"]["negotiation"]["cases"] == 1


async def test_without_a_data_plane_nothing_is_stored() -> None:
    """The figures still come; over time and roll rates say why they are missing."""
    r = PortfolioRefresher(Visibility([record("A")]).client(), None, interval=60)
    s = await r.current()
    assert s.portfolio.open.cases == 1 and s.over_time == [] and "no data plane" in s.roll_note


async def test_the_roll_rate_start_is_read_once_a_day(
    plane: DataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start day's case map (half a megabyte at 10,000 cases) is read once per day, not on
    every refresh; the rates still follow today's cases."""
    from console import refresher

    v = Visibility([record("A", stage="negotiation")])
    month_ago = datetime.now(UTC) - timedelta(days=30)
    save(plane.engine, month_ago, {}, {"A": ["reminder", "mild", "100.00"]})
    reads: list[object] = []
    real = refresher.cases_near

    def counting(*args: object, **kwargs: object) -> object:
        reads.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(refresher, "cases_near", counting)
    r = PortfolioRefresher(v.client(), plane, interval=60)
    first = await r.current()
    v.records[0] = record("A", stage="escalation")
    again = await r.refresh()
    assert len(reads) == 1
    assert first.roll is not None and first.roll.share("reminder", "negotiation") == 1.0
    assert again is not None and again.roll is not None
    assert again.roll.share("reminder", "escalation") == 1.0
