"""Cluster-wide findings from an Inventory, folded like ``clush -b``.

Identical observations on many servers become one finding whose host is a NodeSet
(``127.0.0.[11-12]``); for values that should agree across the cluster (TLS switch,
versions, card counts) the majority value is stated once and the outliers are named.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from console.core.diagnostic import SEVERITY_ORDER, Diagnostic, Severity, diagnostic
from console.core.hosts import fold
from console.core.inventory import Device, Inventory, Server

_HEALTH_SEVERITY: dict[str, Severity] = {"warning": "warning", "alarm": "error", "critical": "error"}


def _fold_findings(raw: Iterable[tuple[Severity, str, str, str, int | None]]) -> list[Diagnostic]:
    """(severity, code, message, host, device) -> findings, hosts folded per identical message."""
    groups: dict[tuple[Severity, str, str, int | None], list[str]] = defaultdict(list)
    for sev, code, msg, host, dev in raw:
        hosts = groups[(sev, code, msg, dev)]
        if host not in hosts:
            hosts.append(host)
    return [diagnostic(sev, code, msg, host=fold(hosts), device=dev) for (sev, code, msg, dev), hosts in groups.items()]


def _disagreement(
    servers: list[Server], code: str, what: str, value: Callable[[Server], object], severity: Severity
) -> list[Diagnostic]:
    """One finding when servers disagree on a value: the majority once, each outlier named."""
    by_value: dict[object, list[str]] = defaultdict(list)
    for s in servers:
        v = value(s)
        if v is not None:
            by_value[v].append(s.host)
    if len(by_value) < 2:
        return []
    ordered = sorted(by_value.items(), key=lambda kv: -len(kv[1]))
    parts = [f"{v} on {fold(hosts)}" for v, hosts in ordered]
    outliers = [h for _, hosts in ordered[1:] for h in hosts]
    return [diagnostic(severity, code, f"{what} differs: " + "; ".join(parts), host=fold(outliers))]


def _tls_value(s: Server) -> object:
    values = {d.tls for d in s.devices if d.tls is not None}
    if not values:
        return None
    return values.pop() if len(values) == 1 else "mixed"


def _consistency(servers: list[Server]) -> list[Diagnostic]:
    out = _disagreement(servers, "tls_mismatch", "TLS switch", _tls_value, "error")
    out += _disagreement(servers, "driver_version_mismatch", "driver version", lambda s: s.driver_version, "warning")
    out += _disagreement(servers, "cann_version_mismatch", "CANN version", lambda s: s.cann_version, "warning")
    out += _disagreement(
        servers, "device_count_mismatch", "NPU device count", lambda s: len(s.devices) or None, "warning"
    )
    out += _disagreement(
        servers,
        "host_nic_mismatch",
        "host NIC name (HCCL_SOCKET_IFNAME, GLOO_SOCKET_IFNAME "
        "and TP_SOCKET_IFNAME must name the same NIC on every server)",
        lambda s: s.host_nic,
        "warning",
    )
    unknown = [s.host for s in servers if s.host_addresses and s.host_nic is None]
    if unknown:
        out.append(
            diagnostic(
                "warning",
                "host_nic_unknown",
                "no network interface holds the address the console reached "
                "(NAT or a jump host?): {host_ip} and {host_nic} are unknown",
                host=fold(unknown),
            )
        )
    for s in servers:  # TLS mixed inside one server
        tls = {d.device_id: d.tls for d in s.devices if d.tls is not None}
        if len(set(tls.values())) > 1:
            on = sorted(k for k, v in tls.items() if v == 1)
            out.append(
                diagnostic(
                    "error",
                    "tls_mismatch",
                    f"TLS switch differs between devices: enabled on {on}, disabled on the rest",
                    host=s.host,
                )
            )
    return out


def _duplicate_ips(servers: list[Server]) -> list[Diagnostic]:
    owners: dict[str, list[str]] = defaultdict(list)
    for s in servers:
        for d in s.devices:
            if d.device_ip:
                owners[d.device_ip].append(f"{s.host} device {d.device_id}")
    return [
        diagnostic(
            "error",
            "duplicate_device_ip",
            f"device IP {ip} is used by {', '.join(who)}",
            host=fold(sorted({w.split(" device ")[0] for w in who})),
        )
        for ip, who in owners.items()
        if len(who) > 1
    ]


@functools.lru_cache(maxsize=256)
def _netmask(netmask: str) -> ipaddress.IPv4Network | None:
    """An IPv4 netmask (``255.255.255.0`` or ``24``) as the network it masks, once per text."""
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{netmask}")
    except ValueError:
        return None


def _octet(text: str) -> bool:
    """As ``ipaddress`` takes an IPv4 octet: ASCII digits, 0-255, no leading zero."""
    return (text.isascii() and text.isdigit() and len(text) <= 3 and int(text) <= 255 and text[0] != "0") or text == "0"


def _network(ip: str, netmask: str) -> str | None:
    """``ip/netmask``'s network, as ``ipaddress.ip_interface(...).network`` says it (None if
    either is invalid). Dotted IPv4 addresses are masked by hand: ``ip_interface`` for each of
    8,192 cards was most of the findings' cost at 1,024 servers."""
    mask = _netmask(netmask)
    parts = ip.split(".")
    if mask is None or len(parts) != 4 or not all(_octet(p) for p in parts):
        try:
            return str(ipaddress.ip_interface(f"{ip}/{netmask}").network)
        except ValueError:
            return None
    value = int(parts[0]) << 24 | int(parts[1]) << 16 | int(parts[2]) << 8 | int(parts[3])
    net = value & int(mask.netmask)
    return f"{net >> 24}.{net >> 16 & 255}.{net >> 8 & 255}.{net & 255}/{mask.prefixlen}"


