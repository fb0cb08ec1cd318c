"""Discovery reads the host's IPv4 addresses (`ip -o -4 addr show`): the NIC holding the
address the console reached is the server's host_nic; servers that disagree are named."""

from __future__ import annotations

from console.core.discovery.assemble import assemble_server
from console.core.discovery.findings import findings
from console.core.discovery.script import Section
from console.core.inventory import Inventory
from console.ops.discovery import discover_inventory
from console.remote import Pool, SSHOptions
from console.sim.spec import ClusterSpec


def options(sim) -> SSHOptions:
    return SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=10, command_timeout=60)


async def test_host_nic_of_the_reached_address_and_a_mismatch_named(sim_factory):
    spec = ClusterSpec.generate(servers=3, cards=2)
    servers = list(spec.servers)
    servers[2] = servers[2].model_copy(update={"host_nic": "enp189s0f0"})
    sim = await sim_factory(spec.model_copy(update={"servers": servers}))
    async with Pool(options(sim)) as pool:
        inv = await discover_inventory(pool, sim.hosts)
    by_host = {s.host: s for s in inv.servers}
    h1, _, h3 = sim.hosts
    assert by_host[h1].host_ip == h1 and by_host[h1].host_nic == "eth0"
    assert by_host[h3].host_ip == h3 and by_host[h3].host_nic == "enp189s0f0"
    assert {a.nic for a in by_host[h1].host_addresses} == {"lo", "eth0"}
    found = [f for f in inv.findings if f.code == "host_nic_mismatch"]
    assert len(found) == 1 and found[0].where.host == h3
    assert "eth0 on" in found[0].message and "enp189s0f0 on" in found[0].message


def test_address_on_no_interface_is_a_finding_not_a_guess():
    text = "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n"
    sections = {"host_ip": Section(name="host_ip", output=text, exit_status=0)}
    server = assemble_server("node1", "203.0.113.9", sections)
    assert server.host_nic is None and server.host_ip is None
    assert [a.address for a in server.host_addresses] == ["127.0.0.1", "10.0.0.5"]
    codes = [f.code for f in findings(Inventory(servers=[server]))]
    assert "host_nic_unknown" in codes
