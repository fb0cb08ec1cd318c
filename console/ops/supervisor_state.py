"""A supervised job's bookkeeping, for ``Supervisor`` (``console.ops.supervisor``): the plan's
lookups, what every server and rank did so far, the deadlines, the writes to the agents, the
teardown and the final ``JobSummary``. What the agents' messages do to it is
``console.ops.supervisor_handlers``; the channels, the queue and the main loop are the
supervisor's.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import deque
from typing import Any

from console.core.errors import ConsoleError
from console.core.planning.launch import LaunchPlan
from console.ops.agentclock import AgentClocks
from console.ops.agentlink import AgentLink
from console.ops.launch_events import JobSummary, RootCause, Teardown
from console.ops.launch_stall import StallOptions, StallWatch
from console.ops.launch_stop import STEPS
from console.ops.runrecord import RunRecord

TAIL_LINES = 20


class JobState:
    """What the supervisor knows of one job; changed only by the loop (one task)."""

    def __init__(
        self,
        plan: LaunchPlan,
        record: RunRecord | None = None,
        *,
        heartbeat_s: float = 5.0,
        stop_wait_s: float = 5.0,
        go_margin_s: float | None = None,
        stall: StallOptions | None = None,
    ) -> None:
        self.plan = plan
        self.stall = StallWatch(plan, stall or StallOptions())
        self.cleaned: set[str] = set()  # servers whose agent removed its run folder
        self.unexpected: dict[str, int] = {}
        self.record = record
        self.heartbeat_s = heartbeat_s
        self.stop_wait_s = stop_wait_s
        self.clocks = AgentClocks(go_margin_s)
        self.writes = [0, 0.0]  # writes to agents' channels, and the seconds they took (GO's margin)
        self.links: dict[str, AgentLink] = {}
        self.server_of = {r.rank: s for s in plan.servers for r in s.ranks}
        # per-message lookups by server id: dicts, never a scan of the plan (1,024 servers)
        self.by_id = {s.server_id: s for s in plan.servers}
        self.ranks_of = {s.server_id: frozenset(r.rank for r in s.ranks) for s in plan.servers}
        self._server_ids = list(self.by_id)
        self.pending = set(self.server_of)
        self.exit_codes: dict[int, int | None] = {}
        self.tails: dict[int, deque[str]] = {r: deque(maxlen=TAIL_LINES) for r in self.server_of}
        self.ready: set[str] = set()
        self.ended: set[str] = set()  # bye received or channel gone
        self.closed_by_us: set[str] = set()
        self.lost: list[str] = []
        self.starts: dict[int, float] = {}
        self.woke: dict[int, float] = {}
        self.late: dict[str, float] = {}
        self.root: RootCause | None = None
        self.t0 = time.monotonic()
        self.go_at: float | None = None
        self.teardown_at: float | None = None
        self.stop_sig: str | None = None  # the last signal the agents were told to stop with
        self.stop_sent_at: float | None = None
        self.all_exited_at: float | None = None
        self.next_hb = self.t0 + heartbeat_s
        self.ready_re = re.compile(plan.ready_pattern) if plan.ready_pattern else None
        self.awaiting_ready: set[int] = set()
        self.lines = 0

    # --- deadlines and the end ---------------------------------------------------------------

    def deadlines(self) -> dict[str, float]:
        """The next moment of each thing the loop waits for (heartbeat, timeouts, stall look)."""
        out = {"hb": self.next_hb}
        if self.root is None and self.go_at is None:
            out["setup"] = self.t0 + self.plan.setup_timeout_s
        if self.root is None and self.awaiting_ready and self.go_at is not None:
            out["ready"] = self.go_at + self.plan.ready_timeout_s
        if self.root is None and (stall := self.stall.due()) is not None:
            out["stall"] = stall
        if self.stop_sent_at is not None:
            # the agents step on to the next signal after each grace period; KILL is last
            steps_left = len(STEPS) - 1 - STEPS.index(self.stop_sig or "TERM")
            out["give_up"] = self.stop_sent_at + steps_left * self.plan.grace_s + self.stop_wait_s
        return out

    def teardown(self, root: RootCause, sig: str = "TERM") -> list[Any]:
        """``root`` is the job's root cause: STOP (with ``sig``) to every agent."""
        self.root = root
        self.teardown_at = self.stop_sent_at = time.monotonic()
        self.stop_sig = sig
        # STOP first: it must reach the agents even if the run record cannot be written
        self.send_all({"t": "stop", "reason": f"teardown: {root.describe()}", "sig": sig})
        self.record_event(
            "teardown", root_cause=root.describe(), cause=root.kind, rank=root.rank, server=root.server_id, signal=sig
        )
        return [Teardown(root)]

    def finish(self) -> JobSummary:
        """The job's summary (also recorded as the run record's ``finished`` event)."""
        skew = _spread(self.starts.values())
        teardown = (
            self.all_exited_at - self.teardown_at
            if self.teardown_at is not None and self.all_exited_at is not None
            else None
        )
        ok = self.root is None and all(c == 0 for c in self.exit_codes.values())
        summary = JobSummary(
            ok=ok,
            world_size=self.plan.world_size,
            exit_codes=dict(sorted(self.exit_codes.items())),
            run_dir=str(self.record.dir) if self.record else None,
            root_cause=self.root,
            start_skew_s=skew,
            teardown_s=teardown,
            duration_s=time.monotonic() - self.t0,
            lines=self.lines,
            lost_servers=self.lost,
            wake_skew_s=_spread(self.woke.values()),
            go_late_s=max(self.late.values()) if self.late else None,
            processes=self.plan.processes,
        )
        self.record_event(
            "finished",
            ok=ok,
            start_skew_s=skew,
            teardown_s=teardown,
            lines=self.lines,
            root_cause=self.root.describe() if self.root else None,
        )
        return summary

    # --- helpers --------------------------------------------------------------------------

    @property
    def server_ids(self) -> list[str]:
        return self._server_ids

    def host_of(self, sid: str) -> str:
        server = self.by_id.get(sid)
        return sid if server is None else server.host

    def send_all(self, msg: dict) -> None:
        text = json.dumps(msg) + "\n"
        for sid in self.links:
            self._write(sid, text)

    def send(self, sid: str, msg: dict) -> None:
        self._write(sid, json.dumps(msg) + "\n")

    def _write(self, sid: str, text: str) -> None:
        link = self.links.get(sid)
        if link is None or sid in self.ended:
            return
        start = time.perf_counter()
        with contextlib.suppress(ConsoleError, OSError, RuntimeError):
            link.write(text)
        self.writes[0] += 1
        self.writes[1] += time.perf_counter() - start

    def record_event(self, kind: str, **fields: Any) -> None:
        """An event of the run record (none without one), stamped with the job's clock."""
        if self.record:
            self.record.event(kind, t=round(time.monotonic() - self.t0, 6), **fields)


def what_runs(plan: LaunchPlan) -> str:
    """What the plan starts: "N ranks", or "N server processes" (one per server)."""
    return f"{plan.world_size} ranks" if plan.per == "rank" else f"{plan.processes} server processes"


def _spread(values: Any) -> float | None:
    values = list(values)
    return max(values) - min(values) if values else None
