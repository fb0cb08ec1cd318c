"""Causes from every server put together: who failed first, who are its victims, and the links
to what discovery and the ping matrix know. Pure.

* Each cause is placed: rank -> server and device (launch plan / rank table), device IP ->
  rank, and its log time corrected by its server's clock offset (server clock minus console
  clock, as the launch measures it).
* "First" is the earliest cause that is not a symptom (timeouts, wrappers); when all are
  symptoms, the earliest of those, preferring one that names its peer. Without log times, the
  ranks' exit times from the run record order them.
* Causes whose text is the same but for numbers and host names (the same error on many
  ranks) fold into one cause that keeps every rank and server. When that cause comes first and
  is not a peer/timeout kind, its ranks failed independently for one common reason: none of
  them is the victim of another.
* Victims are the other ranks whose causes are symptoms.
* A socket timeout between two ranks is shown next to the last ping of exactly that device
  pair, or "never tested" with the command that tests it.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError
from ..inventory import Device, Inventory
from ..pingresults import PingMatrix, ProbeResult
from ..planning.ping import ping_command
from ..targets import check_target
from .model import Cause, Diagnosis, Link, LinkKind, RankPlace, fold_ints

# a rank waiting on another (a timeout): a symptom, and the same text on many ranks is still
# one rank's fault
WAITS = frozenset(
    {
        "socket_timeout",
        "c10d_timeout",
        "gloo_timeout",
        "hccl_exec_timeout",
        "rendezvous_missing_rank",
        "topo_exchange_timeout",
    }
)
SYMPTOMS = WAITS | {"hccl_error", "unknown_error"}
PEER_KINDS = WAITS | {"stalled_peer"}
NUMBER_RE = re.compile(r"\d+")
FOLD_LINES = 4


def is_symptom(c: Cause) -> bool:
    return c.generic or c.cause in SYMPTOMS


class Places:
    """Where each rank ran, found by rank, by device IP and by (server, device)."""

    def __init__(self, places: Iterable[RankPlace]) -> None:
        self.by_rank = {p.rank: p for p in places}
        self.by_ip = {p.device_ip: p for p in self.by_rank.values() if p.device_ip}
        self.by_dev = {(p.server, p.device_id): p for p in self.by_rank.values()}

    def place(self, c: Cause) -> None:
        here = self.by_rank.get(c.rank) if c.rank is not None else None
        if here is None and c.local_ip:
            here = self.by_ip.get(c.local_ip)
        if here is None and c.server and c.device_id is not None:
            here = self.by_dev.get((c.server, c.device_id))
        if here is None and c.cause == "port_in_use":
            here = next((self.by_ip[ip] for ip in c.ips if ip in self.by_ip), None)
        if here is not None:
            c.rank = here.rank if c.rank is None else c.rank
            c.server = c.server or here.server
            c.device_id = here.device_id if c.device_id is None else c.device_id
            c.local_ip = c.local_ip or here.device_ip
        there = self.by_rank.get(c.remote_rank) if c.remote_rank is not None else None
        if there is None and c.remote_ip:
            there = self.by_ip.get(c.remote_ip)
        if there is not None:
            c.remote_rank = there.rank if c.remote_rank is None else c.remote_rank
            c.remote_server = there.server
            c.remote_device_id = there.device_id
            c.remote_ip = c.remote_ip or there.device_ip


def _order(c: Cause, i: int, exits: Mapping[int, float]) -> tuple[Any, ...]:
    t = c.corrected_ts if c.corrected_ts is not None else exits.get(c.rank) if c.rank is not None else None
    return (t is None, t or 0.0, c.remote_rank is None, i)


def pick_first(causes: list[Cause], exits: Mapping[int, float]) -> int | None:
    if not causes:
        return None
    roots = [i for i, c in enumerate(causes) if not is_symptom(c)]
    pool = roots or [i for i, c in enumerate(causes) if c.cause != "unknown_error"] or list(range(len(causes)))
    return min(pool, key=lambda i: _order(causes[i], i, exits))


def _ranks_text(ranks: list[int]) -> str:
    return ("rank " if len(ranks) == 1 else "ranks ") + ",".join(map(str, ranks))


def _shape(c: Cause, hosts: list[str]) -> tuple[Any, ...]:
    """What two ranks' causes share when they show the same error: the text with host names
    and numbers (ranks, devices, IPs, pids, times) blanked."""
    text = c.title
    for h in hosts:
        text = text.replace(h, "<host>")
    return (c.cause, c.rule, c.code, NUMBER_RE.sub("#", text))


def _fold_same(causes: list[Cause], places: Places, exits: Mapping[int, float]) -> tuple[list[Cause], list[int]]:
    """Causes of different ranks with the same shape, folded into the earliest of them (see the
    module docstring); and, for each cause given, the index of the cause it went into."""
    hosts = sorted(
        {h for c in causes for h in (c.server, c.fields.get("host")) if h}
        | {p.server for p in places.by_rank.values()},
        key=len,
        reverse=True,
    )
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(causes):
        foldable = c.rank is not None and c.cause != "socket_timeout" and c.remote_rank is None and c.remote_ip is None
        groups[_shape(c, hosts) if foldable else ("one", i)].append(i)
    out: list[Cause] = []
    remap = [0] * len(causes)
    for members in sorted(groups.values(), key=lambda m: m[0]):
        ranks = {causes[i].rank for i in members}
        if len(ranks) < 2:  # one rank's lines are already folded by classify
            for i in members:
                remap[i] = len(out)
                out.append(causes[i])
            continue
        members = sorted(members, key=lambda i: _order(causes[i], i, exits))
        rep = causes[members[0]]
        others = [causes[i] for i in members[1:]]
        rep.fold_ranks = sorted(r for r in ranks if r is not None)
        rep.fold_servers = list(dict.fromkeys(c.server for c in (rep, *others) if c.server))
        rep.count += sum(c.count for c in others)
        for c in others:
            if len(rep.lines) < FOLD_LINES and c.lines:
                rep.lines.append(c.lines[0])
        times = [t for t in (c.corrected_ts for c in (rep, *others)) if t is not None]
        rep.corrected_ts = min(times) if times else None
        for i in members:
            remap[i] = len(out)
        out.append(rep)
    return out, remap


def _end(server: str | None, device: int | None, rank: int | None = None) -> str:
    text = f"rank {rank} " if rank is not None else ""
    where = " ".join(p for p in (server or "?", f"dev {device}" if device is not None else "") if p)
    return f"{text}({where})" if text else where


def _same(host: str, server: str | None) -> bool:
    return server is not None and host == server


def _pair_results(ping: PingMatrix, a: tuple[str, int], b: tuple[str, int]) -> list[ProbeResult]:
    out = []
    for r in ping.results:
        p = r.probe
        src = (p.src_host, p.src_server_id, p.src_device)
        dst = (p.dst_host, p.dst_server_id, p.dst_device)
        for x, y in ((a, b), (b, a)):
            if (x[0] in src[:2] and x[1] == src[2]) and (y[0] in dst[:2] and y[1] == dst[2]):
                out.append(r)
    return out


def _ping_text(r: ProbeResult) -> str:
    p = r.probe
    head = f"{p.src_host} dev {p.src_device} → {p.dst_host} dev {p.dst_device}"
    if r.status == "skipped":
        return f"{head}: not run ({'; '.join(r.errors) or 'skipped'})"
    if r.loss_pct is not None and r.status in ("ok", "loss", "unreachable"):
        return f"{head}: {r.loss_pct:.2f} % loss" + ("" if r.status != "unreachable" else " (unreachable)")
    return f"{head}: {r.status}"


def _ssh(server: str, command: str) -> str | None:
    """``ssh SERVER COMMAND`` to copy and paste (``command`` already quoted), the server quoted;
    None for a name that is no SSH target (from a received rank table or a server's output)."""
    try:
        check_target(server)
    except InputError:
        return None
    return f"ssh {shlex.quote(server)} {command}"


def _card_link(
    kind: LinkKind,
    i: int,
    card: tuple[str | None, int | None],
    message: str,
    *,
    status: str | None = None,
    check: str | None = None,
    peer: tuple[str, int] | None = None,
) -> Link:
    """A link about one card (``host``, ``device``), or a pair with ``peer``; ``check`` is the
    command that reads it now on the card's server (``ssh HOST CHECK``, quoted)."""
    host, device = card
    return Link(
        kind=kind,
        cause_index=i,
        src_host=host,
        src_device=device,
        dst_host=peer[0] if peer else None,
        dst_device=peer[1] if peer else None,
        status=status,
        message=message,
        command=_ssh(host, check) if host and check else None,
    )


def _hccn_query(device: int, what: str) -> str:
    """``hccn_tool -i DEVICE WHAT -g``: what discovery read of that card."""
    return shlex.join(["hccn_tool", "-i", str(device), what, "-g"])


def _socket_links(i: int, c: Cause, ping: PingMatrix | None, places: Places) -> list[Link]:
    if c.server is None or c.device_id is None or c.remote_server is None or c.remote_device_id is None:
        return []
    a, b = (c.server, c.device_id), (c.remote_server, c.remote_device_id)
    tested = [r for r in _pair_results(ping, a, b) if r.status != "skipped"] if ping else []
    if tested:
        return [
            Link(
                kind="ping",
                cause_index=i,
                message=_ping_text(r),
                src_host=r.probe.src_host,
                src_device=r.probe.src_device,
                dst_host=r.probe.dst_host,
                dst_device=r.probe.dst_device,
                status=r.status,
                loss_pct=r.loss_pct,
                command=r.command,
            )
            for r in tested
        ]
    remote_ip = c.remote_ip or (places.by_rank[c.remote_rank].device_ip if c.remote_rank in places.by_rank else None)
    check = ping_command(c.device_id, remote_ip) if remote_ip else None
    message = f"{_end(*a)} → {_end(*b)}: never tested — ping this pair"
    return [_card_link("ping_untested", i, a, message, check=check, peer=b)]


def _ip_links(i: int, c: Cause, inv: Inventory, dev: Device | None) -> list[Link]:
    """``ranktable_ip_mismatch``: the first card discovery saw with either address, or the card."""
    addresses, said = (c.fields.get("actual_ip"), c.fields.get("expected_ip")), c.fields.get("expected_ip", "?")
    for s in inv.servers:
        for d in s.devices:
            if (d.device_ip and d.device_ip in addresses) or (dev is d):
                message = f"discovery: {s.host} dev {d.device_id} has {d.device_ip}; the rank table says {said}"
                check = _hccn_query(d.device_id, "-ip")
                return [_card_link("discovery_ip", i, (s.host, d.device_id), message, status=d.device_ip, check=check)]
    return []


def _tls_links(i: int, inv: Inventory) -> list[Link]:
    """``tls_mismatch``: discovery's TLS findings, else the TLS states it read, when they differ."""
    out = [
        _card_link("tls", i, (f.where.host, f.where.device), f"discovery: {f.message}")
        for f in inv.findings
        if "tls" in f.code
    ]
    if not out:
        states = defaultdict(list)
        for s in inv.servers:
            for d in s.devices:
                if d.tls is not None:
                    states[d.tls].append(f"{s.host}:{d.device_id}")
        if len(states) > 1:
            each = "; ".join(f"{'on' if k else 'off'} on {', '.join(v[:6])}" for k, v in sorted(states.items()))
            out.append(_card_link("tls", i, (None, None), f"discovery: TLS {each}"))
    return out


def _inventory_links(i: int, c: Cause, inv: Inventory) -> list[Link]:
    server = inv.server(c.server) if c.server else None
    dev = server.device(c.device_id) if server and c.device_id is not None else None
    if c.cause == "ranktable_ip_mismatch":
        return _ip_links(i, c, inv, dev)
    if c.cause == "tls_mismatch":
        return _tls_links(i, inv)
    if dev is None or not server:
        return []
    card = host, device = server.host, dev.device_id
    if c.cause in ("port_in_use", "set_device_failed", "device_oom"):
        pids = ", ".join(map(str, dev.busy_pids))
        message = (
            f"npu-smi: {host} dev {device} is used by pid {pids}"
            if pids
            else f"npu-smi at discovery: no process on {host} dev {device}"
        )
        return [_card_link("npu_processes", i, card, message, status=pids or None, check="npu-smi info")]
    if c.cause in ("link_down", "socket_timeout") and dev.link and (c.cause == "link_down" or dev.link.upper() != "UP"):
        message = f"discovery: {host} dev {device} link {dev.link}"
        return [_card_link("link_state", i, card, message, status=dev.link, check=_hccn_query(device, "-link"))]
    return []


def _missing_peers(causes: list[Cause], places: Places) -> dict[int, list[int]]:
    """Remote ranks that two or more ranks timed out on, and that logged no link error."""
    waiting: dict[int, set[int]] = defaultdict(set)
    for c in causes:
        if c.cause == "socket_timeout" and c.remote_rank is not None and c.rank is not None:
            waiting[c.remote_rank].add(c.rank)
    reported = {c.rank for c in causes if c.cause == "socket_timeout"}
    return {r: sorted(w) for r, w in waiting.items() if len(w) >= 2 and r not in reported}


def _pair_key(c: Cause) -> frozenset[tuple[str | None, int | None]]:
    return frozenset({(c.server, c.device_id), (c.remote_server, c.remote_device_id)})


def _headline(
    first: Cause | None,
    victims: list[int],
    links: list[Link],
    missing: dict[int, list[int]],
    places: Places,
    causes: list[Cause],
) -> str:
    if first is None:
        return "no known failure found in the logs"
    tail = f"; {len(victims)} other rank(s) failed after it" if victims else ""
    if missing and is_symptom(first):
        peer, waiters = max(missing.items(), key=lambda kv: len(kv[1]))
        p = places.by_rank.get(peer)
        where = _end(p.server, p.device_id) if p else "?"
        return (
            f"{_ranks_text(waiters)} timed out waiting for rank {peer} ({where}), which never "
            f"connected: check that rank's own log and whether it started"
        )
    if first.cause == "socket_timeout" and first.remote_server is not None:
        pair = (
            f"{_end(first.server, first.device_id, first.rank)} could not connect to "
            f"{_end(first.remote_server, first.remote_device_id, first.remote_rank)}"
        )
        # the pair's links hang on whichever of its causes came first (their hosts may be SSH
        # names, not the server_ids the causes carry): find them by cause
        same = {i for i, c in enumerate(causes) if c.cause == "socket_timeout" and _pair_key(c) == _pair_key(first)}
        idx = [lk for lk in links if lk.kind in ("ping", "ping_untested") and lk.cause_index in same]
        bad = [lk for lk in idx if lk.kind == "ping" and lk.status != "ok"]
        if bad:
            return f"{pair}: last ping of that pair: {bad[0].message.split(': ', 1)[1]}{tail}"
        if idx and idx[0].kind == "ping":
            return f"{pair}; the last ping of that pair was clean: check the peer's own log{tail}"
        return f"{pair}; that pair was never pinged: ping it{tail}"
    if len(first.fold_ranks) > 1 and first.cause not in PEER_KINDS:
        n, servers = len(first.fold_ranks), len(first.fold_servers)
        on = f"{n} on {servers} server{'s' if servers != 1 else ''}"
        who = (
            f"every rank ({on})"
            if places.by_rank and set(first.fold_ranks) >= set(places.by_rank)
            else f"ranks {fold_ints(first.fold_ranks)} ({on})"
        )
        return f"{who} failed the same way: {first.title}; next: {first.next_check}{tail}"
    if first.cause == "stalled_peer":  # its title names the server and the ranks
        return f"{first.title}; next: {first.next_check}"
    where = first.where()
    return f"{first.title}" + (f" ({where})" if where else "") + f"; next: {first.next_check}{tail}"


def _dedupe(causes: list[Cause]) -> list[Cause]:
    """The same log line seen twice (a rank's stderr and the plog file fetched as evidence)."""
    seen: dict[tuple[Any, ...], Cause] = {}
    out = []
    for c in causes:
        key = (c.rule, c.rank, c.ts, tuple(sorted(c.fields.items())), c.lines[0].text if c.lines else "")
        if key in seen:
            first = seen[key]
            first.server = first.server or c.server
            if len(first.lines) < 6:
                first.lines += [ln for ln in c.lines if ln.source != first.lines[0].source][:1]
            continue
        seen[key] = c
        out.append(c)
    return out


def _fold_link_rows(causes: list[Cause]) -> list[Cause]:
    """A "wait socket establish timeout" line and the LINK_ERROR_INFO rows HCCL prints with it
    are one failure: the rows name the peers, the line the timeout."""
    out = []
    for c in causes:
        src = c.lines[0].source if c.lines else None
        rows = [
            d
            for d in causes
            if d is not c
            and d.cause == "socket_timeout"
            and d.remote_rank is not None
            and (d.rank == c.rank or c.rank is None)
            and d.lines
            and d.lines[0].source == src
        ]
        if c.cause != "socket_timeout" or c.remote_rank is not None or not rows:
            out.append(c)
            continue
        for d in rows:
            if c.ts is not None:
                d.ts = c.ts if d.ts is None else min(d.ts, c.ts)
            d.timeout_s = d.timeout_s if d.timeout_s is not None else c.timeout_s
            d.device_id = d.device_id if d.device_id is not None else c.device_id
        rows[0].lines = sorted([*c.lines, *rows[0].lines], key=lambda ln: ln.line_no)[:6]
        rows[0].count += c.count
    return out


def diagnose(
    causes: list[Cause],
    *,
    places: Iterable[RankPlace] = (),
    offsets: Mapping[str, float] | None = None,
    exits: Mapping[int, float] | None = None,
    inventory: Inventory | None = None,
    ping: PingMatrix | None = None,
) -> Diagnosis:
    """One diagnosis from the causes of every log of a job (see the module docstring)."""
    where = Places(places)
    offsets = offsets or {}
    exits = exits or {}
    causes = _dedupe(_fold_link_rows([c.model_copy(deep=True) for c in causes]))
    for c in causes:
        where.place(c)
        if c.ts is not None:
            c.corrected_ts = c.ts - offsets.get(c.server or "", 0.0)
    links: list[Link] = []
    seen_pairs: set[frozenset[tuple[str | None, int | None]]] = set()
    for i, c in enumerate(causes):
        if c.cause == "socket_timeout":
            key = _pair_key(c)
            if key in seen_pairs:
                continue
            seen_pairs.add(key)
            links += _socket_links(i, c, ping, where)
        if inventory is not None:
            links += _inventory_links(i, c, inventory)
    missing = _missing_peers(causes, where)
    for peer, waiters in missing.items():
        p = where.by_rank.get(peer)
        idx = next(i for i, c in enumerate(causes) if c.remote_rank == peer)
        links.append(
            Link(
                kind="missing_peer",
                cause_index=idx,
                dst_host=p.server if p else None,
                dst_device=p.device_id if p else None,
                message=f"{_ranks_text(waiters)} all timed out on rank {peer}, which logged no link error of its own",
            )
        )
    causes, remap = _fold_same(causes, where, exits)
    for link in links:
        link.cause_index = remap[link.cause_index]
    first = pick_first(causes, exits)
    fc = causes[first] if first is not None else None
    pair: set[int | None] = {*fc.own_ranks(), fc.remote_rank} if fc else set()
    victims = sorted({r for c in causes if is_symptom(c) for r in c.own_ranks()} - pair)
    notes = (
        []
        if ping is not None or not seen_pairs
        else ["no ping results given (--ping FILE): socket timeouts are not compared with a ping of the pair"]
    )
    return Diagnosis(
        headline=_headline(fc, victims, links, missing, where, causes),
        first=first,
        causes=causes,
        victims=victims,
        links=links,
        notes=notes,
    )
