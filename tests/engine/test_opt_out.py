"""A debtor's opt-out of one channel (`Cease(channel=...)`): later contacts on that channel are
refused as `no_consent.<channel>`, the other channels go on, and a full cease still applies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.case import events as ev
from engine.decision.decide import decide
from engine.decision.status import case_status
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file, inline_policy

DUE = date(2025, 3, 3)
NY = "America/New_York"


@pytest.fixture
def two_channels() -> CompiledPolicy:
    """An SMS and an e-mail every second day from day 1."""
    return inline_policy(
        "US",
        stages={
            "reminder": {
                "contacts": [
                    {
                        "day": 1,
                        "every": 2,
                        "times": 6,
                        "channel": "sms",
                        "template": "t",
                        "id": "s",
                    },
                    {
                        "day": 1,
                        "every": 2,
                        "times": 6,
                        "channel": "email",
                        "template": "t",
                        "id": "e",
                    },
                ]
            }
        },
    )


def _run(cp: CompiledPolicy) -> Run:
    return Run.open(cp, case_file(cp, due=DUE), at(DUE + timedelta(days=1), 8, tz=NY))


def test_opt_out_stops_one_channel_only(two_channels: CompiledPolicy) -> None:
    run = _run(two_channels)
    run.until(at(DUE + timedelta(days=3), 23, tz=NY))
    before = {a.channel for a in run.contacts()}
    assert before == {"sms", "email"}
    run.event(ev.Cease(channel="sms"), at(DUE + timedelta(days=4), 9, tz=NY))
    [rec] = [r for r in run.kinds("hold") if r.detail.get("hold") == "opt_out"]
    assert rec.reason == "opt-out: no more sms" and rec.detail["channel"] == "sms"
    assert run.state.case.consent["sms"] is False
    assert case_status(two_channels, run.state, run.now, run.wake).refused_channels == ["sms"]
    sent_before = len(run.contacts())
    run.until(at(DUE + timedelta(days=12), 23, tz=NY))
    later = run.contacts()[sent_before:]
    assert later and {a.channel for a in later} == {"email"}
    suppressed = [r.reason for r in run.kinds("suppressed")]
    assert suppressed and all(r.startswith("reminder.s") for r in suppressed)
    assert all(r.detail["guardrail"] == "no_consent.sms" for r in run.kinds("suppressed"))


def test_opt_out_twice_and_after_cease_are_refused(two_channels: CompiledPolicy) -> None:
    run = _run(two_channels)
    run.event(ev.Cease(channel="sms"))
    with pytest.raises(EventRejected, match="already refused sms"):
        decide(two_channels, run.state, ev.Cease(channel="sms"), run.now)
    run.event(ev.Cease())
    with pytest.raises(EventRejected, match="already ceased"):
        decide(two_channels, run.state, ev.Cease(channel="email"), run.now)


def test_opt_out_does_not_change_the_case_file_of_earlier_states(
    two_channels: CompiledPolicy,
) -> None:
    run = _run(two_channels)
    before = run.state.model_copy(deep=True)
    d = decide(two_channels, before, ev.Cease(channel="email"), run.now)
    assert d.state.case.consent == {"email": False}
    assert before.case.consent == {}
