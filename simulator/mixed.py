"""A person's accounts on other policies than the one simulated: which cases of a case file run
under a policy of their own, and the checked `--other-policy` of a synthetic portfolio.

`overdue simulate POLICY` is about POLICY; a person's other accounts run alongside, under their
own policies, because they share the person's contact ledger (as in production), and their
figures stay out of POLICY's (docs/decisions.md).
"""

from __future__ import annotations

from pathlib import Path

from engine.case.state import CaseFile
from engine.errors import OverdueError
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import resolve_policy

__all__ = ["other_policy_file", "own_policies"]


def own_policies(
    cases: list[CaseFile], simulated: CompiledPolicy, base: Path | None
) -> list[str | None] | None:
    """Per case, the file of the other policy it runs under, or None: the simulated policy (its
    row names it, or a policy that cannot be found). None when every case is on the simulated
    one (a single-policy run, as before).

    Raises:
        PolicyErrors: a row names a policy file that does not load.
    """
    files: dict[str, str | None] = {}
    out: list[str | None] = []
    for c in cases:
        if c.policy not in files:
            files[c.policy] = _other_file(c.policy, simulated, base)
        out.append(files[c.policy])
    return out if any(out) else None


def _other_file(name: str, simulated: CompiledPolicy, base: Path | None) -> str | None:
    if name == simulated.policy.name:
        return None
    try:
        path = resolve_policy(name, base).resolve()
    except FileNotFoundError:
        return None
    cp = registry.load(str(path))
    return None if cp.policy.name == simulated.policy.name else str(path)


def other_policy_file(name: str, simulated: CompiledPolicy) -> str:
    """The file of `--other-policy`, checked: it loads, is not the simulated policy and keeps its
    currency (a person's accounts in one portfolio share its currency).

    Raises:
        OverdueError: it cannot be found, or breaks one of those (one line); PolicyErrors.
    """
    try:
        path = str(resolve_policy(name).resolve())
    except FileNotFoundError as e:
        raise OverdueError(str(e)) from None
    cp = registry.load(path)
    if cp.policy.name == simulated.policy.name:
        raise OverdueError(f"--other-policy {cp.policy.name} is the policy simulated")
    if cp.policy.currency != simulated.policy.currency:
        raise OverdueError(
            f"--other-policy {cp.policy.name} is in {cp.policy.currency}, "
            f"{simulated.policy.name} in {simulated.policy.currency}: a person's accounts "
            "must share one currency"
        )
    return path
