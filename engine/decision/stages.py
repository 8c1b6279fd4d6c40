"""Moving a case between stages: exit rules, event `goto`s, closing, and the stage's own steps
(agency placement and recall, credit-bureau report, legal referral) with their approval gates."""

from __future__ import annotations

from datetime import timedelta

from engine.case.actions import Action
from engine.case.vocabulary import HoldKind, Stage, StepAction, TerminalStage
from engine.decision.context import Ctx
from engine.policy.conditions import evaluate
from engine.policy.machine import exit_trigger, goto_trigger
from engine.policy.model import ACTIVE_STAGES, ActionSpec, EventEffect

__all__ = [
    "HELD_GOTO",
    "apply_effect",
    "bureau_update",
    "close",
    "enter",
    "request_approval",
    "run_exits",
    "run_held_gotos",
    "run_steps",
    "step_action",
    "time_barred",
]

#: Prefix of the `Pending` entry that keeps an event's `goto` until the holds stopping it end.
HELD_GOTO = "goto."

_BUREAU_STATUS = {
    "resolved": "paid",
    "settled": "settled",
    "written_off": "written_off",
    "closed": "closed",
}
#: Why a case closes `closed`, as the bureau must hear it (an upheld dispute: not owed at all).
_CLOSED_STATUS = {"dispute upheld": "not_owed"}


def enter(ctx: Ctx, target: Stage, reason: str) -> None:
    """Put the case in `target` (closing it if terminal), recording why."""
    s = ctx.state
    if isinstance(target, TerminalStage):
        close(ctx, target, reason)
        return
    previous = s.stage
    if (
        s.conduct >= 3
        and not s.bureau_reported
        and any(
            p.key.rsplit(".", 1)[-1] == StepAction.BUREAU_REPORT
            and p.guardrail.startswith("bureau.")
            for p in s.pending
        )
    ):
        s.bureau_report_owed = True  # carried into the next stage: see run_steps
    # What the old stage still had waiting ends with it; say so, so no deferral just vanishes.
    for p in s.pending:
        if not p.key.startswith(HELD_GOTO):
            ctx.record(
                "suppressed",
                f"{previous}.{p.key}: stage changed to {target}",
                detail={"guardrail": "stage_change", "was": p.guardrail},
            )
    s.stage = target
    s.stage_seq += 1
    s.stage_entered_at = ctx.now
    s.stage_entered_day = ctx.clock_day()
    s.done = []
    s.pending = []
    s.approvals_pending = []
    s.approvals_granted = []  # a human approved a step of the old stage, not of this one
    s.approvals_denied = []  # ... or refused one
    s.contacts_in_stage = 0
    ctx.record("stage", reason, detail={"from": previous, "to": target})


def close(ctx: Ctx, terminal: TerminalStage, reason: str) -> None:
    """End the case: recall it from an agency and update the bureau if it was reported."""
    s = ctx.state
    previous = s.stage
    # One id per action: the channel drops a repeated id as a duplicate.
    if s.agency_placed:
        step_action(
            ctx, "agency_recall", f"close.{terminal}.agency_recall", "closed: recall from agency"
        )
        s.agency_placed = False
    if s.bureau_reported:
        if s.conduct < 3:
            step_action(
                ctx,
                "bureau_update",
                f"close.{terminal}.bureau_update",
                "closed: tell the bureau",
                detail={"status": _BUREAU_STATUS[terminal]},
            )
        else:
            status = next(
                (v for k, v in _CLOSED_STATUS.items() if reason.startswith(k)),
                _BUREAU_STATUS[terminal],
            )
            step_action(
                ctx,
                "bureau_update",
                f"close.{terminal}.bureau_update",
                f"closed ({reason}): tell the bureau",
                detail={"status": status},
            )
    s.stage = terminal
    s.closed = True
    s.close_reason = reason
    s.holds = []
    s.pending = []
    s.promise = None
    s.plan = None
    s.settlement = None
    s.approvals_pending = []
    ctx.record("close", reason, detail={"from": previous, "to": terminal})


