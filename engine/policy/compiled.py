"""A policy prepared for fast decisions: effective guardrails, stage machine, content hash.

Compiling happens once per policy, never per decision: `engine.policy.registry` is the one place
that compiles and keeps compiled policies, by content hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import time
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from engine.case.state import PolicyRef
from engine.policy.guardrails import Rules, effective_rules
from engine.policy.machine import StageMachine
from engine.policy.model import ADDED_LATER, ContactItem, Policy

__all__ = ["CompiledPolicy", "PlanEntry", "build", "policy_hash"]

#: One occurrence of a stage's contact plan: collection-clock day, key, item, local send time.
PlanEntry = tuple[int, str, ContactItem, time]


def policy_hash(policy: Policy) -> str:
    """The content hash of a policy (sha256 of its canonical JSON), the pin every case keeps.

    A field added to the language later (marked `ADDED_LATER`) is left out while it holds its
    default, which means "as before": every existing policy, re-parsed from the store into today's
    model, keeps its hash, and every running case finds its policy.
    """
    doc = policy.model_dump(mode="json")
    _drop_later_defaults(policy, doc)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _drop_later_defaults(model: BaseModel, doc: dict[str, Any]) -> None:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if field.json_schema_extra == ADDED_LATER and value == field.default:
            doc.pop(name, None)
        elif isinstance(value, BaseModel):
            _drop_later_defaults(value, doc[name])
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    _drop_later_defaults(item, doc[name][key])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _drop_later_defaults(item, doc[name][i])


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
        from engine.policy.conditions import time_thresholds

        out: dict[str, tuple[list[int], list[int]]] = {}
        for stage, spec in self.policy.stages.items():
            dpd: set[int] = set()
            dis: set[int] = {spec.min_days}
            for ex in spec.exits:
                dpd.update(time_thresholds(ex.when, "days_past_due"))
                dis.update(time_thresholds(ex.when, "days_in_stage"))
            out[stage] = (sorted(dpd), sorted(dis))
        return out

    @cached_property
    def contact_plan(self) -> dict[str, tuple[PlanEntry, ...]]:
        """Per stage, every occurrence of its contact plan, in due order: `(day, key, item, at)`.

        Ordered by collection-clock day, then local send time, then plan order (the order the
        moments `day_at(day, at)` sort in for any case, since they share one time zone).
        """
        out: dict[str, tuple[PlanEntry, ...]] = {}
        for stage, spec in self.policy.stages.items():
            entries: list[PlanEntry] = []
            for item in spec.contacts:
                at = item.at or self.policy.send_time
                base = item.key
                for k, day in enumerate(item.days()):
                    entries.append((day, base if k == 0 else f"{base}+{k}", item, at))
            entries.sort(key=lambda e: (e[0], e[3]))
            out[stage] = tuple(entries)
        return out

    @cached_property
    def exits_to_legal(self) -> dict[str, bool]:
        """Per stage, whether one of its exit rules leads into legal referral."""
        return {
            stage: any(ex.to == "legal_referral" for ex in spec.exits)
            for stage, spec in self.policy.stages.items()
        }

    @cached_property
    def bureau_notices(self) -> tuple[ContactItem, ...]:
        """The contact items whose template is a bureau notice, in stage and plan order: the
        engine sends the first one the debtor can get when a report finds no notice sent yet."""
        from engine.policy.model import ACTIVE_STAGES

        return tuple(
            item
            for stage in ACTIVE_STAGES
            if (spec := self.policy.stages.get(stage)) is not None
            for item in spec.contacts
            if self.policy.templates[item.template].bureau_notice
        )

    @cached_property
    def legally_required(self) -> frozenset[str]:
        """Names of the templates that are legally required notices."""
        return frozenset(name for name, t in self.policy.templates.items() if t.legally_required)


def build(policy: Policy, policy_hash: str) -> CompiledPolicy:
    """Compile `policy`, whose hash is `policy_hash` (use `registry.register`, which keeps it)."""
    return CompiledPolicy(
        policy=policy, hash=policy_hash, rules=effective_rules(policy), machine=StageMachine(policy)
    )
