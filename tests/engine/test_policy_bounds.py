"""Bounds on policy files: numbers, templates, holiday calendars, YAML tags, aliases, depth and
size. Each mistake is one `file:line:col: message` (issue 10: every one of these used to be
accepted and crash the engine later, or give a traceback, or hang)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import PolicyErrors
from engine.policy.checks import check_policy
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.loader import MAX_DEPTH, MAX_FILE_BYTES, load_model
from engine.policy.model import Policy

SHIPPED = (POLICY_DIR / "consumer-credit-line.yaml").read_text(encoding="utf-8")


def errors(text: str) -> list[str]:
    """Every error loading `text` as a policy, as `line:col: message`."""
    with pytest.raises(PolicyErrors) as info:
        load_model(text, "p.yaml", Policy, check_policy)
    return [f"{e.line}:{e.col}: {e.message}" for e in info.value.errors]


def edit(old: str, new: str) -> str:
    """The shipped policy with one edit."""
    assert SHIPPED.count(old) == 1, old
    return SHIPPED.replace(old, new)


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


class TestNumbers:
    """Days, counts and money are bounded where they are written."""

    @pytest.mark.parametrize(
        ("old", "new", "where"),
        [
            ('amount: "20.00"', "amount: 1e400", "143:39: amount '1E+400' is too large"),
            (
                'amount: "20.00"',
                'amount: "20.001"',
                "143:39: amount '20.001' has more decimals than CNY allows",
            ),
            (
                "every: 3\n",
                "every: 100000000000000\n",
                "42:16: stages.reminder.contacts[2].every: Input should be less than or equal to 365",
            ),
            (
                "    enter_at_day: 8\n",
                "    enter_at_day: 8\n    min_days: 100000000000000\n",
                "57:15: stages.negotiation.min_days: Input should be less than or equal to 3650",
            ),
            (
                "calls_connected_per_day: 1",
                "calls_connected_per_day: 1\n  bureau_notice_days: 100000000000000",
                "141:23: guardrails.bureau_notice_days: Input should be less than or equal to 365",
            ),
            (
                "version: 2",
                "version: 100000000000000000000",
                "8:10: version: Input should be less than or equal to 1000000",
            ),
            (
                "amount: {max: 2000}",
                "amount: {max: 1e400}",
                "21:19: segments[0].amount.max: Input should be less than or equal to",
            ),
        ],
    )
    def test_out_of_bounds(self, old: str, new: str, where: str) -> None:
        found = errors(edit(old, new))
        assert len(found) == 1 and found[0].startswith(where), found


class TestTemplates:
    """Only plain `{placeholder}`: no format specs, no conversions."""

    @pytest.mark.parametrize(
        "placeholder", ["{name:d}", "{amount!x}", "{name:>999999999}", "{name!r}"]
    )
    def test_no_specs_or_conversions(self, placeholder: str) -> None:
        [err] = errors(
            edit(
                "{name}, your bill of {amount} {currency} is due today",
                f"{placeholder}, your bill of {{amount}} {{currency}} is due today",
            )
        )
        assert err.startswith(f"153:14: malformed template: {placeholder}: ")
        assert "only plain" in err and "no format specs or conversions" in err

    def test_a_huge_text(self) -> None:
        [err] = errors(
            edit('"Home visit to {name} (two collectors), case {case_id}."', '"' + "x" * 4001 + '"')
        )
        assert err.startswith(
            "178:14: templates.visit_notice.text.en-US: String should have at most 4000 characters"
        )


class TestZones:
    """A time zone that is a folder of zones (`US`) is unknown, not an IsADirectoryError (found by
    tests/fuzz)."""

    @pytest.mark.parametrize("zone", ["US", "America", "Etc"])
    def test_a_folder_is_no_zone(self, zone: str) -> None:
        [err] = errors(edit("timezone: Asia/Shanghai", f"timezone: {zone}"))
        assert err == f"11:11: timezone: Value error, unknown time zone '{zone}'"


class TestHolidays:
    """A holiday calendar must exist."""

    def test_unknown_calendar(self) -> None:
        assert errors(edit("holidays: [CN]", "holidays: [CN, ZZ]")) == [
            "135:18: unknown holiday calendar 'ZZ' (a country code such as CN or US)"
        ]


class TestYaml:
    """Tags, aliases, depth and size are limited before anything is built."""

    @pytest.mark.parametrize(
        ("tagged", "col"),
        [
            ("!!python/object/apply:os.system ['ls']", 7),
            ("!!python/name:os.system ''", 7),
            ("!foo bar", 7),
            ("!!set {a, b}", 7),
            ("!!binary aGk=", 7),
            ("!!str consumer", 7),
        ],
    )
    def test_no_tags(self, tagged: str, col: int) -> None:
        [err] = errors(edit("name: consumer-credit-line", f"name: {tagged}"))
        assert err.startswith(f"7:{col}: tags such as !") and "are not allowed in a policy" in err

    def test_billion_laughs(self) -> None:
        [err] = errors(BILLION_LAUGHS)
        assert "aliases" in err

    def test_a_few_aliases_expanding_hugely(self) -> None:
        """Under the alias limit, the expansion is limited too."""
        text = (
            "a: &a ["
            + ", ".join(["x"] * 60)
            + "]\n"
            + "".join(
                f"{b}: &{b} [{', '.join(['*' + a] * 30)}]\n"
                for a, b in zip("ab", "bc", strict=True)
            )
        )
        [err] = errors(text)
        assert "expands to more than" in err

    def test_nesting_depth(self) -> None:
        deep = "".join("  " * i + "- all:\n" for i in range(MAX_DEPTH + 1))
        [err] = errors("exits:\n" + deep)
        assert f"nested more than {MAX_DEPTH} levels deep" in err

    def test_flow_nesting_depth(self) -> None:
        [err] = errors("when: " + "{all: [" * 200 + "1" + "]}" * 200 + "\n")
        assert err.startswith("1:") and f"nested more than {MAX_DEPTH} levels deep" in err

    def test_size(self, tmp_path: Path) -> None:
        path = tmp_path / "big.yaml"
        path.write_text(SHIPPED + "#" + "x" * 10_000_000, encoding="utf-8")
        with pytest.raises(PolicyErrors) as info:
            load_policy(path)
        assert (
            str(info.value)
            == f"{path}:1:1: the file is {path.stat().st_size} bytes; a policy may be at most {MAX_FILE_BYTES}"
        )

    def test_a_character_yaml_refuses(self) -> None:
        assert errors(edit("name: consumer-credit-line", "name: consumer\x00-credit-line")) == [
            "7:15: character U+0000 is not allowed in a policy"
        ]

    def test_size_of_a_file_without_one(self, tmp_path: Path) -> None:
        """A device or pipe reports no size: the error still says why, having read no more than the limit."""
        with pytest.raises(PolicyErrors) as info:
            load_policy(Path("/dev/zero"))
        assert (
            str(info.value)
            == f"/dev/zero:1:1: the file is more than {MAX_FILE_BYTES} bytes; a policy may be at most {MAX_FILE_BYTES}"
        )

    def test_shipped_policies_fit(self) -> None:
        for path in POLICY_DIR.glob("*.yaml"):
            assert path.stat().st_size * 3 < MAX_FILE_BYTES
            assert load_policy(path).name == path.stem
