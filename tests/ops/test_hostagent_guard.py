"""The host agent against garbage on its stdin, and its watchdog against escaped processes.

Local agents through the same bootstrap and channel protocol as over SSH; processes are
checked in /proc, with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from console.ops.agentlink import LocalAgentLink, agent_source
from tests.ops.test_hostagent import Agent, rank
from tests.ops.test_launch_rundir import gone_within, procs_with

GARBAGE = [
    b"1024",
    b"[]",
    b'"x"',
    b'{"t": 7}',
    b'{"t": "go", "at": "soon"}',
    b'{"t": "ping", "c": "x"}',
    b"\xff\xfe not utf-8",
    b'{"t": "stop", "reason": 5}',
]


async def test_garbage_on_stdin_is_answered_and_ignored(tmp_path) -> None:
    agent = await Agent.start([rank(n, f"echo done {n}") for n in range(2)])
    try:
        await agent.until("ready")
        for line in GARBAGE[:-1]:
            agent.link.proc.stdin.write(line + b"\n")
        errors = [await agent.until("error") for _ in GARBAGE[:-1]]
        assert all("not a known command" in e["msg"] for e in errors)
        agent.send({"t": "go"})
        exits = [await agent.until("exit") for _ in range(2)]
        assert sorted(e["code"] for e in exits) == [0, 0]
        await agent.until("bye")
    finally:
        await agent.close()
    assert sorted(f["x"] for f in agent.of("line")) == ["done 0", "done 1"]


async def test_a_stop_with_a_bad_reason_still_stops(tmp_path) -> None:
    agent = await Agent.start([rank(0, "sleep 600")])
    try:
        await agent.until("ready")
        agent.send({"t": "go"})
        await agent.until("started")
        agent.link.write(GARBAGE[-1].decode() + "\n")
        stopping = await agent.until("stopping")
        assert stopping["reason"] == "stop requested"
        assert (await agent.until("exit"))["sig"] == signal.SIGTERM
    finally:
        await agent.close()


async def test_a_spec_that_is_not_one_is_refused_without_a_traceback() -> None:
    link = await LocalAgentLink.start("local")
    source = agent_source()
    link.write(f"{len(source)}\n{source}1024\n")
    await link.drain()
    lines = [line async for line in link]
    await link.close()
    assert len(lines) == 1 and "the first line is not a job spec: b'1024'" in lines[0]
    assert link.proc.returncode == 3 and "Traceback" not in link.stderr_text


async def test_watchdog_ends_marked_processes_when_the_agent_dies(tmp_path) -> None:
    run = f"wd-{os.getpid()}-{time.monotonic_ns()}"
    mark = f"302.{os.getpid()}"
    markers = {"CLUSTER_CONSOLE_RUN": run, "CLUSTER_CONSOLE_SERVER": "local"}
    folder = tmp_path / "runs" / run / "local"
    folder.mkdir(parents=True)
    cmd = f"setsid sleep {mark} & echo up; exec sleep 600"
    agent = await Agent.start(
        [rank(n, cmd, **markers) for n in range(2)],
        grace_s=0.5,
        markers=[list(kv) for kv in markers.items()],
        run_dir=str(folder),
    )
    try:
        hello = await agent.until("hello")
        await agent.until("ready")
        agent.send({"t": "go"})
        for _ in range(2):
            await agent.until("line")
        deadline = time.monotonic() + 10
        while len(procs_with(mark)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(procs_with(mark)) == 2
        os.kill(hello["pid"], signal.SIGKILL)  # the agent dies without cleaning up
        assert await gone_within(mark) == []
        deadline = time.monotonic() + 10
        while folder.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not folder.exists()
    finally:
        await agent.close()
