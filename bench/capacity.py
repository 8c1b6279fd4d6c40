"""Scenario 4: as many open, sleeping cases as asked for, on the embedded default.

The worker is the production one, `overdue worker`, in its own process (so its resident memory
is measured alone), on the benchmark's dev server. Cases are opened with `Cases.open_many` in
chunks (the driver's memory stays bounded) on a policy whose only contact is twenty days away,
so each case opens, decides once and sleeps. At 10 %, 50 % and 100 % (and when the cache fills)
the driver waits until the worker has taken every opened case through its first task (the task
queue's backlog is empty), and records the worker's and the server's resident memory and the SQLite file's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.service import RPCError

from bench.env import BenchEnv
from bench.flow import CONCURRENCY
from bench.policy import bench_case, sleeper_policy, zone_at_noon
from engine.case.state import CaseFile
from engine.policy.compiled import CompiledPolicy
from workflows.client import TASK_QUEUE, Cases
from workflows.types import workflow_id

__all__ = ["capacity_scenario"]

CHUNK = 1000
#: The production worker's sticky cache (`build_worker`'s default): memory should stop growing here.
CACHE = 2000
_MB = 1024 * 1024


def _start_worker(env: BenchEnv) -> subprocess.Popen[bytes]:
    """`overdue worker` on the benchmark's server and data folder."""
    # The benchmark's own server, whatever Temporal profile or channel the caller has configured.
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("TEMPORAL_", "OVERDUE_SMTP_", "OVERDUE_WEBHOOK_", "OVERDUE_DATABASE_URL")
        )
    }
    environ.update(
        {
            "TEMPORAL_ADDRESS": env.server.address,
            "TEMPORAL_NAMESPACE": env.server.namespace,
            "RUST_LOG": "error",
        }
    )
    with (env.folder / "capacity-worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "overdue.cli", "worker", "--data", str(env.folder)],
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _db_tables(path: Path) -> dict[str, int]:
    """Bytes per table and index of the server's SQLite file (`dbstat`), and its free pages."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            sizes = dict(
                conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
            )
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            sizes["(free pages)"] = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {str(k): int(v) for k, v in sizes.items()}


def _per_case(
    before: dict[str, int], after: dict[str, int], n: int, top: int = 10
) -> dict[str, int]:
    """Where the database grew: bytes per case of the tables and indexes that grew most."""
    grown = {k: (after[k] - before.get(k, 0)) / n for k in after}
    # The visibility table has one index per search attribute column the server pre-allocates
    # (by_keyword_01, by_bool_02, ...): every open workflow has a row in each, set or not.
    vis = {k: v for k, v in grown.items() if k.startswith("by_")}
    rest = {k: v for k, v in grown.items() if not k.startswith("by_")}
    rest[f"(visibility indexes by_*: {len(vis)})"] = sum(vis.values())
    out = {k: round(v) for k, v in sorted(rest.items(), key=lambda kv: -kv[1])[:top] if v >= 1}
    out["(all tables and indexes)"] = round(sum(v for k, v in grown.items() if k != "(free pages)"))
    return out


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _main_db(env: BenchEnv) -> int:
    """The SQLite file alone (without its write-ahead log)."""
    return env.server.db_path.stat().st_size


async def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


async def _settled(env: BenchEnv, last_ids: list[str], limit_s: float) -> float:
    """Wait until the worker has taken every opened case's first task: the queue's workflow-task
    backlog is empty and none of the cases opened last still has a workflow task pending (tasks
    are taken roughly in order). The seconds it took."""
    request = DescribeTaskQueueRequest(
        namespace=env.client.namespace,
        task_queue=TaskQueue(name=TASK_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        report_stats=True,
    )
    t0 = time.perf_counter()

    async def pending(cid: str) -> bool:
        desc = await env.client.get_workflow_handle(workflow_id(cid)).describe()
        return desc.raw_description.HasField("pending_workflow_task")

    backlog = -1
    while True:
        try:  # a busy server may drop a call (deadline, cancelled): ask again
            backlog = (
                await env.client.workflow_service.describe_task_queue(request)
            ).stats.approximate_backlog_count
            if backlog == 0 and not any(await asyncio.gather(*map(pending, last_ids))):
                return time.perf_counter() - t0
        except RPCError:
            pass
        if time.perf_counter() - t0 > limit_s:
            raise TimeoutError(f"{backlog} first tasks still queued after {limit_s:.0f}s")
        await asyncio.sleep(1.0)


async def _open_chunk(
    cases: Cases, batch: list[tuple[CaseFile, CompiledPolicy]], attempts: int = 5
) -> None:
    """Open a chunk; a call the busy server dropped is retried (cases already open count as open)."""
    for attempt in range(attempts):
        try:
            await cases.open_many(batch, concurrency=CONCURRENCY)
            return
        except RPCError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(2.0)


async def capacity_scenario(
    env: BenchEnv, n: int, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Open `n` sleeping cases; the start rate, the database per case and the worker's memory."""
    tz = zone_at_noon(datetime.now(UTC))
    due = datetime.now(UTC).date()
    cp = env.store.put(sleeper_policy(tz))
    cases = Cases(env.client, task_queue=TASK_QUEUE)
    proc = _start_worker(env)
    worker = psutil.Process(proc.pid)
    points: list[dict[str, Any]] = []
    try:
        warm = max(1, min(100, n // 100))
        await cases.open_many(
            [(bench_case(f"W-{i:06d}", tz, due, cp.policy.name), cp) for i in range(warm)]
        )
        await _settled(env, [f"W-{i:06d}" for i in range(warm)], 120)
        base = {
            "worker_rss_mb": round(worker.memory_info().rss / _MB, 1),
            "server_rss_mb": round(env.server_rss() / _MB, 1),
            "db_mb": round(env.db_bytes() / _MB, 1),
        }
        db0, main0 = env.db_bytes(), _main_db(env)
        tables0 = await asyncio.to_thread(_db_tables, env.server.db_path)
        server = psutil.Process(env.server.pid)
        cpu0, scpu0 = _cpu(worker), _cpu(server)
        checkpoints = sorted(
            {max(1, n // 10), max(1, n // 2), n} | ({CACHE} if CACHE < n else set())
        )
        opened = 0
        open_seconds = 0.0
        t_start = time.perf_counter()
        for mark in checkpoints:
            while opened < mark:
                size = min(CHUNK, mark - opened)
                batch = [
                    (bench_case(f"K-{opened + i:06d}", tz, due, cp.policy.name), cp)
                    for i in range(size)
                ]
                t0 = time.perf_counter()
                await _open_chunk(cases, batch)
                open_seconds += time.perf_counter() - t0
                opened += size
            tail = [f"K-{i:06d}" for i in range(max(0, opened - 20), opened)]
            settle = await _settled(env, tail, 600 + opened / 20)
            point = {
                "open_cases": opened,
                "elapsed_s": round(time.perf_counter() - t_start, 1),
                "settle_wait_s": round(settle, 1),
                "worker_rss_mb": round(worker.memory_info().rss / _MB, 1),
                "server_rss_mb": round(env.server_rss() / _MB, 1),
                "db_mb": round(env.db_bytes() / _MB, 1),
            }
            points.append(point)
            progress(
                f"capacity: {opened} open cases, worker RSS {point['worker_rss_mb']} MB, "
                f"server RSS {point['server_rss_mb']} MB, database {point['db_mb']} MB"
            )
        total = time.perf_counter() - t_start
        cpu, scpu = (_cpu(worker) - cpu0) * 1000 / n, (_cpu(server) - scpu0) * 1000 / n
    finally:
        with contextlib.suppress(Exception):
            await _stop_worker(proc)
    # Flat means: once the cache is full (and evictions have settled), more open cases add no
    # memory. Judged from the half-way point (or the first point past the cache) to the end.
    full = [p for p in points if p["open_cases"] >= CACHE] or points
    mid = next((p for p in full if p["open_cases"] >= n // 2), full[0])
    last = points[-1]
    growth = (
        (last["worker_rss_mb"] - mid["worker_rss_mb"]) / mid["worker_rss_mb"]
        if mid["worker_rss_mb"]
        else 0.0
    )
    filling = full[0]
    kb_filling = (
        (filling["worker_rss_mb"] - base["worker_rss_mb"]) * 1024 / max(1, filling["open_cases"])
    )
    kb_after = (
        (last["worker_rss_mb"] - mid["worker_rss_mb"])
        * 1024
        / max(1, last["open_cases"] - mid["open_cases"])
    )
    return {
        "cases": n,
        "seconds": round(total, 1),
        "open_seconds": round(open_seconds, 1),
        "starts_per_s": round(n / open_seconds, 1) if open_seconds else 0.0,
        "worker_cpu_ms_per_case": round(cpu, 1),
        "server_cpu_ms_per_case": round(scpu, 1),
        "db_bytes_per_case": round((env.db_bytes() - db0) / n),
        "db_main_file_bytes_per_case": round((_main_db(env) - main0) / n),
        "db_bytes_per_case_by_table": _per_case(
            tables0, await asyncio.to_thread(_db_tables, env.server.db_path), n
        ),
        "baseline": base,
        "points": points,
        "worker_rss_growth_after_cache_full": round(growth, 3),
        "growth_from_cases": mid["open_cases"],
        "worker_rss_kb_per_case_until_cache_full": round(kb_filling, 1),
        "worker_rss_kb_per_case_after": round(kb_after, 1),
        "max_cached_workflows": CACHE,
        "flat": growth <= 0.10,
    }
