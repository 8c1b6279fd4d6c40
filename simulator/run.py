"""The simulation loop: each case driven event by event through the policy's own core.

A case is opened at its first reminder day and then jumps straight to whatever comes first: the
core's next wake-up or the debtor's next intention; there is no per-day stepping. The state is
changed in place (`advance`), each decision is audited by the independent `Auditor`, and the
figures go into a `Tally`. Cases run in fixed-size chunks, in worker processes when asked; chunks
are merged in order, so the result does not depend on the number of processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time as clock
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from engine.case import events as ev
from engine.case.actions import CONTACT_CHANNELS
from engine.case.person import PersonLedger
from engine.case.state import CaseFile, CaseState
from engine.case.vocabulary import ActiveStage
from engine.decision.decide import Decision
from engine.decision.driver import Refused, Step, drive_person
from engine.errors import OverdueError
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import resolve_policy
from simulator.audit import limits_of
from simulator.audit_person import PersonAuditor
from simulator.behaviour import BehaviourSpec, DebtorModel
from simulator.mixed import other_policy_file, own_policies
from simulator.person_run import CaseRun, open_run
from simulator.portfolio import (
    PortfolioSpec,
    SimCase,
    group_by_debtor,
    open_moment,
    synthetic_people,
)
from simulator.tally import SAMPLE_LIMIT, SERIES_STAGES, Tally, VariantTally
from simulator.trace import TraceWriter, trace_lines

__all__ = [
    "CHUNK",
    "PolicyRun",
    "SimConfig",
    "SimResult",
    "run_case",
    "run_person",
    "simulate",
    "take",
]

#: Cases per chunk of work. Fixed (never derived from the number of processes) so that results
#: and traces are identical however many processes run.
CHUNK = 200
DAY = timedelta(days=1)
_STAGE_INDEX = {s: i for i, s in enumerate(SERIES_STAGES)}


@dataclass(frozen=True)
class SimConfig:
    """What to simulate.

    Attributes:
        policy: the policy (a name in `policies/` or a path); `compare`: a second one, run on the
            same portfolio with the same seed.
        cases / days / seed: portfolio size (synthetic), horizon and seed.
        start: the first day (UTC midnight) of the simulated window.
        portfolio: a case file to simulate instead of a synthetic portfolio. A row naming
            another policy that can be found runs under it (one of the person's other accounts,
            sharing their ledger, outside the figures but audited); the others run under
            `policy` (`compare`).
        other_policy: with a synthetic portfolio, the policy (same currency) of the further
            accounts of a share (`PortfolioSpec.other_share`) of the shared debtors.
        trace: write every decision to this JSON Lines file.
        audit: judge every decision with the independent auditor (counts `violations`).
        workers: processes (None: one per CPU).
    """

    policy: str
    compare: str | None = None
    cases: int = 1000
    days: int = 180
    seed: int = 7
    start: date | None = None
    portfolio: str | None = None
    other_policy: str | None = None
    trace: str | None = None
    audit: bool = True
    workers: int | None = None
    behaviour: BehaviourSpec = field(default_factory=BehaviourSpec)
    portfolio_spec: PortfolioSpec = field(default_factory=PortfolioSpec)


@dataclass
class PolicyRun:
    """One policy's result."""

    name: str
    path: str
    currency: str
    tally: Tally


@dataclass
class SimResult:
    """The result of a simulation: one run per policy, with the measured speed."""

    config: SimConfig
    start: datetime
    runs: list[PolicyRun]
    elapsed: float
    workers: int

    @property
    def lifecycles_per_minute(self) -> float:
        """Case lifecycles simulated per minute of wall time (all policies)."""
        n = sum(r.tally.cases for r in self.runs)
        return n * 60 / self.elapsed if self.elapsed > 0 else 0.0


# -- one case ------------------------------------------------------------------------------


def _day(t: datetime, start: datetime, days: int) -> int:
    return min(days - 1, max(0, int((t - start) / DAY)))


