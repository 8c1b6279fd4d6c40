"""A rollout's dry run: the live states of running cases, each driven forward by the same core
under the version it runs now and under the proposed one, with the same debtor behaviour (same
seed) on both sides, so the difference is the policy's alone.

The states come from the running workflows (the caller reads them); nothing here does I/O. A case
the proposed version cannot take (`engine.decision.migrate.check_migration`) is reported as
refused, with the reason, and left out of both sides so the figures compare the same cases.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from engine.case import events as ev
from engine.case.person import PersonLedger
from engine.case.state import CaseState
from engine.decision.decide import Decision, copy_state
from engine.decision.driver import Lane, drive_person
from engine.decision.driver import Refused as DriverRefused
from engine.decision.migrate import already_on, check_migration
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from simulator.behaviour import BehaviourSpec, DebtorModel
from simulator.person_run import CaseRun
from simulator.portfolio import SimCase
from simulator.run import (
    _STAGE_INDEX,
    PolicyRun,
    SimConfig,
    SimResult,
    _finish,
    take,
)
from simulator.tally import SAMPLE_LIMIT, Tally

__all__ = ["LiveDryRun", "Refused", "dry_run"]


@dataclass(frozen=True)
class Refused:
    """A selected case the proposed version cannot take, and why."""

    case_id: str
    reason: str


@dataclass
class LiveDryRun:
    """Both sides of a dry run over the same cases."""

    to: CompiledPolicy
    selected: int
    from_versions: dict[str, int]  # "v<version>" -> cases selected on it
    refused: list[Refused]
    result: SimResult  # runs[0]: current, runs[1]: proposed
    movable: int = field(default=0)

    @property
    def current(self) -> PolicyRun:
        """The selected cases under the versions they run now."""
        return self.result.runs[0]

    @property
    def proposed(self) -> PolicyRun:
        """The same cases under the proposed version."""
        return self.result.runs[1]


def _drive(
    cp: CompiledPolicy,
    state: CaseState,
    first: Callable[[Lane], Decision],
    now: datetime,
    horizon: datetime,
    seed: int,
    spec: BehaviourSpec,
    tally: Tally,
) -> None:
    """Drive one live case from `now` to the horizon (or its close) with the core's driver,
    counting into `tally`.

    `first` is the decision taken at `now`: a timer (current) or the migration (proposed)."""

    def reject(msg: str) -> None:
        if len(tally.rejected_samples) < SAMPLE_LIMIT:
            tally.rejected_samples.append(msg)

    state = copy_state(state)
    case = state.case
    run = CaseRun(
        cp,
        SimCase(case, now),
        state,
        DebtorModel(cp, state, now, horizon, seed, spec),
        None,
        ZoneInfo(case.debtor.timezone),
        cur=str(state.stage),
    )
    tally.cases += 1
    tally.amount_due += state.balance  # what is still owed is what this horizon can recover
    tally.stage_delta[0][_STAGE_INDEX[run.cur]] += 1

    def begin(k: int, at: datetime) -> tuple[Lane, Decision]:
        lane = Lane(cp, state, None, at, in_place=True)
        d = first(lane)
        run.state = d.state
        return lane, d

    steps = drive_person(
        [cp],
        [(case, now)],
        horizon,
        lambda k, s: run.model,
        PersonLedger(debtor_id=case.debtor.id),
        start=begin,
    )
    for step in steps:
        if isinstance(step, DriverRefused) and step.event is None:
            raise step.error  # pragma: no cover - checked by check_migration before
        take(run, step, now, tally, None, None, reject)
    if not run.done:
        _finish(tally, run.state, run.contacts, run.violations)


def _timer(lane: Lane) -> Decision:
    return lane.decide(None, lane.now)


def _move(to: CompiledPolicy, event: ev.MigratePolicy, lane: Lane) -> Decision:
    return (
        lane.decide(None, lane.now)
        if already_on(lane.state, to)
        else lane.migrate(to, event, lane.now)
    )


def dry_run(
    states: list[CaseState],
    to: CompiledPolicy,
    current: Callable[[str], CompiledPolicy],
    now: datetime,
    days: int = 90,
    seed: int = 7,
    spec: BehaviourSpec | None = None,
) -> LiveDryRun:
    """What moving `states` onto `to` would change over `days` from `now`.

    Args:
        states: the live states of the selected cases.
        to: the proposed version.
        current: the compiled policy of a hash (the versions the cases run now).
        now: the moment the live states were read (timezone-aware).
        days / seed / spec: the horizon, and the debtor behaviour model both sides share.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    spec = spec or BehaviourSpec()
    horizon = now + timedelta(days=days)
    t0 = clock.perf_counter()
    cur_tally, new_tally = Tally(days=days), Tally(days=days)
    refused: list[Refused] = []
    versions: dict[str, int] = {}
    event = ev.MigratePolicy(to=to.ref, by="dry-run")
    for state in states:
        key = f"v{state.policy.version}"
        versions[key] = versions.get(key, 0) + 1
        try:
            check_migration(state, to, event)
        except EventRejected as e:
            refused.append(Refused(state.case.case_id, str(e)))
            continue
        cp = current(state.policy.hash)
        _drive(cp, state, _timer, now, horizon, seed, spec, cur_tally)
        _drive(to, state, partial(_move, to, event), now, horizon, seed, spec, new_tally)
    cfg = SimConfig(
        policy=to.policy.name,
        days=days,
        seed=seed,
        cases=max(1, len(states)),
        audit=False,
        workers=1,
        behaviour=spec,
    )
    start = now.astimezone(UTC)
    result = SimResult(
        cfg,
        start,
        [
            PolicyRun(to.policy.name, "current", to.policy.currency, cur_tally),
            PolicyRun(to.policy.name, f"v{to.policy.version}", to.policy.currency, new_tally),
        ],
        clock.perf_counter() - t0,
        1,
    )
    return LiveDryRun(
        to,
        len(states),
        dict(sorted(versions.items())),
        refused,
        result,
        movable=len(states) - len(refused),
    )
