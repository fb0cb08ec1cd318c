"""hccn_tool error lines -> ToolError, and /etc/hccn.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.parsers import (
    HccnConf,
    ToolError,
    Unparsed,
    error_kind,
    find_tool_error,
    parse_hccn_conf,
    parse_tool_error,
)

ERROR_LINES = [
    ("hccn_tool is busy, please try again.", "busy"),
    ("Get ipconf failed, because no ip was preset there!", "no_ip"),
    ("The device is not exist!", "no_device"),
    ("Command execute failed!", "failed"),
    ("Get invalid device id.", "invalid_device"),
    ("Get invalid major cmd.", "invalid_cmd"),
    ("Execute failed: Link status is down.", "link_down"),
    ("Get gateway failed, because no gateway was preset there!", "no_gateway"),
    ("Optical module is not present.", "no_optical"),
    ("The command is not supported on this product.", "not_supported"),
    ("The device is occupied. Please try again later.", "occupied"),
    ("Enter [ hccn_tool -h ] for more details.", "usage"),
]


@pytest.mark.parametrize("line, kind", ERROR_LINES)
def test_each_error_line(line: str, kind: str) -> None:
    r = parse_tool_error(line + "\n")
    assert isinstance(r, ToolError)
    assert (r.kind, r.message, r.raw) == (kind, line, line + "\n")
    assert r.retryable == (kind in ("busy", "occupied"))


def test_every_line_of_the_sample_is_known(data_dir: Path) -> None:
    lines = (data_dir / "hccn_errors.txt").read_text().splitlines()
    assert [error_kind(line) for line in lines] == [
        "busy",
        "no_device",
        "failed",
        "invalid_device",
        "invalid_cmd",
        "usage",
    ]


def test_companion_line_takes_the_specific_kind() -> None:
    r = parse_tool_error("Execute failed: Link status is down.\nCommand execute failed!\n")
    assert isinstance(r, ToolError) and r.kind == "link_down"
    assert r.message == "Execute failed: Link status is down."
    assert r.lines == ["Execute failed: Link status is down.", "Command execute failed!"]
    r = parse_tool_error("Get invalid major cmd.\nEnter [ hccn_tool -h ] for more details.\n")
    assert isinstance(r, ToolError) and r.kind == "invalid_cmd"


def test_not_an_error() -> None:
    assert parse_tool_error("ipaddr:1.2.3.4\nnetmask:255.0.0.0\n") is None
    assert parse_tool_error("") is None
    assert parse_tool_error("Command execute failed!\nsomething else\n") is None


def test_find_tool_error_inside_noise() -> None:
    r = find_tool_error("banner\nThe device is occupied. Please try again later.\n")
    assert isinstance(r, ToolError) and r.kind == "occupied"
    assert find_tool_error("nothing here") is None


# ---------------------------------------------------------------- /etc/hccn.conf


def test_hccn_conf_sample_with_gaps(data_dir: Path) -> None:
    r = parse_hccn_conf((data_dir / "hccn.conf").read_text())
    assert isinstance(r, HccnConf)
    assert list(r.devices) == [0, 1, 7]
    d7 = r.devices[7]
    assert (d7.address, d7.netmask, d7.netdetect, d7.gateway) == ("29.1.170.143", "255.255.0.0", "29.1.0.1", "29.1.0.1")
    assert (d7.tls_enable, d7.send_arp_status) == (0, 1)
    assert r.devices[1].address == "29.1.137.206"
    assert r.problems == [] and d7.extra == {}


def test_hccn_conf_unknown_keys_bad_lines_and_duplicates() -> None:
    text = (
        "# comment\n"
        "address_3=10.0.0.3\n"
        "vlan_3=12\n"
        "IPv6address_3=fd00::3\n"
        "garbage line\n"
        "address_3=10.0.0.33\n"
        "tls_enable_3=yes\n"
        "some_global=1\n"
    )
    r = parse_hccn_conf(text)
    assert isinstance(r, HccnConf)
    d3 = r.devices[3]
    assert d3.address == "10.0.0.33" and d3.ipv6_address == "fd00::3"
    assert d3.extra == {"vlan": "12", "tls_enable": "yes"} and d3.tls_enable is None
    assert r.global_keys == {"some_global": "1"}
    assert r.problems == [
        "line 5: not key_N=value: 'garbage line'",
        "line 6: address_3 set twice; the last value is used",
        "line 7: tls_enable_3='yes' is not an integer",
    ]


def test_hccn_conf_sorted_devices_and_empty() -> None:
    r = parse_hccn_conf("address_10=1.1.1.10\naddress_2=1.1.1.2\n")
    assert isinstance(r, HccnConf) and list(r.devices) == [2, 10]
    empty = parse_hccn_conf("\n\n")
    assert isinstance(empty, HccnConf) and empty.devices == {}


def test_hccn_conf_not_a_conf() -> None:
    r = parse_hccn_conf("cat: /etc/hccn.conf: No such file or directory\n")
    assert isinstance(r, Unparsed) and "line 1" in r.reason
