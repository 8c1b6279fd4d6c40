"""The generic YAML -> pydantic loader: exact values, and every error at its exact line and column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from engine.errors import PolicyErrors
from engine.policy.loader import Positions, Problem, load_model, load_model_file, parse_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Strict):
    day: int
    channel: Literal["sms", "push", "email"]
    template: str


class Stage(_Strict):
    enter_at_day: int = 0
    contacts: list[Contact] = []
    fee: Decimal = Decimal(0)

    @field_validator("fee")
    @classmethod
    def _not_negative(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("must not be negative")
        return v


class Owner(_Strict):
    name: str
    email: str | None = None


class Doc(_Strict):
    name: str
    owner: Owner | None = None
    stages: dict[Literal["reminder", "legal"], Stage]
    limit: int | Literal["none"] = 0
    rates: list[Decimal] = []


GOOD = """\
name: demo
owner:
  name: Ops
stages:
  reminder:
    enter_at_day: -3
    contacts:
      - day: 1
        channel: sms
        template: missed
      - {day: 3, channel: email, template: missed}
    fee: 25.10
limit: none
rates: [0.1, 25.10, 1e3, 1_000.5]
"""


def errors(text: str, checks: object = None) -> list[tuple[int, int, str]]:
    """The (line, column, message) of every error loading `text` as a `Doc`."""
    with pytest.raises(PolicyErrors) as info:
        load_model(text, "p.yaml", Doc, checks)  # type: ignore[arg-type]
    assert {e.file for e in info.value.errors} == {"p.yaml"}
    return [(e.line, e.col, e.message) for e in info.value.errors]


def one_error(text: str) -> tuple[int, int, str]:
    """The single error loading `text` as a `Doc`."""
    found = errors(text)
    assert len(found) == 1, found
    return found[0]


class TestParse:
    """Parsing keeps exact numbers, plain Python types and the position of every key and value."""

    def test_floats_become_exact_decimals_from_their_source_text(self) -> None:
        data, _ = parse_yaml("r: [0.1, 25.10, 1e3, 1_000.5, -2.50, .inf, 7]\n", "x.yaml")
        assert data == {
            "r": [
                Decimal("0.1"),
                Decimal("25.10"),
                Decimal("1e3"),
                Decimal("1000.5"),
                Decimal("-2.50"),
                Decimal("Infinity"),
                7,
            ]
        }
        values = data["r"]
        assert [str(v) for v in values[:5]] == ["0.1", "25.10", "1E+3", "1000.5", "-2.50"]
        assert type(values[6]) is int

    def test_the_model_gets_the_exact_decimals(self) -> None:
        doc = load_model(GOOD, "p.yaml", Doc)
        assert doc.stages["reminder"].fee == Decimal("25.10")
        assert str(doc.stages["reminder"].fee) == "25.10"
        assert doc.rates == [Decimal("0.1"), Decimal("25.10"), Decimal("1000"), Decimal("1000.5")]
        assert doc.limit == "none"

    def test_keys_become_strings_and_scalars_plain_python(self) -> None:
        data, _ = parse_yaml(
            "1: a\non: b\nyes: c\nfalse: d\nnull: e\nday: 2024-01-31\nt: '09:30'\n", "x"
        )
        assert data == {
            "1": "a",
            "on": "b",
            "yes": "c",
            "false": "d",
            "null": "e",
            "day": date(2024, 1, 31),
            "t": "09:30",
        }
        assert all(type(k) is str for k in data)
        assert type(data["day"]) is date

    def test_positions_of_keys_values_and_items(self) -> None:
        _, pos = parse_yaml(GOOD, "p.yaml")
        assert isinstance(pos, Positions)
        assert pos.find(("stages", "reminder"), on_key=True) == (5, 3)
        assert pos.find(("stages", "reminder", "enter_at_day")) == (6, 19)
        assert pos.find(("stages", "reminder", "contacts", 0)) == (8, 9)
        assert pos.find(("stages", "reminder", "contacts", 0, "channel"), on_key=True) == (9, 9)
        assert pos.find(("stages", "reminder", "contacts", 1)) == (11, 9)
        assert pos.find(("stages", "reminder", "contacts", 1, "template")) == (11, 44)
        assert pos.find(("rates", 3)) == (14, 26)

    def test_a_missing_path_falls_back_to_its_nearest_ancestors_key(self) -> None:
        _, pos = parse_yaml(GOOD, "p.yaml")
        assert pos.find(("stages", "reminder", "nope")) == (5, 3)
        assert pos.find(("stages", "reminder", "contacts", 7, "day")) == (7, 5)
        assert pos.find(("nope", "deeper")) == (1, 1)
        assert pos.find(()) == (1, 1)


class TestSyntaxErrors:
    """YAML that does not parse is one error at the place the parser gave up."""

    def test_unclosed_quote(self) -> None:
        line, col, message = one_error('name: "demo\nstages: {}\n')
        assert (line, col) == (3, 1)
        assert "found unexpected end of stream" in message
        assert "while scanning a quoted scalar at line 1" in message

    def test_bad_indentation(self) -> None:
        assert one_error("name: demo\nstages:\n    reminder: {}\n  legal: {}\n") == (
            4,
            3,
            "expected <block end>, but found '<block mapping start>' "
            "(while parsing a block mapping at line 1)",
        )

    def test_mapping_value_not_allowed(self) -> None:
        assert one_error("name: demo: x\n") == (1, 11, "mapping values are not allowed here")

    def test_duplicate_key(self) -> None:
        assert one_error("name: a\nstages: {}\nname: b\n") == (3, 1, 'found duplicate key "name"')

    def test_keys_that_collide_once_made_strings(self) -> None:
        assert one_error("stages: {}\n1: a\n'1': b\n") == (3, 1, 'found duplicate key "1"')

    @pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
    def test_an_empty_file(self, text: str) -> None:
        assert one_error(text) == (1, 1, "the file is empty")

    @pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "\n\n42\n"])
    def test_a_root_that_is_not_a_mapping(self, text: str) -> None:
        line, col, message = one_error(text)
        assert (line, col) == (1, 1)
        assert message.startswith("the document must be a mapping of keys to values, not ")

    def test_an_impossible_date(self) -> None:
        assert one_error("name: a\nstages: {}\nwhen: 2024-13-45\n")[:2] == (3, 7)


class TestValidationErrors:
    """Every model error at once, each at its key or value, with the path in the message."""

    def test_unknown_key_points_at_the_key_and_suggests(self) -> None:
        text = GOOD.replace("    fee: 25.10", "    feee: 25.10")
        assert one_error(text) == (
            12,
            5,
            "stages.reminder: unknown key 'feee'; did you mean 'fee'?",
        )

    def test_unknown_key_at_the_root(self) -> None:
        assert one_error(GOOD + "colour: red\n") == (15, 1, "unknown key 'colour'")

    def test_wrong_type_points_at_the_value(self) -> None:
        text = GOOD.replace("enter_at_day: -3", "enter_at_day: soon")
        assert one_error(text) == (
            6,
            19,
            "stages.reminder.enter_at_day: Input should be a valid integer, "
            "unable to parse string as an integer (got 'soon')",
        )

    def test_missing_key_points_at_the_parent(self) -> None:
        assert one_error(GOOD.replace("  name: Ops", "  email: ops@x")) == (
            2,
            1,
            "owner: missing required key 'name'",
        )

    def test_missing_key_at_the_root(self) -> None:
        assert one_error(GOOD.replace("name: demo\n", "")) == (1, 1, "missing required key 'name'")

    def test_bad_literal_keeps_the_choices(self) -> None:
        text = GOOD.replace("channel: sms", "channel: fax")
        assert one_error(text) == (
            9,
            18,
            "stages.reminder.contacts[0].channel: Input should be 'sms', 'push' or 'email' "
            "(got 'fax')",
        )

    def test_error_inside_a_list_item_inside_a_dict(self) -> None:
        text = GOOD.replace("{day: 3,", "{day: x,")
        line, col, message = one_error(text)
        assert (line, col) == (11, 15)
        assert message.startswith(
            "stages.reminder.contacts[1].day: Input should be a valid integer"
        )

    def test_a_bad_dict_key_points_at_the_key(self) -> None:
        text = GOOD.replace("  reminder:\n", "  remind:\n")
        assert one_error(text) == (
            5,
            3,
            "stages.remind: Input should be 'reminder' or 'legal' (got 'remind')",
        )

    def test_a_union_field_reports_each_branch(self) -> None:
        found = errors(GOOD.replace("limit: none", "limit: lots"))
        assert found == [
            (13, 8, "limit: Input should be 'none' (got 'lots')"),
            (
                13,
                8,
                "limit: Input should be a valid integer, unable to parse string as an integer (got 'lots')",
            ),
        ]

    def test_a_model_or_none_union_reports_the_models_error(self) -> None:
        assert one_error(GOOD.replace("  name: Ops", "  name: Ops\n  phone: 1")) == (
            4,
            3,
            "owner: unknown key 'phone'",
        )

    def test_a_validator_error(self) -> None:
        assert one_error(GOOD.replace("fee: 25.10", "fee: -1.5")) == (
            12,
            10,
            "stages.reminder.fee: Value error, must not be negative",
        )

    def test_five_mistakes_give_five_errors_at_five_places(self) -> None:
        text = (
            GOOD.replace("name: demo\n", "")
            .replace("enter_at_day: -3", "enter_at_day: [1]")
            .replace("channel: sms", "channel: fax")
            .replace("  name: Ops", "  name: Ops\n  nmae: Ops")
            .replace("rates: [0.1,", "rates: [lots,")
        )
        assert errors(text) == [
            (1, 1, "missing required key 'name'"),
            (3, 3, "owner: unknown key 'nmae'"),
            (6, 19, "stages.reminder.enter_at_day: Input should be a valid integer"),
            (
                9,
                18,
                "stages.reminder.contacts[0].channel: Input should be 'sms', 'push' or 'email' (got 'fax')",
            ),
            (14, 9, "rates[0]: Input should be a valid decimal (got 'lots')"),
        ]


class TestChecks:
    """Meaning checks run after the model validates; each `Problem` lands on its key or value."""

    def test_problems_on_a_key_and_on_a_value(self) -> None:
        def checks(doc: Doc) -> list[Problem]:
            return [
                Problem(("stages", "reminder"), "the stage is too short", on_key=True),
                Problem(
                    ("stages", "reminder", "contacts", 1, "template"), f"no template {doc.name!r}"
                ),
            ]

        assert errors(GOOD, checks) == [
            (5, 3, "the stage is too short"),
            (11, 44, "no template 'demo'"),
        ]

    def test_a_problem_at_a_defaulted_field_points_at_its_parent(self) -> None:
        def checks(doc: Doc) -> list[Problem]:
            return [Problem(("owner", "email"), "an owner needs an email")]

        assert errors(GOOD, checks) == [(2, 1, "an owner needs an email")]

    def test_checks_do_not_run_on_an_invalid_document(self) -> None:
        def checks(doc: Doc) -> list[Problem]:
            raise AssertionError("must not run")

        assert errors(GOOD.replace("limit: none", "limit: 1.5"), checks)

    def test_no_problems_returns_the_model(self) -> None:
        doc = load_model(GOOD, "p.yaml", Doc, lambda doc: iter(()))
        assert doc.owner == Owner(name="Ops")
        assert [c.day for c in doc.stages["reminder"].contacts] == [1, 3]


class TestLoadModelFile:
    """Reading a file: UTF-8, and errors name the path as it was given."""

    def test_loads_a_file(self, tmp_path: Path) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(GOOD, encoding="utf-8")
        assert load_model_file(path, Doc).name == "demo"
        assert load_model_file(str(path), Doc).name == "demo"

    def test_errors_name_the_path_as_given(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text("name: x\n", encoding="utf-8")
        with pytest.raises(PolicyErrors) as info:
            load_model_file(str(path), Doc)
        assert str(info.value) == f"{path}:1:1: missing required key 'stages'"

    def test_a_file_that_is_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin.yaml"
        path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
        with pytest.raises(PolicyErrors) as info:
            load_model_file(path, Doc)
        assert [(e.line, e.col) for e in info.value.errors] == [
            (1, 10)
        ]  # the first byte that is not UTF-8
        assert "not valid UTF-8" in info.value.errors[0].message
