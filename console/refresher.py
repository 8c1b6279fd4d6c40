"""The portfolio, computed in the background: pages and the API serve the latest snapshot at once.

One pass over every case's visibility record takes seconds at 10,000 cases (17.8 s median in
bench-results/2026-11-27-console-pages-10k.txt), too slow for a request. So the console's
lifespan starts `PortfolioRefresher.run`, which computes a `Snapshot` every `interval` seconds
(`OVERDUE_PORTFOLIO_REFRESH`): the visibility pass, the outbox's contacts by channel, the day's
row in the data plane, figures over time and roll rates from the stored rows. A request before
the first snapshot waits for it; a refresh that fails keeps the last good snapshot and records
why in one line (no traceback, no personal data), which the page and the API show. Each case's
currency is its policy's, read from the data plane's policy store once per policy version and
pass (`workers.currencies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from temporalio.client import Client
from temporalio.service import RPCError

from console.metrics import ConsoleMetrics
from console.portfolio import Portfolio, portfolio
from console.portfolio_rates import RollRates, roll_rates, trend
from console.snapshots import (
    ChannelContacts,
    Stored,
    cases_near,
    contacts_by_channel,
    figures_since,
    save,
)
from engine.errors import OverdueError
from workers.currencies import Currencies
from workers.dataplane import DataPlane

__all__ = [
    "CASE_MAP_DAYS",
    "HISTORY_DAYS",
    "ROLL_DAYS",
    "Failure",
    "NotReady",
    "PortfolioRefresher",
    "Snapshot",
]


class NotReady(OverdueError):
    """No snapshot of the portfolio yet (Temporal or the data plane unreachable): the page
    answers 503 with the reason and a hint to retry, not a client error."""


log = structlog.get_logger("overdue.console")

#: Figures over time cover this many days, today included.
HISTORY_DAYS = 90
#: Roll rates look back to the stored snapshot nearest this many days before the latest.
ROLL_DAYS = 30
#: Case maps older than this many days are emptied (only roll rates read them).
CASE_MAP_DAYS = 2 * ROLL_DAYS


@dataclass(frozen=True)
class Failure:
    """A refresh that failed: when, and why in one line."""

    at: datetime
    reason: str


@dataclass
class Snapshot:
    """The portfolio at one moment, and what the stored snapshots add to it."""

    portfolio: Portfolio
    seconds: float
    contacts: dict[str, ChannelContacts] = field(default_factory=dict)
    over_time: list[dict[str, Any]] = field(default_factory=list)
    roll: RollRates | None = None
    #: Why there are no roll rates (one snapshot only, or no data plane).
    roll_note: str = ""

    @property
    def as_of(self) -> datetime:
        """When the visibility pass ran."""
        return self.portfolio.as_of

    def figures(self) -> dict[str, Any]:
        """The figures of this moment: what each day's stored row keeps."""
        doc = self.portfolio.to_json()
        cases = len(self.portfolio.cases)
        doc["contacts"] = {ch: c.to_json(cases) for ch, c in self.contacts.items()}
        return doc

    def to_json(self) -> dict[str, Any]:
        """The figures, with figures over time and roll rates."""
        doc = self.figures()
        doc["over_time"] = self.over_time
        doc["roll_rates"] = (
            self.roll.to_json() if self.roll is not None else {"note": self.roll_note}
        )
        return doc


def _reason(e: BaseException) -> str:
    """One line saying why a refresh failed, fit for the page and the log (no values)."""
    if isinstance(e, OverdueError):
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, RPCError):
        return f"Temporal refused the visibility query: {e.message}"
    if isinstance(e, sa.exc.SQLAlchemyError):
        orig = getattr(e, "orig", None)
        first = str(orig).strip().splitlines()[0] if orig is not None and str(orig) else ""
        return f"the data plane failed ({type(e).__name__}{': ' + first if first else ''})"
    return f"unexpected {type(e).__name__}"


