"""What every command that talks to Temporal needs: the data folder, the client, the policy store.

Kept here so `dev`, `worker` and the case commands build them the same way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client

from engine.policy.compiled import CompiledPolicy
from engine.policy.files import load_policy, resolve_policy
from workers.client import connect
from workers.converter import data_converter, default_data_dir
from workers.policy_store import PolicyStore

__all__ = ["PolicyCache", "client_for", "data_dir", "run"]

T = TypeVar("T")


def data_dir(value: str | None = None) -> Path:
    """The data folder: `--data`, else `OVERDUE_DATA_DIR`, else `.overdue`."""
    return Path(value) if value else default_data_dir()


async def client_for(folder: Path, **overrides: Any) -> Client:
    """A client on the configured Temporal, with the converter keyed from `folder`."""
    return await connect(data_converter(data_dir=folder), **overrides)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (one event loop per command)."""
    return asyncio.run(coro)


class PolicyCache:
    """Policies named by case files, loaded and stored once per command."""

    def __init__(self, folder: Path, base: Path | None = None) -> None:
        self.store = PolicyStore(folder / "policy-store")
        self.base = base
        self._by_name: dict[str, CompiledPolicy] = {}

    def get(self, name_or_path: str) -> CompiledPolicy:
        """The compiled policy a case names (a name in `policies/` or a path)."""
        cp = self._by_name.get(name_or_path)
        if cp is None:
            cp = self.store.put(load_policy(resolve_policy(name_or_path, self.base)))
            self._by_name[name_or_path] = cp
        return cp


# Temporal's Rust core logs through its own runtime; keep the CLI quiet unless asked.
os.environ.setdefault("RUST_LOG", "error")
