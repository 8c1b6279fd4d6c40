"""The `--trace` file: one JSON line per decision record of the kinds CLI.md names, with the
moment in UTC and in the debtor's local time, and a call's outcome as the debtor model chose it."""

from __future__ import annotations

import json
from datetime import UTC
from typing import TextIO
from zoneinfo import ZoneInfo

from engine.decision.decide import Decision

__all__ = ["TRACE_KINDS", "TraceWriter"]

#: The record kinds a trace holds.
TRACE_KINDS = frozenset({"contact", "deferred", "stage", "hold", "release", "payment", "promise", "close"})


class TraceWriter:
    """Writes a case's records as CLI.md's trace lines."""

    def __init__(self, out: TextIO, policy: str | None) -> None:
        self.out = out
        self.policy = policy

    def write(self, case_id: str, tz: ZoneInfo, d: Decision, outcomes: dict[str, str]) -> None:
        """Write the decision's traced records (`outcomes`: call outcomes by action id)."""
        for r in d.records:
            if r.kind not in TRACE_KINDS:
                continue
            outcome = r.outcome
            if r.kind == "contact" and r.channel == "call":
                outcome = outcomes.get(r.action_id or "", outcome)
            line = {"case_id": case_id, "at": r.at.astimezone(UTC).isoformat(),
                    "local_at": r.at.astimezone(tz).isoformat(), "kind": r.kind, "channel": r.channel,
                    "stage": r.stage, "outcome": outcome, "reason": r.reason}
            if self.policy is not None:
                line["policy"] = self.policy
            self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
