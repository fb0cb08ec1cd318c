"""Ping probe planner: discovered servers + a pattern -> the exact ``hccn_tool -ping`` probes.

Pure: the sweep engine (``console.ops``) runs ``Probe.command`` on ``Probe.src_host`` and
feeds each output to ``console.core.pingresults.ProbeResult.from_output``.

Patterns (ascend.md §1.5):
  cross     every device to every device of every OTHER server (the MindIE guide's check)
  rail      device i to device i of every other server
  pairwise  each cross-server unordered pair once, in rounds where a device is in at most
            one probe, so concurrent probes don't disturb each other (see ``rounds.py``)
  sample    each device pings K random devices of other servers, one per round, seeded;
            every server pair is covered once K reaches ``sample.rounds_to_cover``
  custom    pairs listed in a file: ``HOST:DEV HOST:DEV`` or ``HOST DEV HOST DEV`` per line
A plan keeps its probes in a ``ProbeTable`` (``probetable.py``): compact arrays, a ``Probe``
built only when read, so a million probes plan in well under two seconds.
Never planned: unreachable servers, devices without a (valid) IP, devices whose address
family differs from the cluster's, and the two dies of one A3 card (they cannot reach each
other by RoCE ping). Each of these is returned as a ``Skip`` with its reason.
"""

from __future__ import annotations

import ipaddress
import shlex
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from ..errors import InputError
from ..inventory import Inventory, Server
from .custom import PairLine, parse_custom_pairs
from .probetable import NO_ROUND, End, ProbeTable
from .rounds import pack_rounds, schedule_pairwise
from .sample import SampleInfo, plan_sample

if TYPE_CHECKING:
    from ..pingresults import ProbeResult

__all__ = [
    "PATTERNS",
    "PingPattern",
    "PingPlan",
    "Probe",
    "ProbeTable",
    "Skip",
    "default_pattern",
    "parse_custom_pairs",
    "ping_command",
    "plan_ping",
    "plan_retry",
    "schedule_pairwise",
]

PingPattern = Literal["cross", "rail", "pairwise", "sample", "custom"]
PATTERNS: tuple[str, ...] = ("cross", "rail", "pairwise", "sample", "custom")
CROSS_MAX_SERVERS = 16  # above this many servers the default pattern is rail


def default_pattern(servers: int) -> PingPattern:
    """``cross`` up to 16 servers (every card pair: the MindIE guide's check), ``rail`` above
    (cross grows with the square of the cards: 64 servers x 8 cards = 258,048 probes)."""
    return "cross" if servers <= CROSS_MAX_SERVERS else "rail"


A3_DIES = "the two dies of one A3 card cannot reach each other by RoCE ping"


def ping_command(device: int, ip: str, ipv6: bool = False) -> str:
    """The exact command: ``hccn_tool -i N -ping -g address IP`` (``-inet6 ... ipv6_address``)."""
    q = shlex.quote
    if ipv6:
        return f"hccn_tool -i {q(str(device))} -ping -inet6 -g ipv6_address {q(ip)}"
    return f"hccn_tool -i {q(str(device))} -ping -g address {q(ip)}"


class Probe(BaseModel):
    """One ping: device ``src_device`` of ``src_host`` pings ``dst_ip`` (a device of dst_host)."""

    model_config = ConfigDict(frozen=True)

    src_host: str
    src_server_id: str | None = None
    src_device: int
    src_ip: str
    dst_host: str
    dst_server_id: str | None = None
    dst_device: int
    dst_ip: str
    ipv6: bool = False
    round: int | None = Field(None, description="Pairwise round (probes of one round run together)")

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects decorated properties
    @property
    def command(self) -> str:
        return ping_command(self.src_device, self.dst_ip, self.ipv6)

    @property
    def key(self) -> tuple[str, int, str, int]:
        """Identity of the probe (direction included)."""
        return (self.src_host, self.src_device, self.dst_host, self.dst_device)


