"""Compiled policies: the one place a policy is compiled and kept, by content hash.

A case pins its policy by hash, so the policy text never has to travel in each case's history.
Everything that needs a compiled policy comes here: `register` (a policy in hand), `get` (a
case's pin; the worker may install a `fetch` callback, its I/O living in `workers/`, to find a hash
it has not seen) and `load` (a policy file by name or path, read again only when it changes).
Content addressing keeps this deterministic: a hash names exactly one policy, checked on the way
in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.policy.compiled import CompiledPolicy, build, policy_hash
from engine.policy.files import load_policy, resolve_policy
from engine.policy.model import Policy

__all__ = ["PolicyNotFound", "get", "load", "register", "set_fetcher"]

#: The one cache: every compiled policy of the process, by content hash.
_BY_HASH: dict[str, CompiledPolicy] = {}
#: Which hash a policy file held, by (resolved path, mtime, size): a file is parsed and checked
#: once, and again after it changes.
_FILES: dict[tuple[str, int, int], str] = {}
_fetch: Callable[[str], Policy | None] | None = None


class PolicyNotFound(LookupError):
    """No policy with that hash is known here (the workflow task is retried until one is)."""


def register(policy: Policy) -> CompiledPolicy:
    """The compiled `policy` (compiled on first sight, then kept by its hash)."""
    h = policy_hash(policy)
    cp = _BY_HASH.get(h)
    if cp is None:
        cp = _BY_HASH[h] = build(policy, h)
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
    cp = register(policy)
    if cp.hash != policy_hash:
        raise PolicyNotFound(
            f"policy store returned content hashing to {cp.hash}, not {policy_hash}"
        )
    return cp


def load(name_or_path: str, base: Path | None = None) -> CompiledPolicy:
    """The compiled policy of a file: a name in `policies/` or a path (relative to `base` first).

    Raises:
        FileNotFoundError: no such policy file.
        PolicyErrors: every problem of the file, each as `file:line:col: message`.
    """
    path = resolve_policy(name_or_path, base).resolve()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    known = _FILES.get(key)
    if known is not None:
        return _BY_HASH[known]
    cp = register(load_policy(path))
    _FILES[key] = cp.hash
    return cp
