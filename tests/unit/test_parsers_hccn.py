"""hccn_tool query parsers (-ip, -vnic, -gateway, -netdetect, -link, -net_health, -link_stat,
-tls, -lldp) on the real samples in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.parsers import (
    NET_HEALTH_CODES,
    GatewayInfo,
    IpConfig,
    LinkStat,
    LinkStatus,
    LldpInfo,
    NetdetectInfo,
    NetHealth,
    TlsReport,
    ToolError,
    Unparsed,
    VnicConfig,
    parse_gateway,
    parse_ip,
    parse_ip_loop,
    parse_link,
    parse_link_stat,
    parse_lldp,
    parse_net_health,
    parse_netdetect,
    parse_tls,
    parse_vnic,
)


def read(data_dir: Path, name: str) -> str:
    return (data_dir / name).read_text()


# ---------------------------------------------------------------- -ip -g


def test_ip_single(data_dir: Path) -> None:
    r = parse_ip(read(data_dir, "hccn_ip.txt"))
    assert isinstance(r, IpConfig)
    assert (r.ipaddr, r.netmask, r.ipv6) == ("10.10.100.10", "255.255.255.0", False)


def test_ip_not_set_is_tool_error(data_dir: Path) -> None:
    text = read(data_dir, "hccn_ip_not_set.txt")
    r = parse_ip(text)
    assert isinstance(r, ToolError)
    assert r.kind == "no_ip" and r.raw == text
    assert r.message == "Get ipconf failed, because no ip was preset there!"


def test_ip_loop_in_order(data_dir: Path) -> None:
    items = parse_ip_loop(read(data_dir, "hccn_ip_loop_8dev.txt"))
    assert all(isinstance(i, IpConfig) for i in items)
    assert [(i.ipaddr, i.netmask) for i in items] == [(f"10.10.100.{10 + n}", "255.255.255.0") for n in range(8)]


def test_ip_loop_keeps_positions_of_errors(data_dir: Path) -> None:
    text = (
        read(data_dir, "hccn_ip.txt")
        + read(data_dir, "hccn_ip_not_set.txt")
        + "hccn_tool is busy, please try again.\n"
        + "ipaddr:10.10.100.13\nnetmask:255.255.255.0\n"
    )
    items = parse_ip_loop(text)
    assert [i.kind for i in items] == ["ip", "no_ip", "busy", "ip"]
    assert items[3].ipaddr == "10.10.100.13"


def test_ip_loop_stray_line_is_unparsed_in_place() -> None:
    items = parse_ip_loop("ipaddr:1.2.3.4\nnetmask:255.0.0.0\nsome banner\n")
    assert [i.kind for i in items] == ["ip", "unparsed"]
    assert items[1].raw == "some banner"


def test_ip_single_rejects_loop_output(data_dir: Path) -> None:
    r = parse_ip(read(data_dir, "hccn_ip_loop_8dev.txt"))
    assert isinstance(r, Unparsed)


def test_ip_inet6() -> None:
    r = parse_ip("ipaddr:fd00:10::12\nprefix_length:64\n")
    assert isinstance(r, IpConfig)
    assert (r.ipaddr, r.prefix_length, r.ipv6, r.netmask) == ("fd00:10::12", 64, True, None)


# ---------------------------------------------------------------- -vnic -g (A3)


def test_vnic(data_dir: Path) -> None:
    r = parse_vnic(read(data_dir, "hccn_vnic_a3.txt"))
    assert isinstance(r, VnicConfig)
    assert (r.link, r.up, r.ipaddr, r.netmask) == ("UP", True, "192.168.2.199", "255.255.0.0")


def test_vnic_down() -> None:
    r = parse_vnic("vnic link status: DOWN\nvnic ipaddr: 192.168.2.200\nvnic netmask: 255.255.0.0\n")
    assert isinstance(r, VnicConfig) and r.link == "DOWN" and not r.up


# ---------------------------------------------------------------- -gateway / -netdetect


def test_gateway(data_dir: Path) -> None:
    r = parse_gateway(read(data_dir, "hccn_gateway.txt"))
    assert isinstance(r, GatewayInfo)
    assert (r.gateway, r.iface, r.device) == ("11.12.165.1", "eth0", 0)


def test_gateway_not_set(data_dir: Path) -> None:
    r = parse_gateway(read(data_dir, "hccn_gateway_not_set.txt"))
    assert isinstance(r, ToolError) and r.kind == "no_gateway"


def test_netdetect(data_dir: Path) -> None:
    r = parse_netdetect(read(data_dir, "hccn_netdetect.txt"))
    assert isinstance(r, NetdetectInfo) and r.address == "11.12.165.1"


# ---------------------------------------------------------------- -link -g


@pytest.mark.parametrize("name, status", [("hccn_link_up.txt", "UP"), ("hccn_link_down.txt", "DOWN")])
def test_link(data_dir: Path, name: str, status: str) -> None:
    r = parse_link(read(data_dir, name))
    assert isinstance(r, LinkStatus) and r.status == status and r.up == (status == "UP")


@pytest.mark.parametrize("text", ["link status: Up", "LINK STATUS: up\n"])
def test_link_case_insensitive(text: str) -> None:
    r = parse_link(text)
    assert isinstance(r, LinkStatus) and r.up


def test_link_does_not_take_vnic_line() -> None:
    assert isinstance(parse_link("vnic link status: UP\n"), Unparsed)


# ---------------------------------------------------------------- -net_health -g


def test_net_health_samples(data_dir: Path) -> None:
    ok = parse_net_health(read(data_dir, "hccn_net_health_ok.txt"))
    timeout = parse_net_health(read(data_dir, "hccn_net_health_timeout.txt"))
    assert isinstance(ok, NetHealth) and (ok.status, ok.code, ok.ok) == ("Success", 0, True)
    assert isinstance(timeout, NetHealth) and (timeout.status, timeout.code, timeout.ok) == (
        "Receive timeout",
        2,
        False,
    )


@pytest.mark.parametrize("code, text", sorted(NET_HEALTH_CODES.items()))
def test_net_health_full_table(code: int, text: str) -> None:
    by_text = parse_net_health(f"net health status: {text}\n")
    by_code = parse_net_health(f"net health status: {code}\n")
    assert isinstance(by_text, NetHealth) and by_text.code == code and by_text.status == text
    assert isinstance(by_code, NetHealth) and by_code.code == code and by_code.status == text


def test_net_health_table_is_complete() -> None:
    assert NET_HEALTH_CODES == {
        0: "Success",
        1: "Socket fail",
        2: "Receive timeout",
        3: "Unreachable",
        4: "Time exceeded",
        5: "Fault",
        6: "Init",
        7: "Thread error",
        8: "Detect ip set",
    }


def test_net_health_unknown_text_kept() -> None:
    r = parse_net_health("net health status: Something new\n")
    assert isinstance(r, NetHealth) and (r.status, r.code) == ("Something new", None)


# ---------------------------------------------------------------- -link_stat -g


def test_link_stat(data_dir: Path) -> None:
    r = parse_link_stat(read(data_dir, "hccn_link_stat.txt"))
    assert isinstance(r, LinkStat)
    assert (r.device, r.current_time, r.link_up_count) == (0, "Wed Jun  7 10:08:28 2023", 2)
    assert [(c.time, c.state) for c in r.records] == [
        ("Tue Jun  6 16:32:12 2023", "UP"),
        ("Tue Jun  6 16:32:10 2023", "DOWN"),
    ]
    assert r.flap_count == 1


def test_link_stat_flapping() -> None:
    records = "".join(
        f"[device 3]    Tue Jun  6 16:3{i}:00 2023    LINK {s}\n" for i, s in enumerate(["UP", "DOWN"] * 4)
    )
    r = parse_link_stat("[device 3]link up count       : 4\n[device 3]link change records :\n" + records)
    assert isinstance(r, LinkStat) and (r.device, r.flap_count, len(r.records)) == (3, 4, 8)


def test_link_stat_two_devices_refused(data_dir: Path) -> None:
    text = read(data_dir, "hccn_link_stat.txt")
    r = parse_link_stat(text + text.replace("[device 0]", "[device 1]"))
    assert isinstance(r, Unparsed) and "[0, 1]" in r.reason


# ---------------------------------------------------------------- -tls -g


def test_tls_eight_devices(data_dir: Path) -> None:
    r = parse_tls(read(data_dir, "hccn_tls_8dev.txt"))
    assert isinstance(r, TlsReport)
    assert [d.dev_id for d in r.devices] == list(range(8))
    assert {(d.switch, d.preconfigured, d.alarm_days, d.enabled) for d in r.devices} == {(0, 1, 60, False)}


def test_tls_old_firmware(data_dir: Path) -> None:
    r = parse_tls(read(data_dir, "hccn_tls_old_firmware_enabled.txt"))
    assert isinstance(r, TlsReport) and len(r.devices) == 1
    d = r.devices[0]
    assert (d.dev_id, d.switch, d.enabled, d.preconfigured, d.alarm_days) == (0, 1, True, None, 60)


def test_tls_no_certificate_and_cert_blocks() -> None:
    text = (
        "dev_id:2, tls switch[1](0:disable, 1:enable), tls alarm time threshold[60]days\n"
        "dev_id:2, [pub cert] info:\n  issuer[CN=x]\n  end_time[2030]\n"
        "No certificate found, please set certs firstly!\n"
    )
    r = parse_tls(text)
    assert isinstance(r, TlsReport) and r.no_certificate
    assert [(d.dev_id, d.switch) for d in r.devices] == [(2, 1)]
    only = parse_tls("No certificate found, please set certs firstly!\n")
    assert isinstance(only, TlsReport) and only.no_certificate and only.devices == []


# ---------------------------------------------------------------- -lldp -g


def test_lldp(data_dir: Path) -> None:
    r = parse_lldp(read(data_dir, "hccn_lldp.txt"))
    assert isinstance(r, LldpInfo)
    assert r.port_ifname == "400GE1/1/20:2"
    assert r.system_name == "leaf-sw-07"
    assert r.mgmt_address == "26.10.4.1"
    assert r.chassis_id == "MAC: 3c:f5:cc:1a:22:01"
    assert r.capabilities == "Bridge, Router"
    assert r.max_frame_size == 9216
    assert "End of LLDPDU" in r.tlvs


# ---------------------------------------------------------------- shared behaviour


@pytest.mark.parametrize(
    "parser",
    [
        parse_ip,
        parse_vnic,
        parse_gateway,
        parse_netdetect,
        parse_link,
        parse_net_health,
        parse_link_stat,
        parse_tls,
        parse_lldp,
    ],
)
def test_every_parser_types_tool_errors(parser, data_dir: Path) -> None:
    for line, kind in [
        ("The device is not exist!", "no_device"),
        ("hccn_tool is busy, please try again.", "busy"),
        ("Get invalid device id.\nEnter [ hccn_tool -h ] for more details.", "invalid_device"),
    ]:
        r = parser(line + "\n")
        assert isinstance(r, ToolError) and r.kind == kind, (parser.__name__, line, r)


@pytest.mark.parametrize(
    "parser",
    [
        parse_ip,
        parse_vnic,
        parse_gateway,
        parse_netdetect,
        parse_link,
        parse_net_health,
        parse_link_stat,
        parse_tls,
        parse_lldp,
    ],
)
def test_every_parser_unparsed_on_foreign_text(parser, data_dir: Path) -> None:
    # a real sample of another command is not mistaken for this one
    other = "hccn_ping_ok.txt"
    r = parser(read(data_dir, other))
    assert isinstance(r, Unparsed) and r.raw == read(data_dir, other)
    assert isinstance(parser(""), Unparsed)
