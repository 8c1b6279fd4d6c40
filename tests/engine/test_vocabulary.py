"""The vocabulary: each word once, and the places that must follow it do."""

from __future__ import annotations

import json
from enum import StrEnum

import pytest
from pydantic import BaseModel

from engine.case import vocabulary as v
from engine.case.actions import CONTACT_CHANNELS
from engine.policy.conditions import FIELDS, CaseFacts
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES

VOCABULARIES: list[type[StrEnum]] = [
    v.ActiveStage,
    v.TerminalStage,
    v.Channel,
    v.Attitude,
    v.ContactResult,
    v.HoldKind,
    v.CloseReason,
    v.DisputeOutcome,
    v.Approval,
    v.StepAction,
    v.ActionKind,
    v.RecordKind,
]


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda x: x.__name__)
def test_a_word_is_its_string(vocabulary: type[StrEnum]) -> None:
    """Members compare, format and serialise as their plain words (traces and JSON unchanged)."""

    class Holder(BaseModel):
        word: vocabulary  # type: ignore[valid-type]

    for word in vocabulary:
        assert word == word.value and f"{word}" == word.value and str(word) == word.value
        assert json.dumps(word) == json.dumps(word.value)
        assert Holder(word=word.value).model_dump_json() == json.dumps(
            {"word": word.value}, separators=(",", ":")
        )
        assert Holder.model_validate_json(json.dumps({"word": word.value})).word is word


def test_stages_do_not_overlap_and_keep_their_order() -> None:
    assert not set(v.ActiveStage) & set(v.TerminalStage)
    assert ACTIVE_STAGES == ("reminder", "negotiation", "escalation", "legal_referral")
    assert TERMINAL_STAGES == ("resolved", "settled", "written_off", "closed")
    assert CONTACT_CHANNELS == ("sms", "push", "email", "call", "letter", "field_visit")


@pytest.mark.parametrize("name", [*v.ActiveStage, *v.TerminalStage])
def test_stage_named_gives_the_member(name: str) -> None:
    stage = v.stage_named(str(name))
    assert stage is name


def test_stage_named_refuses_other_words() -> None:
    with pytest.raises(ValueError, match="not_a_stage"):
        v.stage_named("not_a_stage")


def test_condition_fields_are_the_facts() -> None:
    """A condition may name exactly the facts the core computes."""
    assert list(CaseFacts.__annotations__) == list(FIELDS)
