"""LLDP (``hccn_tool -i N -lldp -g``) in discovery: the switch and port each NIC is cabled to.

Many sites turn LLDP off: a card whose query fails or prints nothing is not an error (no
failure, no finding), its switch is just unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.discovery.assemble import assemble_devices
from console.core.discovery.findings import findings
from console.core.discovery.script import DEVICE_QUERIES, Section, devices_script
from console.core.inventory import Device, Inventory, Server

DATA = Path(__file__).parent.parent / "data"


def _ok(name: str, text: str) -> Section:
    return Section(name=name, output=text, exit_status=0)


def _sections(dev: int, lldp: Section | None) -> dict[str, Section]:
    secs = {
        f"ip:{dev}": _ok("ip", "ipaddr:10.0.0.1\nnetmask:255.255.255.0\n"),
        f"link:{dev}": _ok("link", "link status: UP\n"),
        f"net_health:{dev}": _ok("nh", "net health status: Success\n"),
        f"tls:{dev}": _ok("tls", f"dev_id:{dev}, tls switch[0](0:disable, 1:enable), tls alarm time threshold[60]days"),
        f"gateway:{dev}": _ok("gw", "default gateway:10.0.0.254, Iface:eth0\n"),
        f"netdetect:{dev}": _ok("nd", "netdetect address:10.0.0.254\n"),
    }
    if lldp is not None:
        secs[f"lldp:{dev}"] = lldp
    return secs


def test_the_device_script_asks_every_device_for_lldp() -> None:
    assert ("lldp", ("-lldp", "-g")) in DEVICE_QUERIES
    assert "hccn lldp:3 3 -i 3 -lldp -g" in devices_script("MK", [3])


def test_lldp_answer_gives_the_switch_and_port() -> None:
    server = Server(host="h1", reachable=True, devices=[Device(device_id=0)])
    out = assemble_devices(server, _sections(0, _ok("lldp:0", (DATA / "hccn_lldp.txt").read_text())))
    dev = out.devices[0]
    assert (dev.lldp_switch, dev.lldp_port) == ("leaf-sw-07", "400GE1/1/20:2")
    assert dev.failures == []


@pytest.mark.parametrize(
    "lldp",
    [
        None,  # cut off
        Section(name="lldp:0", output="", exit_status=0),  # LLDP off: nothing printed
        Section(name="lldp:0", output="Get lldp info failed.\n", exit_status=1),
        Section(name="lldp:0", output="Get invalid major cmd.\nEnter [ hccn_tool -h ] for more.\n", exit_status=1),
        Section(name="lldp:0", output="Get lldp info failed.\n", exit_status=0),
    ],
)
def test_no_lldp_answer_is_no_failure_and_no_finding(lldp: Section | None) -> None:
    server = Server(host="h1", server_id="h1", reachable=True, devices=[Device(device_id=0)])
    out = assemble_devices(server, _sections(0, lldp))
    dev = out.devices[0]
    assert dev.lldp_switch is None and dev.lldp_port is None
    assert dev.failures == []
    assert not [f for f in findings(Inventory(servers=[out])) if "lldp" in f.message]


def test_switch_name_and_port_keep_printable_characters_only_at_most_64() -> None:
    """What a switch sends is untrusted: no terminal escapes or control characters, and a
    bounded length (the names become heatmap labels and column widths)."""
    from console.core.parsers import LldpInfo, parse_lldp

    text = (
        "Chassis ID TLV\n\tMAC: 3c:f5:cc:1a:22:01\x07\n"
        "Port ID TLV\n\tIfname: 400GE1/1/20:2\x1b[31m\n"
        f"System Name TLV\n\tleaf\x1b]0;owned\x07-sw\r07{'x' * 200}\n"
    )
    info = parse_lldp(text)
    assert isinstance(info, LldpInfo)
    assert info.system_name == "leaf]0;owned-sw07" + "x" * 47 and len(info.system_name) == 64
    assert info.port_ifname == "400GE1/1/20:2[31m"
    assert info.chassis_id == "MAC: 3c:f5:cc:1a:22:01"
    assert all(c.isprintable() for c in info.system_name + (info.port_id or ""))
    only_controls = parse_lldp("System Name TLV\n\t\x1b\x07\n")
    assert isinstance(only_controls, LldpInfo) and only_controls.system_name is None


@pytest.mark.parametrize(
    ("lldp", "note"),
    [
        (Section(name="lldp:0", output="", exit_status=124), "hccn_tool -lldp -g timed out"),
        (
            Section(name="lldp:0", output="skipped: hccn_tool -lldp timed out earlier\n", exit_status=124),
            "hccn_tool -lldp -g timed out",
        ),
        (Section(name="lldp:0", output="Neighbour: leaf-7\n", exit_status=0), "output not understood"),
    ],
)
def test_an_lldp_timeout_or_unknown_format_is_one_info_finding_per_server(lldp: Section, note: str) -> None:
    """A hang or a changed output format must leave a trace (it was silent): one info finding
    a server, folded over servers, never a failure per card."""
    servers = []
    for host in ("h1", "h2"):
        server = Server(host=host, server_id=host, reachable=True, devices=[Device(device_id=0), Device(device_id=1)])
        secs = _sections(0, lldp) | _sections(1, lldp.model_copy(update={"name": "lldp:1"}))
        servers.append(assemble_devices(server, secs))
    assert all(not d.failures for s in servers for d in s.devices)
    [found] = [f for f in findings(Inventory(servers=servers)) if f.code == "lldp_no_answer"]
    assert found.severity == "info" and note in found.message and found.where.host == "h[1-2]"


def test_an_inventory_saved_before_lldp_still_loads() -> None:
    old = '{"servers": [{"host": "h1", "reachable": true, "devices": [{"device_id": 0, "link": "UP"}]}]}'
    inv = Inventory.model_validate_json(old)
    assert inv.servers[0].devices[0].lldp_switch is None
    assert inv.switch_of() == {}


def _server(host: str, switches: list[str | None]) -> Server:
    devs = [Device(device_id=n, lldp_switch=sw, lldp_port=f"400GE1/1/{n + 1}") for n, sw in enumerate(switches)]
    return Server(host=host, reachable=True, devices=devs)


def test_switch_of_keys_a_rail_optimised_pod_by_card_0() -> None:
    """Card k of every server of a pod on leaf k: the servers of a pod share card 0's leaf."""
    rails = [f"pod01-leaf{k:02d}" for k in range(1, 9)]
    other = [f"pod02-leaf{k:02d}" for k in range(1, 9)]
    inv = Inventory(servers=[_server("a", rails), _server("b", rails), _server("c", other)])
    assert inv.switch_of() == {"a": "pod01-leaf01", "b": "pod01-leaf01", "c": "pod02-leaf01"}


