"""The contact window and the holiday calendar: judged in the debtor's local time; a contact due
outside them is deferred to the next allowed moment, recorded, and sent then."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.policy.compiled import CompiledPolicy
from engine.policy.contact_window import next_allowed
from tests.engine.driver import Run, at, case_file, inline_policy

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")


def timed(*times: str) -> dict[str, object]:
    """A reminder stage with one SMS on day 1 at each local time."""
    return {
        "reminder": {
            "contacts": [
                {"id": f"m{i}", "day": 1, "channel": "sms", "template": "t", "at": t}
                for i, t in enumerate(times)
            ]
        }
    }


class TestNextAllowed:
    """`next_allowed` finds the first moment inside `[start, end)` local time, off holidays."""

    def test_inside_the_window_is_now(self) -> None:
        t = datetime(2025, 3, 4, 12, 34, 56, tzinfo=NY)
        assert next_allowed(t, NY, time(8), time(21)) is t

    def test_before_the_window_waits_for_it_to_open(self) -> None:
        t = datetime(2025, 3, 4, 6, 15, tzinfo=NY)
        assert next_allowed(t, NY, time(8), time(21)) == datetime(2025, 3, 4, 8, tzinfo=NY)

    def test_the_end_is_exclusive(self) -> None:
        t = datetime(2025, 3, 4, 21, 0, tzinfo=NY)
        assert next_allowed(t, NY, time(8), time(21)) == datetime(2025, 3, 5, 8, tzinfo=NY)
        just_before = datetime(2025, 3, 4, 20, 59, 59, tzinfo=NY)
        assert next_allowed(just_before, NY, time(8), time(21)) == just_before

    def test_holidays_are_skipped_whole(self) -> None:
        off = {date(2025, 3, 5), date(2025, 3, 6)}
        t = datetime(2025, 3, 4, 22, 0, tzinfo=NY)
        assert next_allowed(t, NY, time(8), time(21), off) == datetime(2025, 3, 7, 8, tzinfo=NY)
        on_holiday = datetime(2025, 3, 5, 12, 0, tzinfo=NY)
        assert next_allowed(on_holiday, NY, time(8), time(21), off) == datetime(
            2025, 3, 7, 8, tzinfo=NY
        )

    def test_judged_in_the_debtors_zone(self) -> None:
        t = datetime(
            2025, 3, 4, 13, 30, tzinfo=ZoneInfo("UTC")
        )  # 21:30 in Shanghai, 08:30 in New York
        assert next_allowed(t, NY, time(8), time(21)) == t
        assert next_allowed(t, SH, time(9), time(21)) == datetime(2025, 3, 5, 9, tzinfo=SH)

    def test_daylight_saving_keeps_the_local_hour(self) -> None:
        # New York springs forward on 2025-03-09: 08:00 local is 13:00Z the day before, 12:00Z that day.
        before = next_allowed(datetime(2025, 3, 8, 7, 30, tzinfo=NY), NY, time(8), time(21))
        after = next_allowed(datetime(2025, 3, 9, 7, 30, tzinfo=NY), NY, time(8), time(21))
        assert before.astimezone(ZoneInfo("UTC")).hour == 13
        assert after.astimezone(ZoneInfo("UTC")).hour == 12
        assert before.astimezone(NY).time() == after.astimezone(NY).time() == time(8)


class TestWindowDeferral:
    """A contact due outside the window is recorded as deferred with the `contact_window`
    guardrail and goes out at exactly the next allowed moment: never dropped, never early."""

    def test_us_floor_is_8_to_21(self) -> None:
        cp = inline_policy("US", stages=timed("07:00", "20:59", "21:00"))
        run = Run.open(
            cp, case_file(cp, due=date(2025, 3, 3)), at(date(2025, 3, 3), 12, tz="America/New_York")
        )
        run.until(at(date(2025, 3, 6), 12, tz="America/New_York"))
        sent = {a.reason: run.local(a.at) for a in run.contacts()}
        assert sent == {
            "reminder.m0": datetime(2025, 3, 4, 8, 0, tzinfo=NY),
            "reminder.m1": datetime(2025, 3, 4, 20, 59, tzinfo=NY),
            "reminder.m2": datetime(2025, 3, 5, 8, 0, tzinfo=NY),
        }
        for key in ("reminder.m0", "reminder.m2"):
            (rec,) = run.deferred(key)
            assert rec.detail["guardrail"] == "contact_window"
            assert datetime.fromisoformat(rec.detail["until"]) == sent[key]
        assert not run.deferred("reminder.m1")
        assert (run.state.deferred_total, run.state.deferred_by) == (2, ["contact_window"])

    def test_cn_floor_is_8_to_22(self) -> None:
        cp = inline_policy("CN", stages=timed("07:30", "21:30", "22:00"))
        run = Run.open(
            cp, case_file(cp, due=date(2025, 3, 3)), at(date(2025, 3, 3), 12, tz="Asia/Shanghai")
        )
        run.until(at(date(2025, 3, 6), 12, tz="Asia/Shanghai"))
        sent = {a.reason: run.local(a.at) for a in run.contacts()}
        assert sent == {
            "reminder.m0": datetime(2025, 3, 4, 8, 0, tzinfo=SH),
            "reminder.m1": datetime(2025, 3, 4, 21, 30, tzinfo=SH),
            "reminder.m2": datetime(2025, 3, 5, 8, 0, tzinfo=SH),
        }

    def test_cn_policy_tightens_to_9_to_21(self, cn_policy: CompiledPolicy) -> None:
        assert (cn_policy.rules.window_start, cn_policy.rules.window_end) == (time(9), time(21))
        # Opened at 21:30 on the due date: today's reminder is due but the window has closed.
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="3000.00"),
            at(due, 21, 30, tz="Asia/Shanghai"),
        )
        (rec,) = run.deferred("reminder.day_0.sms")
        assert rec.detail["guardrail"] == "contact_window"
        assert datetime.fromisoformat(rec.detail["until"]) == datetime(2025, 3, 4, 9, 0, tzinfo=SH)
        assert not run.contacts()
        run.until(datetime(2025, 3, 4, 8, 59, 59, tzinfo=SH))
        assert not run.contacts()
        assert run.wake == datetime(2025, 3, 4, 9, 0, tzinfo=SH)
        run.tick()
        assert [(a.reason, run.local(a.at)) for a in run.contacts()] == [
            ("reminder.day_0.sms", datetime(2025, 3, 4, 9, 0, tzinfo=SH)),
        ]

    def test_us_policy_opened_at_night(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy,
            case_file(us_policy, due=due),
            at(due + timedelta(days=1), 22, tz="America/New_York"),
        )
        assert not run.contacts()
        run.until(at(due + timedelta(days=2), 12, tz="America/New_York"))
        (sms,) = run.sent("reminder.day_1.sms")
        assert run.local(sms.at) == datetime(2025, 3, 5, 8, 0, tzinfo=NY)

    def test_the_debtors_own_zone_counts(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        la = "America/Los_Angeles"
        run = Run.open(us_policy, case_file(us_policy, due=due, tz=la), at(due, 12, tz=la))
        run.until(at(due + timedelta(days=2), 12, tz=la))
        (sms,) = run.sent("reminder.day_1.sms")
        assert sms.at == datetime(2025, 3, 4, 9, 30, tzinfo=ZoneInfo(la))  # 12:30 in New York

    def test_no_contact_ever_leaves_outside_the_window(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        for tz in ("Pacific/Kiritimati", "Asia/Kathmandu", "America/St_Johns", "Pacific/Pago_Pago"):
            run = Run.open(us_policy, case_file(us_policy, due=due, tz=tz), at(due, 23, 50, tz=tz))
            run.until(at(due + timedelta(days=60), 12, tz=tz))
            run.approve_all()
            run.until(at(due + timedelta(days=90), 12, tz=tz))
            assert len(run.contacts()) > 10
            for a in run.contacts():
                assert time(8) <= run.local(a.at).time() < time(21), (tz, a.reason, run.local(a.at))


class TestHolidays:
    """Public holidays of the jurisdiction are days off: a contact due on one is deferred to the
    first allowed moment after them, with the `holiday` guardrail."""

    def test_cn_national_day(self, cn_policy: CompiledPolicy) -> None:
        due = date(2025, 9, 30)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="3000.00"),
            at(due, 8, tz="Asia/Shanghai"),
        )
        run.until(at(date(2025, 10, 12), 12, tz="Asia/Shanghai"))
        days_off = {date(2025, 10, d) for d in (1, 2, 3, 6, 7, 8)}
        assert days_off <= cn_policy.rules.days_off
        assert not [a for a in run.contacts() if run.local(a.at).date() in days_off]
        (rec,) = run.deferred("reminder.overdue_sms")  # day 1 falls on 1 October
        assert rec.detail["guardrail"] == "holiday"
        assert datetime.fromisoformat(rec.detail["until"]) == datetime(2025, 10, 4, 9, 0, tzinfo=SH)
        (sms,) = run.sent("reminder.overdue_sms")
        assert run.local(sms.at) == datetime(2025, 10, 4, 9, 0, tzinfo=SH)
        # Day 7 falls on 7 October and waits for the 9th, but the case moves to negotiation on
        # day 8: the reminder is dropped with the stage, and the drop is on the record.
        assert not run.sent("reminder.overdue_sms+2")
        (rec,) = run.deferred("reminder.overdue_sms+2")
        assert datetime.fromisoformat(rec.detail["until"]) == datetime(2025, 10, 9, 9, 0, tzinfo=SH)
        assert [
            r.detail
            for r in run.kinds("suppressed")
            if r.reason.startswith("reminder.overdue_sms+2")
        ] == [
            {"guardrail": "stage_change", "was": "holiday"},
        ]

    def test_us_independence_day(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 7, 3)
        run = Run.open(us_policy, case_file(us_policy, due=due), at(due, 12, tz="America/New_York"))
        run.until(at(date(2025, 7, 10), 12, tz="America/New_York"))
        assert date(2025, 7, 4) in us_policy.rules.days_off
        (rec,) = run.deferred("reminder.day_1.sms")
        assert rec.detail["guardrail"] == "holiday"
        (sms,) = run.sent("reminder.day_1.sms")
        assert run.local(sms.at) == datetime(2025, 7, 5, 8, 0, tzinfo=NY)
        assert not [a for a in run.contacts() if run.local(a.at).date() == date(2025, 7, 4)]
