"""Moving a running case onto another version of its policy (the core of a rollout).

The case keeps everything it has: balance, holds, promise, plan, settlement, the contact ledger,
the plan occurrences already done in its stage (so a contact sent under one version is never sent
again under the other: the action ids stay the same). Only the rules change, from this decision
on. A case whose stage the new version does not describe continues in the stage the new version's
`migrate.stages` maps it to, or is refused; a refusal changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from engine.case import events as ev
from engine.case.state import CaseState
from engine.case.vocabulary import ActiveStage
from engine.decision.context import Ctx
from engine.decision.decide import Decision, _run, copy_state
from engine.decision.stages import enter
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy

__all__ = ["already_on", "check_migration", "in_percent", "migrate", "target_stage"]


def already_on(state: CaseState, to: CompiledPolicy) -> bool:
    """Whether the case is pinned to exactly this version already (a repeated move: a no-op)."""
    return state.policy.hash == to.hash


def target_stage(state: CaseState, to: CompiledPolicy) -> ActiveStage | None:
    """The stage the case continues in under `to`, or None if `to` cannot take it."""
    stage = state.stage
    if not isinstance(stage, ActiveStage):
        return None
    if to.policy.migrate is not None and stage in to.policy.migrate.stages:
        return to.policy.migrate.stages[stage]
    return stage if stage in to.policy.stages else None


def check_migration(state: CaseState, to: CompiledPolicy, e: ev.MigratePolicy) -> None:
    """Raise `EventRejected` (with the reason a rollout reports) if the case cannot move to `to`.

    A move to the version the case is already on is accepted (it changes nothing), even closed.
    """
    if e.to.hash != to.hash or e.to.version != to.policy.version or e.to.name != to.policy.name:
        raise EventRejected(
            f"the event names {e.to.name} v{e.to.version} ({e.to.hash[:12]}) but the policy "
            f"given is {to.policy.name} v{to.policy.version} ({to.hash[:12]})"
        )
    if already_on(state, to):
        return
    if state.closed:
        raise EventRejected(f"case {state.case.case_id} is closed ({state.stage})")
    if to.policy.name != state.policy.name:
        raise EventRejected(f"the case runs policy {state.policy.name}, not {to.policy.name}")
    if state.case.currency != to.policy.currency:
        raise EventRejected(
            f"currency {state.case.currency} differs from {to.policy.name} "
            f"v{to.policy.version}'s {to.policy.currency}"
        )
    if target_stage(state, to) is None:
        raise EventRejected(
            f"{to.policy.name} v{to.policy.version} has no stage {state.stage} and no "
            f"migrate.stages entry for it"
        )


def migrate(to: CompiledPolicy, state: CaseState, e: ev.MigratePolicy, now: datetime) -> Decision:
    """Move the case onto `to` and decide once under it (its next wake-up follows the new rules).

    Args:
        to: the compiled policy `e.to` names.
        state: the case as it stands; not modified.
        e: the migration asked for, with who asked and why.
        now: the moment of the decision, timezone-aware.

    Returns:
        The decision: the same state with no records if the case is already on `to`.

    Raises:
        EventRejected: the case cannot move (see `check_migration`); nothing changed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    check_migration(state, to, e)
    if already_on(state, to):
        return Decision(state, [], None, [])
    s = copy_state(state)
    previous = s.policy
    s.policy = to.ref
    ctx = Ctx(to, s, now)
    detail = {
        "from": f"{previous.name}@{previous.version}",
        "to": f"{to.policy.name}@{to.policy.version}",
        "from_hash": previous.hash,
        "to_hash": to.hash,
        "by": e.by,
    }
    why = f": {e.reason}" if e.reason else ""
    ctx.record(
        "migrated",
        f"policy {previous.name} v{previous.version} -> v{to.policy.version}"
        + (f" by {e.by}" if e.by else "")
        + why,
        detail=detail,
    )
    stage = target_stage(s, to)
    assert stage is not None  # check_migration
    if stage != s.stage:
        enter(
            ctx, stage, f"migrate.stages.{s.stage}: continues in {stage} under v{to.policy.version}"
        )
    return _run(ctx, None)


def in_percent(case_id: str, percent: int) -> bool:
    """Whether a canary of `percent` % takes this case: a stable hash of the case id picks the
    same cases on every run and every machine, and a larger percentage takes a superset."""
    if percent >= 100:
        return True
    bucket = int.from_bytes(hashlib.sha256(f"rollout:{case_id}".encode()).digest()[:8], "big") % 100
    return bucket < percent
