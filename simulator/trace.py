"""The `--trace` file: one JSON line per decision record, in CLI.md's vocabulary of kinds, with
the case and the person it concerns, the moment in UTC and in the debtor's local time, and a
call's outcome as the debtor model chose it.

The lines are also what the per-person auditor (`simulator.audit_person`) judges: it sees the
trace and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from engine.case.actions import Record
from engine.case.vocabulary import ActionKind, RecordKind, TraceKind

__all__ = ["TRACE_KINDS", "TraceWriter", "trace_kind", "trace_lines"]

#: The kinds a trace line may have (CLI.md, Simulation).
TRACE_KINDS = frozenset(TraceKind)

#: The core's action kinds (recorded as `action` records), as trace kinds.
_ACTION_KINDS: dict[str, TraceKind] = {
    ActionKind.AGENCY_PLACEMENT: TraceKind.PLACEMENT,
    ActionKind.AGENCY_RECALL: TraceKind.RECALL,
    ActionKind.BUREAU_REPORT: TraceKind.BUREAU_REPORT,
    ActionKind.BUREAU_UPDATE: TraceKind.BUREAU_UPDATE,
    ActionKind.LEGAL_REFERRAL: TraceKind.LEGAL_REFERRAL,
    ActionKind.APPROVAL_REQUEST: TraceKind.APPROVAL,
}

#: Record kinds with another name in the trace; `None`: not traced (the core's own bookkeeping).
_RENAMED: dict[str, TraceKind | None] = {
    RecordKind.SUPPRESSED: TraceKind.SKIPPED,
    RecordKind.SEGMENT: None,
    RecordKind.OUTCOME: None,
    RecordKind.OPENED: None,
}


def trace_kind(r: Record) -> str | None:
    """The trace kind of a record, or None if the record is not traced."""
    kind: str = r.kind
    if kind == RecordKind.ACTION:
        return _ACTION_KINDS.get(r.detail.get("kind", ""))
    if kind in _RENAMED:
        return _RENAMED[kind]
    return TraceKind(kind) if kind in TRACE_KINDS else None


def trace_lines(
    case_id: str,
    debtor_id: str,
    tz: ZoneInfo,
    records: Iterable[Record],
    outcomes: dict[str, str],
    policy: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The trace lines of some records (`outcomes`: call outcomes by action id)."""
    for r in records:
        kind = trace_kind(r)
        if kind is None:
            continue
        outcome = r.outcome
        if r.kind == "contact" and r.channel == "call":
            outcome = outcomes.get(r.action_id or "", outcome)
        line: dict[str, Any] = {
            "case_id": case_id,
            "debtor_id": debtor_id,
            "at": r.at.astimezone(UTC).isoformat(),
            "local_at": r.at.astimezone(tz).isoformat(),
            "kind": kind,
            "channel": r.channel,
            "stage": r.stage,
            "outcome": outcome,
            "reason": r.reason,
        }
        guardrail = r.detail.get("guardrail")
        if guardrail:
            line["guardrail"] = guardrail
        if policy is not None:
            line["policy"] = policy
        yield line


class TraceWriter:
    """Writes trace lines as JSON Lines, each labelled with `policy` (when comparing) unless it
    names its own (an account on another policy)."""

    def __init__(self, out: TextIO, policy: str | None) -> None:
        self.out = out
        self.policy = policy

    def write_lines(self, lines: Iterable[dict[str, Any]]) -> None:
        """Write lines already built by `trace_lines`."""
        for line in lines:
            if self.policy is not None and "policy" not in line:
                line = {**line, "policy": self.policy}
            self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
