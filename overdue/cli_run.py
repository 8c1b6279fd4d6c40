"""`overdue dev` (embedded Temporal + worker + Web UI) and `overdue worker`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter

from overdue.runtime import PolicyCache, data_plane, open_session, run
from workers.client import connect
from workers.config import DevState, FolderLock, codec_keys, dev_folder, write_dev_state
from workers.converter import EncryptionCodec, data_converter
from workers.dataplane import database_url, display_url
from workers.devserver import DevServer
from workers.logs import configure_logging
from workers.metrics import hold_metrics_address
from workers.settings import ConfigError, Settings, load_settings
from workers.worker import run_worker

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dev` and `worker`."""
    p = sub.add_parser("dev", help="embedded Temporal dev server (SQLite) + Web UI + a worker")
    p.add_argument("--data", help="data folder (default OVERDUE_DATA_DIR, else .overdue/)")
    p.add_argument("--port", type=int, default=7233, help="Temporal gRPC port (default 7233)")
    p.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default 8233)")
    p.add_argument(
        "--console-port", type=int, default=8080, help="operations console port (default 8080)"
    )
    p.add_argument(
        "--demo", action="store_true", help="load the demo portfolio (cases already open are kept)"
    )
    p.add_argument("--demo-cases", type=int, default=300, help="size of the demo portfolio")
    p.set_defaults(func=_dev)
    w = sub.add_parser(
        "worker", help="a worker against the configured Temporal (run as many as you like)"
    )
    w.add_argument(
        "--data",
        help="data folder holding the codec key and, unless OVERDUE_DATABASE_URL "
        "names another database, the data plane (default OVERDUE_DATA_DIR, "
        "else the running `overdue dev`'s)",
    )
    w.set_defaults(func=_worker)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _load_demo(folder: Path, client: Client, n: int) -> dict[str, int]:
    from rich.progress import Progress

    from overdue.demo import demo_portfolio
    from workflows.client import Cases

    cases = Cases(client)
    policies = PolicyCache(folder)
    shipped = [policies.get(name) for name in ("consumer-credit-line", "instalment-loan")]
    portfolio = demo_portfolio(shipped, datetime.now(UTC).date(), n)
    with Progress(transient=True) as bar:
        task = bar.add_task("opening demo cases", total=len(portfolio))
        counts = await cases.open_many(
            ((c, policies.get(c.policy)) for c in portfolio),
            on_done=lambda _c, _o: bar.advance(task),
        )
    return counts


