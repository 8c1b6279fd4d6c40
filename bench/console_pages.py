"""Response time of the console's queue and portfolio pages with a large open portfolio.

Starts Temporal's dev server on a fresh folder, opens N cases (no worker: the client sets every
search attribute when it starts a case, which is all the pages read), signs in to an in-process
console and times each page R times. The portfolio pages serve the background refresher's
snapshot, so the bench also times how long the first request waits for the first snapshot, a
refresh itself (`POST /api/portfolio/refresh`, K times), and the portfolio page while a refresh
runs in the same process. Prints a table and, last, one JSON line::

    .venv/bin/python -m bench.console_pages --cases 10000 --repeat 20 --refreshes 3

The cases are the demo portfolio's (the simulator's synthetic debtors) on a copy of the
consumer-credit-line policy whose escalation asks for the legal-referral approval at once, so the
approvals queue is as full as a real backlog's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from console.roles import Role
from console.server import start, state_for, user_store
from engine.policy.files import POLICY_DIR, load_policy
from overdue.demo import demo_portfolio
from overdue.runtime import PolicyCache
from workers.client import connect
from workers.converter import data_converter, load_or_create_key
from workers.dataplane.schema import portfolio_snapshots
from workers.devserver import DevServer, free_port
from workflows.client import Cases

__all__ = ["main", "measure"]

PAGES = (
    "/queues/approvals",
    "/queues/issues",
    "/queues/calls",
    "/portfolio",
    "/api/queues/approvals",
    "/api/queues/calls",
    "/api/portfolio",
)


def _policy(folder: Path) -> Path:
    text = (POLICY_DIR / "consumer-credit-line.yaml").read_text(encoding="utf-8")
    text = text.replace("name: consumer-credit-line", "name: bench-approval-now", 1)
    text = text.replace(
        "  escalation:\n    description:", "  escalation:\n    min_days: 0\n    description:", 1
    )
    path = folder / "bench-approval-now.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _stats(ts: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(1000 * statistics.median(ts), 1),
        "p95_ms": round(1000 * sorted(ts)[max(0, int(0.95 * len(ts)) - 1)], 1),
        "max_ms": round(1000 * max(ts), 1),
    }


async def _during_refresh(web: httpx.AsyncClient, headers: dict[str, str]) -> list[float]:
    """Time the portfolio page again and again while a refresh runs."""
    refresh = asyncio.create_task(web.post("/api/portfolio/refresh", headers=headers))
    await asyncio.sleep(0.5)  # let the refresh start
    times: list[float] = []
    while not refresh.done() or not times:
        t = time.perf_counter()
        (await web.get("/portfolio", headers=headers)).raise_for_status()
        times.append(time.perf_counter() - t)
    (await refresh).raise_for_status()
    return times


async def measure(n_cases: int, repeat: int, refreshes: int = 3) -> dict[str, object]:
    """Open `n_cases`, then time every page `repeat` times and the refresh `refreshes` times;
    the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="overdue-console-bench-") as tmp:
        folder = Path(tmp)
        server = DevServer(folder / "server", port=free_port(), headless=True)
        await server.start()
        try:
            client = await connect(
                data_converter(load_or_create_key(folder)), target_host=server.address
            )
            cp = PolicyCache(folder).store.put(load_policy(_policy(folder)))
            cases = demo_portfolio([cp], datetime.now(UTC).date(), n_cases, seed=12)
            t0 = time.perf_counter()
            await Cases(client).open_many(((c, cp) for c in cases), concurrency=64)
            open_s = time.perf_counter() - t0
            for _ in range(600):  # visibility catches up within seconds
                if (await client.count_workflows("WorkflowType = 'Case'")).count >= n_cases:
                    break
                await asyncio.sleep(0.5)
            users = user_store(folder)
            users.add("bench", Role.ADMIN, "bench-password")
            token = users.issue_token("bench")
            console = await start(state_for(client, folder, users=users), port=free_port())
            timings: dict[str, list[float]] = {}
            sizes: dict[str, int] = {}
            refresh_server: list[float] = []
            refresh_wall: list[float] = []
            try:
                async with httpx.AsyncClient(base_url=console.url, timeout=600) as web:
                    headers = {"Authorization": f"Bearer {token}"}
                    t = time.perf_counter()  # the lifespan started the first refresh
                    (await web.get("/api/portfolio", headers=headers)).raise_for_status()
                    first_wait = time.perf_counter() - t
                    form = await web.get("/login")
                    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
                    await web.post(
                        "/login", data={"name": "bench", "password": "bench-password", "csrf": csrf}
                    )
                    for page in PAGES:
                        await web.get(page, headers=headers)  # warm-up
                        for _ in range(repeat):
                            t = time.perf_counter()
                            r = await web.get(page, headers=headers)
                            timings.setdefault(page, []).append(time.perf_counter() - t)
                            r.raise_for_status()
                            sizes[page] = len(r.content)
                    waiting = (await web.get("/api/queues/approvals", headers=headers)).json()[
                        "count"
                    ]
                    for _ in range(refreshes):
                        t = time.perf_counter()
                        r = await web.post("/api/portfolio/refresh", headers=headers)
                        refresh_wall.append(time.perf_counter() - t)
                        r.raise_for_status()
                        refresh_server.append(r.json()["refresh"]["seconds"])
                    during = await _during_refresh(web, headers)
                with users.plane.engine.connect() as conn:
                    stored = conn.execute(
                        sa.select(
                            sa.func.length(portfolio_snapshots.c.cases_json),
                            sa.func.length(portfolio_snapshots.c.figures_json),
                        )
                    ).one()
            finally:
                await console.stop()
                users.close()
        finally:
            await server.stop()
    return {
        "cases": n_cases,
        "repeat": repeat,
        "open_seconds": round(open_s, 1),
        "approvals_waiting": waiting,
        "pages": {p: {**_stats(ts), "bytes": sizes[p]} for p, ts in timings.items()},
        "first_snapshot_wait_seconds": round(first_wait, 2),
        "refresh": {
            "seconds": [round(s, 2) for s in refresh_server],
            "median_seconds": round(statistics.median(refresh_server), 2),
            "wall_median_seconds": round(statistics.median(refresh_wall), 2),
        },
        "portfolio_page_during_refresh": {**_stats(during), "requests": len(during)},
        "snapshot_row_bytes": {"cases_json": int(stored[0]), "figures_json": int(stored[1])},
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print the table and the JSON line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.console_pages", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--refreshes", type=int, default=3, help="timed refreshes (default 3)")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.cases, args.repeat, max(1, args.refreshes)))
    print(
        f"{result['cases']} open cases (opened in {result['open_seconds']} s), "
        f"{result['approvals_waiting']} awaiting approval; {result['repeat']} requests per page"
    )
    print(f"{'PAGE':<24} {'MEDIAN ms':>10} {'P95 ms':>8} {'MAX ms':>8} {'BYTES':>9}")
    pages = result["pages"]
    assert isinstance(pages, dict)
    for page, fig in pages.items():
        print(
            f"{page:<24} {fig['median_ms']:>10} {fig['p95_ms']:>8} {fig['max_ms']:>8} "
            f"{fig['bytes']:>9}"
        )
    during = result["portfolio_page_during_refresh"]
    assert isinstance(during, dict)
    print(
        f"{'/portfolio (refreshing)':<24} {during['median_ms']:>10} {during['p95_ms']:>8} "
        f"{during['max_ms']:>8}  ({during['requests']} requests during one refresh)"
    )
    refresh = result["refresh"]
    assert isinstance(refresh, dict)
    print(
        f"first request waited {result['first_snapshot_wait_seconds']} s for the first snapshot; "
        f"a refresh takes {refresh['median_seconds']} s (median of {refresh['seconds']}); "
        f"stored row {result['snapshot_row_bytes']}"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