def step_action(
    ctx: Ctx, kind: str, key: str, reason: str, detail: dict[str, str] | None = None
) -> None:
    """Emit one non-contact action with its deterministic id."""
    ctx.actions.append(
        Action(
            action_id=ctx.action_id(key),
            case_id=ctx.state.case.case_id,
            kind=kind,
            at=ctx.now,
            stage=ctx.state.stage,
            reason=reason,
            detail=detail or {},
        )
    )
    ctx.record("action", reason, detail={"kind": kind, **(detail or {})})


def request_approval(ctx: Ctx, name: str, reason: str, key: str | None = None) -> None:
    """Ask a human to approve `name`; `key` tells apart requests for repeated occurrences (a
    field visit every N days), which would otherwise share an id and be dropped as duplicates."""
    s = ctx.state
    if name in s.approvals_pending:
        return
    s.approvals_pending.append(name)
    ctx.actions.append(
        Action(
            action_id=ctx.action_id(f"approval.{name}" + (f".{key}" if key else "")),
            case_id=s.case.case_id,
            kind="approval_request",
            at=ctx.now,
            stage=s.stage,
            reason=reason,
            detail={"approval": name},
        )
    )
    ctx.record("approval", f"{reason}: waiting for approval of {name}", detail={"approval": name})


def time_barred(ctx: Ctx) -> bool:
    """Whether the debt is past the limitation period (calendar days): it is then never charged
    a fee, placed with an agency, sent a demand letter or referred to court."""
    return ctx.time_barred()


def _step(ctx: Ctx, spec: ActionSpec, key: str, reason: str) -> bool:
    """Try one step; True once it is settled (done or refused for good)."""
    s = ctx.state
    if spec.requires_approval and spec.kind in s.approvals_denied:
        ctx.record(
            "suppressed", f"{reason}: approval denied", detail={"guardrail": "approval_denied"}
        )
        return True
    if spec.requires_approval and spec.kind not in s.approvals_granted:
        request_approval(ctx, spec.kind, reason)
        return False
    if spec.kind == "bureau_report":
        ready = _bureau_ready(ctx, key, reason)
        if ready is not None:
            return ready
        s.bureau_reported = True
    elif spec.kind == "legal_referral" and time_barred(ctx):
        ctx.record(
            "suppressed", f"{reason}: debt is time-barred", detail={"guardrail": "time_barred"}
        )
        return True
    elif spec.kind == "agency_placement":
        if s.agency_placed:
            return True
        if time_barred(ctx) and s.conduct >= 3:
            ctx.record(
                "suppressed", f"{reason}: debt is time-barred", detail={"guardrail": "time_barred"}
            )
            return True
        s.agency_placed = True
    elif spec.kind == "agency_recall":
        if not s.agency_placed:
            return True
        s.agency_placed = False
    if spec.kind in s.approvals_granted:
        s.approvals_granted.remove(spec.kind)
    step_action(ctx, spec.kind, key, reason)
    return True


def _bureau_ready(ctx: Ctx, key: str, reason: str) -> bool | None:
    """None if the report may go now; else whether the step is settled (True: never, False: later).

    A report goes only after a bureau notice and the jurisdiction's notice period; a report that
    finds no notice sent has the engine send one first, so no way into the stage starves it.
    """
    s = ctx.state
    if s.bureau_reported:
        return True
    if any(p.key == key and p.not_before > ctx.now for p in s.pending):
        return False  # deferred to a known moment: nothing to decide before it
    if s.bureau_notice_at is None and s.conduct < 3:
        _defer_step(ctx, key, None, "bureau.notice_first")  # cases started before: wait for one
        return False
    if s.bureau_notice_at is None:
        forbidden = _notice_first(ctx, key, reason)
        if forbidden is not None:
            ctx.record(
                "suppressed",
                f"{reason}: no bureau notice can lawfully reach the debtor, so no report",
                detail={"guardrail": forbidden},
            )
            return True
        if s.bureau_notice_at is None:
            return False  # the notice waits for the window or a cap; the report after it
    ready = s.bureau_notice_at + timedelta(days=ctx.rules.bureau_notice_days)
    if ready > ctx.now or ctx.clock_day() <= ctx.policy.grace_days:
        _defer_step(
            ctx, key, max(ready, ctx.day_start(ctx.policy.grace_days + 1)), "bureau.notice_wait"
        )
        return False
    return None


