"""Stalls during a launch, for the supervisor: the pure ``StallTracker`` fed with the job's
lines, GO and exits on the console's monotonic clock, turned into events.

* ``RankStalled``: a running rank said nothing for ``stall_s`` seconds after GO (or since its
  last line); again with ``stalled=False`` when it prints after that.
* ``StallDetected`` (once per job): most running ranks are stalled while every rank of one
  server failed or never printed (``StallTracker.verdict``). With ``fail_fast`` the supervisor
  tears the job down for it (root cause of kind "stall"), before HCCL_CONNECT_TIMEOUT runs out.

The supervisor asks ``due()`` for the next moment worth a look and calls ``check(now)`` then.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from console.core.diagnosis.stall import (
    DEFAULT_STALL_S,
    StallTracker,
    StallVerdict,
    connect_timeout,
)
from console.core.planning.launch import LaunchPlan
from console.ops.launch_events import RankStalled, StallDetected


@dataclass(frozen=True)
class StallOptions:
    stall_s: float = DEFAULT_STALL_S
    """Seconds of silence after GO (or since a rank's last line) before it is "stalled"."""
    fail_fast: bool = False
    """Tear the job down when a stall names a culprit server (``--fail-fast-stall``)."""


class StallWatch:
    def __init__(self, plan: LaunchPlan, options: StallOptions) -> None:
        rank_server = {r.rank: s.server_id for s in plan.servers for r in s.ranks}
        env: Mapping[str, str] = next((r.env for s in plan.servers for r in s.ranks), {})
        self.hosts = {s.server_id: s.host for s in plan.servers}
        self.options = options
        self.tracker = StallTracker(rank_server, stall_s=options.stall_s, connect_timeout_s=connect_timeout(env))
        self.marked: set[int] = set()
        self.verdict: StallVerdict | None = None
        self.dirty = False
        # (moment it turns stalled, rank), lazily: an entry is current while the rank runs,
        # is not marked and that moment is still its own (a later line pushes a new entry)
        self._heap: list[tuple[float, int]] = []

    def started(self, now: float) -> None:
        self.tracker.started(now)
        self._rebuild()

    def line(self, rank: int, now: float) -> list[RankStalled]:
        self.tracker.line(rank, now)
        if self.tracker.go is not None:
            heapq.heappush(self._heap, (now + self.tracker.stall_s, rank))
            if len(self._heap) > 2 * len(self.tracker.rank_server) + 64:
                self._rebuild()  # old entries dropped: amortized O(1) a line
        if rank not in self.marked:
            return []
        self.marked.discard(rank)
        return [RankStalled(rank, self.tracker.rank_server[rank], 0.0, self._countdown(now), stalled=False)]

    def exited(self, rank: int, code: int | None) -> None:
        self.tracker.exited(rank, code)
        # a verdict needs stalled ranks: with none marked, an exit cannot make one (the next
        # rank to turn stalled is what ``due`` says), so no look at every rank per exit
        self.dirty = self.dirty or bool(self.marked)
        self.marked.discard(rank)

    def due(self) -> float | None:
        """When a running rank turns stalled next (or now, after an exit); None before GO
        and once a verdict was given."""
        t = self.tracker
        if t.go is None or self.verdict is not None:
            return None
        if self.dirty:
            return 0.0
        heap = self._heap
        while heap and not self._current(*heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _current(self, moment: float, rank: int) -> bool:
        t = self.tracker
        if rank in t.exits or rank in self.marked or t.go is None:
            return False
        return moment == t.last.get(rank, t.go) + t.stall_s

    def _rebuild(self) -> None:
        t = self.tracker
        if t.go is None:
            return
        self._heap = [(t.last.get(r, t.go) + t.stall_s, r) for r in t.rank_server if r not in t.exits]
        heapq.heapify(self._heap)

    def check(self, now: float) -> tuple[list[RankStalled | StallDetected], StallVerdict | None]:
        """Events since the last check, and the verdict when one is new."""
        self.dirty = False
        events: list[RankStalled | StallDetected] = []
        for r in self.tracker.ranks(now):
            if r.stalled and r.rank not in self.marked:
                self.marked.add(r.rank)
                events.append(RankStalled(r.rank, r.server, round(r.silent_s, 3), _round(r.countdown_s)))
        if self.verdict is not None or (verdict := self.tracker.verdict(now)) is None:
            return events, None
        self.verdict = verdict
        silent_s = min((r.silent_s for r in self.tracker.ranks(now) if r.stalled), default=0.0)
        events.append(
            StallDetected(
                verdict.server,
                self.hosts.get(verdict.server, verdict.server),
                verdict.failed,
                verdict.silent,
                verdict.stalled,
                round(silent_s, 3),
                self.tracker.connect_timeout_s,
                teardown=self.options.fail_fast,
                message=verdict.describe(),
            )
        )
        return events, verdict

    def _countdown(self, now: float) -> float | None:
        go = self.tracker.go
        return None if go is None else _round(go + self.tracker.connect_timeout_s - now)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
