"""What every route of the console shares: the Temporal client and typed case API, the user
store, the codec, the metrics and the page templates; and `act`, through which every human
action passes so it is counted once, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from fastapi.templating import Jinja2Templates
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from console.metrics import ConsoleMetrics
from console.users import User, UserStore
from engine.case import events as ev
from engine.errors import EventRejected
from workers.currencies import Currencies
from workers.dataplane import DataPlane
from workflows.client import Cases
from workflows.types import EventResult

__all__ = ["TEMPLATES", "ConsoleState"]


TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class ConsoleState:
    """The console's collaborators, built once per app."""

    client: Client
    users: UserStore
    codec: PayloadCodec
    session_ttl: timedelta = timedelta(hours=8)
    #: Origins allowed to call the codec with credentials (the Temporal Web UI).
    ui_origins: tuple[str, ...] = ()
    #: Address of the Temporal Web UI, linked from the case page (no personal data in links).
    ui_url: str | None = None
    secure_cookies: bool = False
    #: The data plane: the portfolio's daily snapshots and the outbox's contacts (None: the
    #: portfolio is computed but nothing is stored, and there are no figures over time).
    dataplane: DataPlane | None = None
    #: Seconds between two computations of the portfolio snapshot (`console.refresher`).
    portfolio_refresh: float = 60.0
    #: Whether `close` closes `dataplane` (the console opened it itself).
    owns_dataplane: bool = False
    metrics: ConsoleMetrics = field(default_factory=ConsoleMetrics)
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES))
    )
    _currencies: Currencies | None = field(default=None, init=False, repr=False)

    def currencies(self) -> Currencies:
        """The policy versions' currencies from the data plane's policy store, one cache for the
        console's life (queues and pages ask it per case; each version is read once)."""
        if self._currencies is None:
            self._currencies = Currencies.of_plane(self.dataplane)
        return self._currencies

    @property
    def cases(self) -> Cases:
        """The typed case API on the client."""
        return Cases(self.client)

    def close(self) -> None:
        """Release what the console opened itself."""
        if self.owns_dataplane and self.dataplane is not None:
            self.dataplane.close()

    async def act(
        self, action: str, user: User, case_id: str, events: Sequence[ev.Event]
    ) -> EventResult:
        """Send a person's events to a case, in order, counting the action (or its refusal).

        The one place the console says who did it: an event without `by` is recorded by `user`.
        """
        named = [e if e.by else e.model_copy(update={"by": user.name}) for e in events]
        try:
            result = await self.cases.send_all(case_id, named)
        except EventRejected:
            self.metrics.rejected.labels(action).inc()
            raise
        self.metrics.actions.labels(action, user.role.value).inc()
        return result
