"""`cluster-console ping` above 24 servers groups the heatmap by the switch discovery found
with ``hccn_tool -lldp -g`` (the simulator's rail-optimised fabric: pods of 32 servers)."""

from __future__ import annotations

from tests.ops.test_json_pinned import cli


async def test_cli_ping_groups_servers_by_their_lldp_switch(sim_factory) -> None:
    sim = await sim_factory(servers=26, cards=1)
    rc, out, err = await cli(
        "-F", str(sim.ssh_config_path), "--connect-timeout", "5", "ping", *sim.hosts, "--pattern", "rail"
    )
    assert rc == 0, err
    assert "worst loss between groups of servers (1 group of 26 servers)" in out
    assert "pod01-leaf01 127.0.0." in out  # the group is the switch, not a block (B1)
    assert "B1 " not in out
