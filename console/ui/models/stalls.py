"""Stalls of the current job as the Launch pane shows them: per rank the silence since its last
line (or since GO), the countdown to HCCL_CONNECT_TIMEOUT, the ranks marked stalled and the
stall verdict. Pure: ``apply(event, now)`` takes the launch events with the console's
monotonic time of their arrival; the readers take ``now`` (the pane ticks once a second).

The "stalled" marks and the verdict are the supervisor's (``RankStalled``/``StallDetected``,
``console.ops.launch_stall``), so the pane and ``launch`` always agree; silence and countdown
are computed here between events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ClusterShell.RangeSet import RangeSet

from console.core.diagnosis.stall import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_STALL_S,
    StallTracker,
)
from console.ops.launch_events import (
    LaunchEvent,
    RankExited,
    RankLine,
    RankStalled,
    Stage,
    StallDetected,
)


@dataclass(frozen=True)
class RankSilence:
    rank: int
    silent_s: float
    stalled: bool


class StallBoard:
    def __init__(
        self,
        servers: Mapping[int, str],
        *,
        stall_s: float = DEFAULT_STALL_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.tracker = StallTracker(servers, stall_s=stall_s, connect_timeout_s=connect_timeout_s)
        self.stalled: set[int] = set()
        self.verdict: StallDetected | None = None
        self.ended = False

    def apply(self, event: LaunchEvent, now: float) -> bool:
        """Feed one event; True when what the grid shows (marks, verdict) changed."""
        match event:
            case Stage(name=name) if name == "go":
                self.tracker.started(now)
            case RankLine(rank=rank):
                self.tracker.line(rank, now)
            case RankExited(rank=rank, code=code):
                self.tracker.exited(rank, code)
                if rank in self.stalled:
                    self.stalled.discard(rank)
                    return True
            case RankStalled(rank=rank, stalled=stalled):
                (self.stalled.add if stalled else self.stalled.discard)(rank)
                return True
            case StallDetected():
                self.verdict = event
                return True
        return False

    def end(self) -> None:
        """The job ended: nothing counts down any more."""
        self.ended = True

    @property
    def started(self) -> bool:
        return self.tracker.go is not None

    def countdown(self, now: float) -> float | None:
        go = self.tracker.go
        return None if go is None or self.ended else go + self.tracker.connect_timeout_s - now

    def silences(self, now: float) -> list[RankSilence]:
        """Running ranks, longest silence first."""
        rows = [RankSilence(r.rank, r.silent_s, r.rank in self.stalled) for r in self.tracker.ranks(now)]
        return sorted(rows, key=lambda r: (-r.silent_s, r.rank))

    def summary(self, now: float) -> str:
        """One line for the Run tab, empty before GO and after the job."""
        if not self.started or self.ended:
            return ""
        parts = []
        if self.stalled:
            parts.append(f"stalled (silent ≥ {self.tracker.stall_s:g} s): ranks {RangeSet(sorted(self.stalled))}")
        quiet = [s for s in self.silences(now) if not s.stalled and s.silent_s >= 5]
        if quiet:
            top = quiet[0]
            parts.append(f"longest silence rank {top.rank} {top.silent_s:.0f} s")
        left = self.countdown(now)
        if left is not None:
            parts.append(
                f"HCCL_CONNECT_TIMEOUT in {left:.0f} s"
                if left > 0
                else f"HCCL_CONNECT_TIMEOUT passed {-left:.0f} s ago"
            )
        if self.verdict is not None:
            then = "torn down" if self.verdict.teardown else "job goes on"
            parts.append(f"STALL: {self.verdict.message} ({then})")
        return " · ".join(parts)
