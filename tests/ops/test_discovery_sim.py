"""Discovery against the in-process simulated cluster, over real SSH."""

from __future__ import annotations

from console.ops.discovery import DiscoveryDone, ServerDone, discover, discover_inventory
from console.remote import Pool, SSHOptions


def options(sim) -> SSHOptions:
    return SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=10, command_timeout=60)


async def test_default_sim_gives_16_devices_with_spec_ips(sim_cluster):
    async with Pool(options(sim_cluster)) as pool:
        inv = await discover_inventory(pool, sim_cluster.hosts)
    assert [s.host for s in inv.servers] == sim_cluster.hosts
    spec = {s.address: s for s in sim_cluster.spec.servers}
    total = 0
    for server in inv.servers:
        assert server.reachable, server.error
        assert server.server_id == server.host
        want = {d.device_id: d.ip for d in spec[server.host].devices}
        got = {d.device_id: d.device_ip for d in server.devices}
        assert got == want
        assert all(d.ip_source == "hccn_tool" and d.link == "UP" and d.tls == 0 for d in server.devices)
        assert server.driver_version and server.cann_version and server.hostname
        total += len(server.devices)
    assert total == 16
    assert [f for f in inv.findings if f.severity == "error"] == []


async def test_events_arrive_per_server_then_done(sim_cluster):
    seen = []
    async with Pool(options(sim_cluster)) as pool:
        async for ev in discover(pool, sim_cluster.hosts):
            seen.append(type(ev).__name__)
            if isinstance(ev, ServerDone):
                assert ev.total == 2
            if isinstance(ev, DiscoveryDone):
                assert len(ev.inventory.servers) == 2
    assert seen.count("ServerDone") == 2 and seen[-1] == "DiscoveryDone"


FAULTS = [
    {"kind": "link_down", "server": 1, "device": 2},
    {"kind": "tls", "server": 2, "enabled": 1},
    {"kind": "version", "server": 2, "driver": "23.0.rc2"},
    {"kind": "conf_mismatch", "server": 1, "device": 4, "address": "10.10.100.99"},
    {"kind": "net_health", "server": 2, "device": 5, "status": "Receive timeout"},
    {"kind": "busy", "server": 1, "calls": 3},
    {"kind": "hang", "server": 2, "device": 6, "command": "-gateway"},
    {"kind": "refuse", "server": 3},
]


async def test_spec_faults_become_findings(sim_factory):
    sim = await sim_factory(servers=3, cards=8, faults=FAULTS)
    h1, h2, h3 = sim.hosts
    async with Pool(options(sim).model_copy(update={"connect_timeout": 5})) as pool:
        inv = await discover_inventory(pool, sim.hosts, tool_timeout=1)
    by = {(f.code, f.where.host, f.where.device): f for f in inv.findings}
    assert by[("unreachable", h3, None)].severity == "error"
    assert by[("link_down", h1, 2)].severity == "error"
    assert by[("tls_mismatch", h2, None)].severity == "error"
    assert "0 on " + h1 in by[("tls_mismatch", h2, None)].message
    assert ("driver_version_mismatch", h2, None) in by
    assert "10.10.100.99" in by[("hccn_conf_mismatch", h1, 4)].message
    assert by[("net_health", h2, 5)].message == "net_health Receive timeout"
    failed = [f.message for f in inv.findings if (f.code, f.where.host, f.where.device) == ("command_failed", h2, 6)]
    assert "hccn_tool -i 6 -gateway -g: timed out (hccn_tool can hang on a sick card)" in failed
    assert any(m.startswith("hccn_tool -i 6 -netdetect -g: skipped") for m in failed)
    # busy was retried: every device of server 1 still got its IP from hccn_tool
    s1 = inv.server(h1)
    assert all(d.ip_source == "hccn_tool" for d in s1.devices)
    # one failing server or card never stops the rest
    assert len(inv.server(h2).devices) == 8 and inv.server(h2).device(6).device_ip
    assert not inv.server(h3).reachable and h3 in inv.server(h3).error


