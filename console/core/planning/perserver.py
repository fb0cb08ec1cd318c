"""Launch granularity "server": one process per server instead of one per rank.

Serving stacks (MindIE Service's ``mindieservice_daemon``, vLLM-Ascend's ``vllm serve``) run
once per server and use all of its devices. Such a process gets the server's view of the
rank table: ``WORLD_SIZE`` (devices in the table), ``LOCAL_WORLD_SIZE`` (this server's),
``RANK_ID_START``, ``NODE_RANK`` (index in table order), ``ASCEND_RT_VISIBLE_DEVICES`` (its
device ids), next to the master and rank-table variables every launch gets. In the plan it
is one ``RankSpec`` per server whose ``rank`` is the server's NODE_RANK (so supervision, logs
and the run record work as for ranks: one row per server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from console.core.errors import InputError


class HostFacts(BaseModel):
    """What discovery knows of a server's host network ({host_ip}, {host_nic})."""

    host_ip: str | None = None
    host_nic: str | None = None


def server_values(
    index: int, count: int, server: Any, devs: list[Any], master: str, facts: HostFacts | None, extra: Mapping[str, str]
) -> dict[str, str]:
    """The server placeholders (``SERVER_PLACEHOLDERS``) plus ``extra``; an unknown
    ``host_nic`` is left out (using it is an error naming the server)."""
    values = {
        "node_rank": str(index),
        "nnodes": str(count),
        "local_world_size": str(len(devs)),
        "rank_id_start": str(int(devs[0].rank_id)),
        "server_ip": server.server_id,
        "master_ip": master,
        "is_master": "1" if index == 0 else "0",
        "host_ip": (facts.host_ip if facts and facts.host_ip else server.server_id),
        "container_ip": getattr(server, "container_ip", None) or server.server_id,
    }
    if facts is not None and facts.host_nic:
        values["host_nic"] = facts.host_nic
    return {**values, **extra}


def missing_value(name: str, server_id: str) -> InputError:
    if name == "host_nic":
        return InputError(
            f"the host NIC of server {server_id} is unknown ({{host_nic}})",
            "no network interface of that server holds its address",
            hint="run discovery (`cluster-console discover`) and check the "
            "host_nic_unknown finding, or set the *_IFNAME variables with --env",
        )
    return InputError(f"placeholder {{{name}}} has no value for server {server_id}")


def server_env(common: Mapping[str, str], values: Mapping[str, str], devs: list[Any]) -> dict[str, str]:
    """The launcher's variables for a per-server process."""
    return {
        **common,
        "LOCAL_WORLD_SIZE": values["local_world_size"],
        "RANK_ID_START": values["rank_id_start"],
        "NODE_RANK": values["node_rank"],
        "ASCEND_RT_VISIBLE_DEVICES": ",".join(str(int(d.device_id)) for d in devs),
    }


def facts_from_inventory(inventory: Any) -> dict[str, HostFacts]:
    """server_id -> discovery's host IP and NIC, for the servers discovery placed."""
    out = {}
    for server in getattr(inventory, "servers", None) or []:
        if server.server_id and (server.host_ip or server.host_nic):
            out[server.server_id] = HostFacts(host_ip=server.host_ip, host_nic=server.host_nic)
    return out
