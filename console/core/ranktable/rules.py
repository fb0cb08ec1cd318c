"""Rank-id and device-IP rules of :func:`validate` (the two that look across the whole table)."""

from __future__ import annotations

import bisect
import ipaddress
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise

from console.core.diagnostic import Diagnostic
from console.core.ranktable.model import RankTable
from console.core.ranktable.problems import dev, error, ranges, srv, warning
from console.core.targets import is_ip

MINDIE_MAX_RANK = 511
_LINUX_FAMILY = {4: 2, 6: 10}  # AF_INET, AF_INET6 as HCCL prints them (EI0001)


def missing_on_devices(t: RankTable, field: str, rule: str, why: str) -> Iterator[Diagnostic]:
    """One error per server when no device has ``field``, else one per device lacking it."""
    for i, server in enumerate(t.server_list):
        missing = [j for j, d in enumerate(server.device) if getattr(d, field) is None]
        if len(missing) > 1 and len(missing) == len(server.device):
            yield error(srv(i, "device"), rule, f'no device of server "{server.server_id}" has {field}: {why}')
            continue
        for j in missing:
            yield error(dev(i, j, field), rule, f"{field} is missing: {why}")


# ---- device IPs ---------------------------------------------------------------------------


def check_device_ips(t: RankTable) -> Iterator[Diagnostic]:
    if len(t.server_list) > 1:
        yield from missing_on_devices(
            t,
            "device_ip",
            "device_ip_missing",
            "required when the table has more than one server (address_N in /etc/hccn.conf, hccn_tool -i N -ip -g)",
        )
    seen: dict[str, str] = {}
    families: list[tuple[str, int, int]] = []  # (path, rank, linux family)
    for i, j, _server, d in t.devices():
        for field in ("device_ip", "backup_device_ip"):
            value = getattr(d, field)
            if value is None:
                continue
            path = dev(i, j, field)
            if not is_ip(value):
                yield error(path, "device_ip_invalid", f'{field} "{value}" is not a valid IP address')
                continue
            if field == "backup_device_ip":
                continue
            if value in seen:
                yield error(
                    path,
                    "device_ip_duplicate",
                    f"device_ip {value} is also {seen[value]}: device IPs must be unique in the cluster",
                )
            else:
                seen[value] = path
            families.append((path, d.rank_id, _LINUX_FAMILY[ipaddress.ip_address(value).version]))
    yield from _check_families(families)


def _check_families(families: list[tuple[str, int, int]]) -> Iterator[Diagnostic]:
    counts = Counter(f for _, _, f in families)
    if len(counts) < 2:
        return
    usual = counts.most_common(1)[0][0]
    names = {2: "IPv4", 10: "IPv6"}
    for path, rank, family in families:
        if family != usual:
            yield error(
                path,
                "device_ip_family",
                f"device_ip is {names[family]} but the others are {names[usual]}: "
                f"HCCL refuses mixed families (EI0001: rank[{rank}] device ip family[{family}] is not "
                f"same as others[{usual}])",
            )


# ---- rank ids -----------------------------------------------------------------------------


def check_ranks(t: RankTable) -> Iterator[Diagnostic]:
    world = t.world_size
    first: dict[int, str] = {}  # rank -> path of the device that holds it
    owner: dict[int, int] = {}  # rank -> server index
    for i, j, _server, d in t.devices():
        path, r = dev(i, j, "rank_id"), d.rank_id
        if not 0 <= r < world:
            yield error(
                path,
                "rank_id_range",
                f"rank_id {r} is out of range [0, {world - 1}]: rank ids run from 0 "
                f"to the number of devices minus one (ATB-Models: rank_id should be less than world size)",
            )
        elif r in first:
            yield error(path, "rank_id_duplicate", f"rank_id {r} is also {first[r]}: rank ids must be unique")
        else:
            first[r], owner[r] = path, i
    missing = sorted(set(range(world)) - set(first))
    if missing:
        yield error(
            "server_list",
            "rank_id_gap",
            f"rank ids must run 0-{world - 1} without gaps; missing: "
            f"{ranges(missing)} (ATB-Models: Rank id is not in the rankTableFile)",
        )
    interleaved = list(_interleaved(t, first, owner))
    yield from interleaved
    if not interleaved:
        yield from _rank_order(t, owner)
    if world > MINDIE_MAX_RANK + 1:
        at: str = first.get(MINDIE_MAX_RANK + 1, "server_list")
        yield warning(at, "rank_id_limit", f"{world} ranks: MindIE allows rank_id in [0, {MINDIE_MAX_RANK}]")


def _interleaved(t: RankTable, first: dict[int, str], owner: dict[int, int]) -> Iterator[Diagnostic]:
    """A server's ranks must be one contiguous block: flag each rank that comes after another
    server's rank inside this server's range (server1 {0,1,2,7} / server2 {3,4,5,6} is refused)."""
    ordered = sorted(owner)
    for i, server in enumerate(t.server_list):
        mine = [d.rank_id for d in server.device if owner.get(d.rank_id) == i]
        if not mine:
            continue
        low = min(mine)
        for j, d in enumerate(server.device):
            r = d.rank_id
            if first.get(r) != dev(i, j, "rank_id"):
                continue  # out of range or duplicate: reported already
            pos = bisect.bisect_right(ordered, low)
            intruder = next((q for q in ordered[pos : bisect.bisect_left(ordered, r)] if owner[q] != i), None)
            if intruder is None:
                continue
            k = owner[intruder]
            yield error(
                dev(i, j, "rank_id"),
                "rank_id_interleaved",
                f'rank_id {r} interleaves with server_list[{k}] ("{t.server_list[k].server_id}"): its '
                f"rank {intruder} at {first[intruder]} lies between this server's ranks {low} and {r}; "
                "each server's ranks must be one contiguous block (e.g. 0-3 on one server, 4-7 on the next)",
            )


def _rank_order(t: RankTable, owner: dict[int, int]) -> Iterator[Diagnostic]:
    by_server: dict[int, list[int]] = {}
    for rank, i in owner.items():
        by_server.setdefault(i, []).append(rank)
    blocks = [(i, min(by_server[i]), max(by_server[i])) for i in sorted(by_server)]
    for (a, a_low, a_high), (b, b_low, b_high) in pairwise(blocks):
        if b_low < a_high:
            yield warning(
                srv(b),
                "rank_order",
                f"ranks {b_low}-{b_high} come before {srv(a)}'s ranks "
                f"{a_low}-{a_high}: number ranks by server then device; MindIE takes server_list[0] "
                "as the master, which must hold rank 0",
            )
