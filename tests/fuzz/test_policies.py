"""Fuzz: mutated policy files load, or fail with `PolicyErrors`; a policy that loads runs a case
for a year without crashing, hanging or leaving the case stuck."""

from __future__ import annotations

from hypothesis import given, settings

from engine.policy import registry
from engine.policy.checks import check_policy
from engine.policy.loader import load_model
from engine.policy.model import Policy
from engine.policy.templates import render
from tests.fuzz.drive import case_on, open_and_run
from tests.fuzz.harness import FUZZ, examples, judge
from tests.fuzz.policy_mutations import mutated_policy, mutated_tree


def load_and_run(text: str) -> None:
    """The whole life of a policy file: load, compile, a fresh case and a late one for a year,
    and every template rendered in every locale (a contact may need any of them one day)."""
    cp = registry.register(load_model(text, "fuzz.yaml", Policy, check_policy))
    d = open_and_run(cp, case_on(cp, days_overdue=5))
    open_and_run(cp, case_on(cp, days_overdue=100, amount="25000.00", case_id="F-2"))
    for name in cp.policy.templates:
        for locale in cp.policy.locales:
            render(cp.policy, d.state, name, locale, 30)


@settings(FUZZ, max_examples=examples(100))
@given(mutated_policy())
def test_mutated_policies(text: str) -> None:
    """Every mutation ends in a loaded policy or a clear error, never a crash, hang or stuck case."""
    outcome, detail = judge(lambda: load_and_run(text))
    assert outcome in ("ok", "clear"), detail


@settings(FUZZ, max_examples=examples(60))
@given(mutated_tree())
def test_mutated_values(text: str) -> None:
    """Valid YAML with edge values anywhere: a policy that loads never crashes a case later."""
    outcome, detail = judge(lambda: load_and_run(text))
    assert outcome in ("ok", "clear"), detail