def _count(tally: Tally, d: Decision, contacts: dict[str, int]) -> None:
    for r in d.records:
        kind = r.kind
        if kind == "contact":
            contacts[r.channel or ""] = contacts.get(r.channel or "", 0) + 1
        elif kind == "deferred":
            tally.deferred += 1
            tally.deferred_by_guardrail[r.detail.get("guardrail", "?")] += 1
        elif kind == "suppressed":
            tally.suppressed_by_guardrail[r.detail.get("guardrail", "?")] += 1
        elif kind == "promise":
            tally.promises[r.outcome or "?"] += 1
        elif kind == "action":
            tally.actions[r.detail.get("kind", "?")] += 1


def run_case(
    cp: CompiledPolicy,
    sc: SimCase,
    start: datetime,
    horizon: datetime,
    seed: int,
    spec: BehaviourSpec,
    tally: Tally,
    audit: bool = True,
    trace: TraceWriter | None = None,
) -> None:
    """Simulate one case (a person with one account) from its opening to the horizon or its close."""
    run_person(cp, [sc], start, horizon, seed, spec, tally, audit, trace)


def run_person(
    cp: CompiledPolicy,
    cases: list[SimCase],
    start: datetime,
    horizon: datetime,
    seed: int,
    spec: BehaviourSpec,
    tally: Tally,
    audit: bool = True,
    trace: TraceWriter | None = None,
    people: PersonAuditor | None = None,
) -> None:
    """Simulate every case of one person, interleaved in time, sharing one contact ledger (the
    core's driver, `drive_person`, does the driving; this counts, traces and audits).

    A case with a policy of its own (`SimCase.policy`: one of the person's accounts on another
    policy) runs under it and asks the ledger with its rules, as in production. Its figures stay
    out of `tally` (the figures are the simulated policy's), except its violations, which count:
    the auditors judge every contact made to the person. Its trace lines name its policy."""
    cps = [sc.policy or cp for sc in cases]
    runs: list[CaseRun | None] = [None] * len(cases)
    if people is None and audit:
        people = PersonAuditor({c.hash: limits_of(c) for c in cps})
    aside = Tally(days=tally.days) if any(sc.policy is not None for sc in cases) else tally

    def tally_of(k: int) -> Tally:
        return tally if cases[k].policy is None else aside

    def events_for(k: int, state: CaseState) -> DebtorModel:
        run = runs[k] = open_run(cps[k], cases[k], state, horizon, seed, spec, audit)
        if cases[k].policy is not None:
            run.label = cps[k].policy.name
        return run.model

    ledger = PersonLedger(debtor_id=cases[0].case.debtor.id)
    openings = [(sc.case, sc.opened) for sc in cases]
    for step in drive_person(cps, openings, horizon, events_for, ledger):
        sc = cases[step.case]
        t = tally_of(step.case)
        if isinstance(step, Refused) and step.event is None:
            t.cases += 1
            t.amount_due += sc.case.amount_due
            t.refused_cases += 1
            _sample(tally.rejected_samples, f"{sc.case.case_id}: not opened: {step.error}")
            continue
        if isinstance(step, Step) and step.opened:
            t.cases += 1
            t.amount_due += sc.case.amount_due
        take(runs[step.case], step, start, t, trace, people, partial(_sample, t.rejected_samples))
    for k, r in enumerate(runs):
        if r is not None and not r.done:
            _finish(tally_of(k), r.state, r.contacts, r.violations)
    if aside is not tally:
        _aside(tally, aside, [c.policy.name for sc, c in zip(cases, cps, strict=True) if sc.policy])


def _sample(samples: list[str], msg: str) -> None:
    if len(samples) < SAMPLE_LIMIT:
        samples.append(msg)


def _aside(tally: Tally, aside: Tally, names: list[str]) -> None:
    """What the person's accounts on other policies add to the simulated policy's figures: their
    violations (every contact to the person is judged), how many there were (and were not
    opened), and their examples of refusals (an event their policy refused says as much about
    the person's run as one of the simulated policy's)."""
    tally.violations += aside.violations
    for msg in aside.violation_samples:
        _sample(tally.violation_samples, msg)
    for msg in aside.rejected_samples:
        _sample(tally.rejected_samples, msg)
    tally.other_cases.update(names)
    tally.other_refused += aside.refused_cases


