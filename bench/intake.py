"""Scenarios 3 and 6: intake rate (`case import` against bare `start_workflow`) and status-query
latency on cached and on evicted cases.

Intake times exactly what `overdue case import` does once connected: read the file, parse every
row, resolve and store its policy, and open the cases with `Cases.open_many`. The bare side starts
the same number of bare workflows with the same concurrency from inputs built beforehand. Both
start onto task queues no worker polls, so only the start path is measured.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bare import BareWorkflow
from bench.env import BenchEnv
from bench.flow import CONCURRENCY, pct, start_bare
from bench.policy import (
    Schedule,
    bare_input,
    bench_case,
    contact_policy,
    sleeper_policy,
    zone_at_noon,
)
from engine.case.intake import parse_cases
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import load_policy, resolve_policy
from workflows.client import Cases

__all__ = ["intake_scenario", "query_scenario"]

_counter = 0


async def _intake_ours(env: BenchEnv, n: int, folder: Path) -> float:
    global _counter
    _counter += 1
    tz = zone_at_noon(datetime.now(UTC))
    policy_file = folder / "bench-sleeper.yaml"
    if not policy_file.exists():
        policy_file.write_text(
            json.dumps(sleeper_policy(tz).model_dump(mode="json")), encoding="utf-8"
        )
    due = datetime.now(UTC).date()
    path = folder / f"import-{_counter}.jsonl"
    path.write_text(
        "".join(
            bench_case(f"I{_counter}-{i:05d}", tz, due, str(policy_file)).model_dump_json() + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    cases = Cases(env.client, task_queue="bench-intake-ours")
    t0 = time.perf_counter()
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    result = parse_cases(text, str(path))
    # as `case import` (overdue.runtime.PolicyCache): each named policy loaded, checked, stored once
    by_name: dict[str, CompiledPolicy] = {}
    items = []
    for row in result.rows:
        cp = by_name.get(row.case.policy)
        if cp is None:
            cp = by_name[row.case.policy] = env.store.put(
                load_policy(resolve_policy(row.case.policy, path.parent))
            )
        items.append((row.case, cp))
    counts = await cases.open_many(items, concurrency=CONCURRENCY)
    seconds = time.perf_counter() - t0
    if counts["opened"] != n or result.rejects:
        raise RuntimeError(f"intake opened {counts} of {n}, rejects {result.rejects[:3]}")
    return n / seconds


async def _intake_bare(env: BenchEnv, n: int) -> float:
    global _counter
    _counter += 1
    schedule = Schedule.starting(datetime.now(UTC), 1, 20 * 86400, 1)
    items = [
        (
            f"bare-J{_counter}-{i:05d}",
            bare_input(
                bench_case(f"J{_counter}-{i:05d}", schedule.tz, schedule.due, "bench-sleeper"),
                schedule,
            ),
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    await start_bare(env, items, task_queue="bench-intake-bare")
    return n / (time.perf_counter() - t0)


async def intake_scenario(
    env: BenchEnv, n: int, pairs: int, folder: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Scenario 3: starts per second, `case import` against bare concurrent `start_workflow`."""
    ours: list[float] = []
    bare: list[float] = []
    ratios: list[float] = []
    for p in range(pairs):
        pair: dict[str, float] = {}
        for kind in ("ours", "bare") if p % 2 == 0 else ("bare", "ours"):
            rate = await (_intake_ours(env, n, folder) if kind == "ours" else _intake_bare(env, n))
            progress(f"intake {kind}: {n} starts at {rate:.0f}/s")
            pair[kind] = rate
        ours.append(pair["ours"])
        bare.append(pair["bare"])
        ratios.append(pair["ours"] / pair["bare"])
    ratio = statistics.median(ratios)
    return {
        "cases": n,
        "pairs": pairs,
        "concurrency": CONCURRENCY,
        "ours_starts_per_s": round(statistics.median(ours), 1),
        "bare_starts_per_s": round(statistics.median(bare), 1),
        "pair_ratios": [round(r, 3) for r in ratios],
        "ratio": round(ratio, 3),
        "goal": 0.90,
        "met": ratio >= 0.90,
    }


async def _open_and_settle(env: BenchEnv, kind: str, m: int, k: int, queue: str) -> list[str]:
    """Open `m` cases with `k` contacts on `queue`; return their ids once every contact left."""
    global _counter
    _counter += 1
    tag = f"Q{_counter}"
    schedule = Schedule.starting(datetime.now(UTC), k, 1.0, 1.0)
    cp = env.store.put(contact_policy(schedule, 10_000 + _counter))
    cases = [
        bench_case(f"{tag}-{i:05d}", schedule.tz, schedule.due, cp.policy.name) for i in range(m)
    ]
    settled = asyncio.Event()
    count = 0

    def done(_: str) -> None:
        nonlocal count
        count += 1
        if count == m:
            settled.set()

    env.tracker.expect([c.case_id for c in cases], k, done)
    if kind == "ours":
        await Cases(env.client, task_queue=queue).open_many(
            [(c, cp) for c in cases], concurrency=CONCURRENCY
        )
    else:
        await start_bare(
            env, [(f"bare-{c.case_id}", bare_input(c, schedule)) for c in cases], task_queue=queue
        )
    await asyncio.wait_for(settled.wait(), 600)
    await asyncio.sleep(1.0)  # the task after the last activity (the next timer) completes
    return [c.case_id for c in cases]


async def _latencies(env: BenchEnv, kind: str, ids: list[str], queries: int) -> list[float]:
    cases = Cases(env.client)
    out: list[float] = []
    for q in range(queries):
        cid = ids[q % len(ids)]
        t0 = time.perf_counter()
        if kind == "ours":
            await cases.status(cid)
        else:
            await env.client.get_workflow_handle(f"bare-{cid}").query(BareWorkflow.status)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def query_scenario(
    env: BenchEnv, m: int, k: int, queries: int, evict_cache: int = 10
) -> dict[str, Any]:
    """Scenario 6: status query latency (ms, in process) on cached cases and on evicted ones
    (a worker whose cache holds `evict_cache` workflows, queried round-robin over `m` cases)."""
    evict_cache = max(
        1, min(evict_cache, m // 4)
    )  # round-robin over m: each query misses the cache
    out: dict[str, Any] = {
        "cases": m,
        "contacts": k,
        "queries": queries,
        "evict_cache": evict_cache,
    }
    for kind in ("ours", "bare"):
        cached_q, evict_q = f"bench-q-{kind}", f"bench-q-{kind}-evict"
        make = env.case_worker if kind == "ours" else env.bare_worker
        async with make(cached_q), make(evict_q, max_cached_workflows=evict_cache):
            cached_ids = await _open_and_settle(env, kind, m, k, cached_q)
            evicted_ids = await _open_and_settle(env, kind, m, k, evict_q)
            for label, ids in (("cached", cached_ids), ("evicted", evicted_ids)):
                lat = await _latencies(env, kind, ids, queries)
                out[f"{kind}_{label}_ms"] = {
                    "p50": round(pct(lat, 50), 2),
                    "p99": round(pct(lat, 99), 2),
                }
    return out
