"""Supervisor edge cases, with real host agents as local subprocesses behind link wrappers
that play a broken login shell (garbled or lost lines) or a record that cannot be written."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.model import RankTable
from console.ops.agentlink import LocalAgentLink
from console.ops.launch_events import JobFinished, LaunchWarning, RankLine, Teardown
from console.ops.runrecord import RunRecord
from console.ops.supervisor import Supervisor


def plan_for(servers: int, args: list[str], **profile):
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
    return build_launch_plan(table, Profile(name="custom", **profile), args=args)


class Wrapped:
    """A real agent link; ``mangle(line)`` rewrites (or, returning None, drops) its lines."""

    def __init__(self, link: LocalAgentLink, mangle=None) -> None:
        self.link, self.host, self.mangle = link, link.host, mangle or (lambda line: line)
        self.closed = False

    def write(self, text: str) -> None:
        self.link.write(text)

    async def drain(self) -> None:
        await self.link.drain()

    def write_eof(self) -> None:
        self.link.write_eof()

    async def close(self) -> None:
        self.closed = True
        await self.link.close()

    async def __aiter__(self):
        async for line in self.link:
            out = self.mangle(line)
            if out is not None:
                yield out


async def run(sup: Supervisor, timeout: float = 60.0) -> list:
    async def consume() -> list:
        return [ev async for ev in sup.events()]

    return await asyncio.wait_for(consume(), timeout)


async def all_ended(links: list[Wrapped], timeout: float = 15.0) -> None:
    """Every link was closed by the supervisor, and its agent process exited."""
    assert [w.closed for w in links] == [True] * len(links)
    await asyncio.wait_for(asyncio.gather(*(w.link.proc.wait() for w in links)), timeout)


def garble_hello(line: str) -> str:
    """A login rc printing ``Welcome`` without a newline: glued to the agent's first line."""
    return "Welcome to node" + line if '"t": "hello"' in line or '"t":"hello"' in line else line


async def test_garbled_hello_still_syncs_the_clock_and_launches() -> None:
    plan = plan_for(2, ["echo", "ran"], setup_timeout_s=30)
    links: list[Wrapped] = []

    async def opener(server):
        links.append(Wrapped(await LocalAgentLink.start(server.host, sys.executable), garble_hello))
        return links[-1]

    events = await run(Supervisor(plan, opener, heartbeat_s=1.0))
    summary = events[-1].summary
    assert isinstance(events[-1], JobFinished)
    assert summary.ok, summary.root_cause
    assert summary.exit_codes == {0: 0, 1: 0}
    await all_ended(links)


class Counting(Wrapped):
    """Counts the heartbeats the supervisor writes to this agent."""

    beats = 0

    def write(self, text: str) -> None:
        self.beats += text.count('"t": "hb"') + text.count('"t":"hb"')
        super().write(text)


async def test_agents_already_up_get_heartbeats_while_the_others_are_opened() -> None:
    """At 1,024 servers opening every agent (ten handshakes at a time) takes longer than an
    agent waits for the console (4 heartbeats): the first agents stopped their held ranks
    ("no heartbeat from the console") before GO. Here server 1's agent opens only after
    server 0's has waited 1.5 s, six heartbeat periods, longer than its 1 s timeout."""
    plan = plan_for(2, ["echo", "ran"], setup_timeout_s=30)
    links: dict[str, Counting] = {}
    first_up = asyncio.Event()

    async def opener(server):
        if server.server_id == "s1":  # slow to open: wait until s0's agent is up and waiting
            await first_up.wait()
            deadline = asyncio.get_running_loop().time() + 3.0
            while links["s0"].beats < 6 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)  # polling the heartbeat count, bounded by a deadline
        links[server.server_id] = Counting(await LocalAgentLink.start(server.host, sys.executable))
        if server.server_id == "s0":
            first_up.set()
        return links[server.server_id]

    events = await run(Supervisor(plan, opener, heartbeat_s=0.25))
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    assert summary.exit_codes == {0: 0, 1: 0}
    await all_ended(list(links.values()))


async def test_clock_that_never_answers_is_named_at_setup_timeout() -> None:
    plan = plan_for(2, ["echo", "never"], setup_timeout_s=1.5)
    links: list[Wrapped] = []

    def no_pong(line: str) -> str | None:
        return None if json.loads(line).get("t") == "pong" else line

    async def opener(server):
        quiet = server.server_id == "s1"
        links.append(Wrapped(await LocalAgentLink.start(server.host, sys.executable), no_pong if quiet else None))
        return links[-1]

    events = await run(Supervisor(plan, opener, heartbeat_s=1.0))
    teardown = next(ev for ev in events if isinstance(ev, Teardown))
    assert teardown.root_cause.server_id == "s1"
    assert "clock" in teardown.root_cause.reason
    assert not events[-1].summary.ok
    await all_ended(links)


async def test_cancel_during_start_up_closes_every_opened_link() -> None:
    plan = plan_for(3, ["echo", "x"])
    links: list[Wrapped] = []
    two_open = asyncio.Event()

    async def opener(server):
        if server.server_id == "s2":
            await asyncio.Event().wait()  # this server never answers
        links.append(Wrapped(await LocalAgentLink.start(server.host, sys.executable)))
        if len(links) == 2:
            two_open.set()
        return links[-1]

    task = asyncio.ensure_future(run(Supervisor(plan, opener, heartbeat_s=60, stop_wait_s=1.0)))
    await asyncio.wait_for(two_open.wait(), 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await all_ended(links)


class FailingRecord(RunRecord):
    """Rank output cannot be written: every rank log is /dev/full (ENOSPC from the kernel)."""

    def _open(self, name: str) -> int:
        if name.startswith("rank-"):
            return os.open("/dev/full", os.O_WRONLY)
        return super()._open(name)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_record_error_is_one_warning_and_the_job_goes_on(tmp_path) -> None:
    plan = plan_for(2, ["sh", "-c", "echo first; echo second"], grace_s=5)
    links: list[Wrapped] = []

    async def opener(server):
        links.append(Wrapped(await LocalAgentLink.start(server.host, sys.executable)))
        return links[-1]

    record = FailingRecord(tmp_path)
    events = [ev async for ev in Supervisor(plan, opener, record, heartbeat_s=60, stop_wait_s=1.0).events()]
    warnings = [ev.message for ev in events if isinstance(ev, LaunchWarning)]
    assert len(warnings) == 1 and "run record stopped" in warnings[0]
    assert ".log" in warnings[0] and "disk is full" in warnings[0]
    assert events[-1].summary.ok and len(links) == 2
    assert sum(isinstance(ev, RankLine) for ev in events) == 4
    record.close()
    await all_ended(links)


def test_cli_raises_the_open_file_soft_limit() -> None:
    code = (
        "import resource\n"
        "from console.cli import raise_open_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "raise_open_file_limit()\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 64 or hard <= 64)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
