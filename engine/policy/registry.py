"""Compiled policies by content hash, shared by every case in a process.

A case pins its policy by hash, so the policy text never has to travel in each case's history:
the worker registers the policies it knows and may install a `fetch` callback (I/O lives in
`workers/`) to find a hash it has not seen. Content addressing keeps this deterministic: a hash
names exactly one policy, checked on registration.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.policy.compiled import CompiledPolicy, compile_policy
from engine.policy.model import Policy

__all__ = ["PolicyNotFound", "get", "register", "set_fetcher"]

_BY_HASH: dict[str, CompiledPolicy] = {}
_fetch: Callable[[str], Policy | None] | None = None


class PolicyNotFound(LookupError):
    """No policy with that hash is known here (the workflow task is retried until one is)."""


def register(policy: Policy) -> CompiledPolicy:
    """Compile and remember a policy; returns it (with its hash)."""
    cp = compile_policy(policy)
    _BY_HASH[cp.hash] = cp
    return cp


def set_fetcher(fetch: Callable[[str], Policy | None] | None) -> None:
    """Install the function that finds a policy by hash when it is not registered yet."""
    global _fetch
    _fetch = fetch


def get(policy_hash: str) -> CompiledPolicy:
    """The compiled policy with this hash.

    Raises:
        PolicyNotFound: neither registered nor found by the fetcher, or the content mismatches.
    """
    cp = _BY_HASH.get(policy_hash)
    if cp is not None:
        return cp
    policy = _fetch(policy_hash) if _fetch is not None else None
    if policy is None:
        raise PolicyNotFound(f"policy {policy_hash} is not known to this worker")
    cp = compile_policy(policy)
    if cp.hash != policy_hash:
        raise PolicyNotFound(f"policy store returned content hashing to {cp.hash}, not {policy_hash}")
    _BY_HASH[cp.hash] = cp
    return cp