class Skip(BaseModel):
    """Something not probed and why: a server (device None), a device, or one pair."""

    host: str
    device: int | None = None
    dst_host: str | None = None
    dst_device: int | None = None
    reason: str


class PingPlan:
    """The probes of a sweep (a ``ProbeTable``: a ``Sequence[Probe]``), what was left out, and
    for the sample pattern its parameters and coverage."""

    def __init__(
        self,
        pattern: str,
        hosts: Iterable[str] = (),
        probes: Iterable[Probe] = (),
        skipped: Iterable[Skip] = (),
        sample: SampleInfo | None = None,
    ) -> None:
        self.pattern = pattern
        self.hosts: list[str] = list(hosts)
        self.probes: ProbeTable = ProbeTable.of(probes)
        self.skipped: list[Skip] = list(skipped)
        self.sample = sample

    def __repr__(self) -> str:
        return f"PingPlan({self.pattern!r}, {len(self.hosts)} hosts, {len(self.probes)} probes)"

    def rounds(self) -> list[list[Probe]]:
        """Probes grouped by round, in order. Unscheduled probes form one batch (first)."""
        return [[self.probes.probe(i) for i in batch] for batch in self.probes.batches()]


def _card(server: Server, device_id: int, card: int | None) -> int:
    if card is not None:
        return card
    chips = server.chips_per_card or (2 if server.product == "A3" else 1)
    return device_id // max(chips, 1)


def _server_ends(server: Server) -> tuple[list[End], list[Skip]]:
    if not server.reachable:
        why = f": {server.error}" if server.error else ""
        return [], [Skip(host=server.host, reason=f"server unreachable{why}")]
    ends: list[End] = []
    skips: list[Skip] = []
    for dev in sorted(server.devices, key=lambda d: d.device_id):
        if not dev.device_ip:
            skips.append(Skip(host=server.host, device=dev.device_id, reason="no device IP"))
            continue
        try:
            addr = ipaddress.ip_address(dev.device_ip.strip())
        except ValueError:
            reason = f"device IP {dev.device_ip!r} is not an IP address"
            skips.append(Skip(host=server.host, device=dev.device_id, reason=reason))
            continue
        card = _card(server, dev.device_id, dev.card)
        ends.append(End(server.host, server.server_id, dev.device_id, str(addr), addr.version == 6, card))
    return ends, skips


def _endpoints(inventory: Inventory) -> tuple[list[list[End]], list[Skip]]:
    """Pingable devices per reachable server (inventory order; a list per server, maybe
    empty), and what was left out. One address family for the whole cluster (HCCL requires
    it): the minority is skipped."""
    groups: list[list[End]] = []
    skips: list[Skip] = []
    for server in inventory.servers:
        ends, why = _server_ends(server)
        skips += why
        if server.reachable:
            groups.append(ends)
    v6 = sum(e.ipv6 for g in groups for e in g)
    v4 = sum(not e.ipv6 for g in groups for e in g)
    use_v6 = v6 > v4
    for group in groups:
        for end in [e for e in group if e.ipv6 != use_v6]:
            family, cluster = ("IPv6", "IPv4") if end.ipv6 else ("IPv4", "IPv6")
            reason = f"{family} device IP in an {cluster} cluster (HCCL needs one family)"
            skips.append(Skip(host=end.host, device=end.device, reason=reason))
            group.remove(end)
    return groups, skips


def _ids(table: ProbeTable, groups: list[list[End]]) -> list[list[int]]:
    return [[table.end_id(e) for e in group] for group in groups]


def _extend(table: ProbeTable, src: int, dsts: array[int], skip: int) -> None:
    """Probes from ``src`` to every end of ``dsts`` but the one at ``skip`` (-1: none), in
    C-speed array operations (a million probes plan in a fraction of a second)."""
    n = len(dsts) - (skip >= 0)
    table.src.extend(array("I", [src]) * n)
    if skip < 0:
        table.dst.extend(dsts)
    else:
        table.dst.extend(dsts[:skip])
        table.dst.extend(dsts[skip + 1 :])
    table.rounds.extend(array("i", [NO_ROUND]) * n)


