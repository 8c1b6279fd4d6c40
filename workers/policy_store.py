"""The content-addressed policy store: policy snapshots by hash, so a case's history carries only
the pin (name, version, hash) and never the whole policy.

The embedded default is a folder of `<hash>.json` files under the data folder, written by whoever
opens a case and read by every worker on the machine. Content addressing makes it safe: a hash
names exactly one policy, and `engine.policy.registry` re-checks the hash of what it reads.

The store also remembers which hash each name and version had when first stored
(`versions/<name>@<version>`), so a policy edited without a new version is refused at `case
open`, `case import` and worker start instead of showing two different policies as one `v1`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.errors import OverdueError
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.model import Policy
from workers.private_files import private_dir, private_file

__all__ = ["PolicyStore", "PolicyVersionChanged"]


class PolicyVersionChanged(OverdueError):
    """A policy's content changed but its version did not."""


class PolicyStore:
    """A folder of policy snapshots keyed by content hash."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = private_dir(folder)

    def put(self, policy: Policy) -> CompiledPolicy:
        """Store a snapshot (once) and register it in this process; returns the compiled policy.

        Raises:
            PolicyVersionChanged: this name and version were stored before with another content.
        """
        cp = registry.register(policy)
        self._pin_version(policy, cp.hash)
        path = self.folder / f"{cp.hash}.json"
        if not path.exists():
            _write_atomic(path, json.dumps(policy.model_dump(mode="json"), sort_keys=True))
        return cp

    def _pin_version(self, policy: Policy, policy_hash: str) -> None:
        folder = private_dir(self.folder / "versions")
        path = folder / f"{policy.name}@{policy.version}"
        if not path.is_file():
            _write_atomic(path, policy_hash)
        known = path.read_text(encoding="utf-8").strip()  # a concurrent first writer wins
        if known != policy_hash:
            raise PolicyVersionChanged(
                f"policy {policy.name} v{policy.version} changed without a new version: the store holds "
                f"hash {known[:12]}, this file has {policy_hash[:12]}; give it version {policy.version + 1}")

    def get(self, policy_hash: str) -> Policy | None:
        """The snapshot with this hash, if stored."""
        path = self.folder / f"{policy_hash}.json"
        if not path.is_file():
            return None
        return Policy.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def install(self) -> None:
        """Make this store the registry's fetcher and register the shipped policies."""
        registry.set_fetcher(self.get)
        for path in sorted(POLICY_DIR.glob("*.yaml")):
            self.put(load_policy(path))


def _write_atomic(path: Path, text: str) -> None:
    tmp = private_file(path.with_suffix(f".{os.getpid()}.tmp"))
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: readers never see half a file
