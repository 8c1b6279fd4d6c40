"""The demo portfolio `make run` loads: a few hundred synthetic cases across the shipped policies,
due dates spread over the last 150 days, debtors in several time zones. Deterministic per seed."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from engine.case.state import CaseFile

__all__ = ["demo_portfolio"]

_CN_NAMES = ["王芳", "李伟", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强", "周杰", "吴娜"]
_US_NAMES = ["Maria Garcia", "James Smith", "Linda Johnson", "Robert Brown", "Patricia Davis",
             "Michael Miller", "Jennifer Wilson", "David Moore", "Susan Taylor", "John Anderson"]
_CN_ZONES = ["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong"]
_US_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
_ATTITUDES = ["cooperative"] * 3 + ["neutral"] * 5 + ["evasive"] * 2 + ["hostile"]


def demo_portfolio(today: date, n: int = 300, seed: int = 2026) -> list[CaseFile]:
    """`n` cases, half on each shipped policy, due between 150 days ago and 5 days ahead."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cn = i % 2 == 0
        due = today - timedelta(days=rng.randint(-5, 150))
        if cn:
            name, tz, locale = rng.choice(_CN_NAMES), rng.choice(_CN_ZONES), "zh-CN"
            amount = Decimal(rng.choice([300, 800, 1500, 2600, 4800, 9000, 15000])) + Decimal(rng.randint(0, 99)) / 100
            policy, product, currency, phone = "consumer-credit-line", "credit_line", "CNY", f"+86138{rng.randint(10**7, 10**8 - 1)}"
        else:
            name, tz, locale = rng.choice(_US_NAMES), rng.choice(_US_ZONES), rng.choice(["en-US"] * 9 + ["zh-CN"])
            amount = Decimal(rng.choice([450, 900, 1800, 3200, 7500, 12000])) + Decimal(rng.randint(0, 99)) / 100
            policy, product, currency, phone = "instalment-loan", "instalment_loan", "USD", f"+1555{rng.randint(10**6, 10**7 - 1)}"
        out.append(CaseFile.model_validate({
            "case_id": f"DEMO-{i + 1:04d}",
            "debtor": {"id": f"D-{i + 1:04d}", "name": name, "phone": phone,
                       "email": f"debtor{i + 1}@example.com", "address": f"{i + 1} Demo Road",
                       "timezone": tz, "locale": locale,
                       "third_party_phone": "" if cn else f"+1555{rng.randint(10**6, 10**7 - 1)}"},
            "product": product, "amount_due": str(amount), "currency": currency, "due_date": due.isoformat(),
            "policy": policy, "risk_score": rng.randint(300, 850),
            "consent": {"sms": rng.random() > 0.05}, "attitude": rng.choice(_ATTITUDES),
        }))
    return out
