"""Which running cases a rollout takes, and their live states (for the dry run).

One selection for the dry run, the rollout workflow's activities and the tests: the running cases
of one policy (visibility: `OverduePolicy`), narrowed by the operator's Temporal list filter and,
for a canary, by a stable hash of the case id (`engine.decision.migrate.in_percent`).
"""

from __future__ import annotations

import asyncio

from engine.case.state import CaseState
from engine.decision.migrate import in_percent
from workflows import search_attributes as sa
from workflows.client import Cases

__all__ = ["MAX_SELECTED", "live_states", "rollout_query", "select_case_ids"]

#: The most cases one rollout lists (a bound, so a mistyped filter cannot list millions).
MAX_SELECTED = 100_000


def rollout_query(policy: str, where: str | None = None) -> str:
    """The visibility query of the running cases of `policy` (and `where`, if given)."""
    if "'" in policy:
        raise ValueError(f"bad policy name {policy!r}")
    parts = [f"{sa.POLICY_NAME.name} = '{policy}'", "ExecutionStatus = 'Running'"]
    if where:
        parts.append(f"({where})")
    return " AND ".join(parts)


async def select_case_ids(
    cases: Cases, policy: str, where: str | None = None, percent: int = 100
) -> list[str]:
    """The ids of the running cases of `policy` the rollout takes, in a stable order."""
    ids = [
        c.case_id
        async for c in cases.list(query=rollout_query(policy, where), limit=MAX_SELECTED)
        if c.running
    ]
    return sorted(i for i in ids if in_percent(i, percent))


async def live_states(cases: Cases, case_ids: list[str], concurrency: int = 20) -> list[CaseState]:
    """The live state of each case (a query each, a few at a time)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(case_id: str) -> CaseState:
        async with gate:
            return await cases.state(case_id)

    return list(await asyncio.gather(*(one(i) for i in case_ids)))
