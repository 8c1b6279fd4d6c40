"""The console's Prometheus metrics: requests, human actions, sign-in failures, approvals waiting.

One registry per app (tests build several apps in one process); `/metrics` renders it. The
approvals-waiting gauge is counted from Temporal's visibility when scraped, so it is never stale.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ConsoleMetrics"]


class ConsoleMetrics:
    """The console's metrics, on their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "overdue_console_requests",
            "HTTP requests served by the console",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "overdue_console_request_seconds",
            "Console response time",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.actions = Counter(
            "overdue_console_actions",
            "Human actions taken through the console",
            ["action", "role"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "overdue_console_actions_rejected",
            "Human actions a case refused (validation)",
            ["action"],
            registry=self.registry,
        )
        self.sign_in_failures = Counter(
            "overdue_console_sign_in_failures",
            "Sign-ins refused (wrong name or password)",
            registry=self.registry,
        )
        self.portfolio_refresh = Gauge(
            "overdue_console_portfolio_refresh_seconds",
            "How long the last successful portfolio refresh took",
            registry=self.registry,
        )
        self.portfolio_refresh_failures = Counter(
            "overdue_console_portfolio_refresh_failures",
            "Portfolio refreshes that failed (the last good snapshot was kept)",
            registry=self.registry,
        )
        self.approvals_waiting = Gauge(
            "overdue_approvals_waiting",
            "Running cases waiting for a human approval",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