def take(
    run: CaseRun | None,
    step: Step | Refused,
    start: datetime,
    tally: Tally,
    trace: TraceWriter | None,
    people: PersonAuditor | None,
    reject: Callable[[str], None],
) -> None:
    """Count, trace and audit one step of the driver of an open case (`start`: day 0 of the
    figures); a case that closed is finished (`run.done`)."""
    assert run is not None
    if isinstance(step, Refused):
        assert step.event is not None
        tally.rejected_events += 1
        reject(f"{run.state.case.case_id} {step.at.isoformat()} {step.event.kind}: {step.error}")
        return
    if step.event is not None:
        tally.events[step.event.kind] += 1
        if isinstance(step.event, ev.Payment):
            tally.recovered_delta[_day(step.at, start, tally.days)] += step.event.amount
    tally.decisions += 1
    for msg in step.refusals:
        reject(msg)  # pragma: no cover - a deferral the case refused
    _observe(run, step, start, tally, trace, people)
    if run.state.closed:
        run.done = True
        _finish(tally, run.state, run.contacts, run.violations)


def _observe(
    run: CaseRun,
    step: Step,
    start: datetime,
    tally: Tally,
    trace: TraceWriter | None,
    people: PersonAuditor | None,
) -> None:
    """Count, trace and audit one settled decision."""
    state = run.state
    case = state.case
    now = step.at
    d = Decision(state, step.actions, step.decision.next_wake_up, step.records)
    for a in step.actions:
        if a.action_id in step.outcomes:
            tally.calls[step.outcomes[a.action_id]] += 1
    if step.records:
        _count(tally, d, run.contacts)
        if trace is not None or people is not None:
            lines = list(
                trace_lines(
                    case.case_id, case.debtor.id, run.tz, step.records, step.outcomes, run.label
                )
            )
            if trace is not None:
                trace.write_lines(lines)
            if people is not None:
                for line in lines:
                    found = people.observe(line, run.cp.hash)
                    if found:
                        run.violations += len(found)
                        room = SAMPLE_LIMIT - len(tally.violation_samples)
                        tally.violation_samples.extend(found[: max(0, room)])
    if run.auditor is not None:
        found = run.auditor.observe(d, now, step.event)
        if found:
            run.violations += len(found)
            room = SAMPLE_LIMIT - len(tally.violation_samples)
            tally.violation_samples.extend(found[: max(0, room)])
    if state.stage != run.cur:
        k = _day(now, start, tally.days)
        tally.stage_delta[k][_STAGE_INDEX[run.cur]] -= 1
        tally.stage_delta[k][_STAGE_INDEX[state.stage]] += 1
        run.cur = state.stage


def _finish(tally: Tally, state: CaseState, contacts: dict[str, int], violations: int) -> None:
    tally.final_stages[state.stage] += 1
    tally.recovered += state.paid_total
    tally.violations += violations
    total = 0
    for ch, n in contacts.items():
        tally.contacts[ch] += n
        total += n
    for ch in CONTACT_CHANNELS:
        tally.contacts_per_case.setdefault(ch, Counter())[contacts.get(ch, 0)] += 1
    key = f"{state.segment or '-'}/{state.variant or '-'}"
    v = tally.variants.get(key)
    if v is None:
        v = tally.variants[key] = VariantTally()
    v.cases += 1
    v.amount_due += state.case.amount_due
    v.recovered += state.paid_total
    v.resolved += state.stage == "resolved"
    v.contacts += total
    v.violations += violations


# -- chunks and processes ------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    policy: str
    base_policy: str
    label: str | None  # the policy's name on trace lines when comparing
    first: int
    count: int
    cases: list[CaseFile] | None
    policies: list[str | None] | None  # per case: the file of its own other policy, if any
    other_policy: str | None  # synthetic: the file of the other accounts' policy
    start: datetime
    days: int
    seed: int
    behaviour: BehaviourSpec
    portfolio: PortfolioSpec
    audit: bool
    trace_path: str | None


