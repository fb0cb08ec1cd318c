"""The headless CLI against the in-process sim: `discover`, `ranktable build`, `validate --against`."""

from __future__ import annotations

import asyncio
import json
import sys

from console.cli.discover import ERROR_WIDTH, print_inventory
from console.core.discovery.findings import findings
from console.core.inventory import Inventory, Server
from console.ops.ranktable_files import load


async def cli(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_discover_json_shape_and_exit_code(sim_cluster):
    hosts = "127.0.0.[11-12]" if sim_cluster.hosts == ["127.0.0.11", "127.0.0.12"] else ",".join(sim_cluster.hosts)
    rc, out, err = await cli("-F", str(sim_cluster.ssh_config_path), "discover", hosts, "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert [s["host"] for s in data["servers"]] == sim_cluster.hosts
    devices = [d for s in data["servers"] for d in s["devices"]]
    assert len(devices) == 16
    for key in ("device_id", "device_ip", "netmask", "link", "net_health", "tls", "health"):
        assert all(key in d for d in devices)
    assert {"host", "server_id", "hostname", "reachable", "error"} <= set(data["servers"][0])
    assert data["findings"] == []
    assert "[2/2]" in err  # progress goes to stderr, never stdout


async def test_discover_exit_3_when_a_server_is_unreachable(sim_factory):
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "refuse", "server": 2}])
    rc, out, _err = await cli(
        "-F", str(sim.ssh_config_path), "--connect-timeout", "5", "discover", *sim.hosts, "--json"
    )
    assert rc == 3
    data = json.loads(out)
    assert [s["reachable"] for s in data["servers"]] == [True, False]
    assert data["findings"][0]["code"] == "unreachable" and data["findings"][0]["host"] == sim.hosts[1]


async def test_discover_exit_1_on_error_findings(sim_factory):
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "link_down", "server": 2, "device": 1}])
    rc, out, _ = await cli("-F", str(sim.ssh_config_path), "discover", *sim.hosts)
    assert rc == 1
    assert "link DOWN" in out and sim.hosts[1] in out


async def test_ranktable_build_then_validate_against(sim_cluster, tmp_path):
    cfg = str(sim_cluster.ssh_config_path)
    out_file = tmp_path / "hccl.json"
    rc, out, err = await cli("-F", cfg, "ranktable", "build", *sim_cluster.hosts, "-o", str(out_file))
    assert rc == 0, err
    table = load(out_file)
    assert [s.server_id for s in table.server_list] == sim_cluster.hosts
    assert [d.rank_id for _, _, _, d in table.devices()] == list(range(16))
    assert oct(out_file.stat().st_mode & 0o777) == "0o640"
    rc, out, err = await cli("-F", cfg, "ranktable", "validate", str(out_file), "--against", *sim_cluster.hosts)
    assert rc == 0, out + err
    # a wrong device_ip is HCCL's EI0014: caught against the live cards
    text = out_file.read_text().replace('"10.10.100.12"', '"10.10.100.99"')
    out_file.write_text(text)
    rc, out, err = await cli("-F", cfg, "ranktable", "validate", str(out_file), "--against", *sim_cluster.hosts)
    assert rc == 1
    assert "server_list[0].device[2].device_ip" in out and "10.10.100.12" in out


def test_text_output_of_an_unreachable_server(capsys):
    """No empty Devices table; the error column shows one cut line, Findings the whole error."""
    error = (
        "cannot resolve host name: root@nosuchhost.invalid:22: Name or service not known, "
        "and more words to make it long\n  hint: check the name, /etc/hosts, or HostName in ssh_config"
    )
    inv = Inventory(servers=[Server(host="nosuchhost.invalid", reachable=False, error=error)])
    inv.findings = findings(inv)
    print_inventory(inv)
    out = capsys.readouterr().out
    assert "Devices" not in out and "card.chip" not in out
    [row] = [line for line in out.splitlines() if line.startswith("│ nosuchhost.invalid")]
    assert "cannot resolve host name" in row and "…" in row and "hint" not in row
    assert len(row.split("│")[-2].strip()) <= ERROR_WIDTH
    assert f"nosuchhost.invalid: {error}" in out  # the findings keep it all


def test_text_output_shows_what_servers_print_as_text_never_markup(capsys):
    """Switch names, hostnames, versions, health... are printed by servers (untrusted): a
    name like ``sw[/]`` once raised MarkupError, ``[bold]`` styled the table."""
    from console.core.inventory import Device

    dev = Device(
        device_id=0, device_ip="10.0.0.1", link="[blink]DOWN", health="O[/]K", lldp_switch="sw[/]", lldp_port="[b]p"
    )
    server = Server(host="h1", reachable=True, hostname="[bold]name[/bold]", driver_version="1[/]", devices=[dev])
    inv = Inventory(servers=[server])
    print_inventory(inv)
    out = capsys.readouterr().out
    for text in ("sw[/] [b]p", "[bold]name[/bold]", "1[/]", "O[/]K", "[blink]DOWN"):
        assert text in out
