"""The error family of the core: policy errors that point at a file position, and rejected events."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EventRejected", "OverdueError", "PolicyError", "PolicyErrors"]


class OverdueError(ValueError):
    """Base of every error a user can cause (bad policy, bad event, bad input row)."""


@dataclass(frozen=True)
class PolicyError:
    """One problem in a policy file, at a position (1-based line and column)."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class PolicyErrors(OverdueError):
    """Every problem found in one or more policy files, reported at once."""

    def __init__(self, errors: list[PolicyError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.col, e.message))
        super().__init__("\n".join(str(e) for e in self.errors))


class EventRejected(OverdueError):
    """An event the case cannot take (negative payment, wrong currency, unknown approval...).

    Raised before anything is written, so the case is untouched.
    """