class PortfolioRefresher:
    """Keeps the latest portfolio snapshot, recomputing it every `interval` seconds."""

    def __init__(
        self,
        client: Client,
        dataplane: DataPlane | None,
        interval: float,
        metrics: ConsoleMetrics | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.dataplane = dataplane
        #: Policy versions' currencies, read once each for the refresher's life.
        self.currencies = Currencies.of_plane(dataplane)
        self.interval = interval
        self.latest: Snapshot | None = None
        #: The last refresh's failure, None once one succeeds again.
        self.failure: Failure | None = None
        self._lock = asyncio.Lock()
        self._attempts = 0
        #: The start of the roll-rate interval, looked up once per stored day: earlier days' rows
        #: do not change within a day, and the lookup reads and parses a whole day's case map.
        self._roll_start: tuple[date, tuple[Stored, dict[str, list[str]]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def current(self) -> Snapshot:
        """The latest snapshot; before the first one, wait for it.

        Raises:
            NotReady: no snapshot could be computed yet (with the reason).
        """
        if self.latest is None:
            attempts = self._attempts
            async with self._lock:
                if self.latest is None and self._attempts == attempts:
                    await self._refresh()  # nobody tried while we waited: compute it now
        if self.latest is None:
            reason = self.failure.reason if self.failure else "not computed yet"
            raise NotReady(f"the portfolio could not be computed: {reason}")
        return self.latest

    async def refresh(self) -> Snapshot | None:
        """Compute a snapshot now (after any refresh under way); None when it failed."""
        async with self._lock:
            return await self._refresh()

    async def _refresh(self) -> Snapshot | None:
        self._attempts += 1
        started = time.perf_counter()
        try:
            snapshot = await self._compute(started)
        except Exception as e:  # any failure keeps the last good snapshot
            self.failure = Failure(datetime.now(UTC), _reason(e))
            log.warning("portfolio.refresh_failed", error_type=type(e).__name__)
            if self.metrics is not None:
                self.metrics.portfolio_refresh_failures.inc()
            return None
        self.latest, self.failure = snapshot, None
        if self.metrics is not None:
            self.metrics.portfolio_refresh.set(snapshot.seconds)
        log.info(
            "portfolio.refreshed",
            cases=len(snapshot.portfolio.cases),
            seconds=round(snapshot.seconds, 3),
        )
        return snapshot

    async def _compute(self, started: float) -> Snapshot:
        p = await portfolio(self.client, currencies=self.currencies)
        snapshot = Snapshot(p, seconds=0.0, roll_note="no data plane: nothing is stored")
        if self.dataplane is not None:
            await asyncio.to_thread(self._store, snapshot, self.dataplane.engine)
        snapshot.seconds = time.perf_counter() - started
        return snapshot

    def _store(self, snapshot: Snapshot, engine: sa.Engine) -> None:
        """Contacts from the outbox, the day's row, and what the stored rows say (blocking)."""
        snapshot.contacts = contacts_by_channel(engine)
        stored = save(
            engine,
            snapshot.as_of,
            snapshot.figures(),
            snapshot.portfolio.cases,
            keep_cases_days=CASE_MAP_DAYS,
        )
        first = stored.day - timedelta(days=HISTORY_DAYS - 1)
        snapshot.over_time = trend((s.day, doc) for s, doc in figures_since(engine, first))
        if self._roll_start is None or self._roll_start[0] != stored.day:
            found = cases_near(engine, stored.day - timedelta(days=ROLL_DAYS), before=stored.day)
            # Kept once found; none yet is asked again (cheap: no row to read).
            self._roll_start = (stored.day, found) if found is not None else None
        start = self._roll_start[1] if self._roll_start is not None else None
        if start is None:
            snapshot.roll_note = "needs two snapshots (one a day is kept: come back tomorrow)"
        else:
            snapshot.roll = roll_rates(start[1], snapshot.portfolio.cases, start[0].day, stored.day)
            snapshot.roll_note = ""

    def start(self) -> None:
        """Refresh in the background from now on."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Stop refreshing (a refresh under way is abandoned)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Refresh now and every `interval` seconds, until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)
