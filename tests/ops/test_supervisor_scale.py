"""The supervisor's own work per server does not grow with the number of servers.

The agents here are in-process scripts that speak the agent protocol (spec, pings, ready, GO,
started, lines, exits, bye): what is measured is the console side only, as a count of the
Python lines the supervisor and its helpers execute (``sys.settrace``), never a wall clock.
A lookup that scans the plan or every rank on each agent message makes the count per server
grow with the servers (quadratic overall); the counts below must stay flat.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.model import RankTable
from console.ops.agentclock import AgentClocks
from console.ops.launch_events import JobFinished
from console.ops.supervisor import Supervisor

WATCHED = (
    "supervisor.py",
    "supervisor_state.py",
    "supervisor_handlers.py",
    "launch_stall.py",
    "agentclock.py",
    "agentframes.py",
    "stall.py",
)
LINES_PER_RANK = 5


def plan_for(servers: int):
    table = RankTable.model_validate(
        {
            "status": "completed",
            "version": "1.0",
            "server_count": str(servers),
            "server_list": [
                {"server_id": f"s{k}", "device": [{"device_id": "0", "rank_id": str(k)}]} for k in range(servers)
            ],
        }
    )
    return build_launch_plan(table, Profile(name="custom"), args=["true"])


class ScriptedAgent:
    """An ``AgentLink`` whose far end is a tiny agent in this process: it answers the spec
    with hello/spawned/ready, each ping with a pong, GO with started, a few lines and exit 0,
    and STOP or EOF with bye."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.out: asyncio.Queue[str | None] = asyncio.Queue()
        self.buf = ""
        self.ranks: list[int] = []
        self.got_go: list[tuple[float, float]] = []  # (release moment in GO, time.time() when GO came)
        self.done = False

    def _emit(self, **frame) -> None:
        self.out.put_nowait(json.dumps(frame))

    def write(self, text: str) -> None:
        self.buf += text
        if self.buf.startswith(tuple("0123456789")):  # <len>\n<agent source>: skipped
            head, _, rest = self.buf.partition("\n")
            if len(rest) < int(head):
                return
            self.buf = rest[int(head) :]
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            self._command(json.loads(line))

    def _command(self, msg: dict) -> None:
        kind = msg["t"]
        if kind == "spec":
            self.ranks = [r["rank"] for r in msg["ranks"]]
            self._emit(t="hello", pid=1, host=self.host, ts=time.time(), python="3", watchdog=None, deathsig=True)
            for rank in self.ranks:
                self._emit(t="spawned", rank=rank, pid=1000 + rank)
            self._emit(t="ready", ts=time.time())
        elif kind == "ping":
            self._emit(t="pong", c=msg["c"], a=time.time())
        elif kind == "go":
            self.got_go.append((msg["at"], time.time()))
            self._emit(t="go", ts=time.time(), at=msg["at"], late=0.0)
            for rank in self.ranks:
                self._emit(t="started", rank=rank, ts=msg["at"], pid=1000 + rank)
                for i in range(LINES_PER_RANK):
                    self._emit(t="line", rank=rank, s="o", x=f"rank {rank} line {i}")
                self._emit(t="exit", rank=rank, code=0, ts=time.time())
            self._bye()
        elif kind == "stop":
            self._bye()

    def _bye(self) -> None:
        if not self.done:
            self.done = True
            self._emit(t="bye", ts=time.time())
            self.out.put_nowait(None)

    async def drain(self) -> None:
        return None

    def write_eof(self) -> None:
        self._bye()

    async def close(self) -> None:
        self._bye()

    async def __aiter__(self):
        while (line := await self.out.get()) is not None:
            yield line


def supervised(servers: int) -> tuple[int, list[ScriptedAgent], JobFinished]:
    """Run a whole job with ``servers`` scripted agents; (lines the console executed, agents, end)."""
    agents: list[ScriptedAgent] = []

    async def opener(server):
        agents.append(ScriptedAgent(server.host))
        return agents[-1]

    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename.endswith(WATCHED):
            count += 1
            return tracer
        return None

    async def job() -> list:
        sup = Supervisor(plan_for(servers), opener, heartbeat_s=60.0)
        sys.settrace(tracer)
        try:
            return [ev async for ev in sup.events()]
        finally:
            sys.settrace(None)

    events = asyncio.run(asyncio.wait_for(job(), 120))
    assert isinstance(events[-1], JobFinished) and events[-1].summary.ok, events[-1]
    return count, agents, events[-1]


def test_the_supervisors_work_per_server_does_not_grow_with_the_servers() -> None:
    small, _, _ = supervised(16)
    large, _, _ = supervised(256)
    per_small, per_large = small / 16, large / 256
    # flat: the same lines per server (a little more for the larger dicts is fine; a scan of
    # the plan per message would make it ~16 times more)
    assert per_large <= 1.3 * per_small, (per_small, per_large)


def test_go_reaches_every_agent_before_its_release_moment() -> None:
    _, agents, _ = supervised(64)
    assert [at >= came for agent in agents for at, came in agent.got_go] == [True] * 64


def test_the_go_margin_covers_writing_go_to_every_agent() -> None:
    clocks = AgentClocks()
    clocks.ping("s0")
    clocks.pong("s0", {"c": time.time(), "a": time.time()})
    base = clocks.margin()
    # the round-trip part is capped; the fan-out part is not: 1,024 writes of 3 ms take 3 s
    assert clocks.margin(fanout_s=3.0) >= base + 3.0
    assert AgentClocks(0.5).margin(fanout_s=3.0) == 0.5  # an explicit margin stays as given


def test_the_round_trip_part_of_the_go_margin_grows_with_the_agents() -> None:
    """Capped at 2 s for a few agents; 4 s for 1,024 (GO reached the last of 1,024 simulated
    agents 0.7 s after a 2 s margin)."""

    def margin(agents: int) -> float:
        clocks = AgentClocks()
        for n in range(agents):
            sid = f"s{n}"
            clocks.ping(sid)
            clocks.pong(sid, {"c": time.time() - 5.0, "a": time.time()})  # a 5 s round trip
        return clocks.margin()

    assert 2.0 <= margin(1) < 2.01
    assert margin(1024) >= 4.0


def test_stall_watch_due_is_not_a_scan_of_every_rank_per_line() -> None:
    from console.ops.launch_stall import StallOptions, StallWatch

    class Counting(dict):
        iterations = 0

        def __iter__(self):
            Counting.iterations += 1
            return super().__iter__()

    watch = StallWatch(plan_for(512), StallOptions(stall_s=60.0))
    watch.tracker.rank_server = Counting(watch.tracker.rank_server)
    watch.started(100.0)
    first = watch.due()
    for k in range(1, 512):  # every rank but rank 0 prints: the earliest moment stays rank 0's
        watch.line(k, 100.0 + k / 1000)
        assert watch.due() == first
    assert Counting.iterations <= 2, Counting.iterations
    watch.line(0, 101.0)  # now the earliest rank moved: one more look, the next earliest
    assert watch.due() == 100.001 + 60.0
    assert Path(__file__).name  # (keeps Path used for tools that prune imports)
