"""`overdue dev` (embedded Temporal + worker + Web UI) and `overdue worker`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from overdue.runtime import PolicyCache, client_for, data_dir, run

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dev` and `worker`."""
    p = sub.add_parser("dev", help="embedded Temporal dev server (SQLite) + Web UI + a worker")
    p.add_argument("--data", help="data folder (default .overdue/)")
    p.add_argument("--port", type=int, default=7233, help="Temporal gRPC port (default 7233)")
    p.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default 8233)")
    p.add_argument("--console-port", type=int, default=8080, help="operations console port (default 8080)")
    p.add_argument("--demo", action="store_true", help="load the demo portfolio (cases already open are kept)")
    p.add_argument("--demo-cases", type=int, default=300, help="size of the demo portfolio")
    p.set_defaults(func=_dev)
    w = sub.add_parser("worker", help="a worker against the configured Temporal (run as many as you like)")
    w.add_argument("--data", help="data folder holding the outbox, policy store and codec key")
    w.set_defaults(func=_worker)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _load_demo(folder: Path, client: object, n: int) -> dict[str, int]:
    from rich.progress import Progress

    from overdue.demo import demo_portfolio
    from workflows.client import Cases

    cases = Cases(client)  # type: ignore[arg-type]
    policies = PolicyCache(folder)
    shipped = [policies.get(name) for name in ("consumer-credit-line", "instalment-loan")]
    portfolio = demo_portfolio(shipped, datetime.now(UTC).date(), n)
    with Progress(transient=True) as bar:
        task = bar.add_task("opening demo cases", total=len(portfolio))
        counts = await cases.open_many(((c, policies.get(c.policy)) for c in portfolio),
                                       on_done=lambda _c, _o: bar.advance(task))
    return counts


async def _dev_main(args: argparse.Namespace) -> int:
    from console.server import first_user, state_for, user_store
    from console.server import start as start_console
    from workers.devserver import DevServer
    from workers.logs import configure_logging
    from workers.worker import run_worker

    configure_logging(json=False, level="WARNING")
    folder = data_dir(args.data)
    console_url = f"http://127.0.0.1:{args.console_port}"
    server = DevServer(folder, port=args.port, ui_port=args.ui_port, ui_codec_endpoint=f"{console_url}/codec")
    await server.start()
    stop = _stop_event()
    console = None
    try:
        client = await client_for(folder, target_host=server.address)
        worker = asyncio.create_task(run_worker(client, folder, stop=stop))
        users = user_store(folder)
        credentials = first_user(folder, users)
        console = await start_console(state_for(client, folder, ui_url=server.ui_url, users=users),
                                      port=args.console_port)
        await asyncio.sleep(0)
        print(f"Temporal server  {server.address}  (SQLite {server.db_path}, journal_mode={server.journal_mode()})")
        print(f"Temporal Web UI  {server.ui_url}/namespaces/default/workflows  (codec {console_url}/codec)")
        print(f"worker           task queue overdue-cases, data in {folder}/")
        print(f"console          {console.url}/  (API docs {console.url}/api/docs)")
        if credentials is not None:
            print(f"                 sign in as {credentials[0]} / {credentials[1]}")
        if args.demo:
            counts = await _load_demo(folder, client, args.demo_cases)
            print(f"demo portfolio   {counts['opened']} opened, {counts['already_open']} already open")
            print("try:")
            print("  .venv/bin/overdue case list --stage escalation")
            print("  .venv/bin/overdue case status DEMO-0001 --json")
            print("  .venv/bin/overdue case history DEMO-0002")
            print("  .venv/bin/overdue case pay DEMO-0001 100.00")
            print("  .venv/bin/overdue outbox --case DEMO-0001")
        print("Ctrl-C stops the worker and the server; run again on the same folder and every case goes on.")
        sys.stdout.flush()
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, worker}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await worker  # re-raises if the worker died
    finally:
        stop.set()
        if console is not None:
            await console.stop()
        await server.stop()
    return 0


def _dev(args: argparse.Namespace) -> int:
    return run(_dev_main(args))


async def _worker_main(args: argparse.Namespace) -> int:
    from workers.logs import configure_logging
    from workers.worker import run_worker

    configure_logging(json=True)
    folder = data_dir(args.data)
    client = await client_for(folder)
    await run_worker(client, folder, stop=_stop_event())
    return 0


def _worker(args: argparse.Namespace) -> int:
    return run(_worker_main(args))