async def test_hccn_tool_missing_falls_back_to_hccn_conf(sim_cluster):
    """With hccn_tool absent from PATH and its default path, IPs come from /etc/hccn.conf."""
    host = sim_cluster.hosts[0]
    tool = sim_cluster.root(host) / "usr/local/Ascend/driver/tools/hccn_tool"
    tool.unlink()
    async with Pool(options(sim_cluster)) as pool:
        inv = await discover_inventory(pool, [host])
    server = inv.servers[0]
    assert server.reachable
    assert all(d.ip_source == "hccn.conf" and d.device_ip for d in server.devices)
    assert any(f.code == "ip_from_hccn_conf" for f in inv.findings)


async def test_unreachable_error_names_the_host_once(sim_factory):
    sim = await sim_factory(servers=2, cards=1, faults=[{"kind": "refuse", "server": 2}])
    host = sim.hosts[1]
    async with Pool(options(sim).model_copy(update={"connect_timeout": 5})) as pool:
        inv = await discover_inventory(pool, sim.hosts)
    error = inv.server(host).error
    assert error.startswith("connection refused: ") and "hint: " in error  # title, detail, hint
    [finding] = [f for f in inv.findings if f.code == "unreachable"]
    assert finding.where.host == host and finding.message == error


async def test_a3_discovery_builds_a_1_2_rank_table(sim_factory):
    """A3: 16 dies per server, vNIC and SuperPoD ids discovered, rank table 1.2 buildable."""
    from console.core.ranktable import build, validate, validate_against

    sim = await sim_factory(servers=2, cards=8, product="A3", super_pod_id="7")
    async with Pool(options(sim)) as pool:
        inv = await discover_inventory(pool, sim.hosts)
    spec = {s.address: s for s in sim.spec.servers}
    for server in inv.servers:
        assert server.product == "A3" and len(server.devices) == 16 and server.super_pod_id == "7"
        want = {d.device_id: d.super_device_id for d in spec[server.host].devices}
        assert {d.device_id: d.super_device_id for d in server.devices} == want
        assert all(v is not None for v in want.values())
    table = build(inv, "1.2")
    assert [p.super_pod_id for p in table.super_pod_list] == ["7"]
    assert [p for p in validate(table) + validate_against(table, inv) if p.severity == "error"] == []


async def test_lldp_gives_each_card_its_switch_and_a_quiet_card_is_no_finding(sim_factory):
    """The sim's rail-optimised fabric: card k of every server of a pod on leaf k. A card with
    LLDP off (the tool prints nothing) has no switch, and that is not a finding."""
    from console.sim.spec import ClusterSpec

    spec = ClusterSpec.generate(servers=2, cards=8)
    quiet = spec.servers[1].devices[3]
    spec.servers[1].devices[3] = quiet.model_copy(update={"lldp_switch": None})
    sim = await sim_factory(spec)
    async with Pool(options(sim)) as pool:
        inv = await discover_inventory(pool, sim.hosts)
    for server, want in zip(inv.servers, spec.servers, strict=True):
        assert [(d.lldp_switch, d.lldp_port) for d in server.devices] == [
            (d.lldp_switch, d.lldp_port if d.lldp_switch else None) for d in want.devices
        ]
        assert all(not d.failures for d in server.devices)
    assert inv.servers[0].devices[3].lldp_switch == "pod01-leaf04"
    assert inv.servers[1].devices[3].lldp_switch is None
    assert inv.findings == []
    assert inv.switch_of() == {h: "pod01-leaf01" for h in sim.hosts}


async def test_a_hung_lldp_query_is_one_info_finding_and_asked_once_per_server(sim_factory):
    """Where ``-lldp -g`` hangs (the sim's hang fault on every card of server 1): one timeout,
    the other cards are not asked, and one info finding says so (it was silent)."""
    sim = await sim_factory(servers=2, cards=8, faults=[{"kind": "hang", "server": 1, "command": "-lldp"}])
    h1, h2 = sim.hosts
    async with Pool(options(sim)) as pool:
        inv = await discover_inventory(pool, sim.hosts, tool_timeout=1)
    s1 = inv.server(h1)
    assert all(d.lldp_switch is None and d.device_ip and not d.failures for d in s1.devices)
    assert all(d.lldp_switch for d in inv.server(h2).devices)
    [note] = [f for f in inv.findings if f.code == "lldp_no_answer"]
    assert note.severity == "info" and note.where.host == h1 and "timed out" in note.message
    assert not [f for f in inv.findings if "lldp" in f.message and f.code != "lldp_no_answer"]
