"""Finding and loading policy files: by name from `policies/`, or by path.

Compiled policies come from `engine.policy.registry.load`, which keeps them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from engine.policy.model import Policy

__all__ = ["POLICY_DIR", "load_policy", "resolve_policy"]

#: The policies that ship with Overdue: the repository's `policies/`, installed as the package
#: `overdue.policies` so that a name works from a wheel outside any checkout.
POLICY_DIR = Path(str(resources.files("overdue.policies")))


def resolve_policy(name_or_path: str, base: Path | None = None) -> Path:
    """A policy's file: a path as given, or `<name>.yaml` in `policies/`.

    Raises:
        FileNotFoundError: neither exists.
    """
    p = Path(name_or_path)
    if base is not None and not p.is_absolute() and (base / p).is_file():
        return base / p
    if p.is_file():
        return p
    for candidate in (POLICY_DIR / name_or_path, POLICY_DIR / f"{name_or_path}.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no policy {name_or_path!r} (neither a file nor a name in {POLICY_DIR})"
    )


def load_policy(path: str | Path) -> Policy:
    """Load and check a policy file.

    Raises:
        PolicyErrors: every problem, each as `file:line:col: message`.
    """
    from engine.policy.checks import check_policy
    from engine.policy.loader import load_model_file

    return load_model_file(path, Policy, check_policy)