def _notice_first(ctx: Ctx, key: str, reason: str) -> str | None:
    """No bureau notice went out on the way here (a late import, a hostile debtor, a missed plan):
    the engine sends one now, or defers the report until one can go, so no report is starved.

    Returns the guardrail that forbids every notice outright (no report may follow), else None.
    """
    from engine.decision.contacts import send_bureau_notice

    held = send_bureau_notice(ctx, f"{key}.notice", f"{reason}: bureau notice first")
    if held is None:
        return None
    until, guardrail = held
    if until is None:
        return guardrail
    _defer_step(ctx, key, until, f"bureau.notice_first.{guardrail}")
    return None


def bureau_update(ctx: Ctx, status: str, reason: str) -> None:
    """Tell the bureau what changed on a reported case (plan, dispute, payment), with the reason."""
    s = ctx.state
    if not s.bureau_reported or s.closed or s.conduct < 3:
        return
    s.bureau_updates += 1
    step_action(
        ctx,
        "bureau_update",
        f"bureau_update.{s.bureau_updates}",
        reason,
        detail={"status": status, "balance": str(s.balance)},
    )


def _defer_step(ctx: Ctx, key: str, until: object, guardrail: str) -> None:
    from engine.case.state import Pending

    s = ctx.state
    nb = until if until is not None else ctx.now
    for p in s.pending:
        if p.key == key:
            if p.guardrail == guardrail and (p.not_before == nb or until is None):
                return
            s.pending.remove(p)
            break
    s.pending.append(Pending(key=key, not_before=nb, guardrail=guardrail))
    s.note_deferral(guardrail)
    ctx.record("deferred", f"{key}: {guardrail}", detail={"guardrail": guardrail})


#: The report a stage ordered that waits for its notice period when the case moves on.
_OWED_REPORT = ActionSpec(kind=StepAction.BUREAU_REPORT)


def run_steps(ctx: Ctx) -> None:
    """Carry out the current stage's on-enter steps that are due and not yet settled."""
    s = ctx.state
    spec = ctx.policy.stage(s.stage)
    if spec is None:
        return
    if s.bureau_report_owed and _step(
        ctx,
        _OWED_REPORT,
        "owed.bureau_report",
        f"{s.stage}: bureau report ordered in an earlier stage",
    ):
        s.bureau_report_owed = False
        s.pending = [p for p in s.pending if p.key != "owed.bureau_report"]
    facts = None
    for spec_step in spec.on_enter:
        key = f"step.{spec_step.kind}"
        if key in s.done:
            continue
        if spec_step.when is not None:
            facts = facts or ctx.facts()
            if not evaluate(spec_step.when, facts):
                continue
        if _step(ctx, spec_step, key, f"{s.stage}.on_enter.{spec_step.kind}"):
            s.done.append(key)
            s.pending = [p for p in s.pending if p.key != key]


def _effect(ctx: Ctx, event: str) -> tuple[EventEffect | None, str]:
    """The effect of `event` in the current stage and where it is written."""
    stage_spec = ctx.policy.stage(ctx.state.stage)
    effect: EventEffect | None = getattr(stage_spec.on, event) if stage_spec else None
    if effect is not None:
        return effect, f"{ctx.state.stage}.on.{event}"
    return getattr(ctx.policy.events, event), f"events.{event}"


def _goto(ctx: Ctx, event: str, source: str) -> None:
    s = ctx.state
    target = ctx.cp.machine.fire(s.stage, goto_trigger(s.stage, event))
    if target == "legal_referral" and time_barred(ctx):
        ctx.record(
            "suppressed",
            f"{source}: debt is time-barred, no legal referral",
            detail={"guardrail": "time_barred"},
        )
        return
    enter(ctx, target, f"{source}: goto {target}")


