"""Deterministic servers and devices for a simulated cluster.

Device IPs follow the Ascend docs: on A2, one flat 10.10.100.0/24 with a stride of 12 per
server when the cluster fits (server 1 = .10-.17, server 2 = .22-.29, exactly the MindIE
guide's addresses), else one /24 per server (10.10.100+i.x); on A3, one /24 per server
(10.20.i.x) plus the on-board vNIC in 192.168.0.0/16. Every address is unique cluster-wide.
The per-card values of `npu-smi info` (power, temperature, Bus-Id, HBM) reproduce the
documented A2 sample for cards 0-7.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

Product = Literal["A2", "A3"]

CHIPS_PER_CARD = {"A2": 1, "A3": 2}
MAX_DEVICES = {"A2": 8, "A3": 16}
DEFAULT_DRIVER = "24.1.rc3"
DEFAULT_CANN = "8.0.RC3"
_A2_BUS = ["C1", "01", "41", "81", "C2", "02", "42", "82"]
_A3_BUS = ["9D", "9F", "99", "9B", "B9", "BB", "B5", "B7", "1D", "1F", "19", "1B", "39", "3B", "35", "37"]
_FLAT_FIRST, _FLAT_STRIDE = 10, 12


def server_name(index: int) -> str:
    """Host name of the index-th (0-based) generated server."""
    return f"node{index + 1:02d}"


def server_address(base_address: str, index: int) -> str:
    try:
        addr = ipaddress.IPv4Address(base_address) + index
    except (ipaddress.AddressValueError, ValueError) as exc:
        raise ValueError(f"base_address {base_address!r}: {exc}") from None
    return str(addr)


def _octets(value: int) -> str:
    """Two dotted octets for a number that may exceed 255 (10.10.356 -> 10.11.100)."""
    return f"{value // 256}.{value % 256}"


def _flat_fits(n_servers: int, per_server: int) -> bool:
    last = _FLAT_FIRST + _FLAT_STRIDE * (n_servers - 1) + per_server - 1
    return per_server <= _FLAT_STRIDE and last <= 254


def roce_plan(product: str, index: int, n_servers: int, per_server: int) -> tuple[str, int]:
    """(subnet prefix with trailing dot, first host number) of a server's RoCE IPs."""
    if product == "A2" and _flat_fits(n_servers, per_server):
        return "10.10.100.", _FLAT_FIRST + _FLAT_STRIDE * index
    if product == "A2":
        return f"10.{_octets(10 * 256 + 100 + index)}.", _FLAT_FIRST
    return f"10.{_octets(20 * 256 + index)}.", _FLAT_FIRST


POD_SERVERS = 32
"""Servers per pod of the simulated rail-optimised fabric (one leaf per rail and pod)."""


def lldp_fields(index: int, device_id: int) -> dict[str, str]:
    """The switch and port a device is cabled to, rail-optimised: device k of every server of
    pod p (``POD_SERVERS`` consecutive servers) on leaf k of pod p, each server on its own
    200GE half of a 400GE port (``400GE1/1/20:2``, as in the Ascend docs)."""
    pod, slot = divmod(index, POD_SERVERS)
    return {
        "lldp_switch": f"pod{pod + 1:02d}-leaf{device_id + 1:02d}",
        "lldp_port": f"400GE1/1/{slot // 2 + 1}:{slot % 2 + 1}",
    }


def device_fields(product: str, index: int, n_servers: int, cards: int, device_id: int) -> dict[str, Any]:
    """Every field of one generated device (before faults)."""
    chips = CHIPS_PER_CARD[product]
    card, chip = divmod(device_id, chips)
    prefix, first = roce_plan(product, index, n_servers, cards * chips)
    fields: dict[str, Any] = {
        "device_id": device_id,
        "card_id": card,
        "chip_id": chip,
        "logic_id": device_id,
        "ip": f"{prefix}{first + device_id}",
        "netmask": "255.255.255.0",
        "gateway": f"{prefix}1",
        "netdetect": f"{prefix}1",
        **lldp_fields(index, device_id),
    }
    if product == "A2":
        fields.update(
            bus_id=f"0000:{_A2_BUS[card % 8]}:00.0",
            power_w=round(88.4 + card, 1),
            temp_c=46 + card,
            hbm_used_mb=4175 + card,
        )
    else:
        fields.update(
            bus_id=f"0000:{_A3_BUS[device_id % 16]}:00.0",
            power_w=round(182.0 - card * 1.7, 1) if chip == 0 else None,
            temp_c=36 + card - chip,
            hbm_used_mb=3402 if chip == 0 else 3200,
            vnic_ip=f"192.{_octets(168 * 256 + index)}.{100 + device_id}",
            super_device_id=index * 65536 + device_id,
        )
    return fields


def devices(product: str, index: int, n_servers: int, cards: int) -> list[dict[str, Any]]:
    if cards < 1 or cards * CHIPS_PER_CARD[product] > MAX_DEVICES[product]:
        raise ValueError(
            f"cards must be 1..{MAX_DEVICES[product] // CHIPS_PER_CARD[product]} on {product} (got {cards})"
        )
    return [device_fields(product, index, n_servers, cards, d) for d in range(cards * CHIPS_PER_CARD[product])]


def servers(
    servers: int = 2,
    cards: int = 8,
    product: str = "A2",
    base_address: str = "127.0.0.11",
    *,
    driver_version: str = DEFAULT_DRIVER,
    cann_version: str = DEFAULT_CANN,
    super_pod_id: str | None = None,
) -> list[dict[str, Any]]:
    """Field dicts of ``servers`` generated servers (validated by ``ServerSpec``)."""
    if servers < 1:
        raise ValueError(f"servers must be at least 1 (got {servers})")
    if product not in CHIPS_PER_CARD:
        raise ValueError(f"product must be A2 or A3 (got {product!r})")
    if product == "A3" and super_pod_id is None:
        super_pod_id = "0"
    return [
        {
            "name": server_name(i),
            "address": server_address(base_address, i),
            "product": product,
            "driver_version": driver_version,
            "cann_version": cann_version,
            "super_pod_id": super_pod_id,
            "devices": devices(product, i, servers, cards),
        }
        for i in range(servers)
    ]
