"""hccn_tool status queries: ``-link -g``, ``-net_health -g``, ``-link_stat -g``, ``-tls -g``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, computed_field

from .common import Unparsed, guarded, to_int
from .tool_errors import ToolError, answer_or_error

_LINK_RE = re.compile(r"^link status\s*:\s*(\S+)", re.IGNORECASE)
_HEALTH_RE = re.compile(r"^net health status\s*:\s*(.*?)\s*$", re.IGNORECASE)
_STAT_PREFIX_RE = re.compile(r"^\[device\s*([0-9]+)\]\s*(.*)$", re.IGNORECASE)
_STAT_FIELD_RE = re.compile(r"^(current time|link up count|link change records)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_STAT_RECORD_RE = re.compile(r"^(.*?)\s+LINK\s+(UP|DOWN)\s*$", re.IGNORECASE)
_TLS_RE = re.compile(
    r"dev_id\s*:\s*([0-9]+)\s*,\s*tls switch\s*\[\s*([0-9]+)\s*\]"
    r"(?:.*?tls preconfigured\s*\[\s*([0-9]+)\s*\])?"
    r"(?:.*?alarm time threshold\s*\[\s*([0-9]+)\s*\])?",
    re.IGNORECASE,
)
_NO_CERT_RE = re.compile(r"No certificate found", re.IGNORECASE)

# `-net_health -g` code -> text, as the tool maps it (SHMEM-CHK); anything else is "Unknown".
NET_HEALTH_CODES: dict[int, str] = {
    0: "Success",
    1: "Socket fail",
    2: "Receive timeout",
    3: "Unreachable",
    4: "Time exceeded",
    5: "Fault",
    6: "Init",
    7: "Thread error",
    8: "Detect ip set",
}
_HEALTH_BY_TEXT = {text.lower(): code for code, text in NET_HEALTH_CODES.items()}


class LinkStatus(BaseModel):
    kind: Literal["link"] = "link"
    status: str  # upper-cased: "UP", "DOWN" (other words kept as printed, upper-cased)

    @property
    def up(self) -> bool:
        return self.status == "UP"


class NetHealth(BaseModel):
    kind: Literal["net_health"] = "net_health"
    status: str  # the tool's text (or the table's text when the tool printed a code)
    code: int | None  # 0..8 from the table; None for unknown text

    @property
    def ok(self) -> bool:
        return self.code == 0


class LinkChange(BaseModel):
    time: str  # as printed, e.g. "Tue Jun  6 16:32:12 2023"
    state: Literal["UP", "DOWN"]


class LinkStat(BaseModel):
    """``-link_stat -g``: link history of one device."""

    kind: Literal["link_stat"] = "link_stat"
    device: int | None = None
    current_time: str | None = None
    link_up_count: int | None = None
    records: list[LinkChange] = []  # newest first, as printed

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects decorated properties
    @property
    def flap_count(self) -> int:
        """How many times the link went DOWN in the recorded history."""
        return sum(1 for r in self.records if r.state == "DOWN")


class TlsDevice(BaseModel):
    dev_id: int
    switch: int  # 0 disabled, 1 enabled
    preconfigured: int | None = None  # absent on older firmware
    alarm_days: int | None = None

    @property
    def enabled(self) -> bool:
        return self.switch == 1


class TlsReport(BaseModel):
    """``-tls -g``: one entry per ``dev_id`` line (one device, or a grepped loop)."""

    kind: Literal["tls"] = "tls"
    devices: list[TlsDevice] = []
    no_certificate: bool = False  # "No certificate found, please set certs firstly!"


def _link(lines: list[str]) -> LinkStatus | None:
    for line in lines:
        if m := _LINK_RE.match(line):
            return LinkStatus(status=m[1].upper())
    return None


@guarded()
def parse_link(text: str) -> LinkStatus | ToolError | Unparsed:
    """``-link -g``: ``link status: UP|DOWN`` (any case)."""
    return answer_or_error(text, "link status line", _link)


def _net_health(lines: list[str]) -> NetHealth | None:
    for line in lines:
        if m := _HEALTH_RE.match(line):
            value = m[1]
            code = to_int(value)
            if code is not None:
                return NetHealth(status=NET_HEALTH_CODES.get(code, "Unknown"), code=code)
            return NetHealth(status=value, code=_HEALTH_BY_TEXT.get(value.lower()))
    return None


@guarded()
def parse_net_health(text: str) -> NetHealth | ToolError | Unparsed:
    """``-net_health -g``: text kept as printed, code from the 0..8 table (None if unknown)."""
    return answer_or_error(text, "net health status line", _net_health)


def _stat_line(stat: LinkStat, body: str) -> bool:
    if m := _STAT_FIELD_RE.match(body):
        field, value = m[1].lower(), m[2]
        if field == "current time":
            stat.current_time = value or None
        elif field == "link up count":
            stat.link_up_count = to_int(value)
        return True
    if m := _STAT_RECORD_RE.match(body):
        stat.records.append(LinkChange(time=m[1].strip(), state=m[2].upper()))
        return True
    return False


def _link_stat(lines: list[str]) -> LinkStat | Unparsed | None:
    stat = LinkStat()
    devices: set[int | None] = set()
    understood = False
    for line in lines:
        m = _STAT_PREFIX_RE.match(line)
        device, body = (to_int(m[1]), m[2].strip()) if m else (None, line)
        if _stat_line(stat, body):
            understood = True
            devices.add(device)
    if not understood:
        return None
    known = sorted(d for d in devices if d is not None)
    if len(known) > 1:
        return Unparsed(raw="\n".join(lines), reason=f"output covers devices {known}; parse one device at a time")
    stat.device = known[0] if known else None
    return stat


@guarded()
def parse_link_stat(text: str) -> LinkStat | ToolError | Unparsed:
    """``-link_stat -g``: current time, link up count, change records (flap_count = DOWNs)."""
    return answer_or_error(text, "link_stat fields", _link_stat)


def _tls(lines: list[str]) -> TlsReport | None:
    report = TlsReport()
    for line in lines:
        if m := _TLS_RE.search(line):
            dev, switch = to_int(m[1]), to_int(m[2])
            if dev is not None and switch is not None:
                report.devices.append(
                    TlsDevice(dev_id=dev, switch=switch, preconfigured=to_int(m[3]), alarm_days=to_int(m[4]))
                )
        elif _NO_CERT_RE.search(line):
            report.no_certificate = True
    return report if report.devices or report.no_certificate else None


@guarded()
def parse_tls(text: str) -> TlsReport | ToolError | Unparsed:
    """``-tls -g`` (new and old firmware wording, one or many ``dev_id`` lines; cert info
    blocks are skipped)."""
    return answer_or_error(text, "dev_id ... tls switch[...] line", _tls)