async def _dev_main(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(json=False, level="WARNING")
    folder = dev_folder(settings, args.data)
    lock = FolderLock(folder)
    lock.acquire()  # before anything touches the folder: a second `overdue dev` stops here
    try:
        key, old = codec_keys(settings, folder, create=True)
        # Before the worker and the demo: both use the data plane at once.
        data_plane(folder, upgrade=True, settings=settings).close()
        # Our own ports are held before the Temporal server starts: it picks random free ports
        # for its internal services and could otherwise take one between a check and its use.
        from console.server import reserve_port

        console_sock = reserve_port("127.0.0.1", args.console_port)
        console_url = f"http://127.0.0.1:{args.console_port}"
        server = DevServer(
            folder,
            port=args.port,
            ui_port=args.ui_port,
            start_timeout=120,
            ui_codec_endpoint=f"{console_url}/codec",
        )
        try:
            metrics_hold = hold_metrics_address(settings.metrics_address)
            try:
                await server.start()
            finally:
                if metrics_hold is not None:
                    metrics_hold.close()  # the worker's runtime binds it next
            try:
                return await _serve(
                    args,
                    settings,
                    server,
                    data_converter(key, old_keys=old),
                    console_url,
                    console_sock,
                )
            finally:
                await server.stop()
        finally:
            console_sock.close()  # uvicorn closes it when it served; else it is released here
    finally:
        lock.release()


async def _serve(
    args: argparse.Namespace,
    settings: Settings,
    server: DevServer,
    converter: DataConverter,
    console_url: str,
    console_sock: socket.socket,
) -> int:
    """Connect, record where we are, run the worker and the console until Ctrl-C or until the
    server dies."""
    from console.server import first_user, state_for, user_store
    from console.server import start as start_console

    stop = _stop_event()
    folder = server.data_dir
    client = await connect(
        converter, settings, target_host=server.address, namespace=server.namespace
    )
    kid = (
        client.data_converter.payload_codec.key_id
        if isinstance(client.data_converter.payload_codec, EncryptionCodec)
        else "-"
    )
    write_dev_state(
        settings,
        DevState(
            data_dir=folder,
            address=server.address,
            namespace=server.namespace,
            ui_url=server.ui_url,
            pid=os.getpid(),
            key_id=kid,
            started=datetime.now(UTC),
        ),
    )
    worker = asyncio.create_task(run_worker(client, folder, settings, stop=stop))
    died = asyncio.create_task(server.wait_exit())
    users = user_store(folder, settings)
    credentials = first_user(folder, users)
    console = await start_console(
        state_for(client, folder, ui_url=server.ui_url, users=users, settings=settings),
        sock=console_sock,
    )
    try:
        await asyncio.sleep(0)
        print(
            f"Temporal server  {server.address}  (SQLite {server.db_path}, journal_mode={server.journal_mode()})"
        )
        print(
            f"Temporal Web UI  {server.ui_url}/namespaces/default/workflows  (codec {console_url}/codec)"
        )
        print(f"worker           task queue overdue-cases, data in {folder}/ (key {kid})")
        print(f"data plane       {display_url(database_url(folder, settings))}")
        print(f"console          {console.url}/  (API docs {console.url}/api/docs)")
        if credentials is not None:
            print(f"                 sign in as {credentials[0]} / {credentials[1]}")
        # The domain's metrics (contacts, deferrals, stage moves) are the worker's, not the
        # console's: say where they are, or how to get them.
        worker_metrics = (
            f"worker http://{settings.metrics_address}/metrics"
            if settings.metrics_address
            else "worker: set OVERDUE_METRICS_ADDRESS=host:port"
        )
        print(f"metrics          {console.url}/metrics  ({worker_metrics})")
        print(
            f"settings         recorded in {settings.dev_state}: `overdue case ...` finds this server "
            "from any directory"
        )
        if args.demo:
            counts = await _load_demo(folder, client, args.demo_cases)
            print(
                f"demo portfolio   {counts['opened']} opened, {counts['already_open']} already open"
            )
            # As the user can type it: `make run` does not put the venv's `overdue` on PATH.
            exe = "overdue" if shutil.which("overdue") else _here(Path(sys.executable).parent)
            print("try:")
            for example in (
                "case list --stage escalation",
                "case status DEMO-0001 --json",
                "case history DEMO-0002",
                "case pay DEMO-0001 100.00",
                "outbox --case DEMO-0001",
            ):
                print(f"  {exe} {example}")
        print(
            "Ctrl-C stops the worker and the server; run again on the same folder and every case goes on."
        )
        sys.stdout.flush()
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, worker, died}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        if died.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
            raise ConfigError(
                f"the Temporal server stopped unexpectedly (exit code {died.result()}); "
                f"its log: {server.log_path}"
            )
        died.cancel()
        await worker  # re-raises if the worker died
    finally:
        stop.set()
        await console.stop()
        users.close()
    return 0


def _here(bin_dir: Path) -> str:
    """The `overdue` of `bin_dir`, relative to the current directory when that is shorter."""
    full = bin_dir / "overdue"
    try:
        return min(str(full), os.path.relpath(full), key=len)
    except ValueError:  # another drive
        return str(full)


def _dev(args: argparse.Namespace) -> int:
    code = run(_dev_main(args))
    # Said once everything stopped in order (console, worker, then the server), so a user who
    # pressed Ctrl-C knows nothing is left running and that the cases are kept.
    print("stopped: console, worker and Temporal server; the cases are kept in the data folder")
    return code


async def _worker_main(args: argparse.Namespace) -> int:
    session = await open_session(args.data, check_keys=False)
    configure_logging(json=True, level=session.settings.log_level)
    await run_worker(session.client, session.folder, session.settings, stop=_stop_event())
    return 0


def _worker(args: argparse.Namespace) -> int:
    return run(_worker_main(args))
