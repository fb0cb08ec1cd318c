"""The findings' hand-made IPv4 masking says exactly what ``ipaddress.ip_interface`` says."""

from __future__ import annotations

import ipaddress
import random

import pytest

from console.core.discovery.findings import _network


def reference(ip: str, netmask: str) -> str | None:
    try:
        return str(ipaddress.ip_interface(f"{ip}/{netmask}").network)
    except ValueError:
        return None


EDGES = [
    ("10.0.0.5", "255.255.255.0"),
    ("10.0.0.5", "24"),
    ("10.0.0.5", "0.0.0.0"),
    ("10.0.0.5", "255.0.255.0"),
    ("10.0.0.5", "33"),
    ("10.0.0.5", " 24"),
    ("300.1.1.1", "24"),
    ("01.2.3.4", "24"),
    ("10.00.0.1", "8"),
    ("1.2.3", "24"),
    ("1..2.3", "24"),
    ("", "24"),
    ("\u0661\u0660.0.0.1", "24"),
    ("fe80::1", "64"),
    ("0.0.0.0", "0"),
    ("192.168.100.200", "255.255.255.252"),
]


@pytest.mark.parametrize(("ip", "netmask"), EDGES)
def test_edge_cases_match_ipaddress(ip: str, netmask: str) -> None:
    assert _network(ip, netmask) == reference(ip, netmask)


def test_random_addresses_and_masks_match_ipaddress() -> None:
    rng = random.Random(7)
    masks = ["255.255.255.0", "255.255.240.0", "16", "32", "0", "255.255.255.255", "255.128.0.0"]
    for _ in range(3000):
        ip = ".".join(str(rng.randint(0, 255)) for _ in range(4))
        netmask = rng.choice(masks)
        assert _network(ip, netmask) == reference(ip, netmask), (ip, netmask)
