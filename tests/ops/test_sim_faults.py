"""Faults of the simulated cluster, seen through SSH as the console sees them."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from console.sim.spec import ClusterSpec
from tests.ops.procs import alive, wait_gone


def spec_with(*faults: dict) -> ClusterSpec:
    return ClusterSpec.generate(servers=2, cards=4, faults=list(faults))


async def test_busy_k_times_then_ok(sim_factory, sim_connect):
    sim = await sim_factory(spec_with({"kind": "busy", "server": 1, "calls": 3}))
    async with sim_connect(sim, sim.hosts[0]) as conn:
        answers = [await conn.run("hccn_tool -i 1 -ip -g") for _ in range(4)]
    busy = [(r.stdout, r.exit_status) for r in answers[:3]]
    assert busy == [("hccn_tool is busy, please try again.\n", 1)] * 3
    assert answers[3].exit_status == 0 and answers[3].stdout.startswith("ipaddr:")


async def test_busy_counter_holds_under_concurrent_calls(sim_factory, sim_connect):
    sim = await sim_factory(spec_with({"kind": "busy", "server": 1, "calls": 5}))
    async with sim_connect(sim, sim.hosts[0]) as conn:
        res = await conn.run("for n in 1 2 3 4 5 6 7 8; do hccn_tool -i 0 -link -g & done; wait")
    assert res.stdout.count("is busy") == 5 and res.stdout.count("link status: UP") == 3


async def test_hung_hccn_tool_is_killed_when_the_client_gives_up(sim_factory, sim_connect):
    sim = await sim_factory(spec_with({"kind": "hang", "server": 2, "device": 1}))
    async with sim_connect(sim, sim.hosts[1]) as conn:
        assert (await conn.run("hccn_tool -i 0 -ip -g")).exit_status == 0
        proc = await conn.create_process("echo $$; exec hccn_tool -i 1 -ip -g")
        pid = int(await asyncio.wait_for(proc.stdout.readline(), 20))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 1.0)
        assert alive(pid)
        proc.close()
        await wait_gone(pid)


async def test_lost_connection_kills_running_commands(sim_factory, sim_connect):
    sim = await sim_factory(spec_with({"kind": "hang", "server": 1}))
    conn = await sim_connect(sim, sim.hosts[0])
    proc = await conn.create_process("echo $$; hccn_tool -i 0 -link -g")
    pid = int(await asyncio.wait_for(proc.stdout.readline(), 20))
    conn.abort()
    await wait_gone(pid)


async def test_refused_and_closing_servers(sim_factory, sim_connect):
    sim = await sim_factory(
        spec_with({"kind": "refuse", "server": 1}, {"kind": "refuse", "server": 2, "mode": "close"})
    )
    with pytest.raises(ConnectionRefusedError):
        await sim_connect(sim, sim.hosts[0])
    with pytest.raises((asyncssh.ConnectionLost, asyncssh.DisconnectError, ConnectionError)):
        await sim_connect(sim, sim.hosts[1])


async def test_one_refused_server_leaves_the_others_up(sim_factory, sim_connect):
    sim = await sim_factory(spec_with({"kind": "refuse", "server": 1}))
    async with sim_connect(sim, sim.hosts[1]) as conn:
        assert (await conn.run("true")).exit_status == 0
    assert f"[{sim.hosts[0]}]:{sim.port} ssh-ed25519 " in sim.known_hosts_path.read_text()


async def test_slow_server_answers_late(sim_factory, sim_connect):
    sim = await sim_factory(
        spec_with(
            {"kind": "slow", "server": 1, "delay": 60}, {"kind": "slow", "server": 2, "delay": 0, "connect_delay": 60}
        )
    )
    async with sim_connect(sim, sim.hosts[0]) as conn:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.run("true"), 0.5)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(sim_connect(sim, sim.hosts[1]), 0.5)


async def test_static_faults_show_in_the_tools(sim_factory, sim_connect):
    sim = await sim_factory(
        spec_with(
            {"kind": "tls", "server": 2, "device": 3},
            {"kind": "version", "server": 2, "driver": "23.0.rc3"},
            {"kind": "link_down", "server": 1, "device": 0},
            {"kind": "net_health", "server": 1, "device": 1},
        )
    )
    async with sim_connect(sim, sim.hosts[1]) as conn:
        res = await conn.run(
            "hccn_tool -i 3 -tls -g; hccn_tool -i 2 -tls -g; "
            'cat "$CLUSTER_CONSOLE_ROOT/usr/local/Ascend/driver/version.info"'
        )
        lines = res.stdout.splitlines()
        assert "tls switch[1]" in lines[0] and "tls switch[0]" in lines[1]
        assert lines[2] == "Version=23.0.rc3"
    async with sim_connect(sim, sim.hosts[0]) as conn:
        res = await conn.run("hccn_tool -i 0 -link -g; hccn_tool -i 1 -net_health -g")
        assert res.stdout == "link status: DOWN\nnet health status: Receive timeout\n"


async def test_ping_time_is_spent_per_probe(sim_factory, sim_connect):
    """A probe time longer than the client's patience: the ping cannot finish in time."""
    sim = await sim_factory(ClusterSpec.generate(servers=2, cards=1, ping_probe_s=30))
    async with sim_connect(sim, sim.hosts[0]) as conn:
        proc = await conn.create_process("hccn_tool -i 0 -ping -g address 10.10.100.22")
        header = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert header == "device 0 PING 10.10.100.22\n"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(proc.stdout.readline(), 0.5)
        proc.close()
