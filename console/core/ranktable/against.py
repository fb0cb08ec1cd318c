"""validate_against(table, inventory): does the table match the servers discovery saw?

HCCL checks each rank's device_ip against the NIC of the device it runs on (EI0014); this does
the same before launch, for every rank at once, and flags busy or unhealthy chips.
"""

from __future__ import annotations

from collections.abc import Iterator

from console.core.diagnostic import Diagnostic
from console.core.inventory import Device, Inventory, Server
from console.core.ranktable.model import RankDevice, RankServer, RankTable
from console.core.ranktable.problems import dev, error, ranges, sort_problems, srv, warning

HEALTHY = ("OK",)


def validate_against(table: RankTable, inventory: Inventory) -> list[Diagnostic]:
    """Problems between ``table`` and ``inventory`` (what discovery found), sorted by path."""
    problems: list[Diagnostic] = []
    for i, entry in enumerate(table.server_list):
        server = inventory.server(entry.server_id)
        path = srv(i, "server_id")
        if server is None:
            known = ", ".join(s.server_id or s.host for s in inventory.servers) or "none"
            problems.append(
                error(path, "server_unknown", f'server "{entry.server_id}" was not discovered (discovered: {known})')
            )
        elif not server.reachable:
            problems.append(
                error(
                    path,
                    "server_unreached",
                    f'server "{entry.server_id}" ({server.host}) was not reached: {server.error or "no answer"}',
                )
            )
        else:
            problems.extend(_check_server(i, entry, server))
            problems.extend(_check_pod(table, entry, server))
    return sort_problems(problems)


def _check_server(i: int, entry: RankServer, server: Server) -> Iterator[Diagnostic]:
    where = f'"{entry.server_id}"' + (f" ({server.host})" if server.host != entry.server_id else "")
    for j, d in enumerate(entry.device):
        card = server.device(d.device_id)
        if card is None:
            have = ranges([c.device_id for c in server.devices]) or "none"
            yield error(
                dev(i, j, "device_id"),
                "device_unknown",
                f"device {d.device_id} does not exist on {where} (devices found: {have})",
            )
            continue
        yield from _check_device(i, j, d, card, where)


def _check_device(i: int, j: int, d: RankDevice, card: Device, where: str) -> Iterator[Diagnostic]:
    if d.device_ip is not None:
        if card.device_ip is None:
            yield error(
                dev(i, j, "device_ip"),
                "device_ip_unset",
                f"device {d.device_id} on {where} reports no "
                f"IP address (hccn_tool -i {d.device_id} -ip -g), the table says {d.device_ip}",
            )
        elif card.device_ip != d.device_ip:
            yield error(
                dev(i, j, "device_ip"),
                "device_ip_mismatch",
                f"the IP address({d.device_ip}) in the "
                f"ranktable is inconsistent with the IP address({card.device_ip}) of the network adapter "
                f"of device {d.device_id} on {where}; HCCL fails with EI0014 [check][ip]",
            )
    if d.super_device_id is not None and card.super_device_id is not None and d.super_device_id != card.super_device_id:
        yield error(
            dev(i, j, "super_device_id"),
            "super_device_id_mismatch",
            f"super_device_id "
            f"{d.super_device_id} but device {d.device_id} on {where} reports {card.super_device_id} "
            "(npu-smi spod-info SDID)",
        )
    if card.health is not None and card.health not in HEALTHY:
        yield warning(
            dev(i, j, "device_id"),
            "device_unhealthy",
            f"device {d.device_id} on {where} is unhealthy: npu-smi health {card.health}",
        )
    if card.busy_pids:
        pids = ", ".join(map(str, card.busy_pids))
        yield warning(
            dev(i, j, "device_id"),
            "device_busy",
            f"device {d.device_id} on {where} is busy: "
            f"process(es) {pids} use it (a new rank may fail to bind its ports, EI0019)",
        )


def _check_pod(table: RankTable, entry: RankServer, server: Server) -> Iterator[Diagnostic]:
    if table.version != "1.2" or server.super_pod_id is None:
        return
    for k, pod in enumerate(table.super_pod_list or ()):
        for m, listed in enumerate(pod.server_list):
            if listed.server_id == entry.server_id and pod.super_pod_id != server.super_pod_id:
                yield warning(
                    f"super_pod_list[{k}].server_list[{m}].server_id",
                    "super_pod_mismatch",
                    f'"{entry.server_id}" is in super_pod_id "{pod.super_pod_id}" but the server '
                    f"reports Super Pod ID {server.super_pod_id} (npu-smi spod-info): ranks in "
                    "different physical SuperPoDs sharing a logical one time out",
                )
