"""``ip -o -4 addr show`` -> the host's IPv4 addresses and the NIC holding each.

One line per address, e.g. (iproute2's one-line form; a label ``eth0:1`` may end the line)::

    2: eth0    inet 192.168.1.10/24 brd 192.168.1.255 scope global eth0\\       valid_lft forever ...
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, Field

from console.core.parsers.common import Unparsed, guarded, nonblank

_LINE = re.compile(r"^\d+:\s+(?P<nic>[^\s:@]+)(?:@\S+)?:?\s+inet\s+(?P<addr>[0-9.]+)/(?P<prefix>\d{1,2})\b")


class HostAddress(BaseModel):
    nic: str = Field(description="Interface name, e.g. eth0 or enp189s0f0")
    address: str = Field(description="IPv4 address")
    prefix: int = Field(description="Prefix length")


class HostAddresses(BaseModel):
    addresses: list[HostAddress] = Field(default_factory=list)

    def nic_of(self, address: str) -> str | None:
        """The NIC holding ``address`` (None when no interface has it)."""
        return next((a.nic for a in self.addresses if a.address == address), None)


@guarded()
def parse_ip_addr(text: str) -> HostAddresses | Unparsed:
    """Every ``inet`` line; lines that are not (a banner) are skipped. No address at all
    is ``Unparsed``."""
    found = []
    for line in nonblank(text):
        m = _LINE.match(line)
        if not m:
            continue
        try:
            ipaddress.IPv4Address(m.group("addr"))
        except ValueError:
            continue
        prefix = int(m.group("prefix"))
        if prefix > 32:
            continue
        found.append(HostAddress(nic=m.group("nic"), address=m.group("addr"), prefix=prefix))
    if not found:
        return Unparsed(raw=text, reason="no 'N: NIC inet A.B.C.D/P' line")
    return HostAddresses(addresses=found)
