"""The host agent waits for the release moment and releases at real-time priority where the
kernel allows it, gives it back right after, and never passes it to a rank.

The agent runs as a real local process (the real program, over ``LocalAgentLink``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from console.ops.agentlink import LocalAgentLink
from tests.ops.test_hostagent import PY, Agent, rank
from tests.system import need

POLICY = f"{PY} -c 'import os; print(os.sched_getscheduler(0))'"


def policy(pid: int) -> int:
    """The scheduling policy of process ``pid`` (field 41 of /proc/PID/stat; 1 = SCHED_FIFO)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[38])


def _realtime_allowed() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except OSError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


async def _release(tmp_path, barrier: str, **spec) -> tuple[Agent, int, int]:
    """GO with the moment 2 s ahead: (the agent, its policy while it waits, its rank's output)."""
    agent = Agent(await LocalAgentLink.start("local"))
    await agent.send_spec([rank(0, POLICY)], barrier=barrier, **spec)
    hello = await agent.until("hello")
    await agent.until("ready")
    agent.send({"t": "go", "at": time.time() + 2.0})
    await agent.until("go")  # sent in the same turn as the priority change, before the moment
    waiting = policy(hello["pid"])
    started = await agent.until("started")
    assert policy(hello["pid"]) == 0, "the agent keeps real-time priority after the release"
    line = await agent.until("line")
    await agent.until("exit")
    agent.started = started  # type: ignore[attr-defined]
    return agent, waiting, int(line["x"])


async def test_waits_and_releases_at_realtime_priority_then_gives_it_back(tmp_path) -> None:
    need(_realtime_allowed(), "permission to use SCHED_FIFO (root outside a cgroup without real-time runtime)")
    for barrier in ("hold", "spawn"):
        agent, waiting, rank_policy = await _release(tmp_path, barrier)
        try:
            assert waiting == 1, f"{barrier}: the agent waits for the moment at SCHED_OTHER"
            assert agent.started.get("rt") == 1  # type: ignore[attr-defined]
            assert rank_policy == 0, f"{barrier}: the rank inherited the agent's real-time priority"
        finally:
            await agent.close()


async def test_off_in_the_spec_it_stays_a_normal_process(tmp_path) -> None:
    agent, waiting, rank_policy = await _release(tmp_path, "spawn", release_rt=False)
    try:
        assert waiting == 0
        assert "rt" not in agent.started  # type: ignore[attr-defined]
        assert rank_policy == 0
    finally:
        await agent.close()


def test_the_choice_goes_from_the_cli_and_profile_to_every_agents_spec() -> None:
    from console.cli import build_parser
    from console.cli.launch import _profile
    from console.core.planning.launch import build_launch_plan
    from console.core.ranktable import build
    from console.ops.agentlink import spec_for
    from console.sim.spec import ClusterSpec

    table = build(ClusterSpec.default().inventory())

    def specs(*flags: str) -> list[bool]:
        args = build_parser().parse_args(["launch", "--ranktable", "rt.json", *flags, "--", "true"])
        plan = build_launch_plan(table, _profile(args), args=["true"])
        return [spec_for(plan, server, heartbeat_s=5.0)["release_rt"] for server in plan.servers]

    assert set(specs()) == {True}  # the default
    assert set(specs("--no-realtime-release")) == {False}


async def test_the_run_record_says_which_ranks_were_released_so_and_when_agents_saw_exits(sim_cluster, tmp_path):
    import json

    from tests.ops.test_launch_sim import collect, make_plan

    need(_realtime_allowed(), "permission to use SCHED_FIFO (root outside a cgroup without real-time runtime)")
    table, data, plan = make_plan(sim_cluster, tmp_path, ["true"])
    events = await collect(sim_cluster, tmp_path, plan, table, data)
    run = Path(events[-1].summary.run_dir)
    records = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    started = [r for r in records if r["event"] == "started"]
    assert len(started) == plan.world_size and all(r.get("rt") == 1 for r in started)
    exits = [r for r in records if r["event"] == "exit"]
    assert len(exits) == plan.world_size
    assert all(isinstance(r["agent_ts"], float) and r["agent_ts"] <= r["ts"] for r in exits)


async def test_a_stop_is_handled_at_realtime_priority_until_the_exits_are_reported(tmp_path) -> None:
    need(_realtime_allowed(), "permission to use SCHED_FIFO (root outside a cgroup without real-time runtime)")
    agent = Agent(await LocalAgentLink.start("local"))
    try:
        # the rank ignores TERM: the agent waits out the grace period (sleeping) before KILL
        command = "trap '' TERM; echo armed; exec sleep 60"
        await agent.send_spec([rank(0, command)], barrier="spawn", grace_s=2.0, exec_command=False)
        hello = await agent.until("hello")
        await agent.until("ready")
        agent.send({"t": "go", "at": time.time()})
        await agent.until("started")
        assert policy(hello["pid"]) == 0  # given back after the release
        armed = await agent.until("line")
        assert armed["x"] == "armed"  # the rank ignores TERM from now on
        agent.send({"t": "stop", "reason": "test", "sig": "TERM"})
        await agent.until("stopping")
        assert policy(hello["pid"]) == 1, "the agent handles the stop as a normal process"
        exit_frame = await agent.until("exit")
        assert exit_frame["sig"] == 9
        await agent.until("swept")  # sent after the priority is given back
        try:
            after = policy(hello["pid"])
        except FileNotFoundError:
            after = 0  # already gone
        assert after == 0
    finally:
        await agent.close()
