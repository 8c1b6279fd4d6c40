"""The stage graph of a policy as a `transitions` state machine, kept behind this one module.

Stages are states; each exit rule and each event `goto` is a named trigger from its stage. The
machine is built once per policy and shared by every case: a case's stage lives in `CaseState`,
and the machine is only asked which destination a trigger leads to from a given stage. Only the
core `Machine` is used (no `LockedMachine`, no `Timeout`: they bring threads) and its logger is
kept at WARNING, because it logs on every workflow replay.
"""

from __future__ import annotations

import logging

from transitions import Machine, MachineError

from engine.case.vocabulary import Stage, TerminalStage, stage_named
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES, Policy

__all__ = ["CLOSE_TRIGGERS", "StageMachine", "exit_trigger", "goto_trigger"]

logging.getLogger("transitions").setLevel(logging.WARNING)

#: Built-in ways out of any active stage, whatever the policy says.
CLOSE_TRIGGERS: dict[str, TerminalStage] = {
    "paid_in_full": TerminalStage.RESOLVED,
    "close_settled": TerminalStage.SETTLED,
    "close_written_off": TerminalStage.WRITTEN_OFF,
    "close_bankrupt": TerminalStage.CLOSED,
    "close_deceased": TerminalStage.CLOSED,
    "dispute_upheld": TerminalStage.CLOSED,
}


def exit_trigger(stage: str, index: int) -> str:
    """The trigger name of a stage's exit rule."""
    return f"{stage}.exit{index}"


def goto_trigger(stage: str, event: str) -> str:
    """The trigger name of an event's `goto` in a stage."""
    return f"{stage}.on.{event}"


class _Cursor:
    """The machine's one model: positioned on a stage, asked to fire, read back."""

    state: str


class StageMachine:
    """The stage graph of one policy."""

    def __init__(self, policy: Policy) -> None:
        self._cursor = _Cursor()
        self._machine = Machine(
            model=self._cursor,
            # plain strings: `transitions` names an Enum state by its member name, not its value
            states=[str(x) for x in ACTIVE_STAGES + TERMINAL_STAGES],
            initial="reminder",
            auto_transitions=False,
            ignore_invalid_triggers=False,
            send_event=False,
        )
        for trigger, dest in CLOSE_TRIGGERS.items():
            self._machine.add_transition(trigger, [str(x) for x in ACTIVE_STAGES], str(dest))
        event_rules = policy.events.model_dump(exclude_none=True)
        for stage, spec in policy.stages.items():
            for i, ex in enumerate(spec.exits):
                self._machine.add_transition(exit_trigger(stage, i), str(stage), str(ex.to))
            merged = {**event_rules, **spec.on.model_dump(exclude_none=True)}
            for event, effect in merged.items():
                if effect.get("goto"):
                    self._machine.add_transition(
                        goto_trigger(stage, event), str(stage), str(effect["goto"])
                    )

    def can(self, stage: Stage, trigger: str) -> bool:
        """Whether `trigger` leads anywhere from `stage`."""
        ev = self._machine.events.get(trigger)
        return ev is not None and stage in ev.transitions

    def fire(self, stage: Stage, trigger: str) -> Stage:
        """The stage `trigger` leads to from `stage`.

        Raises:
            ValueError: the trigger is not allowed from that stage.
        """
        self._machine.set_state(str(stage), model=self._cursor)
        try:
            self._cursor.trigger(trigger)  # type: ignore[attr-defined]
        except (MachineError, AttributeError) as e:
            raise ValueError(f"no transition {trigger!r} from {stage!r}") from e
        return stage_named(self._cursor.state)
