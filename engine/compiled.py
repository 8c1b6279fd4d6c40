"""A policy prepared for fast decisions: effective guardrails, stage machine, content hash.

Compiling happens once per policy (and is cached by content hash), never per decision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from engine.guardrails import Rules, effective_rules
from engine.machine import StageMachine
from engine.policy import Policy
from engine.state import PolicyRef

__all__ = ["CompiledPolicy", "compile_policy", "policy_hash"]


def policy_hash(policy: Policy) -> str:
    """The content hash of a policy (sha256 of its canonical JSON), the pin every case keeps."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """A policy with everything the core derives from it, shared by every case on it."""

    policy: Policy
    hash: str
    rules: Rules
    machine: StageMachine

    @property
    def ref(self) -> PolicyRef:
        """The pin a case stores."""
        return PolicyRef(name=self.policy.name, version=self.policy.version, hash=self.hash)

    @cached_property
    def exit_days(self) -> dict[str, tuple[list[int], list[int]]]:
        """Per stage, the time thresholds (days_past_due, days_in_stage) of its exit rules."""
        from engine.conditions import time_thresholds

        out: dict[str, tuple[list[int], list[int]]] = {}
        for stage, spec in self.policy.stages.items():
            dpd: set[int] = set()
            dis: set[int] = {spec.min_days}
            for ex in spec.exits:
                dpd.update(time_thresholds(ex.when, "days_past_due"))
                dis.update(time_thresholds(ex.when, "days_in_stage"))
            out[stage] = (sorted(dpd), sorted(dis))
        return out


_CACHE: dict[str, CompiledPolicy] = {}


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compile (or fetch from the cache) the policy."""
    h = policy_hash(policy)
    cp = _CACHE.get(h)
    if cp is None:
        cp = CompiledPolicy(policy=policy, hash=h, rules=effective_rules(policy), machine=StageMachine(policy))
        _CACHE[h] = cp
    return cp
