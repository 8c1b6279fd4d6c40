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

from engine.case.money import UNKNOWN_CURRENCY
from workers.policy_store import PolicyStore

__all__ = ["Currencies"]


class Currencies:
    """The currency of each policy version, looked up once (make one per pass: a policy version
    never changes, but one not stored yet may be stored by the next pass)."""

    def __init__(self, store: PolicyStore | None) -> None:
        self.store = store
        self._known: dict[tuple[str, int], str] = {}
        #: Store lookups made (the tests check the cache).
        self.lookups = 0

    def of(self, name: str | None, version: int | None) -> str:
        """The currency of a policy version, or `UNKNOWN_CURRENCY` (blocking on a first sight).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the data plane failed.
        """
        if not name or version is None:
            return UNKNOWN_CURRENCY
        key = (name, version)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self._lookup(name, version)
        return known

    async def of_async(self, name: str | None, version: int | None) -> str:
        """`of` without blocking the event loop: a first sight is looked up in a thread."""
        if not name or version is None:
            return UNKNOWN_CURRENCY
        known = self._known.get((name, version))
        if known is not None:
            return known
        return await asyncio.to_thread(self.of, name, version)

    def _lookup(self, name: str, version: int) -> str:
        if self.store is None:
            return UNKNOWN_CURRENCY
        self.lookups += 1
        policy = self.store.version(name, version)
        return policy.currency if policy is not None else UNKNOWN_CURRENCY
