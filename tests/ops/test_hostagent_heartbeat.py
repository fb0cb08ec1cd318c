"""The host agent stops its ranks when the console's heartbeats stop, not when it was itself
too busy to read them: heartbeats that arrived during a long turn of its loop (a fork that
takes seconds on a loaded server, at the release in "spawn" mode) count.

The agent is the real program with ``Agent.spawn`` slowed down (the slow fork), run as a real
local process."""

from __future__ import annotations

import asyncio
import time

from console.ops import agentlink
from console.ops.agentlink import LocalAgentLink
from tests.ops.agent_patch import source_with
from tests.ops.test_hostagent import Agent, rank

SLOW_SPAWN_S = 2.5  # longer than the agent's heartbeat timeout below
SLOW = f"""
_spawn = Agent.spawn


def _slow_spawn(self, rank, pass_fds=()):
    time.sleep({SLOW_SPAWN_S})  # a fork on a loaded server
    return _spawn(self, rank, pass_fds)


Agent.spawn = _slow_spawn
"""


async def test_heartbeats_that_came_while_the_agent_was_busy_count(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(agentlink, "agent_source", source_with(SLOW))
    agent = Agent(await LocalAgentLink.start("local"))

    async def beat() -> None:
        while True:
            agent.send({"t": "hb"})
            await asyncio.sleep(0.2)  # the console's heartbeat period, shortened

    beats = asyncio.ensure_future(beat())
    try:
        await agent.send_spec([rank(0, "true")], barrier="spawn", heartbeat_s=1.0)
        await agent.until("ready")
        agent.send({"t": "go", "at": time.time() + 0.5})
        exit_frame = await agent.until("exit", timeout=30)
        stops = [f for f in agent.seen if f["t"] == "stopping"]
        assert stops == [], stops  # old code: "no heartbeat from the console for 1 s"
        assert exit_frame["code"] == 0
    finally:
        beats.cancel()
        await agent.close()
