"""What every command that talks to Temporal needs: settings, data folder, client, data plane.

Kept here so `dev`, `worker` and the case commands resolve them the same way (`workers.config`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client

from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from workers.client import check_worker_keys, connect
from workers.config import codec_keys, data_folder, dev_address
from workers.converter import data_converter
from workers.dataplane import DataPlane, database_url
from workers.policy_store import PolicyStore
from workers.settings import Settings, load_settings

__all__ = ["PolicyCache", "Session", "data_plane", "open_session", "run"]

T = TypeVar("T")


class Session:
    """A command's settings, data folder and connected client."""

    def __init__(self, settings: Settings, folder: Path, client: Client) -> None:
        self.settings = settings
        self.folder = folder
        self.client = client


async def open_session(explicit_folder: str | None = None, *, check_keys: bool = True) -> Session:
    """Resolve the folder and key (never creating either), connect, and check the workers' key.

    Raises:
        ConfigError: A setting is missing or wrong, the server is unreachable, or the workers
            hold another codec key (each one line naming what to set).
    """
    from workflows.client import TASK_QUEUE

    settings = load_settings()
    folder = data_folder(settings, explicit_folder)
    key, old = codec_keys(settings, folder)
    client = await connect(
        data_converter(key, old_keys=old), settings, fallback_address=dev_address(settings, folder)
    )
    if check_keys:
        await check_worker_keys(client, TASK_QUEUE)
    return Session(settings, folder, client)


def data_plane(
    folder: Path, *, upgrade: bool = False, create: bool = False, settings: Settings | None = None
) -> DataPlane:
    """The configured data plane (`OVERDUE_DATABASE_URL`, else a SQLite file in `folder`).

    Only `overdue dev`, `overdue worker` and `overdue db upgrade` upgrade its schema; commands that
    open cases (`create`) may create it in a fresh database; every command refuses a schema that
    is behind, with the command that fixes it.
    """
    return DataPlane(database_url(folder, settings), upgrade=upgrade, create=create)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (one event loop per command)."""
    return asyncio.run(coro)


class PolicyCache:
    """Policies named by case files, each put in the data folder's policy store once per command.

    Loading and compiling is `engine.policy.registry.load`'s (the one cache of compiled
    policies); this only keeps the store written, so every worker finds the policy a case pins.
    """

    def __init__(
        self, folder: Path, base: Path | None = None, *, plane: DataPlane | None = None
    ) -> None:
        self.store = PolicyStore(plane if plane is not None else data_plane(folder, create=True))
        self.base = base
        self._stored: set[str] = set()

    def get(self, name_or_path: str) -> CompiledPolicy:
        """The compiled policy a case names (a name in `policies/` or a path), in the store."""
        cp = registry.load(name_or_path, self.base)
        if cp.hash not in self._stored:
            self.store.put(cp.policy)
            self._stored.add(cp.hash)
        return cp
