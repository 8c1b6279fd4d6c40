"""Portfolios to simulate: synthetic ones drawn from a seed, or the cases of a case file.

A synthetic case depends only on (seed, its index) through its own `random.Random`, seeded from a
SHA-256 of both: the same seed gives the same portfolio on any machine and any number of worker
processes, and a worker can draw just its own slice. The distributions are the fields of
`PortfolioSpec`; change them there (or pass another spec) to explore other books.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from engine.case.intake import read_case_file
from engine.case.money import CURRENCIES
from engine.case.state import CaseFile, Debtor
from engine.case.vocabulary import ActiveStage, Attitude
from engine.errors import OverdueError
from engine.policy.compiled import CompiledPolicy

__all__ = [
    "DEFAULT_START",
    "PortfolioSpec",
    "SimCase",
    "case_rng",
    "group_by_debtor",
    "load_portfolio",
    "open_moment",
    "synthetic_case",
    "synthetic_cases",
    "synthetic_people",
]

#: The first day of a simulation unless told otherwise (fixed, so runs never depend on today).
DEFAULT_START = date(2026, 3, 2)

_NAMES_EN = (
    "Alex Lee",
    "Sam Carter",
    "Jordan Diaz",
    "Taylor Kim",
    "Morgan Patel",
    "Casey Nguyen",
    "Riley Brooks",
    "Jamie Ortiz",
    "Avery Chen",
    "Quinn Walker",
)
_NAMES_ZH = ("王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "赵婷", "黄勇", "周杰", "吴芳")


def _default_zones() -> dict[str, float]:
    return {
        "Asia/Shanghai": 0.40,
        "America/New_York": 0.18,
        "America/Los_Angeles": 0.10,
        "America/Chicago": 0.08,
        "Asia/Jakarta": 0.08,
        "Asia/Manila": 0.04,
        "Europe/London": 0.04,
        "Asia/Kathmandu": 0.03,
        "America/St_Johns": 0.02,
        "Australia/Sydney": 0.03,
    }


@dataclass(frozen=True)
class PortfolioSpec:
    """The distributions a synthetic portfolio is drawn from (all tunable).

    Attributes:
        products: product -> share of cases.
        amount_median: product -> median overdue amount (log-normal), in the policy's currency.
        amount_sigma: product -> sigma of the log of the amount (spread).
        amount_bounds: every amount is clamped to this range.
        home_zone_share: share of debtors in the policy's own time zone; the rest follow `zones`.
        zones: IANA time zone -> weight (policy's zone included or not).
        risk_mode: the most likely risk score (triangular on 0..1000).
        attitudes: attitude -> share.
        refuse: channel -> share of debtors who refused it.
        missing_email: share without an e-mail address; `third_party`: share who named a contact.
        backlog_share: share of cases already overdue on the first day (1..`backlog_max_dpd` days).
        arrival_days: the other cases fall due over the first `arrival_days` of the window
            (None: the first third of it).
        shared_debtors: share of debtors who hold more than one account (two, or three with
            `three_accounts` of them); their accounts are other products, due within
            `shared_due_spread` days of the first, reached through the same phone and address.
        other_share: with another policy named (`--other-policy`), the share of those debtors
            whose further accounts run under it (drawn per person from the seed).
    """

    products: dict[str, float] = field(
        default_factory=lambda: {"credit_line": 0.6, "instalment_loan": 0.4}
    )
    amount_median: dict[str, float] = field(
        default_factory=lambda: {"credit_line": 1200.0, "instalment_loan": 4500.0}
    )
    amount_sigma: dict[str, float] = field(
        default_factory=lambda: {"credit_line": 0.9, "instalment_loan": 0.8}
    )
    amount_bounds: tuple[float, float] = (50.0, 200_000.0)
    home_zone_share: float = 0.5
    zones: dict[str, float] = field(default_factory=_default_zones)
    risk_mode: int = 450
    attitudes: dict[Attitude, float] = field(
        default_factory=lambda: {
            Attitude.COOPERATIVE: 0.30,
            Attitude.NEUTRAL: 0.45,
            Attitude.EVASIVE: 0.17,
            Attitude.HOSTILE: 0.08,
        }
    )
    refuse: dict[str, float] = field(
        default_factory=lambda: {"sms": 0.05, "email": 0.03, "push": 0.04, "call": 0.02}
    )
    missing_email: float = 0.05
    third_party: float = 0.3
    backlog_share: float = 0.25
    backlog_max_dpd: int = 120
    arrival_days: int | None = None
    shared_debtors: float = 0.25
    three_accounts: float = 0.3
    shared_due_spread: int = 10
    other_share: float = 0.5


@dataclass(frozen=True)
class SimCase:
    """A case to simulate and the moment it is opened.

    `policy` is set for one of the person's accounts on ANOTHER policy than the one simulated:
    the case runs under it, sharing the person's ledger, as in production (None: the simulated
    policy)."""

    case: CaseFile
    opened: datetime
    policy: CompiledPolicy | None = None


def case_rng(seed: int, key: str, salt: str = "case") -> random.Random:
    """A private generator for one case (portable: SHA-256, never `hash()`)."""
    digest = hashlib.sha256(f"{salt}:{seed}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


K = TypeVar("K", bound=str)


def _pick(rng: random.Random, weights: dict[K, float]) -> K:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def open_moment(cp: CompiledPolicy, case: CaseFile, start: datetime) -> datetime:
    """When a case is opened: local midnight of its first reminder day, but not before `start`."""
    spec = cp.policy.stages.get(ActiveStage.REMINDER)
    first = case.due_date + timedelta(days=spec.enter_at_day if spec else 0)
    moment = datetime.combine(first, time(0), tzinfo=ZoneInfo(case.debtor.timezone))
    return max(moment, start)


def synthetic_case(
    cp: CompiledPolicy,
    seed: int,
    index: int,
    start: datetime,
    days: int,
    spec: PortfolioSpec | None = None,
) -> SimCase:
    """Case number `index` (0-based) of the synthetic portfolio of `seed`."""
    spec = spec or PortfolioSpec()
    rng = case_rng(seed, str(index))
    p = cp.policy
    product = _pick(rng, spec.products)
    median = spec.amount_median.get(product, 1000.0)
    raw = rng.lognormvariate(math.log(median), spec.amount_sigma.get(product, 0.8))
    lo, hi = spec.amount_bounds
    digits = CURRENCIES[p.currency]
    amount = Decimal(round(min(max(raw, lo), hi) * 10**digits)).scaleb(-digits)
    zone = p.timezone if rng.random() < spec.home_zone_share else _pick(rng, spec.zones)
    chinese = zone in ("Asia/Shanghai", "Asia/Urumqi")
    locale = (
        "zh-CN"
        if chinese and "zh-CN" in p.locales
        else ("en-US" if "en-US" in p.locales else p.locales[0])
    )
    if rng.random() < spec.backlog_share:
        due = start.date() - timedelta(days=rng.randint(1, spec.backlog_max_dpd))
    else:
        due = start.date() + timedelta(days=rng.randint(0, max(0, spec.arrival_days or days // 3)))
    name = rng.choice(_NAMES_ZH if chinese else _NAMES_EN)
    consent = {ch: False for ch, share in spec.refuse.items() if rng.random() < share}
    case = CaseFile(
        case_id=f"S-{index + 1}",
        debtor=Debtor(
            id=f"D-{index + 1}",
            name=name,
            phone=f"+1555{index:07d}"[:16],
            email="" if rng.random() < spec.missing_email else f"d{index + 1}@example.com",
            address=f"{index + 1} Example Road",
            timezone=zone,
            locale=locale,
            third_party_phone=f"+1666{index:07d}"[:16] if rng.random() < spec.third_party else "",
        ),
        product=product,
        amount_due=amount,
        currency=p.currency,
        due_date=due,
        policy=p.name,
        risk_score=min(1000, max(0, round(rng.triangular(0, 1000, spec.risk_mode)))),
        consent=consent,
        attitude=_pick(rng, spec.attitudes),
    )
    return SimCase(case, open_moment(cp, case, start))


def synthetic_cases(
    cp: CompiledPolicy,
    seed: int,
    first: int,
    count: int,
    start: datetime,
    days: int,
    spec: PortfolioSpec | None = None,
) -> list[SimCase]:
    """Cases `first` .. `first + count - 1` of the synthetic portfolio of `seed`."""
    return [synthetic_case(cp, seed, i, start, days, spec) for i in range(first, first + count)]


def _account_of(
    cp: CompiledPolicy,
    first: SimCase,
    seed: int,
    index: int,
    start: datetime,
    spec: PortfolioSpec,
    k: int,
    other: bool = False,
) -> SimCase:
    """Case `index` as the `k`-th further account of the debtor of `first`: same person (name,
    phone, address, time zone, refusals, attitude), another product, amount and due date, under
    `cp` (`other`: it is not the simulated policy, the account runs under it as its own)."""
    own = synthetic_case(cp, seed, index, start, 1, spec)
    rng = case_rng(seed, str(index), "account")
    products = list(spec.products)
    product = (
        products[(products.index(first.case.product) + k) % len(products)]
        if (first.case.product in products)
        else own.case.product
    )
    due = first.case.due_date + timedelta(days=rng.randint(0, spec.shared_due_spread))
    case = own.case.model_copy(
        update={
            "debtor": first.case.debtor,
            "product": product,
            "due_date": due,
            "consent": dict(first.case.consent),
            "attitude": first.case.attitude,
        }
    )
    return SimCase(case, open_moment(cp, case, start), cp if other else None)


def synthetic_people(
    cp: CompiledPolicy,
    seed: int,
    first: int,
    count: int,
    start: datetime,
    days: int,
    spec: PortfolioSpec | None = None,
    other: CompiledPolicy | None = None,
) -> list[list[SimCase]]:
    """Cases `first` .. `first + count - 1` grouped by person: a share `spec.shared_debtors` of
    the people hold two or three of them. The grouping depends only on (seed, first), so a chunk
    of cases always holds whole people, however many processes run.

    With `other` (a policy in the same currency), a share `spec.other_share` of those people have
    their further accounts under it. Who does is drawn per person from its own generator, so the
    people and their accounts are the same with or without `other`."""
    spec = spec or PortfolioSpec()
    rng = case_rng(seed, str(first), "people")
    people: list[list[SimCase]] = []
    i, end = first, first + count
    while i < end:
        n = 1
        if rng.random() < spec.shared_debtors:
            n = 3 if rng.random() < spec.three_accounts else 2
        n = min(n, end - i)
        head = synthetic_case(cp, seed, i, start, days, spec)
        on = cp
        if other is not None and n > 1:
            if case_rng(seed, str(i), "other").random() < spec.other_share:
                on = other
        people.append(
            [head]
            + [
                _account_of(on, head, seed, i + k, start, spec, k, on is not cp)
                for k in range(1, n)
            ]
        )
        i += n
    return people


def group_by_debtor(cases: list[SimCase]) -> list[list[SimCase]]:
    """Cases grouped by debtor id, in the order each person first appears."""
    out: dict[str, list[SimCase]] = {}
    for sc in cases:
        out.setdefault(sc.case.debtor.id, []).append(sc)
    return list(out.values())


def load_portfolio(path: str | Path) -> list[CaseFile]:
    """The valid cases of a case file (the simulator decides which policy each runs under from
    the `policy` it names: `simulator.run`).

    Raises:
        OverdueError: the file cannot be read, or a row is invalid (every bad row is listed).
    """
    result = read_case_file(path)
    if result.rejects:
        raise OverdueError("\n".join(f"{path}:{r.line}: {r.message}" for r in result.rejects))
    if not result.rows:
        raise OverdueError(f"{path}: no cases")
    return result.cases
