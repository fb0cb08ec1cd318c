"""``hccn_tool -i N -lldp -g``: the switch port a device NIC is cabled to."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from .common import Unparsed, guarded, lines_of, to_int
from .tool_errors import ToolError, answer_or_error

_TLV_RE = re.compile(r"^(.*?)\s*TLV\s*$")
_FIELD_RE = re.compile(r"^([A-Za-z0-9 _-]+?)\s*:\s*(.*)$")
MAX_NAME = 64
"""Longest switch name / port kept: they become heatmap labels (what a switch sends is untrusted)."""


def _name(value: str | None) -> str | None:
    """``value`` with printable characters only (no control or escape sequence), at most
    ``MAX_NAME`` characters; None when nothing is left."""
    if value is None:
        return None
    kept = "".join(c for c in value if c.isprintable()).strip()[:MAX_NAME].strip()
    return kept or None


class LldpInfo(BaseModel):
    """LLDP neighbour (the switch). ``tlvs`` keeps every TLV's lines, so nothing is lost."""

    kind: Literal["lldp"] = "lldp"
    chassis_id: str | None = None  # e.g. "MAC: 3c:f5:cc:1a:22:01"
    port_id: str | None = None  # e.g. "Ifname: 400GE1/1/20:2"
    port_ifname: str | None = None  # e.g. "400GE1/1/20:2"
    system_name: str | None = None
    system_description: str | None = None
    capabilities: str | None = None
    mgmt_address: str | None = None  # first IPv4/IPv6 management address
    max_frame_size: int | None = None
    tlvs: dict[str, list[str]] = {}


def _tlv_blocks(text: str) -> dict[str, list[str]]:
    """``{TLV name: body lines}``: headers are unindented ``... TLV`` lines, bodies indented."""
    tlvs: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines_of(text):
        if not line.strip():
            continue
        header = _TLV_RE.match(line) if not line[:1].isspace() else None
        if header:
            current = tlvs.setdefault(header[1].strip() or "TLV", [])
        elif current is not None:
            current.append(line.strip())
    return tlvs


def _field(body: list[str], key: str) -> str | None:
    for line in body:
        m = _FIELD_RE.match(line)
        if m and m[1].strip().lower() == key:
            return m[2].strip() or None
    return None


def _lldp_from(text: str) -> LldpInfo | None:
    tlvs = _tlv_blocks(text)
    if not tlvs:
        return None
    info = LldpInfo(tlvs=tlvs)
    first = {name.lower(): body[0] if body else None for name, body in tlvs.items()}
    info.chassis_id = _name(first.get("chassis id"))
    info.port_id = _name(first.get("port id"))
    info.port_ifname = _name(_field(tlvs.get("Port ID", []), "ifname"))
    info.system_name = _name(first.get("system name"))
    info.system_description = first.get("system description")
    info.capabilities = _field(tlvs.get("System Capabilities", []), "enabled capabilities")
    mgmt = tlvs.get("Management Address", [])
    info.mgmt_address = _field(mgmt, "ipv4") or _field(mgmt, "ipv6")
    info.max_frame_size = to_int(first.get("maximum frame size"))
    return info


@guarded()
def parse_lldp(text: str) -> LldpInfo | ToolError | Unparsed:
    """``-lldp -g``: TLV blocks -> switch port (Ifname), system name, management address."""
    return answer_or_error(text, "LLDP TLV blocks", lambda _lines: _lldp_from(text))
