"""hccn_tool address queries: ``-ip -g`` (one device or a loop), ``-ip -inet6 -g``,
``-vnic -g`` (A3), ``-gateway -g`` and ``-netdetect -g``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from .common import Unparsed, guarded, nonblank, to_int
from .tool_errors import ToolError, answer_or_error, error_kind, group_error_lines, make_tool_error

# `-ip -g` prints `ipaddr:A` / `netmask:M`. `-ip -inet6 -g` prints `ipaddr:` too (HIXL reads
# both with the same prefix); its mask key is not documented, so the usual names are accepted.
_KV_RE = re.compile(r"^([A-Za-z0-9_ ]+?)\s*:\s*(\S+)$")
_IP_KEYS = {"ipaddr", "ipv6addr", "ipv6_address", "ip6addr", "ipv6 addr"}
_MASK_KEYS = {"netmask"}
_PREFIX_KEYS = {"prefix_length", "prefixlen", "prefix", "prefix length"}

_VNIC_RE = re.compile(r"^vnic\s+(link status|ipaddr|netmask)\s*:\s*(\S*)", re.IGNORECASE)
_GATEWAY_RE = re.compile(r"^default gateway\s*:\s*([^\s,]+)\s*(?:,\s*Iface\s*:\s*(\S+))?", re.IGNORECASE)
_NETDETECT_RE = re.compile(r"^netdetect address\s*:\s*(\S*)", re.IGNORECASE)


class IpConfig(BaseModel):
    """One device's RoCE NIC address (``-ip -g`` / ``-ip -inet6 -g``)."""

    kind: Literal["ip"] = "ip"
    ipaddr: str
    netmask: str | None = None
    prefix_length: int | None = None

    @property
    def ipv6(self) -> bool:
        return ":" in self.ipaddr


class VnicConfig(BaseModel):
    """A3 HCCS virtual NIC (``-vnic -g``)."""

    kind: Literal["vnic"] = "vnic"
    link: str | None = None  # "UP" / "DOWN" (upper-cased)
    ipaddr: str | None = None
    netmask: str | None = None

    @property
    def up(self) -> bool:
        return self.link == "UP"


class GatewayInfo(BaseModel):
    kind: Literal["gateway"] = "gateway"
    gateway: str
    iface: str | None = None  # ethN, N == device id

    @property
    def device(self) -> int | None:
        m = re.fullmatch(r"eth([0-9]{1,4})", self.iface or "")
        return to_int(m[1]) if m else None


class NetdetectInfo(BaseModel):
    kind: Literal["netdetect"] = "netdetect"
    address: str | None  # None when the tool printed an empty address


def _kv(line: str) -> tuple[str, str] | None:
    m = _KV_RE.match(line)
    return (m[1].strip().lower(), m[2]) if m else None


def _ip_items(lines: list[str]) -> list[IpConfig | ToolError | Unparsed]:
    """Walk `ipaddr`/`netmask` pairs, tool error groups and stray lines, in order."""
    items: list[IpConfig | ToolError | Unparsed] = []
    pending_errors: list[str] = []

    def flush_errors() -> None:
        for group in group_error_lines(pending_errors):
            items.append(make_tool_error(group, "\n".join(group)))
        pending_errors.clear()

    for line in lines:
        kv = _kv(line)
        last = items[-1] if items else None
        if error_kind(line):
            pending_errors.append(line)
            continue
        flush_errors()
        if kv and kv[0] in _IP_KEYS:
            items.append(IpConfig(ipaddr=kv[1]))
        elif kv and kv[0] in _MASK_KEYS and isinstance(last, IpConfig) and last.netmask is None:
            last.netmask = kv[1]
        elif kv and kv[0] in _PREFIX_KEYS and isinstance(last, IpConfig) and last.prefix_length is None:
            last.prefix_length = to_int(kv[1])
        else:
            items.append(Unparsed(raw=line, reason="expected ipaddr:/netmask: or an hccn_tool error"))
    flush_errors()
    return items


@guarded(many=True)
def parse_ip_loop(text: str) -> list[IpConfig | ToolError | Unparsed]:
    """A loop of ``-ip -g`` (or ``-ip -inet6 -g``) runs -> one entry per device, in order.

    A device without an IP shows up as ``ToolError(kind="no_ip")`` at its position; a stray
    line as ``Unparsed``. Empty output gives ``[Unparsed(reason="empty output")]``.
    """
    lines = nonblank(text)
    if not lines:
        return [Unparsed(raw=text, reason="empty output")]
    return _ip_items(lines)


def _one_ip(lines: list[str]) -> IpConfig | None:
    items = _ip_items(lines)
    ips = [item for item in items if isinstance(item, IpConfig)]
    return ips[0] if len(ips) == 1 and len(items) == 1 else None


@guarded()
def parse_ip(text: str) -> IpConfig | ToolError | Unparsed:
    """One device's ``-ip -g`` / ``-ip -inet6 -g``. Several devices' output is ``Unparsed``
    (use ``parse_ip_loop``)."""
    return answer_or_error(text, "single ipaddr:/netmask: pair", _one_ip)


def _vnic(lines: list[str]) -> VnicConfig | None:
    found: dict[str, str] = {}
    for line in lines:
        if m := _VNIC_RE.match(line):
            found.setdefault(m[1].lower(), m[2])
    if not found:
        return None
    link = found.get("link status")
    return VnicConfig(
        link=link.upper() if link else None, ipaddr=found.get("ipaddr") or None, netmask=found.get("netmask") or None
    )


@guarded()
def parse_vnic(text: str) -> VnicConfig | ToolError | Unparsed:
    """A3 ``-vnic -g``: ``vnic link status: UP`` / ``vnic ipaddr:`` / ``vnic netmask:``."""
    return answer_or_error(text, "vnic link status/ipaddr/netmask", _vnic)


def _gateway(lines: list[str]) -> GatewayInfo | None:
    for line in lines:
        if m := _GATEWAY_RE.match(line):
            return GatewayInfo(gateway=m[1], iface=m[2])
    return None


@guarded()
def parse_gateway(text: str) -> GatewayInfo | ToolError | Unparsed:
    """``-gateway -g``: ``default gateway:G, Iface:ethN``; unset gives
    ``ToolError(kind="no_gateway")``."""
    return answer_or_error(text, "default gateway line", _gateway)


def _netdetect(lines: list[str]) -> NetdetectInfo | None:
    for line in lines:
        if m := _NETDETECT_RE.match(line):
            return NetdetectInfo(address=m[1] or None)
    return None


@guarded()
def parse_netdetect(text: str) -> NetdetectInfo | ToolError | Unparsed:
    """``-netdetect -g``: ``netdetect address: A``."""
    return answer_or_error(text, "netdetect address line", _netdetect)
