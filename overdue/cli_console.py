"""`overdue serve` (the operations console and HTTP API) and `overdue user` (console users)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from overdue.runtime import open_session, run
from workers.config import data_folder
from workers.settings import load_settings

__all__ = ["register"]

_ROLES = ("viewer", "collector", "ops", "manager", "admin")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` and `user`."""
    s = sub.add_parser("serve", help="the operations console and HTTP API")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    s.add_argument("--data", help="data folder (codec key, console users)")
    s.add_argument(
        "--ui-url", help="the Temporal Web UI's address, allowed to call the codec endpoint"
    )
    s.set_defaults(func=lambda a: run(_serve(a)))
    u = sub.add_parser("user", help="console users")
    u.add_argument(
        "--data", help="data folder (default: OVERDUE_DATA_DIR, else the running `overdue dev`'s)"
    )
    us = u.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    add = us.add_parser(
        "add", help="add a user (prints a generated password unless --password-stdin)"
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=_ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    add.set_defaults(func=_add)
    tok = us.add_parser("token", help="print a new API token for a user")
    tok.add_argument("name")
    tok.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    tok.set_defaults(func=_token)
    ls = us.add_parser("list", help="every user and their role")
    ls.add_argument("--json", action="store_true", help="one JSON document on stdout")
    ls.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ls.set_defaults(func=_list)
    rm = us.add_parser(
        "remove", help="delete a user, their API tokens and sessions (signed out at once)"
    )
    rm.add_argument("name")
    rm.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    rm.set_defaults(func=_remove)


def _add(args: argparse.Namespace) -> int:
    from console.roles import Role
    from console.server import user_store
    from console.users import generate_password

    generated = not args.password_stdin
    password = generate_password() if generated else sys.stdin.readline().rstrip("\r\n")
    settings = load_settings()
    store = user_store(data_folder(settings, args.data), settings)
    try:
        store.add(args.name, Role(args.role), password)
    finally:
        store.close()
    print(f"user {args.name} added with role {args.role}")
    if generated:
        print(f"password: {password}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from console.server import user_store

    settings = load_settings()
    store = user_store(data_folder(settings, args.data), settings)
    try:
        print(store.issue_token(args.name))
    finally:
        store.close()
    return 0


def _list(args: argparse.Namespace) -> int:
    import json

    from console.server import user_store

    settings = load_settings()
    store = user_store(data_folder(settings, args.data), settings)
    try:
        users = store.users()
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"name": u.name, "role": u.role.value} for u in users]))
        return 0
    print(f"{'NAME':<32} ROLE")
    for u in users:
        print(f"{u.name:<32} {u.role}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from console.server import user_store

    settings = load_settings()
    store = user_store(data_folder(settings, args.data), settings)
    try:
        store.remove(args.name)
    finally:
        store.close()
    print(f"user {args.name} removed; their tokens and sessions no longer work")
    return 0


async def _serve(args: argparse.Namespace) -> int:
    from console.server import start, state_for, user_store
    from workers.logs import configure_logging

    configure_logging(json=True)
    session = await open_session(args.data)
    users = user_store(session.folder, session.settings)
    try:
        console = await start(
            state_for(
                session.client,
                session.folder,
                ui_url=args.ui_url,
                users=users,
                settings=session.settings,
            ),
            host=args.host,
            port=args.port,
        )
    except BaseException:
        users.close()
        raise
    print(f"Console          {console.url}/  (API docs {console.url}/api/docs)")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await console.stop()
    users.close()
    return 0
