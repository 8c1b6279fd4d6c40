"""Scenarios 1 and 2: case throughput and history size, the case workflow against the bare one.

A run opens N cases whose K contacts fall at the same absolute moments a few seconds apart,
pays each case (an update) the moment its last contact is recorded, and ends when every payment
has been answered (the workflow completes in that same task). Runs alternate ours/bare, with the
order flipped every pair (ABBA...) so slow drift of the machine or the growing SQLite file
cancels out; the ratio reported is the median of the pairs.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from bench.bare import BareWorkflow
from bench.env import BARE_QUEUE, BenchEnv
from bench.policy import AMOUNT, CURRENCY, Schedule, bare_input, bench_case, contact_policy
from engine.case.events import Payment
from workers.outbox import Outbox
from workflows.types import EventResult

__all__ = ["RunResult", "history_scenario", "one_run", "pct", "start_bare", "throughput_scenario"]

#: Starts in flight at once, for both kinds (what `Cases.open_many` uses).
CONCURRENCY = 64
_run_counter = 0


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class RunResult:
    """One run of N cases of one kind."""

    kind: str
    cases: int
    contacts: int
    seconds: float
    lag_ms: list[float] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    #: CPU milliseconds per case: this process (driver and workers) and the Temporal server.
    cpu_ms: float = 0.0
    server_cpu_ms: float = 0.0

    @property
    def rate(self) -> float:
        """Cases per second, from the first start to the last payment answered."""
        return self.cases / self.seconds if self.seconds > 0 else 0.0


async def start_bare(
    env: BenchEnv,
    items: list[tuple[str, Any]],
    task_queue: str = BARE_QUEUE,
    concurrency: int = CONCURRENCY,
) -> None:
    """Start bare workflows concurrently (`concurrency` in flight), as `open_many` does cases."""
    sem = asyncio.Semaphore(concurrency)

    async def one(wid: str, inp: Any) -> None:
        async with sem:
            await env.client.start_workflow(BareWorkflow.run, inp, id=wid, task_queue=task_queue)

    await asyncio.gather(*(one(w, i) for w, i in items))


def _lags(outbox: Outbox, prefix: str, schedule: Schedule) -> list[float]:
    """Milliseconds from each contact's planned moment to its outbox record."""
    moments = {schedule.key(i): m for i, m in enumerate(schedule.moments)}
    out = []
    for row in outbox.list():
        if row.case_id.startswith(prefix):
            planned = moments.get(row.action_id.rsplit("/", 1)[-1])
            if planned is not None:
                out.append((row.recorded_at - planned).total_seconds() * 1000)
    return out


