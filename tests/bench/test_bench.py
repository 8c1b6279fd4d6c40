"""`overdue bench`: the benchmark's pieces, and one `--quick` run end to end on the dev server.

No timing thresholds anywhere: the quick run only proves every scenario still runs and reports
positive figures; the goals are judged by the full run on a quiet machine (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench import SCENARIOS, BenchConfig
from bench.flow import pct
from bench.policy import (
    CHANNELS,
    Schedule,
    bare_input,
    bench_case,
    contact_policy,
    sleeper_policy,
    zone_at_noon,
)
from bench.table import table
from engine.decision.decide import decide, open_case
from engine.policy import registry


class TestPieces:
    """The generated policy, the bare input and the helpers."""

    @pytest.mark.parametrize("hour", range(24))
    def test_zone_at_noon_is_inside_the_contact_window(self, hour: int) -> None:
        """Whatever the hour, the debtor's zone puts now between 09:00 and 20:00, without DST."""
        now = datetime(2026, 11, 23, hour, 37, tzinfo=UTC)
        tz = zone_at_noon(now)
        assert tz.startswith("Etc/GMT")
        assert 9 <= now.astimezone(ZoneInfo(tz)).hour < 20

    def test_ours_sends_at_the_bare_moments_with_the_same_ids(self) -> None:
        """The benchmark policy makes the core send contact i at moment i, with the action id,
        channel and message the bare workflow uses for it: both do the same activities."""
        now = datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)
        sched = Schedule.starting(now, 4, 2.0, 2.0)
        cp = registry.register(contact_policy(sched, 1))
        case = bench_case("O1-00007", sched.tz, sched.due, cp.policy.name)
        bare = bare_input(case, sched)
        d = open_case(cp, case, now)
        assert d.actions == [] and d.next_wake_up == sched.moments[0]
        for i, moment in enumerate(sched.moments):
            assert d.next_wake_up == moment
            d = decide(cp, d.state, None, moment)
            (action,) = d.actions
            planned = bare.contacts[i]
            assert action.action_id == f"{case.case_id}/0.reminder/{planned.key}"
            assert (action.channel, action.message) == (planned.channel, planned.message)
            assert planned.at == moment and planned.channel == CHANNELS[i % 3]
        assert d.next_wake_up is not None and d.next_wake_up > sched.moments[-1] + timedelta(
            hours=1
        )

    def test_sleeper_sleeps(self) -> None:
        """A case on the sleeper policy decides nothing now and wakes hours later."""
        now = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
        tz = zone_at_noon(now)
        cp = registry.register(sleeper_policy(tz))
        d = open_case(
            cp, bench_case("K-000001", tz, now.astimezone(ZoneInfo(tz)).date(), cp.policy.name), now
        )
        assert (
            d.actions == []
            and d.next_wake_up is not None
            and d.next_wake_up - now > timedelta(hours=6)
        )

    def test_percentile_and_sizes(self) -> None:
        """Nearest-rank percentiles; --quick shrinks every size and options override them."""
        values = [float(x) for x in range(1, 101)]
        assert (pct(values, 50), pct(values, 99), pct([], 50)) == (50.0, 99.0, 0.0)
        quick, full = (
            BenchConfig(quick=True).resolve(),
            BenchConfig(capacity=123, contacts=7).resolve(),
        )
        assert quick["cases"] < full["cases"] and quick["capacity"] < 1000
        assert (full["capacity"], full["contacts"]) == (123, 7)


@pytest.mark.e2e
class TestQuickRun:
    """`overdue bench --quick`, as CI runs it."""

    def test_quick_run_ends_with_every_figure_as_json(self) -> None:
        """A table, then one JSON line with the six scenarios and positive figures."""
        proc = subprocess.run(
            [sys.executable, "-m", "overdue.cli", "bench", "--quick"],
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = proc.stdout.strip().splitlines()
        out = json.loads(lines[-1])
        assert "overdue bench" in "\n".join(lines[:-1])  # the table came first
        assert set(SCENARIOS) <= set(out) and out["quick"] is True
        t, h, i, c, k, q = (
            out[s] for s in ("throughput", "history", "intake", "capacity", "core", "query")
        )
        assert min(t["ours_cases_per_s"], t["bare_cases_per_s"], t["ratio"]) > 0
        assert min(h["ours_events"], h["bare_events"], h["ours_bytes"], h["bare_bytes"]) > 0
        assert min(i["ours_starts_per_s"], i["bare_starts_per_s"], i["ratio"]) > 0
        assert (
            c["cases"] > 0
            and c["db_bytes_per_case"] > 0
            and all(p["worker_rss_mb"] > 0 for p in c["points"])
        )
        assert k["decide_us_mean"] > 0 and k["lifecycles_per_min"] > 0 and len(k["policies"]) >= 2
        assert all(
            q[f"{kind}_{label}_ms"]["p50"] > 0
            for kind in ("ours", "bare")
            for label in ("cached", "evicted")
        )
        assert {"throughput", "history_events", "history_bytes", "intake"} <= set(out["goals"])
        table(out)  # the JSON alone renders the table again
