"""Ping probe planner: discovered servers + a pattern -> the exact ``hccn_tool -ping`` probes.

Pure: the sweep engine (``console.ops``) runs ``Probe.command`` on ``Probe.src_host`` and
feeds each output to ``console.core.pingresults.ProbeResult.from_output``.

Patterns (ascend.md §1.5):
  cross     every device to every device of every OTHER server (the MindIE guide's check)
  rail      device i to device i of every other server
  pairwise  each cross-server unordered pair once, in rounds where a device is in at most
            one probe, so concurrent probes don't disturb each other (see ``rounds.py``)
  custom    pairs listed in a file: ``HOST:DEV HOST:DEV`` or ``HOST DEV HOST DEV`` per line
Never planned: unreachable servers, devices without a (valid) IP, devices whose address
family differs from the cluster's, and the two dies of one A3 card (they cannot reach each
other by RoCE ping). Each of these is returned as a ``Skip`` with its reason.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, computed_field

from ..errors import InputError
from ..inventory import Inventory, Server
from .custom import PairLine, parse_custom_pairs
from .rounds import pack_rounds, schedule_pairwise

if TYPE_CHECKING:
    from ..pingresults import ProbeResult

__all__ = [
    "PATTERNS", "PingPattern", "PingPlan", "Probe", "Skip", "parse_custom_pairs", "ping_command",
    "plan_ping", "plan_retry", "schedule_pairwise",
]

PingPattern = Literal["cross", "rail", "pairwise", "custom"]
PATTERNS: tuple[str, ...] = ("cross", "rail", "pairwise", "custom")
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

    @computed_field  # type: ignore[prop-decorator]
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


class PingPlan(BaseModel):
    pattern: Literal["cross", "rail", "pairwise", "custom", "retry"]
    hosts: list[str] = Field(default_factory=list, description="All servers, inventory order")
    probes: list[Probe] = Field(default_factory=list)
    skipped: list[Skip] = Field(default_factory=list)

    def rounds(self) -> list[list[Probe]]:
        """Probes grouped by round, in order. Unscheduled probes form one batch."""
        if not self.probes:
            return []
        if all(p.round is None for p in self.probes):
            return [list(self.probes)]
        batches: dict[int, list[Probe]] = {}
        for p in self.probes:
            batches.setdefault(-1 if p.round is None else p.round, []).append(p)
        return [batches[n] for n in sorted(batches)]


class _End(NamedTuple):
    """A pingable device."""

    host: str
    server_id: str | None
    device: int
    ip: str
    ipv6: bool
    card: int


def _card(server: Server, device_id: int, card: int | None) -> int:
    if card is not None:
        return card
    chips = server.chips_per_card or (2 if server.product == "A3" else 1)
    return device_id // max(chips, 1)


def _server_ends(server: Server) -> tuple[list[_End], list[Skip]]:
    if not server.reachable:
        why = f": {server.error}" if server.error else ""
        return [], [Skip(host=server.host, reason=f"server unreachable{why}")]
    ends: list[_End] = []
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
        ends.append(_End(server.host, server.server_id, dev.device_id, str(addr),
                         addr.version == 6, card))
    return ends, skips


def _endpoints(inventory: Inventory) -> tuple[list[list[_End]], list[Skip]]:
    """Pingable devices per reachable server (inventory order; a list per server, maybe
    empty), and what was left out. One address family for the whole cluster (HCCL requires
    it): the minority is skipped."""
    groups: list[list[_End]] = []
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


def _probe(src: _End, dst: _End, round_: int | None = None) -> Probe:
    return Probe(
        src_host=src.host, src_server_id=src.server_id, src_device=src.device, src_ip=src.ip,
        dst_host=dst.host, dst_server_id=dst.server_id, dst_device=dst.device, dst_ip=dst.ip,
        ipv6=dst.ipv6, round=round_,
    )


def _cross(groups: list[list[_End]]) -> list[Probe]:
    return [
        _probe(src, dst)
        for g, group in enumerate(groups) for src in group
        for h, other in enumerate(groups) if h != g for dst in other
    ]


def _rail(groups: list[list[_End]], inventory: Inventory) -> tuple[list[Probe], list[Skip]]:
    probes: list[Probe] = []
    skips: list[Skip] = []
    servers = [s for s in inventory.servers if s.reachable]
    for g, group in enumerate(groups):
        for src in group:
            for h, (peer, other) in enumerate(zip(servers, groups, strict=True)):
                dst = next((e for e in other if e.device == src.device), None)
                if h == g:
                    continue
                if dst is not None:
                    probes.append(_probe(src, dst))
                elif peer.device(src.device) is None:
                    skips.append(Skip(host=src.host, device=src.device, dst_host=peer.host,
                                      reason=f"no device {src.device} on {peer.host} (rail)"))
    return probes, skips


def _pairwise(groups: list[list[_End]]) -> list[Probe]:
    return [_probe(a, b, n) for n, batch in enumerate(schedule_pairwise(groups)) for a, b in batch]


def plan_ping(
    inventory: Inventory,
    pattern: PingPattern = "cross",
    *,
    custom_text: str | None = None,
    custom_path: str | None = None,
) -> PingPlan:
    """Probes for ``pattern`` over the reachable servers of ``inventory``.

    ``custom`` needs ``custom_text`` (the pair file's content; ``custom_path`` names it in
    errors). Raises ``InputError`` for an unknown pattern or a bad pair file line.
    """
    if pattern not in PATTERNS:
        raise InputError(f"unknown ping pattern {pattern!r}",
                         hint=f"use one of: {', '.join(PATTERNS)}")
    groups, skips = _endpoints(inventory)
    hosts = [s.host for s in inventory.servers]
    if pattern == "cross":
        probes = _cross(groups)
    elif pattern == "rail":
        probes, more = _rail(groups, inventory)
        skips += more
    elif pattern == "pairwise":
        probes = _pairwise(groups)
    else:
        if custom_text is None:
            raise InputError("the custom pattern needs a pair file",
                             hint="one pair a line: `HOST:DEV HOST:DEV` or `HOST DEV HOST DEV`")
        pairs = parse_custom_pairs(custom_text, custom_path)
        probes, more = _custom(inventory, groups, skips, pairs, custom_path)
        skips += more
    return PingPlan(pattern=pattern, hosts=hosts, probes=probes, skipped=skips)


def _custom(
    inventory: Inventory, groups: list[list[_End]], left_out: list[Skip],
    lines: list[tuple[PairLine, PairLine]], path: str | None,
) -> tuple[list[Probe], list[Skip]]:
    ends = {(e.host, e.device): e for group in groups for e in group}
    why_out = {(s.host, s.device): s.reason for s in left_out}
    probes: dict[tuple[str, int, str, int], Probe] = {}
    skips: list[Skip] = []
    for left, right in lines:
        src_host, dst_host = _resolve(inventory, left, path), _resolve(inventory, right, path)
        if (src_host, left.device) == (dst_host, right.device):
            raise InputError(f"line {left.line}: a device cannot ping itself",
                             f"{left.host}:{left.device}", path=path)
        src, dst = ends.get((src_host, left.device)), ends.get((dst_host, right.device))
        why = _left_out((src_host, left.device), (dst_host, right.device), why_out=why_out)
        if src is None or dst is None or why is not None:
            why = why or "not pingable"
        elif src.host == dst.host and src.card == dst.card:
            why = A3_DIES
        else:
            probes.setdefault((src_host, left.device, dst_host, right.device), _probe(src, dst))
            continue
        skips.append(Skip(host=src_host, device=left.device, dst_host=dst_host, dst_device=right.device,
                          reason=f"line {left.line}: {why}"))
    return list(probes.values()), skips


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
        raise InputError(f"line {end.line}: unknown host {end.host!r}",
                         "not among the discovered servers", path=path)
    if server.reachable and server.device(end.device) is None:
        raise InputError(f"line {end.line}: {server.host} has no device {end.device}",
                         f"devices: {sorted(d.device_id for d in server.devices)}", path=path)
    return server.host


RETRY_STATUSES = frozenset({"loss", "timeout", "unreachable", "link_down", "error"})


def plan_retry(results: Iterable[ProbeResult], *, include_skipped: bool = False) -> PingPlan:
    """A plan that re-runs only the failed or lossy probes (and, if asked, the skipped ones).

    Scheduled (pairwise) probes are re-packed into rounds where no device is used twice.
    """
    wanted = set(RETRY_STATUSES) | ({"skipped"} if include_skipped else set())
    probes = [r.probe for r in results if r.status in wanted]
    hosts = list(dict.fromkeys(h for p in probes for h in (p.src_host, p.dst_host)))
    if any(p.round is not None for p in probes):
        ends = [((p.src_host, p.src_device), (p.dst_host, p.dst_device)) for p in probes]
        numbers = pack_rounds(ends)
        renumbered = (p.model_copy(update={"round": n}) for p, n in zip(probes, numbers, strict=True))
        probes = sorted(renumbered, key=lambda p: p.round or 0)
    return PingPlan(pattern="retry", hosts=hosts, probes=probes)
