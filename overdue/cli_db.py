"""`overdue db upgrade`: create or upgrade the data plane's schema."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db` and its subcommands."""
    db = sub.add_parser("db", help="the data plane (policy versions, outbox, rollouts, users)")
    ds = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    u = ds.add_parser("upgrade", help="create or upgrade the schema of OVERDUE_DATABASE_URL")
    u.add_argument(
        "--data",
        help="data folder holding the default SQLite file (default: the running `overdue dev`'s)",
    )
    u.set_defaults(func=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    from workers.config import data_folder
    from workers.dataplane import DataPlane, database_url
    from workers.settings import load_settings

    settings = load_settings()
    url = settings.database_url or database_url(data_folder(settings, args.data), settings)
    with DataPlane(url, upgrade=True) as plane:
        print(f"data plane {plane.url}: schema at revision {plane.revision()}")
    return 0
