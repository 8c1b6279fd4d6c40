"""The policy store: every policy version ever used, by content hash, in the data plane.

A case's history carries only its pin (name, version, hash), never the whole policy; whoever opens
a case puts the policy here first, and any worker on any machine finds it by hash. Content
addressing makes it safe: a hash names exactly one policy, `engine.policy.registry` re-checks the
hash of what it reads, and a stored version is never changed (immutable, first use kept).

A name and version also pin their content (a unique key of the table), so a policy edited without
a new version is refused at `case open`, `case import` and worker start instead of showing two
different policies as one `v1` — on every machine at once, since the check is the database's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.errors import OverdueError
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.model import Policy
from workers.dataplane import DataPlane
from workers.dataplane.database import sqlite_url
from workers.dataplane.schema import policy_versions as _table

__all__ = ["PolicyStore", "PolicyVersionChanged", "StoredVersion", "canonical_json"]


class PolicyVersionChanged(OverdueError):
    """A policy's content changed but its version did not."""


def canonical_json(policy: Policy) -> str:
    """The policy's canonical JSON: exactly the text its content hash is taken of."""
    return json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class StoredVersion:
    """One stored policy version: its number, content hash and when it was first used."""

    name: str
    version: int
    hash: str
    first_used: datetime


class PolicyStore:
    """Policy snapshots keyed by content hash, shared by every worker through the data plane."""

    def __init__(self, target: DataPlane | str | os.PathLike[str]) -> None:
        """Use a data plane (shared, left open on `close`) or a SQLite file of its own.

        Args:
            target: The data plane, or the path of a SQLite file (created and upgraded if needed).
        """
        if isinstance(target, DataPlane):
            self.plane, self._owns_plane = target, False
        else:
            self.plane, self._owns_plane = DataPlane(sqlite_url(Path(target))), True
        self._insert = (postgresql.insert if self.plane.dialect == "postgresql" else sqlite.insert)(
            _table
        )

    def put(self, policy: Policy, *, now: datetime | None = None) -> CompiledPolicy:
        """Store a snapshot (once; a stored version keeps its first use) and register it here.

        Args:
            policy: The policy about to be used.
            now: When it is used (default: the current time).

        Returns:
            The compiled policy.

        Raises:
            PolicyVersionChanged: this name and version were stored before with another content.
        """
        cp = registry.register(policy)
        # No conflict target: a row with this hash, or with this name and version, already there
        # leaves the table as it is; the first writer wins, on one machine or many.
        stmt = self._insert.values(
            hash=cp.hash,
            name=policy.name,
            version=policy.version,
            canonical=canonical_json(policy),
            first_used=now or datetime.now(UTC),
        ).on_conflict_do_nothing()
        pinned = sa.select(_table.c.hash).where(
            _table.c.name == policy.name, _table.c.version == policy.version
        )
        with self.plane.engine.begin() as conn:
            conn.execute(stmt)
            known = conn.execute(pinned).scalar_one()
        if known != cp.hash:
            raise PolicyVersionChanged(
                f"policy {policy.name} v{policy.version} changed without a new version: the store holds "
                f"hash {known[:12]}, this file has {cp.hash[:12]}; give it version {policy.version + 1}"
            )
        return cp

    def get(self, policy_hash: str) -> Policy | None:
        """The snapshot with this hash, if stored."""
        with self.plane.engine.connect() as conn:
            text = conn.execute(
                sa.select(_table.c.canonical).where(_table.c.hash == policy_hash)
            ).scalar()
        return None if text is None else Policy.model_validate(json.loads(text))

    def versions(self, name: str) -> list[StoredVersion]:
        """Every stored version of a policy, oldest first.

        Args:
            name: The policy's name.

        Returns:
            The versions, by version number.
        """
        query = (
            sa.select(_table.c.name, _table.c.version, _table.c.hash, _table.c.first_used)
            .where(_table.c.name == name)
            .order_by(_table.c.version)
        )
        with self.plane.engine.connect() as conn:
            return [StoredVersion(*row) for row in conn.execute(query)]

    def version(self, name: str, version: int) -> Policy | None:
        """The snapshot stored for this name and version (what a rollback goes back to), if any."""
        query = sa.select(_table.c.hash).where(_table.c.name == name, _table.c.version == version)
        with self.plane.engine.connect() as conn:
            policy_hash = conn.execute(query).scalar()
        return None if policy_hash is None else self.get(policy_hash)

    def install(self) -> None:
        """Make this store the registry's fetcher, and store the shipped policies.

        A worker started with a shipped file edited under its old version refuses to start
        (`PolicyVersionChanged`) rather than run two contents as one version.
        """
        registry.set_fetcher(self.get)
        for path in sorted(POLICY_DIR.glob("*.yaml")):
            self.put(load_policy(path))

    def close(self) -> None:
        """Close the data plane if this store opened it. Idempotent."""
        if self._owns_plane:
            self.plane.close()
