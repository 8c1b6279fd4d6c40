"""The messages of the rollout workflow and its activities (plain data, JSON through the codec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from engine.case.state import PolicyRef

__all__ = [
    "BatchResult",
    "ListRequest",
    "Listed",
    "MoveBatch",
    "RolloutInput",
    "RolloutMode",
    "RolloutProgress",
    "RolloutRecord",
    "rollout_workflow_id",
]

#: canary: the `percent` % a stable hash picks; promote: every case left; rollback: every case
#: back to an earlier version; rollout: every selected case at once.
RolloutMode = Literal["canary", "promote", "rollout", "rollback"]


def rollout_workflow_id(policy: str) -> str:
    """The one rollout a policy may have running at a time."""
    return f"rollout-{policy}"


@dataclass
class RolloutProgress:
    """Where a rollout stands: the counters its query and the data plane's record show."""

    policy: str
    to: PolicyRef
    mode: RolloutMode
    percent: int
    where: str | None
    by: str
    reason: str
    state: str = "listing"  # listing, moving, paused, done, aborted
    selected: int = 0
    done: int = 0  # cases handled (moved, already there, or refused)
    moved: int = 0
    already: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (case_id, reason), the first 100
    refused_count: int = 0
    from_versions: dict[str, int] = field(default_factory=dict)  # "1" -> cases selected on v1
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class RolloutInput:
    """What to roll out, how fast, and (across continue-as-new) how far it got."""

    progress: RolloutProgress
    batch_size: int = 25
    #: Seconds between batches: the bound on the rate cases move at.
    pause_seconds: float = 1.0
    case_ids: list[str] | None = None  # listed once; None until then
    paused: bool = False


@dataclass
class ListRequest:
    """The cases of a rollout: running cases of `policy`, narrowed by `where`, `percent`."""

    policy: str
    where: str | None
    percent: int
    #: Leave out cases already on this version (a promote after a canary).
    skip_version: int | None = None


@dataclass
class Listed:
    """The cases listed, and how many run each version now."""

    case_ids: list[str]
    from_versions: dict[str, int]


@dataclass
class MoveBatch:
    """Send the migration event to these cases."""

    case_ids: list[str]
    to: PolicyRef
    by: str
    reason: str


@dataclass
class BatchResult:
    """What one batch did."""

    moved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RolloutRecord:
    """The data plane's row of a rollout (`workers.dataplane.schema.rollouts`): one per run."""

    id: str
    progress: RolloutProgress
    updated_at: datetime