def apply_effect(ctx: Ctx, event: str) -> None:
    """What the policy says `event` does in the current stage (stage rules over policy rules).

    A `goto` while a hold stops stage moves (a dispute, hardship...) waits until the holds end.
    """
    s = ctx.state
    if s.closed:
        return
    effect, source = _effect(ctx, event)
    if effect is None:
        return
    if effect.pause_days:
        from engine.case.state import Hold

        until = ctx.now + timedelta(days=effect.pause_days)
        pause = s.hold(HoldKind.PAUSE)
        if pause is None:
            s.holds.append(Hold(kind=HoldKind.PAUSE, since=ctx.now, until=until, reason=source))
            ctx.record(
                "hold", f"{source}: pause {effect.pause_days} days", detail={"hold": "pause"}
            )
        elif pause.until is not None and pause.until < until:
            pause.until = until  # a second pause runs its full length too
            ctx.record(
                "hold",
                f"{source}: pause extended by {effect.pause_days} days",
                detail={"hold": "pause"},
            )
    for i, spec in enumerate(effect.actions):
        _step(ctx, spec, f"{event}.{s.stage_seq}.{i}.{spec.kind}", source)
    if effect.goto and effect.goto != s.stage:
        if not ctx.stopped:
            _goto(ctx, event, source)
        elif not any(p.key == HELD_GOTO + event for p in s.pending):
            from engine.case.state import Pending

            holds = "+".join(sorted(h.kind for h in s.holds if h.kind != "cease"))
            s.pending.append(
                Pending(key=HELD_GOTO + event, not_before=ctx.now, guardrail=f"hold.{holds}")
            )
            ctx.record(
                "deferred",
                f"{source}: goto {effect.goto} waits for the {holds} hold to end",
                detail={"guardrail": f"hold.{holds}"},
            )


def run_held_gotos(ctx: Ctx) -> None:
    """Carry out an event's `goto` that waited for a hold, once no hold stops stage moves."""
    s = ctx.state
    if s.closed or ctx.stopped:
        return
    held = [p for p in s.pending if p.key.startswith(HELD_GOTO)]
    if not held:
        return
    s.pending = [p for p in s.pending if not p.key.startswith(HELD_GOTO)]
    event = held[0].key.removeprefix(HELD_GOTO)
    effect, source = _effect(ctx, event)
    if effect is not None and effect.goto and effect.goto != s.stage:
        _goto(ctx, event, source)


def run_exits(ctx: Ctx) -> None:
    """Fire the first exit rule that holds, one stage at a time unless a rule says it skips."""
    for _ in range(len(ACTIVE_STAGES)):
        s = ctx.state
        if s.closed or ctx.stopped:
            return
        spec = ctx.policy.stage(s.stage)
        assert spec is not None, f"no spec for active stage {s.stage}"
        facts = ctx.facts()
        fired = False
        for i, ex in enumerate(spec.exits):
            if not evaluate(ex.when, facts):
                continue
            if not ex.skip and facts["days_in_stage"] < spec.min_days:
                continue
            if ex.to in ACTIVE_STAGES and facts["days_past_due"] <= ctx.policy.grace_days:
                continue
            name = f"{s.stage}.{ex.id or f'exit{i}'}"
            if ex.to == "legal_referral" and time_barred(ctx):
                key = f"{name}.time_barred"
                if key not in s.done:
                    s.done.append(key)
                    ctx.record(
                        "suppressed",
                        f"{name}: debt is time-barred, no legal referral",
                        detail={"guardrail": "time_barred"},
                    )
                continue
            if ex.approval and ex.approval in s.approvals_denied:
                continue  # refused in this stage; its other exits still apply
            if ex.approval and ex.approval not in s.approvals_granted:
                request_approval(ctx, ex.approval, name)
                continue
            if ex.approval:
                s.approvals_granted.remove(ex.approval)
            target = ctx.cp.machine.fire(s.stage, exit_trigger(s.stage, i))
            why = f"{name}: {ctx.explain(ex.when, facts)}" + (
                f" ({ex.reason})" if ex.reason else ""
            )
            enter(ctx, target, why)
            fired = True
            break
        if not fired:
            return
