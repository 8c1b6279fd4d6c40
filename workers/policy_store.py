"""The content-addressed policy store: policy snapshots by hash, so a case's history carries only
the pin (name, version, hash) and never the whole policy.

The embedded default is a folder of `<hash>.json` files under the data folder, written by whoever
opens a case and read by every worker on the machine. Content addressing makes it safe: a hash
names exactly one policy, and `engine.policy.registry` re-checks the hash of what it reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.model import Policy

__all__ = ["PolicyStore"]


class PolicyStore:
    """A folder of policy snapshots keyed by content hash."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def put(self, policy: Policy) -> CompiledPolicy:
        """Store a snapshot (once) and register it in this process; returns the compiled policy."""
        cp = registry.register(policy)
        path = self.folder / f"{cp.hash}.json"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(policy.model_dump(mode="json"), sort_keys=True), encoding="utf-8")
            tmp.replace(path)  # atomic: readers never see half a file
        return cp

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
