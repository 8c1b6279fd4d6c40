"""Legally required notices a case entered a stage too late for still go out, once, on entry;
missed soft contacts are never replayed. And `decide` copies the case completely."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel

from engine.case import events as ev
from engine.case.state import CaseState
from engine.decision.decide import copy_state
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file

NY = "America/New_York"
SH = "Asia/Shanghai"
DUE = date(2025, 1, 6)


def _approve_all_but(run: Run, keep: str) -> None:
    for name in list(run.state.approvals_pending):
        if name != keep:
            run.event(ev.Approve(action=name, by="test"))


class TestMissedLegalNotices:
    def test_us_legal_approval_on_day_180_still_sends_the_day_121_notice(
        self, us_policy: CompiledPolicy
    ) -> None:
        run = Run.open(
            us_policy, case_file(us_policy, due=DUE, amount="6000.00"), at(DUE, 12, tz=NY)
        )
        approval_day = at(DUE + timedelta(days=180), 12, tz=NY)
        while run.wake is not None and run.wake <= approval_day:
            run.tick()
            _approve_all_but(run, "legal_referral")
        assert run.state.stage == "escalation" and "legal_referral" in run.state.approvals_pending
        assert not run.sent("legal_referral.day_121.letter")
        run.event(ev.Approve(action="legal_referral", by="test"), approval_day)
        assert run.state.stage == "legal_referral" and run.state.stage_entered_day == 180
        (notice,) = run.sent("legal_referral.day_121.letter")
        assert notice.legally_required and notice.template == "legal_notice"
        assert notice.at == approval_day  # on entry, inside the window
        run.until(approval_day + timedelta(days=30))
        assert len(run.sent("legal_referral.day_121.letter")) == 1  # once

    def test_cn_import_at_day_70_gets_the_demand_letter_but_no_missed_reminders(
        self, cn_policy: CompiledPolicy
    ) -> None:
        opened = at(DUE + timedelta(days=70), 12, tz=SH)
        run = Run.open(cn_policy, case_file(cn_policy, due=DUE, amount="6000.00"), opened)
        assert run.state.stage == "escalation" and run.state.stage_entered_day == 70
        (letter,) = run.sent("escalation.day_60.letter")
        assert letter.legally_required and letter.at == opened
        run.until(opened + timedelta(days=10))
        contacts = run.contacts()
        assert not [
            a for a in contacts if a.channel == "sms" and a.stage in ("reminder", "negotiation")
        ]
        assert not [r for r in run.records if r.stage in ("reminder", "negotiation")]
        spec = cn_policy.policy.stages["escalation"]  # type: ignore[index]
        days = {it.key: it.day for it in spec.contacts}
        for a in contacts:
            if a.reason == "escalation.on_enter.bureau_report: bureau notice first":
                assert a.at == opened  # the notice the report needs, sent by the engine on entry
                continue
            key = a.reason.split(".", 1)[1].split("+")[0]
            assert a.legally_required or days[key] >= 70, a.reason  # soft contacts never replayed
        assert len(run.sent("escalation.day_60.letter")) == 1

    def test_missed_notice_outside_the_window_waits_for_it(self, cn_policy: CompiledPolicy) -> None:
        opened = at(DUE + timedelta(days=70), 23, tz=SH)
        run = Run.open(cn_policy, case_file(cn_policy, due=DUE, amount="6000.00"), opened)
        assert not run.sent("escalation.day_60.letter")
        assert run.deferred("escalation.day_60.letter")
        run.until(opened + timedelta(days=3))
        (letter,) = run.sent("escalation.day_60.letter")
        assert letter.at > opened

    def test_missed_notice_under_cease_still_goes_out(self, cn_policy: CompiledPolicy) -> None:
        opened = at(DUE + timedelta(days=70), 23, tz=SH)
        run = Run.open(cn_policy, case_file(cn_policy, due=DUE, amount="6000.00"), opened)
        run.event(ev.Cease(), opened + timedelta(minutes=5))
        run.until(opened + timedelta(days=3))
        assert len(run.sent("escalation.day_60.letter")) == 1


class TestCopyState:
    def test_copy_state_is_a_complete_deep_copy(self, us_policy: CompiledPolicy) -> None:
        run = Run.open(
            us_policy, case_file(us_policy, due=DUE, amount="6000.00"), at(DUE, 12, tz=NY)
        )
        run.until(at(DUE + timedelta(days=20), 12, tz=NY))
        run.event(ev.Promise(amount=run.state.balance, due_date=DUE + timedelta(days=25)))
        state = run.state
        copy = copy_state(state)
        assert copy == state == state.model_copy(deep=True)
        assert copy.model_fields_set == state.model_fields_set
        assert copy.model_dump() == state.model_dump()

        def walk(a: object, b: object, path: str) -> None:
            if isinstance(a, list | dict | BaseModel):
                assert a is not b, f"{path} is shared"
            if isinstance(a, list):
                for i, (x, y) in enumerate(zip(a, b, strict=True)):  # type: ignore[call-overload]
                    walk(x, y, f"{path}[{i}]")
            elif isinstance(a, dict):
                for k in a:
                    walk(a[k], b[k], f"{path}.{k}")  # type: ignore[index]
            elif isinstance(a, BaseModel):
                for name in type(a).model_fields:
                    walk(getattr(a, name), getattr(b, name), f"{path}.{name}")

        walk(state, copy, "state")

    def test_every_mutable_field_is_known(self) -> None:
        # A new list/dict/model field must be copied by `copy_state` (then listed here).
        mutable = {
            name
            for name, f in CaseState.model_fields.items()
            if any(t in str(f.annotation) for t in ("list", "dict", "State", "File", "Ref"))
        }
        assert mutable == {
            "case",
            "policy",
            "holds",
            "promise",
            "plan",
            "done",
            "pending",
            "contacts",
            "approvals_pending",
            "approvals_granted",
            "approvals_denied",
            "complaints",
            "fees_applied",
            "unusable",
            "payment_refs",
            "deferred_by",
            "settlement",
        }