async def one_run(
    env: BenchEnv,
    kind: str,
    n: int,
    k: int,
    spacing: float,
    *,
    lead: float | None = None,
    pay_delay: float = 0.0,
    limit_s: float = 1800,
) -> RunResult:
    """One run: open `n` cases of `kind` ("ours" or "bare") with `k` contacts, pay each after its
    last contact, and time it from the first start to the last payment answered."""
    global _run_counter
    _run_counter += 1
    tag = f"{'O' if kind == 'ours' else 'B'}{_run_counter}"
    schedule = Schedule.starting(datetime.now(UTC), k, spacing if lead is None else lead, spacing)
    cp = env.store.put(contact_policy(schedule, _run_counter))
    cases = [
        bench_case(f"{tag}-{i:05d}", schedule.tz, schedule.due, cp.policy.name) for i in range(n)
    ]
    all_paid = asyncio.Event()
    answered = 0

    if kind == "ours":

        def pay(cid: str) -> Awaitable[EventResult]:
            return env.cases.send(cid, Payment(amount=AMOUNT, currency=CURRENCY))
    else:

        def pay(cid: str) -> Awaitable[EventResult]:
            handle: WorkflowHandle[Any, Any] = env.client.get_workflow_handle(f"bare-{cid}")
            return handle.execute_update(
                BareWorkflow.pay, Payment(amount=AMOUNT, currency=CURRENCY)
            )

    async def pay_one(cid: str) -> None:
        nonlocal answered
        if pay_delay:
            await asyncio.sleep(pay_delay)
        await pay(cid)
        answered += 1
        if answered == n:
            all_paid.set()

    def done(cid: str) -> None:
        env.spawn(pay_one(cid))

    env.tracker.expect([c.case_id for c in cases], k, done)
    me, server = psutil.Process(), psutil.Process(env.server.pid)
    cpu0, scpu0 = _cpu(me), _cpu(server)
    t0 = time.perf_counter()
    if kind == "ours":
        await env.cases.open_many([(c, cp) for c in cases], concurrency=CONCURRENCY)
    else:
        await start_bare(env, [(f"bare-{c.case_id}", bare_input(c, schedule)) for c in cases])
    await asyncio.wait_for(all_paid.wait(), limit_s)
    seconds = time.perf_counter() - t0
    cpu, scpu = (_cpu(me) - cpu0) * 1000 / n, (_cpu(server) - scpu0) * 1000 / n
    outbox = env.ours_outbox if kind == "ours" else env.bare_outbox
    wids = [f"case-{c.case_id}" if kind == "ours" else f"bare-{c.case_id}" for c in cases]
    lags = await asyncio.to_thread(_lags, outbox, f"{tag}-", schedule)
    return RunResult(kind, n, k, seconds, lags, wids, cpu, scpu)


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def throughput_scenario(
    env: BenchEnv,
    n: int,
    k: int,
    spacing: float,
    pairs: int,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Scenario 1: alternate ours/bare runs (ABBA...), the median ratio of case throughput.

    With more than one pair, a small unmeasured run of each kind goes first, so first-time costs
    (imports, pydantic schemas, the first sandbox) land on neither side."""
    if pairs > 1:
        for kind in ("ours", "bare"):
            await one_run(env, kind, min(n, 50), k, spacing)
    runs: list[RunResult] = []
    ratios: list[float] = []
    for p in range(pairs):
        order = ("ours", "bare") if p % 2 == 0 else ("bare", "ours")
        pair: dict[str, RunResult] = {}
        for kind in order:
            r = await one_run(env, kind, n, k, spacing)
            progress(
                f"throughput {kind}: {n} cases x {k} contacts in {r.seconds:.1f}s = {r.rate:.1f} cases/s "
                f"(CPU per case: {r.cpu_ms:.0f} ms here, {r.server_cpu_ms:.0f} ms server)"
            )
            pair[kind] = r
            runs.append(r)
        ratios.append(pair["ours"].rate / pair["bare"].rate)
    ours = [r for r in runs if r.kind == "ours"]
    bare = [r for r in runs if r.kind == "bare"]
    ours_lag = [x for r in ours for x in r.lag_ms]
    bare_lag = [x for r in bare for x in r.lag_ms]
    return {
        "cases": n,
        "contacts": k,
        "spacing_s": spacing,
        "pairs": pairs,
        "ours_cases_per_s": round(statistics.median(r.rate for r in ours), 2),
        "bare_cases_per_s": round(statistics.median(r.rate for r in bare), 2),
        "ours_seconds": [round(r.seconds, 2) for r in ours],
        "bare_seconds": [round(r.seconds, 2) for r in bare],
        "pair_ratios": [round(x, 3) for x in ratios],
        "ratio": round(statistics.median(ratios), 3),
        "ours_cpu_ms_per_case": round(statistics.median(r.cpu_ms for r in ours), 1),
        "bare_cpu_ms_per_case": round(statistics.median(r.cpu_ms for r in bare), 1),
        "ours_server_cpu_ms_per_case": round(statistics.median(r.server_cpu_ms for r in ours), 1),
        "bare_server_cpu_ms_per_case": round(statistics.median(r.server_cpu_ms for r in bare), 1),
        "ours_contact_lag_ms": {
            "p50": round(pct(ours_lag, 50), 1),
            "p99": round(pct(ours_lag, 99), 1),
        },
        "bare_contact_lag_ms": {
            "p50": round(pct(bare_lag, 50), 1),
            "p99": round(pct(bare_lag, 99), 1),
        },
        "goal": 0.90,
        "met": statistics.median(ratios) >= 0.90,
    }


async def _history_of(env: BenchEnv, wid: str) -> tuple[int, int, Counter[str], Counter[str]]:
    hist = await env.client.get_workflow_handle(wid).fetch_history()
    kinds: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for e in hist.events:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        kinds[name] += 1
        sizes[name] += e.ByteSize()
    return len(hist.events), sum(sizes.values()), kinds, sizes


async def history_scenario(env: BenchEnv, m: int, k: int, spacing: float) -> dict[str, Any]:
    """Scenario 2: events and bytes of one full lifecycle (K contacts, then paid in full), ours
    against the bare workflow, on a quiet system (payments a moment after the last contact)."""
    out: dict[str, Any] = {"cases": m, "contacts": k}
    per: dict[str, tuple[float, float, Counter[str], Counter[str]]] = {}
    for kind in ("ours", "bare"):
        r = await one_run(env, kind, m, k, spacing, lead=2.0, pay_delay=1.0)
        stats = [await _history_of(env, w) for w in r.handles]
        kinds: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for _, _, ks, ss in stats:
            kinds.update(ks)
            sizes.update(ss)
        per[kind] = (
            statistics.mean(s[0] for s in stats),
            statistics.mean(s[1] for s in stats),
            kinds,
            sizes,
        )
    (oe, ob, ok, osz), (be, bb, bk, bsz) = per["ours"], per["bare"]
    names = sorted(set(ok) | set(bk))
    out.update(
        {
            "ours_events": round(oe, 1),
            "bare_events": round(be, 1),
            "ours_bytes": round(ob),
            "bare_bytes": round(bb),
            "events_ratio": round(oe / be, 3),
            "bytes_ratio": round(ob / bb, 3),
            "extra_events": {n: round((ok[n] - bk[n]) / m, 2) for n in names if ok[n] != bk[n]},
            "extra_bytes": {n: round((osz[n] - bsz[n]) / m) for n in names if osz[n] != bsz[n]},
            "goal": 1.10,
        }
    )
    out["met"] = out["events_ratio"] <= 1.10 and out["bytes_ratio"] <= 1.10
    return out
