"""A case's currency, read from the policy it pins.

`check_case` refuses a case in another currency than its policy's, so a case's currency is its
policy's. A case's visibility record names its policy (`OverduePolicy`, `OverduePolicyVersion`)
but not its currency, and adding a search attribute would change every running case's command
sequence; so whoever lists cases (the console's portfolio and queues, `overdue case list`) asks
the data plane's policy store for (name, version) -> policy -> currency, once per pair and pass.

A pair the store does not hold (no data plane, a record without a policy, a version stored
elsewhere) is `UNKNOWN_CURRENCY`: its amounts are kept apart, never added to a known currency's.
"""

from __future__ import annotations

import asyncio
import time

from engine.case.money import UNKNOWN_CURRENCY
from workers.dataplane import DataPlane
from workers.policy_store import PolicyStore

__all__ = ["RETRY_MISSING", "Currencies"]


#: A policy version the store did not hold is asked again after this many seconds (it may be
#: stored meanwhile); one it held is known for good (a stored version never changes).
RETRY_MISSING = 60.0


class Currencies:
    """The currency of each policy version, looked up in the store once. Long-lived (one per
    console, per command): a found currency is kept for good, a version the store lacked is
    asked again after `RETRY_MISSING` seconds, not on every case."""

    def __init__(self, store: PolicyStore | None) -> None:
        self.store = store
        self._known: dict[tuple[str, int], str] = {}
        self._missing: dict[tuple[str, int], float] = {}  # -> when it was last asked

    @classmethod
    def of_plane(cls, plane: DataPlane | None) -> Currencies:
        """Currencies read from a data plane's policy store (none: every one unknown)."""
        return cls(PolicyStore(plane) if plane is not None else None)

    def _cached(self, name: str | None, version: int | None) -> str | None:
        """The answer without asking the store, or None when the store must be asked."""
        if not name or version is None or self.store is None:
            return UNKNOWN_CURRENCY
        key = (name, version)
        if key in self._known:
            return self._known[key]
        asked = self._missing.get(key)
        if asked is not None and time.monotonic() - asked < RETRY_MISSING:
            return UNKNOWN_CURRENCY
        return None

    def of(self, name: str | None, version: int | None) -> str:
        """The currency of a policy version, or `UNKNOWN_CURRENCY` (blocking on a first sight).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the data plane failed.
        """
        cached = self._cached(name, version)
        if cached is not None:
            return cached
        assert name is not None and version is not None and self.store is not None
        policy = self.store.version(name, version)
        if policy is None:
            self._missing[(name, version)] = time.monotonic()
            return UNKNOWN_CURRENCY
        self._missing.pop((name, version), None)
        self._known[(name, version)] = policy.currency
        return policy.currency

    async def of_async(self, name: str | None, version: int | None) -> str:
        """`of` without blocking the event loop: a first sight is looked up in a thread."""
        cached = self._cached(name, version)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.of, name, version)