def _subnets(s: Server) -> list[Diagnostic]:
    nets: Counter[str] = Counter()
    for d in s.devices:
        if d.device_ip and d.netmask:
            network = _network(d.device_ip, d.netmask)
            if network is not None:
                nets[network] += 1
    if len(nets) < 2:
        return []
    listing = ", ".join(f"{n} ({c} devices)" for n, c in nets.most_common())
    return [diagnostic("warning", "mixed_subnets", f"devices are in different subnets: {listing}", host=s.host)]


def _device_findings(host: str, d: Device) -> Iterable[tuple[Severity, str, str, str, int | None]]:
    dev = d.device_id
    if d.link and d.link.upper() != "UP":
        yield "error", "link_down", f"link {d.link}", host, dev
    if d.net_health and d.net_health != "Success":
        sev: Severity = "warning" if d.net_health == "Init" else "error"
        yield sev, "net_health", f"net_health {d.net_health}", host, dev
    if d.health and d.health.upper() != "OK":
        yield _HEALTH_SEVERITY.get(d.health.lower(), "warning"), "chip_health", f"chip health {d.health}", host, dev
    if d.busy_pids:
        yield "warning", "npu_busy", f"NPU busy: processes {', '.join(map(str, d.busy_pids))}", host, dev
    if not d.device_ip:
        yield "error", "no_device_ip", "no device IP configured (hccn_tool -ip -g)", host, dev
    elif d.ip_source == "hccn.conf":
        yield "warning", "ip_from_hccn_conf", "hccn_tool gave no IP; using /etc/hccn.conf", host, dev
    elif d.conf_ip and d.conf_ip != d.device_ip:
        yield (
            "warning",
            "hccn_conf_mismatch",
            f"/etc/hccn.conf says {d.conf_ip} but the card has {d.device_ip}",
            host,
            dev,
        )
    for f in d.failures:
        yield "warning", "command_failed", f"{f.command}: {f.message}", host, dev


def findings(inv: Inventory, extra: Iterable[Diagnostic] = ()) -> list[Diagnostic]:
    """Every finding for the inventory, errors first."""
    reachable = [s for s in inv.servers if s.reachable]
    raw: list[tuple[Severity, str, str, str, int | None]] = []
    for s in inv.servers:
        if not s.reachable:
            raw.append(("error", "unreachable", s.error or "not reachable", s.host, None))
            continue
        for f in s.failures:
            raw.append(("warning", "command_failed", f"{f.command}: {f.message}", s.host, None))
        if s.lldp_note:  # no switch grouping, nothing broken: info, folded over servers
            raw.append(("info", "lldp_no_answer", s.lldp_note, s.host, None))
        for d in s.devices:
            raw.extend(_device_findings(s.host, d))
    out = list(extra) + _consistency(reachable) + _duplicate_ips(reachable)
    for s in reachable:
        out += _subnets(s)
    out += _fold_findings(raw)
    return sorted(
        out, key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.where.device if f.where.device is not None else -1)
    )
