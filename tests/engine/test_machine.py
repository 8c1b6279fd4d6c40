"""The stage graph of a policy as a state machine: exits and event gotos are named triggers, the
closing triggers work from every active stage, and nothing leaves a terminal stage."""

from __future__ import annotations

import pytest

from engine.policy.compiled import CompiledPolicy
from engine.policy.machine import CLOSE_TRIGGERS, StageMachine, exit_trigger, goto_trigger
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES


class TestStageMachine:
    """Which stage a trigger leads to from a stage, per policy."""

    def test_exits(self, cn_policy: CompiledPolicy) -> None:
        m = cn_policy.machine
        assert m.fire("reminder", exit_trigger("reminder", 0)) == "negotiation"
        assert m.fire("negotiation", exit_trigger("negotiation", 2)) == "escalation"
        assert m.fire("escalation", exit_trigger("escalation", 0)) == "legal_referral"
        assert m.fire("escalation", exit_trigger("escalation", 1)) == "written_off"

    def test_event_gotos(self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy) -> None:
        assert (
            cn_policy.machine.fire("negotiation", goto_trigger("negotiation", "plan_missed"))
            == "escalation"
        )
        # The policy-wide hostile goto applies in every stage that does not override it.
        assert (
            cn_policy.machine.fire("reminder", goto_trigger("reminder", "hostile")) == "escalation"
        )
        assert not us_policy.machine.can("negotiation", goto_trigger("negotiation", "hostile"))

    @pytest.mark.parametrize("stage", ACTIVE_STAGES)
    def test_closing_from_every_active_stage(self, us_policy: CompiledPolicy, stage: str) -> None:
        for trigger, terminal in CLOSE_TRIGGERS.items():
            assert us_policy.machine.fire(stage, trigger) == terminal

    @pytest.mark.parametrize("stage", TERMINAL_STAGES)
    def test_nothing_leaves_a_terminal_stage(self, us_policy: CompiledPolicy, stage: str) -> None:
        for trigger in CLOSE_TRIGGERS:
            assert not us_policy.machine.can(stage, trigger)
            with pytest.raises(ValueError, match=f"no transition {trigger!r} from {stage!r}"):
                us_policy.machine.fire(stage, trigger)

    def test_unknown_and_foreign_triggers(self, us_policy: CompiledPolicy) -> None:
        m = us_policy.machine
        with pytest.raises(ValueError, match="no transition"):
            m.fire("reminder", "teleport")
        with pytest.raises(ValueError, match="no transition"):
            m.fire("reminder", exit_trigger("escalation", 0))  # another stage's exit
        assert m.can("escalation", exit_trigger("escalation", 0))
        assert not m.can("reminder", exit_trigger("escalation", 0))

    def test_firing_leaves_no_trace(self, us_policy: CompiledPolicy) -> None:
        m = us_policy.machine
        assert m.fire("escalation", exit_trigger("escalation", 0)) == "legal_referral"
        # One shared machine serves every case: the next question starts from its own stage.
        assert m.fire("reminder", exit_trigger("reminder", 0)) == "negotiation"

    def test_exits_and_closes_lead_where_the_policy_says(self, us_policy: CompiledPolicy) -> None:
        m = us_policy.machine
        assert m.fire("reminder", exit_trigger("reminder", 0)) == "negotiation"
        assert m.fire("escalation", exit_trigger("escalation", 1)) == "written_off"
        assert m.fire("legal_referral", "paid_in_full") == "resolved"
        assert not [t for t in TERMINAL_STAGES if m.can(t, "paid_in_full")]

    def test_built_from_the_policy(self, cn_policy: CompiledPolicy) -> None:
        fresh = StageMachine(cn_policy.policy)
        for stage, spec in cn_policy.policy.stages.items():
            for i, ex in enumerate(spec.exits):
                assert fresh.fire(stage, exit_trigger(stage, i)) == cn_policy.machine.fire(
                    stage, exit_trigger(stage, i)
                )
                assert fresh.fire(stage, exit_trigger(stage, i)) == ex.to