def test_switch_of_places_a_server_without_card_0_by_its_other_cards() -> None:
    rails = [f"pod01-leaf{k:02d}" for k in range(1, 9)]
    inv = Inventory(
        servers=[
            _server("a", rails),
            _server("b", [None, *rails[1:]]),  # card 0 quiet: card 1 on pod01's leaf 2 -> pod01
            _server("c", [None, None, "lonely-leaf", None]),  # no match: its own switch
            _server("d", [None] * 8),  # LLDP off everywhere: no switch
            Server(host="e", error="refused"),
        ]
    )
    assert inv.switch_of() == {"a": "pod01-leaf01", "b": "pod01-leaf01", "c": "lonely-leaf"}


def test_the_simulated_fabric_is_rail_optimised_in_pods_of_32() -> None:
    from console.sim.generate import POD_SERVERS, lldp_fields

    assert POD_SERVERS == 32
    assert lldp_fields(0, 0)["lldp_switch"] == lldp_fields(31, 0)["lldp_switch"] == "pod01-leaf01"
    assert lldp_fields(32, 0)["lldp_switch"] == "pod02-leaf01"
    assert lldp_fields(5, 7)["lldp_switch"] == "pod01-leaf08"
    ports = {lldp_fields(i, 0)["lldp_port"] for i in range(32)}
    assert len(ports) == 32  # every server of a pod on its own port of the leaf