def _adapt(cp: CompiledPolicy, base: CompiledPolicy, case: CaseFile, start: datetime) -> SimCase:
    if cp is not base and case.currency == base.policy.currency != cp.policy.currency:
        # The same portfolio under the policy compared: same figures, in that policy's currency.
        case = case.model_copy(update={"currency": cp.policy.currency})
    return SimCase(case, open_moment(cp, case, start))


def _on_own(path: str, case: CaseFile, start: datetime) -> SimCase:
    """A case on another policy than the simulated one: it runs under that policy, as it is."""
    own = registry.load(path)
    return SimCase(case, open_moment(own, case, start), own)


def _run_job(job: _Job) -> Tally:
    cp = registry.load(job.policy)
    horizon = job.start + job.days * DAY
    tally = Tally(days=job.days)
    base = registry.load(job.base_policy)
    if job.cases is not None:
        own = job.policies or [None] * len(job.cases)
        people = group_by_debtor(
            [
                _adapt(cp, base, c, job.start) if path is None else _on_own(path, c, job.start)
                for c, path in zip(job.cases, own, strict=True)
            ]
        )
    else:
        other = registry.load(job.other_policy) if job.other_policy else None
        people = synthetic_people(
            base, job.seed, job.first, job.count, job.start, job.days, job.portfolio, other
        )
        if base is not cp:
            people = [
                [sc if sc.policy else _adapt(cp, base, sc.case, job.start) for sc in p]
                for p in people
            ]
    out = open(job.trace_path, "w", encoding="utf-8") if job.trace_path else None
    involved = {cp.hash: cp}
    for p in people:
        for sc in p:
            if sc.policy is not None:
                involved.setdefault(sc.policy.hash, sc.policy)
    auditor = PersonAuditor({h: limits_of(c) for h, c in involved.items()}) if job.audit else None
    try:
        trace = TraceWriter(out, job.label) if out is not None else None
        for person in people:
            run_person(
                cp,
                person,
                job.start,
                horizon,
                job.seed,
                job.behaviour,
                tally,
                job.audit,
                trace,
                auditor,
            )
    finally:
        if out is not None:
            out.close()
    return tally


def _resolve(name: str) -> str:
    try:
        return str(resolve_policy(name).resolve())
    except FileNotFoundError as e:
        raise OverdueError(str(e)) from None


def _jobs(
    cfg: SimConfig,
    paths: list[str],
    start: datetime,
    cases: list[CaseFile] | None,
    tmp: str | None,
    policies: list[str | None] | None = None,
    other: str | None = None,
) -> Iterator[_Job]:
    total = len(cases) if cases is not None else cfg.cases
    chunks = (
        _person_chunks(cases)
        if cases is not None
        else [(first, min(CHUNK, total - first)) for first in range(0, total, CHUNK)]
    )
    for p, path in enumerate(paths):
        label = registry.load(path).policy.name if len(paths) > 1 else None
        for k, (first, count) in enumerate(chunks):
            yield _Job(
                policy=path,
                base_policy=paths[0],
                label=label,
                first=first,
                count=count,
                cases=cases[first : first + count] if cases is not None else None,
                policies=policies[first : first + count] if policies is not None else None,
                other_policy=other,
                start=start,
                days=cfg.days,
                seed=cfg.seed,
                behaviour=cfg.behaviour,
                portfolio=cfg.portfolio_spec,
                audit=cfg.audit,
                trace_path=os.path.join(tmp, f"{p}-{k:06d}.jsonl") if tmp else None,
            )


def _by_person(cases: list[CaseFile]) -> list[CaseFile]:
    """The cases with each person's accounts next to each other (in order of first appearance)."""
    groups: dict[str, list[CaseFile]] = {}
    for c in cases:
        groups.setdefault(c.debtor.id, []).append(c)
    return [c for g in groups.values() for c in g]


def _person_chunks(cases: list[CaseFile]) -> list[tuple[int, int]]:
    """Chunks of about `CHUNK` cases (first, count) that never split one person's accounts."""
    out: list[tuple[int, int]] = []
    first = 0
    for i in range(1, len(cases) + 1):
        boundary = i == len(cases) or cases[i].debtor.id != cases[i - 1].debtor.id
        if boundary and (i - first >= CHUNK or i == len(cases)):
            out.append((first, i - first))
            first = i
    return out


