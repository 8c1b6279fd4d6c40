"""The per-person auditor: judges a person's contacts across all of their cases, from the trace
lines alone (the JSON objects `--trace` writes), against the limits of each case's policy.

What it re-derives, for each contact a line reports:
- every rolling cap (per channel and overall) of the contacting case's policy, counted over the
  person's contacts on all of their cases (the rules apply to the person, not the account);
- never two attempts on one channel to one person at the same instant;
- no call within the cooldown after a conversation (a connected call on any case);
- the daily call limits (connected, unanswered) per local day, over all of the person's calls.

    auditor = PersonAuditor({cp.hash: limits_of(cp)})
    for line in trace: auditor.observe(line, cp.hash)
    auditor.violations

The limits are keyed as the caller likes (the simulator: by policy hash, one entry per policy
the person's cases run under, unique even when two files share a name).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from simulator.audit import Limits

__all__ = ["PersonAuditor"]

DAY = timedelta(days=1)


@dataclass
class _Person:
    times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    all_times: list[datetime] = field(default_factory=list)
    at_instant: set[tuple[str, datetime]] = field(default_factory=set)
    conversations: list[datetime] = field(default_factory=list)
    calls_by_day: dict[date, list[str]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class PersonAuditor:
    """Follows every person of a trace; `observe` each line in the order written."""

    limits: dict[str, Limits]  # policy key (the simulator: its hash) -> its limits
    people: dict[str, _Person] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def observe(self, line: dict[str, Any], policy: str) -> list[str]:
        """Judge one trace line of a case on `policy` (a key of `limits`); returns the violations
        it shows."""
        if line.get("kind") != "contact":
            return []
        person = self.people.setdefault(line["debtor_id"], _Person())
        lim = self.limits[policy]
        at = datetime.fromisoformat(line["at"])
        channel = line.get("channel") or ""
        who = f"{line['debtor_id']} ({line['case_id']} {line['reason']} at {line['local_at']})"
        found: list[str] = []
        if (channel, at) in person.at_instant:
            found.append(f"{who}: two {channel} attempts to one person at the same instant")
        person.at_instant.add((channel, at))
        times = person.times[channel]
        insort(times, at)
        insort(person.all_times, at)
        for mx, per in lim.caps.get(channel, []):
            n = bisect_right(times, at) - bisect_right(times, at - per * DAY)
            if n > mx:
                found.append(
                    f"{who}: {n} {channel} contacts to one person in {per} days (cap {mx})"
                )
        for mx, per in lim.overall:
            n = bisect_right(person.all_times, at) - bisect_right(person.all_times, at - per * DAY)
            if n > mx:
                found.append(f"{who}: {n} contacts to one person in {per} days (overall cap {mx})")
        if channel == "call":
            found.extend(self._call(person, lim, line, at, who))
        self.violations.extend(found)
        return found

    def _call(
        self, person: _Person, lim: Limits, line: dict[str, Any], at: datetime, who: str
    ) -> list[str]:
        found = []
        if lim.call_cooldown_days:
            recent = [t for t in person.conversations if t <= at < t + lim.call_cooldown_days * DAY]
            if recent:
                found.append(
                    f"{who}: call within {lim.call_cooldown_days} days of a conversation "
                    f"with the person ({recent[-1].isoformat()})"
                )
        outcome = line.get("outcome") or ""
        if outcome == "connected":
            person.conversations.append(at)
        day = date.fromisoformat(line["local_at"][:10])
        calls = person.calls_by_day[day]
        calls.append(outcome)
        connected = sum(1 for o in calls if o == "connected")
        other = len(calls) - connected
        if lim.connected_per_day is not None and connected > lim.connected_per_day:
            found.append(
                f"{who}: {connected} connected calls to one person on {day} (cap {lim.connected_per_day})"
            )
        if lim.unanswered_per_day is not None and other > lim.unanswered_per_day:
            found.append(
                f"{who}: {other} unanswered calls to one person on {day} (cap {lim.unanswered_per_day})"
            )
        return found
