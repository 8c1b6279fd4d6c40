"""The rollout workflow's activities: list the cases (visibility), move a batch (the case
workflow's `event` update with `MigratePolicy`), keep the data plane's `rollouts` row current.

Moving is idempotent: a case already on the version takes the event as a no-op, so a batch
retried after a worker died moves nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa
from temporalio import activity

from engine.case import events as ev
from engine.errors import EventRejected, OverdueError
from workers.dataplane.database import DataPlane
from workers.dataplane.schema import rollouts
from workflows import search_attributes as sa_keys
from workflows.client import Cases
from workflows.rollout_select import MAX_SELECTED, rollout_query
from workflows.rollout_types import BatchResult, Listed, ListRequest, MoveBatch, RolloutRecord

__all__ = ["RolloutActivities"]

#: Cases of one batch moved at the same time.
CONCURRENCY = 10


class RolloutActivities:
    """The activities, bound to the data plane that keeps the rollouts' rows (None: no row)."""

    def __init__(self, dataplane: DataPlane | None = None) -> None:
        self.dataplane = dataplane

    def all(self) -> list[object]:
        """Every activity, for the worker."""
        return [self.rollout_list, self.rollout_move, self.rollout_record]

    @activity.defn(name="rollout_list")
    async def rollout_list(self, req: ListRequest) -> Listed:
        """The running cases of the policy, narrowed as asked, in a stable order."""
        from engine.decision.migrate import in_percent

        query = rollout_query(req.policy, req.where)
        if req.skip_version is not None:
            query += f" AND {sa_keys.POLICY_VERSION.name} != {int(req.skip_version)}"
        versions: dict[str, int] = {}
        ids: list[str] = []
        async for c in Cases(activity.client()).list(query=query, limit=MAX_SELECTED):
            if c.running and in_percent(c.case_id, req.percent):
                ids.append(c.case_id)
                v = c.policy.rsplit(" v", 1)[-1]
                versions[v] = versions.get(v, 0) + 1
        return Listed(sorted(ids), dict(sorted(versions.items())))

    @activity.defn(name="rollout_move")
    async def rollout_move(self, batch: MoveBatch) -> BatchResult:
        """Send `MigratePolicy` to each case; a refusal is reported, not retried."""
        cases = Cases(activity.client())
        event = ev.MigratePolicy(to=batch.to, by=batch.by, reason=batch.reason)
        result = BatchResult()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(case_id: str) -> None:
            async with gate:
                try:
                    r = await cases.send(case_id, event)
                except (
                    EventRejected,
                    OverdueError,
                ) as e:  # closed, gone, or the version cannot take it
                    result.refused.append((case_id, str(e)))
                else:
                    (result.moved if r.reasons else result.already).append(case_id)
                activity.heartbeat(case_id)

        await asyncio.gather(*(one(i) for i in batch.case_ids))
        order = {c: k for k, c in enumerate(batch.case_ids)}
        result.moved.sort(key=order.__getitem__)
        result.already.sort(key=order.__getitem__)
        result.refused.sort(key=lambda r: order[r[0]])
        return result

    @activity.defn(name="rollout_record")
    async def rollout_record(self, rec: RolloutRecord) -> None:
        """Insert or update the rollout's row (no data plane: nothing to keep)."""
        if self.dataplane is None:
            return
        await asyncio.to_thread(self._write, rec)

    def _write(self, rec: RolloutRecord) -> None:
        assert self.dataplane is not None
        p = rec.progress
        values = {
            "policy": p.policy,
            "from_versions": p.from_versions,
            "to_version": p.to.version,
            "to_hash": p.to.hash,
            "state": f"{p.mode}:{p.state}",
            "percent": p.percent,
            "query": p.where,
            "selected": p.selected,
            "moved": p.moved,
            "refused": p.refused_count,
            "failed": 0,
            "requested_by": p.by,
            "reason": p.reason,
            "updated_at": rec.updated_at,
            "finished_at": p.finished_at,
        }
        with self.dataplane.engine.begin() as conn:
            done = conn.execute(
                rollouts.update().where(rollouts.c.id == rec.id).values(**values)
            ).rowcount
            if not done:
                created: datetime = p.started_at or rec.updated_at
                conn.execute(rollouts.insert().values(id=rec.id, created_at=created, **values))


def latest_rollout(dataplane: DataPlane, policy: str) -> dict[str, object] | None:
    """The data plane's row of the latest rollout of `policy`, if any."""
    with dataplane.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(rollouts)
                .where(rollouts.c.policy == policy)
                .order_by(rollouts.c.created_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


__all__ += ["latest_rollout"]