def simulate(
    cfg: SimConfig,
    progress: Callable[[int], None] | None = None,
    cases: list[CaseFile] | None = None,
) -> SimResult:
    """Run the simulation described by `cfg`.

    Args:
        cfg: what to simulate.
        progress: called with the number of cases each finished chunk held.
        cases: the portfolio, when not synthetic (as read from `cfg.portfolio` by the caller).

    Raises:
        OverdueError: a policy cannot be found or does not load.
    """
    if cfg.cases < 1 and cases is None:
        raise OverdueError("--cases must be at least 1")
    if cfg.days < 1:
        raise OverdueError("--days must be at least 1")
    if cfg.other_policy is not None and cases is not None:
        raise OverdueError(
            "--other-policy is for synthetic portfolios: a case file's rows name theirs"
        )
    if cases is not None:
        cases = _by_person(cases)
    paths = [_resolve(cfg.policy)] + ([_resolve(cfg.compare)] if cfg.compare else [])
    compiled = [registry.load(p) for p in paths]  # load (and fail) before any process starts
    base_dir = Path(cfg.portfolio).parent if cfg.portfolio else None
    own = own_policies(cases, compiled[0], base_dir) if cases is not None else None
    other = (
        other_policy_file(cfg.other_policy, compiled[0])
        if cases is None and cfg.other_policy
        else None
    )
    start_day = cfg.start or _default_start(cases, compiled[0])
    start = datetime.combine(start_day, datetime.min.time(), tzinfo=UTC)
    t0 = clock.perf_counter()
    tmp = tempfile.mkdtemp(prefix="overdue-trace-") if cfg.trace else None
    jobs = list(_jobs(cfg, paths, start, cases, tmp, own, other))
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(jobs)))
    tallies = [Tally(days=cfg.days) for _ in paths]
    index = {p: i for i, p in enumerate(paths)}
    try:
        if workers == 1:
            results: Iterator[Tally] = map(_run_job, jobs)
            _collect(jobs, results, tallies, index, progress)
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers, initializer=_default_signals) as pool:
                _collect(jobs, pool.imap(_run_job, jobs), tallies, index, progress)
                # Let the workers finish and exit on their own: leaving the block would SIGTERM
                # them, and a child forked from a process that handles SIGTERM itself (an asyncio
                # worker, a test session) inherits that handler and never exits: the join hangs.
                pool.close()
                pool.join()
        if cfg.trace and tmp:
            _join_traces(cfg.trace, jobs)
    finally:
        if tmp:
            for j in jobs:
                if j.trace_path and os.path.exists(j.trace_path):
                    os.remove(j.trace_path)
            os.rmdir(tmp)
    elapsed = clock.perf_counter() - t0
    runs = [
        PolicyRun(cp.policy.name, p, cp.policy.currency, t)
        for cp, p, t in zip(compiled, paths, tallies, strict=True)
    ]
    return SimResult(cfg, start, runs, elapsed, workers)


def _default_signals() -> None:
    """A pool worker dies of SIGTERM and SIGINT whatever its parent had installed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _collect(
    jobs: list[_Job],
    results: Iterator[Tally],
    tallies: list[Tally],
    index: dict[str, int],
    progress: Callable[[int], None] | None,
) -> None:
    for job, t in zip(jobs, results, strict=True):
        tallies[index[job.policy]].merge(t)
        if progress is not None:
            progress(job.count)


def _join_traces(path: str, jobs: list[_Job]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as out:
            for j in jobs:
                if j.trace_path:
                    with open(j.trace_path, encoding="utf-8") as part:
                        while chunk := part.read(1 << 20):
                            out.write(chunk)
    except OSError as e:
        raise OverdueError(f"{path}: {e.strerror}") from None


def _default_start(cases: list[CaseFile] | None, cp: CompiledPolicy) -> date:
    from simulator.portfolio import DEFAULT_START

    if not cases:
        return DEFAULT_START
    spec = cp.policy.stages.get(ActiveStage.REMINDER)
    return min(c.due_date for c in cases) + timedelta(days=spec.enter_at_day if spec else 0)
