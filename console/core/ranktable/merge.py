"""merge(tables) (what mindspore's merge_hccl.py does), renumber(table) and
subset_table(table, per_server) (``--ranks-per-server``)."""

from __future__ import annotations

from collections.abc import Sequence

from console.core.errors import InputError
from console.core.ranktable.model import RankServer, RankTable, SuperPod


def renumber(table: RankTable) -> RankTable:
    """A copy with rank ids 0..N-1, sequential by server then device, in file order."""
    new = table.model_copy(deep=True)
    for rank, (*_, device) in enumerate(new.devices()):
        device.rank_id = rank
    return new


def subset_table(table: RankTable, per_server: int | None) -> RankTable:
    """The first ``per_server`` devices (lowest rank ids) of every server, ranks renumbered
    0..N-1 server by server; the table itself when ``per_server`` is None."""
    if per_server is None:
        return table
    if per_server < 1:
        raise InputError(f"--ranks-per-server {per_server}: give 1 or more")
    new = table.model_copy(deep=True)
    for server in new.server_list:
        server.device = sorted(server.device, key=lambda d: int(d.rank_id))[:per_server]
    return renumber(new)


def subset_note(table: RankTable, used: RankTable, per_server: int) -> str:
    """What ``--ranks-per-server`` did, in one line."""
    devices = "device" if per_server == 1 else f"{per_server} devices"
    return (
        f"--ranks-per-server {per_server}: the first {devices} (by rank) of "
        f"each of the {len(used.server_list)} servers: {used.world_size} of the table's "
        f"{table.world_size} ranks, renumbered 0..{used.world_size - 1} (RANK_TABLE_FILE "
        "is this smaller table)"
    )


def merge(tables: Sequence[RankTable], names: Sequence[str] | None = None) -> RankTable:
    """Concatenate the tables' servers in argument order, renumber ranks, sum server_count.

    ``names`` (e.g. file names) only make error messages clearer. Duplicate server ids and
    mixed versions are refused. SuperPoDs with the same id are combined.
    """
    if not tables:
        raise InputError("nothing to merge: give at least one rank table")
    labels = list(names) if names is not None else [f"table {k + 1}" for k in range(len(tables))]
    versions = {t.version for t in tables}
    if len(versions) > 1:
        detail = ", ".join(f"{label}: {t.version}" for label, t in zip(labels, tables, strict=True))
        raise InputError("cannot merge rank tables of different versions", detail)
    servers: list[RankServer] = []
    origin: dict[str, str] = {}
    for label, table in zip(labels, tables, strict=True):
        for server in table.server_list:
            if server.server_id in origin:
                raise InputError(
                    f'server "{server.server_id}" is in {origin[server.server_id]} and in {label}',
                    hint="each server may appear in one of the merged tables only",
                )
            origin[server.server_id] = label
            servers.append(server.model_copy(deep=True))
    statuses = [t.status for t in tables]
    merged = RankTable(
        status=next((s for s in statuses if s != "completed"), "completed"),
        version=tables[0].version,
        server_count=sum(len(t.server_list) if t.server_count is None else t.server_count for t in tables),
        server_list=servers,
        super_pod_list=_merge_pods(tables),
        **(tables[0].model_extra or {}),
    )
    return renumber(merged)


def _merge_pods(tables: Sequence[RankTable]) -> list[SuperPod] | None:
    if all(t.super_pod_list is None for t in tables):
        return None
    pods: dict[str, SuperPod] = {}
    for table in tables:
        for pod in table.super_pod_list or ():
            if pod.super_pod_id in pods:
                pods[pod.super_pod_id].server_list.extend(s.model_copy() for s in pod.server_list)
            else:
                pods[pod.super_pod_id] = pod.model_copy(deep=True)
    return list(pods.values())