def _cross(table: ProbeTable, groups: list[list[End]]) -> None:
    ids = _ids(table, groups)
    for g, group in enumerate(ids):
        others = array("I", [d for h, other in enumerate(ids) if h != g for d in other])
        for s in group:
            _extend(table, s, others, -1)


def _rail(table: ProbeTable, groups: list[list[End]], inventory: Inventory) -> list[Skip]:
    skips: list[Skip] = []
    servers = [s for s in inventory.servers if s.reachable]
    known = [{d.device_id for d in s.devices} for s in servers]
    ids = _ids(table, groups)
    by_dev = [
        {e.device: i for e, i in reversed(list(zip(group, gids, strict=True)))}  # first wins
        for group, gids in zip(groups, ids, strict=True)
    ]
    # per device number: the servers that have it pingable, and its end there (server order)
    rails: dict[int, tuple[array[int], dict[int, int]]] = {}
    for dev in sorted({dev for peer in by_dev for dev in peer}):
        holders = [h for h, peer in enumerate(by_dev) if dev in peer]
        rails[dev] = (array("I", [by_dev[h][dev] for h in holders]), {h: n for n, h in enumerate(holders)})
    missing = {dev: [h for h, has in enumerate(known) if dev not in has] for dev in rails}
    for g, group in enumerate(groups):
        for src, s in zip(group, ids[g], strict=True):
            dsts, where = rails[src.device]
            _extend(table, s, dsts, where.get(g, -1))
            for h in missing[src.device]:
                if h != g:
                    host = servers[h].host
                    skips.append(
                        Skip(
                            host=src.host,
                            device=src.device,
                            dst_host=host,
                            reason=f"no device {src.device} on {host} (rail)",
                        )
                    )
    return skips


def _pairwise(table: ProbeTable, groups: list[list[End]]) -> None:
    for n, batch in enumerate(schedule_pairwise(groups)):
        for a, b in batch:
            table.add(table.end_id(a), table.end_id(b), n)


def plan_ping(
    inventory: Inventory,
    pattern: PingPattern = "cross",
    *,
    custom_text: str | None = None,
    custom_path: str | None = None,
    sample_k: int | None = None,
    seed: int = 0,
) -> PingPlan:
    """Probes for ``pattern`` over the reachable servers of ``inventory``.

    ``custom`` needs ``custom_text`` (the pair file's content; ``custom_path`` names it in
    errors). ``sample`` takes ``sample_k`` probes per device (default: the fewest that cover
    every server pair) drawn with ``seed``. Raises ``InputError`` for an unknown pattern, a
    bad pair file line or a ``sample_k`` below 1.
    """
    if pattern not in PATTERNS:
        raise InputError(f"unknown ping pattern {pattern!r}", hint=f"use one of: {', '.join(PATTERNS)}")
    groups, skips = _endpoints(inventory)
    hosts = [s.host for s in inventory.servers]
    table = ProbeTable()
    sample: SampleInfo | None = None
    if pattern == "cross":
        _cross(table, groups)
    elif pattern == "rail":
        skips += _rail(table, groups, inventory)
    elif pattern == "pairwise":
        _pairwise(table, groups)
    elif pattern == "sample":
        sample = plan_sample(table, _ids(table, groups), sample_k, seed)
    else:
        if custom_text is None:
            raise InputError(
                "the custom pattern needs a pair file",
                hint="one pair a line: `HOST:DEV HOST:DEV` or `HOST DEV HOST DEV`",
            )
        pairs = parse_custom_pairs(custom_text, custom_path)
        probes, more = _custom(inventory, groups, skips, pairs, custom_path)
        table = ProbeTable.of(probes)
        skips += more
    return PingPlan(pattern=pattern, hosts=hosts, probes=table, skipped=skips, sample=sample)


