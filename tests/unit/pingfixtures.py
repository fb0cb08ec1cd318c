"""Inventories for the ping planner and results tests, built straight from the inventory models."""

from __future__ import annotations

from console.core.inventory import Device, Inventory, Server


def host(i: int) -> str:
    return f"127.0.0.{11 + i}"


def device_ip(server: int, device: int, *, v6: bool = False) -> str:
    return f"fd00::{server + 1}:{device + 1}" if v6 else f"10.20.{server}.{device + 1}"


def make_server(
    i: int,
    n: int = 8,
    *,
    product: str = "A2",
    reachable: bool = True,
    no_ip: tuple[int, ...] = (),
    v6: bool = False,
    with_card: bool = True,
) -> Server:
    chips = 2 if product == "A3" else 1
    devices = [
        Device(
            device_id=d,
            card=(d // chips) if with_card else None,
            chip=d % chips,
            device_ip=None if d in no_ip else device_ip(i, d, v6=v6),
        )
        for d in range(n)
    ]
    return Server(
        host=host(i),
        server_id=host(i),
        reachable=reachable,
        error=None if reachable else "connection refused",
        product=product,  # type: ignore[arg-type]
        chips_per_card=chips,
        devices=devices if reachable else [],
    )


def make_inventory(servers: int = 2, devices: int = 8, **kw) -> Inventory:
    return Inventory(servers=[make_server(i, devices, **kw) for i in range(servers)])
