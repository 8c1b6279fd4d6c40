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
import tempfile
import time as clock
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.case import events as ev
from engine.case.state import CaseFile, CaseState
from engine.decision.decide import Decision, advance, open_case
from engine.errors import EventRejected, OverdueError
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import load_compiled, resolve_policy
from simulator.audit import Auditor
from simulator.behaviour import BehaviourSpec, DebtorModel
from simulator.portfolio import PortfolioSpec, SimCase, open_moment, synthetic_case
from simulator.tally import SAMPLE_LIMIT, SERIES_STAGES, Tally, VariantTally
from simulator.trace import TraceWriter

__all__ = ["CHUNK", "PolicyRun", "SimConfig", "SimResult", "run_case", "simulate"]

#: Cases per chunk of work. Fixed (never derived from the number of processes) so that results
#: and traces are identical however many processes run.
CHUNK = 200
DAY = timedelta(days=1)
_MAX_DECISIONS = 100_000  # per case: a runaway case is a bug, not a long simulation
_STAGE_INDEX = {s: i for i, s in enumerate(SERIES_STAGES)}


@dataclass(frozen=True)
class SimConfig:
    """What to simulate.

    Attributes:
        policy: the policy (a name in `policies/` or a path); `compare`: a second one, run on the
            same portfolio with the same seed.
        cases / days / seed: portfolio size (synthetic), horizon and seed.
        start: the first day (UTC midnight) of the simulated window.
        portfolio: a case file to simulate instead of a synthetic portfolio.
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


def run_case(cp: CompiledPolicy, sc: SimCase, start: datetime, horizon: datetime, seed: int,
             spec: BehaviourSpec, tally: Tally, audit: bool = True, trace: TraceWriter | None = None) -> None:
    """Simulate one case from its opening to the horizon (or its close) into `tally`."""
    case = sc.case
    days = tally.days
    tally.cases += 1
    tally.amount_due += case.amount_due
    try:
        d = open_case(cp, case, sc.opened)
    except EventRejected as e:
        tally.refused_cases += 1
        if len(tally.rejected_samples) < SAMPLE_LIMIT:
            tally.rejected_samples.append(f"{case.case_id}: not opened: {e}")
        return
    state = d.state
    model = DebtorModel(cp, state, sc.opened, horizon, seed, spec)
    auditor = Auditor(cp, case) if audit else None
    tz = ZoneInfo(case.debtor.timezone)
    contacts: dict[str, int] = {}
    stage_delta, recovered_delta = tally.stage_delta, tally.recovered_delta
    cur = "not_open"
    now = sc.opened
    event: ev.Event | None = None
    violations = 0
    for _ in range(_MAX_DECISIONS):
        tally.decisions += 1
        outcomes: dict[str, str] = {}
        for a in d.actions:
            outcome = model.on_action(a, state, now)
            if outcome is not None:
                outcomes[a.action_id] = outcome
                tally.calls[outcome] += 1
        if d.records:
            _count(tally, d, contacts)
            if trace is not None:
                trace.write(case.case_id, tz, d, outcomes)
        if auditor is not None:
            found = auditor.observe(d, now, event)
            if found:
                violations += len(found)
                room = SAMPLE_LIMIT - len(tally.violation_samples)
                tally.violation_samples.extend(found[:max(0, room)])
        if state.stage != cur:
            k = _day(now, start, days)
            stage_delta[k][_STAGE_INDEX[cur]] -= 1
            stage_delta[k][_STAGE_INDEX[state.stage]] += 1
            cur = state.stage
        if state.closed:
            break
        step = _next(cp, state, d, model, horizon, tally)
        if step is None:
            break
        d, now, event = step
        if isinstance(event, ev.Payment):
            recovered_delta[_day(now, start, days)] += event.amount
    else:  # pragma: no cover - a runaway case
        raise RuntimeError(f"case {case.case_id} did not settle in {_MAX_DECISIONS} decisions")
    _finish(tally, state, contacts, violations)


def _next(cp: CompiledPolicy, state: CaseState, d: Decision, model: DebtorModel, horizon: datetime,
          tally: Tally) -> tuple[Decision, datetime, ev.Event | None] | None:
    """The next decision: the debtor's next valid event or the core's wake-up, whichever first."""
    wake = d.next_wake_up
    while True:
        nxt = model.next_at()
        if nxt is None or (wake is not None and nxt > wake):
            if wake is None or wake >= horizon:
                return None
            return advance(cp, state, None, wake), wake, None
        if nxt >= horizon:
            return None
        at, event = model.pop(state)
        if event is None:
            continue
        try:
            decision = advance(cp, state, event, at)
        except EventRejected as e:
            tally.rejected_events += 1
            if len(tally.rejected_samples) < SAMPLE_LIMIT:
                tally.rejected_samples.append(f"{state.case.case_id} {at.isoformat()} {event.kind}: {e}")
            continue
        tally.events[event.kind] += 1
        model.on_accepted(event, state, at)
        return decision, at, event


def _finish(tally: Tally, state: CaseState, contacts: dict[str, int], violations: int) -> None:
    tally.final_stages[state.stage] += 1
    tally.recovered += state.paid_total
    tally.violations += violations
    total = 0
    for ch, n in contacts.items():
        tally.contacts[ch] += n
        total += n
    for ch in ("sms", "push", "email", "call", "letter", "field_visit"):
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
    start: datetime
    days: int
    seed: int
    behaviour: BehaviourSpec
    portfolio: PortfolioSpec
    audit: bool
    trace_path: str | None


_LOADED: dict[str, CompiledPolicy] = {}


def _policy(path: str) -> CompiledPolicy:
    cp = _LOADED.get(path)
    if cp is None:
        cp = _LOADED[path] = load_compiled(path)
    return cp


def _adapt(cp: CompiledPolicy, base: CompiledPolicy, case: CaseFile, start: datetime) -> SimCase:
    if cp is not base and case.currency == base.policy.currency != cp.policy.currency:
        # The same portfolio under the policy compared: same figures, in that policy's currency.
        case = case.model_copy(update={"currency": cp.policy.currency})
    return SimCase(case, open_moment(cp, case, start))


def _run_job(job: _Job) -> Tally:
    cp = _policy(job.policy)
    horizon = job.start + job.days * DAY
    tally = Tally(days=job.days)
    base = _policy(job.base_policy)
    if job.cases is not None:
        cases = [_adapt(cp, base, c, job.start) for c in job.cases]
    else:
        cases = []
        for i in range(job.first, job.first + job.count):
            sc = synthetic_case(base, job.seed, i, job.start, job.days, job.portfolio)
            cases.append(sc if base is cp else _adapt(cp, base, sc.case, job.start))
    out = open(job.trace_path, "w", encoding="utf-8") if job.trace_path else None
    try:
        trace = TraceWriter(out, job.label) if out is not None else None
        for sc in cases:
            run_case(cp, sc, job.start, horizon, job.seed, job.behaviour, tally, job.audit, trace)
    finally:
        if out is not None:
            out.close()
    return tally


def _resolve(name: str) -> str:
    try:
        return str(resolve_policy(name).resolve())
    except FileNotFoundError as e:
        raise OverdueError(str(e)) from None


def _jobs(cfg: SimConfig, paths: list[str], start: datetime, cases: list[CaseFile] | None,
          tmp: str | None) -> Iterator[_Job]:
    total = len(cases) if cases is not None else cfg.cases
    for p, path in enumerate(paths):
        label = _policy(path).policy.name if len(paths) > 1 else None
        for k, first in enumerate(range(0, total, CHUNK)):
            count = min(CHUNK, total - first)
            yield _Job(policy=path, base_policy=paths[0], label=label, first=first, count=count,
                       cases=cases[first:first + count] if cases is not None else None, start=start,
                       days=cfg.days, seed=cfg.seed, behaviour=cfg.behaviour, portfolio=cfg.portfolio_spec,
                       audit=cfg.audit, trace_path=os.path.join(tmp, f"{p}-{k:06d}.jsonl") if tmp else None)


def simulate(cfg: SimConfig, progress: Callable[[int], None] | None = None,
             cases: list[CaseFile] | None = None) -> SimResult:
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
    paths = [_resolve(cfg.policy)] + ([_resolve(cfg.compare)] if cfg.compare else [])
    compiled = [_policy(p) for p in paths]  # load (and fail) before any process starts
    start_day = cfg.start or _default_start(cases, compiled[0])
    start = datetime.combine(start_day, datetime.min.time(), tzinfo=UTC)
    t0 = clock.perf_counter()
    tmp = tempfile.mkdtemp(prefix="overdue-trace-") if cfg.trace else None
    jobs = list(_jobs(cfg, paths, start, cases, tmp))
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(jobs)))
    tallies = [Tally(days=cfg.days) for _ in paths]
    index = {p: i for i, p in enumerate(paths)}
    try:
        if workers == 1:
            results: Iterator[Tally] = map(_run_job, jobs)
            _collect(jobs, results, tallies, index, progress)
        else:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                _collect(jobs, pool.imap(_run_job, jobs), tallies, index, progress)
        if cfg.trace and tmp:
            _join_traces(cfg.trace, jobs)
    finally:
        if tmp:
            for j in jobs:
                if j.trace_path and os.path.exists(j.trace_path):
                    os.remove(j.trace_path)
            os.rmdir(tmp)
    elapsed = clock.perf_counter() - t0
    runs = [PolicyRun(cp.policy.name, p, cp.policy.currency, t) for cp, p, t in zip(compiled, paths, tallies, strict=True)]
    return SimResult(cfg, start, runs, elapsed, workers)


def _collect(jobs: list[_Job], results: Iterator[Tally], tallies: list[Tally], index: dict[str, int],
             progress: Callable[[int], None] | None) -> None:
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
    spec = cp.policy.stages.get("reminder")
    return min(c.due_date for c in cases) + timedelta(days=spec.enter_at_day if spec else 0)