def _custom(
    inventory: Inventory,
    groups: list[list[End]],
    left_out: list[Skip],
    lines: list[tuple[PairLine, PairLine]],
    path: str | None,
) -> tuple[list[Probe], list[Skip]]:
    ends = {(e.host, e.device): e for group in groups for e in group}
    why_out = {(s.host, s.device): s.reason for s in left_out}
    probes: dict[tuple[str, int, str, int], Probe] = {}
    skips: list[Skip] = []
    for left, right in lines:
        src_host, dst_host = _resolve(inventory, left, path), _resolve(inventory, right, path)
        if (src_host, left.device) == (dst_host, right.device):
            raise InputError(f"line {left.line}: a device cannot ping itself", f"{left.host}:{left.device}", path=path)
        src, dst = ends.get((src_host, left.device)), ends.get((dst_host, right.device))
        why = _left_out((src_host, left.device), (dst_host, right.device), why_out=why_out)
        if src is None or dst is None or why is not None:
            why = why or "not pingable"
        elif src.host == dst.host and src.card == dst.card:
            why = A3_DIES
        else:
            probes.setdefault((src_host, left.device, dst_host, right.device), _probe(src, dst))
            continue
        skips.append(
            Skip(
                host=src_host,
                device=left.device,
                dst_host=dst_host,
                dst_device=right.device,
                reason=f"line {left.line}: {why}",
            )
        )
    return list(probes.values()), skips


def _probe(src: End, dst: End, round_: int | None = None) -> Probe:
    return Probe(
        src_host=src.host,
        src_server_id=src.server_id,
        src_device=src.device,
        src_ip=src.ip,
        dst_host=dst.host,
        dst_server_id=dst.server_id,
        dst_device=dst.device,
        dst_ip=dst.ip,
        ipv6=dst.ipv6,
        round=round_,
    )


def _left_out(*ends: tuple[str, int], why_out: dict[tuple[str, int | None], str]) -> str | None:
    """Why an end of a custom pair was left out by ``_endpoints`` (its server or device)."""
    for host, dev in ends:
        for key in ((host, None), (host, dev)):
            if key in why_out:
                return f"{host}:{dev}: {why_out[key]}"
    return None


def _resolve(inventory: Inventory, end: PairLine, path: str | None) -> str:
    server = inventory.server(end.host)
    if server is None:
        raise InputError(f"line {end.line}: unknown host {end.host!r}", "not among the discovered servers", path=path)
    if server.reachable and server.device(end.device) is None:
        raise InputError(
            f"line {end.line}: {server.host} has no device {end.device}",
            f"devices: {sorted(d.device_id for d in server.devices)}",
            path=path,
        )
    return server.host


RETRY_STATUSES = frozenset({"loss", "timeout", "unreachable", "link_down", "error"})


def plan_retry(results: Iterable[ProbeResult], *, include_skipped: bool = False) -> PingPlan:
    """A plan that re-runs only the failed or lossy probes (and, if asked, the skipped ones).

    Scheduled (pairwise) probes are re-packed into rounds where no device is used twice.
    """
    from ..pingstore import ResultTable

    wanted = set(RETRY_STATUSES) | ({"skipped"} if include_skipped else set())
    if isinstance(results, ResultTable):  # read the status column, not a million results
        table = results
        probes = [table.probes.probe(i) for i in range(len(table)) if table.is_set(i) and table.status_of(i) in wanted]
    else:
        probes = [r.probe for r in results if r.status in wanted]
    hosts = list(dict.fromkeys(h for p in probes for h in (p.src_host, p.dst_host)))
    if any(p.round is not None for p in probes):
        ends = [((p.src_host, p.src_device), (p.dst_host, p.dst_device)) for p in probes]
        numbers = pack_rounds(ends)
        renumbered = (p.model_copy(update={"round": n}) for p, n in zip(probes, numbers, strict=True))
        probes = sorted(renumbered, key=lambda p: p.round or 0)
    return PingPlan(pattern="retry", hosts=hosts, probes=probes)
