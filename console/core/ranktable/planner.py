"""build(inventory): a rank table from what discovery found.

Servers in the order given (default: inventory order), devices by device_id, rank ids
sequential by server then device (MindIE: server_list[0] is the master and holds rank 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from console.core.errors import InputError
from console.core.inventory import Inventory, Server
from console.core.ranktable.model import SUPPORTED_VERSIONS, RankDevice, RankServer, RankTable, SuperPod

DEFAULT_SUPER_POD = "0"


def build(inventory: Inventory, version: str = "1.0", order: Sequence[str] | None = None) -> RankTable:
    """A rank table for the servers of ``inventory`` (``order``: hosts or server ids)."""
    if version not in SUPPORTED_VERSIONS:
        raise InputError(f'cannot build a version "{version}" rank table', hint='use "1.0" or "1.2"')
    servers = _pick(inventory, order)
    rank = 0
    server_list = []
    for server in servers:
        devices = []
        for card in sorted(server.devices, key=lambda c: c.device_id):
            sdid = card.super_device_id if version == "1.2" else None
            if version == "1.2" and sdid is None:
                raise InputError(
                    f"device {card.device_id} has no super_device_id",
                    host=server.host,
                    hint='version "1.2" needs the SDID of every device (npu-smi info -t spod-info); '
                    'use version "1.0" outside a SuperPoD',
                )
            devices.append(
                RankDevice(device_id=card.device_id, device_ip=card.device_ip, super_device_id=sdid, rank_id=rank)
            )
            rank += 1
        sid = server.server_id or server.host
        server_list.append(RankServer(server_id=sid, container_ip=sid, device=devices))
    table = RankTable(status="completed", version=version, server_count=len(server_list), server_list=server_list)
    if version == "1.2":
        table.super_pod_list = _super_pods(servers)
    return table


def _pick(inventory: Inventory, order: Sequence[str] | None) -> list[Server]:
    if order is None:
        servers = list(inventory.servers)
    else:
        servers, unknown = [], []
        for name in order:
            server = inventory.server(name)
            if server is None:
                unknown.append(name)
            elif server in servers:
                raise InputError(f"server {name} is named twice in the order")
            else:
                servers.append(server)
        if unknown:
            known = ", ".join(s.host for s in inventory.servers) or "none"
            raise InputError(f"not in the inventory: {', '.join(unknown)}", f"known servers: {known}")
    if not servers:
        raise InputError("cannot build a rank table: no servers")
    down = [s for s in servers if not s.reachable]
    if down:
        names = "; ".join(f"{s.host}: {s.error or 'not reached'}" for s in down)
        raise InputError(
            "cannot build a rank table: servers not reached",
            names,
            hint="fix them, or build for the other servers only (give the order explicitly)",
        )
    empty = [s.host for s in servers if not s.devices]
    if empty:
        raise InputError(f"no NPU devices found on {', '.join(empty)}", hint="check npu-smi info on them")
    return servers


def _super_pods(servers: list[Server]) -> list[SuperPod]:
    pods: dict[str, list[dict[str, str]]] = {}
    for server in servers:
        pods.setdefault(server.super_pod_id or DEFAULT_SUPER_POD, []).append(
            {"server_id": server.server_id or server.host}
        )
    return [SuperPod(super_pod_id=pod_id, server_list=members) for pod_id, members in pods.items()]
