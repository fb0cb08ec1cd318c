"""``hccn_tool -i N -hccs_ping -g address IP`` (A3 SuperPoD, HCCS plane): microseconds,
``packets loss`` wording, per-packet L1 plane check, and max/min/average/TP95 trailer lines."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from .blocks import split_blocks
from .common import Unparsed, guarded, lines_of, seq_number, to_float, to_int
from .ping import HEADER_RE, SUMMARY_RE, PingStatus
from .tool_errors import error_kind

_PKT_RE = re.compile(r"^This pkt (.+?)!?$", re.IGNORECASE)
_RECV_RE = re.compile(
    r"^recv\s+seq\s*[=:]?\s*([0-9oO]+)\s*,\s*time\s*[=:\-]?\s*([0-9.]+)\s*us"
    r"(?:\s*,\s*L1 plane check result\s*[=:]\s*(\S+))?",
    re.IGNORECASE,
)
_STAT_RE = re.compile(r"^(max|min|average|avg|TP95)\s+time\s*[=:]?\s*([0-9.]+)\s*us", re.IGNORECASE)
_STAT_FIELD = {"max": "max_us", "min": "min_us", "average": "avg_us", "avg": "avg_us", "tp95": "tp95_us"}


class HccsPacket(BaseModel):
    seq: int | None
    time_us: float | None
    l1_check: str | None = None  # "0x0" = L1 plane check passed


class HccsPingReport(BaseModel):
    """One ``-hccs_ping`` run."""

    kind: Literal["hccs_ping"] = "hccs_ping"
    src_device: int | None = None
    dst_ip: str | None = None
    pkt_results: list[str] = []  # e.g. "ping success", "send fail"
    packets: list[HccsPacket] = []
    transmitted: int | None = None
    received: int | None = None
    loss_pct: float | None = None
    max_us: float | None = None
    min_us: float | None = None
    avg_us: float | None = None
    tp95_us: float | None = None
    status: PingStatus = "error"
    errors: list[str] = []  # tool error lines and non-success "This pkt ..." lines
    raw: str = ""


def _is_header(line: str) -> bool:
    return HEADER_RE.match(line) is not None


def _is_summary(line: str) -> bool:
    return SUMMARY_RE.search(line) is not None


def _is_trailer(line: str) -> bool:
    return _STAT_RE.match(line) is not None


def _feed(report: HccsPingReport, line: str, kinds: set[str]) -> bool:
    """Apply one line to the report; True when the line was understood."""
    if (m := HEADER_RE.match(line)) and report.src_device is None and report.dst_ip is None:
        report.src_device, report.dst_ip = to_int(m[1]), m[3]
    elif m := _PKT_RE.match(line):
        report.pkt_results.append(m[1].strip())
        if "success" not in m[1].lower():
            report.errors.append(line)
            kinds.add("pkt_fail")
    elif m := _RECV_RE.match(line):
        report.packets.append(HccsPacket(seq=seq_number(m[1]), time_us=to_float(m[2]), l1_check=m[3]))
    elif m := SUMMARY_RE.search(line):
        report.transmitted, report.received, report.loss_pct = to_int(m[1]), to_int(m[2]), to_float(m[3])
    elif m := _STAT_RE.match(line):
        setattr(report, _STAT_FIELD[m[1].lower()], to_float(m[2]))
    elif kind := error_kind(line):
        report.errors.append(line)
        kinds.add(kind)
    else:
        return False
    return True


def _status(report: HccsPingReport, kinds: set[str]) -> PingStatus:
    if "link_down" in kinds:
        return "link_down"
    sent, got, loss = report.transmitted, report.received, report.loss_pct
    if sent is not None:
        if sent and got == sent and loss == 0:
            return "ok"
        return "loss" if sent else "error"
    return "error"


def parse_hccs_ping_block(block: str) -> HccsPingReport | Unparsed:
    report = HccsPingReport(raw=block)
    kinds: set[str] = set()
    understood = [_feed(report, line.strip(), kinds) for line in lines_of(block) if line.strip()]
    has_result = report.packets or report.transmitted is not None or report.errors or report.pkt_results
    if not any(understood) or not has_result:
        return Unparsed(raw=block, reason="no hccs_ping result, summary or hccn_tool error")
    report.status = _status(report, kinds)
    return report


@guarded(many=True)
def parse_hccs_ping(text: str) -> list[HccsPingReport | Unparsed]:
    """``hccn_tool -hccs_ping -g`` output -> one entry per run, in order. Never raises.

    Errors such as ``The command is not supported on this product.`` give a report with
    status ``error`` and the line in ``errors``. Empty output gives one ``Unparsed``.
    """
    blocks = split_blocks(text, _is_header, _is_summary, _is_trailer)
    if not blocks:
        return [Unparsed(raw=text, reason="empty output")]
    return [parse_hccs_ping_block(block) for block in blocks]
