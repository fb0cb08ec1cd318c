"""``hccn_tool -i N -ping -g address IP`` (and ``-ping -inet6``): one report per run.

Accepts one run, a shell loop's concatenated runs (each opening with ``device N PING ip``),
and headerless pastes such as the MindIE guide's, typos included (``seq=O``,
``time-0.049000ms``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, computed_field

from .blocks import split_blocks
from .common import Unparsed, guarded, lines_of, seq_number, to_float, to_int
from .tool_errors import error_kind

PingStatus = Literal["ok", "loss", "unreachable", "link_down", "error"]

HEADER_RE = re.compile(r"^device\s+([0-9]+)\s+PING(6?)\s+(\S+)", re.IGNORECASE)
SUMMARY_RE = re.compile(
    r"([0-9]+)\s+packets?\s+transmitted\s*,\s*([0-9]+)\s+received\s*,\s*([0-9.]+)\s*%\s*packets?\s+loss",
    re.IGNORECASE,
)
_REPLY_RE = re.compile(r"^recv\s+seq\s*[=:]?\s*([0-9oO]+)\s*,?\s*time\s*[=:\-]?\s*([0-9.]+)\s*ms", re.IGNORECASE)
_TIMEOUT_RE = re.compile(r"^recv\s+time\s*out\s+seq\s*[=:]?\s*(\S*)", re.IGNORECASE)
_UNREACHABLE_RE = re.compile(r"Destination\s+Host\s+Unreachable", re.IGNORECASE)
_TOO_LONG_RE = re.compile(r"Message\s+too\s+long", re.IGNORECASE)


class PingReply(BaseModel):
    """One probe: answered with its round-trip time, or lost (``recv time out``)."""

    seq: int | None
    time_ms: float | None
    lost: bool


class PingReport(BaseModel):
    """One ``-ping`` run (one block of output)."""

    kind: Literal["ping"] = "ping"
    src_device: int | None
    dst_ip: str | None
    ipv6: bool = False
    replies: list[PingReply]
    transmitted: int | None
    received: int | None
    loss_pct: float | None
    status: PingStatus  # ok = 0% loss and all received
    errors: list[str]  # tool error lines seen (and Unreachable / Message too long lines)
    raw: str  # the block's exact text

    def _times(self) -> list[float]:
        return [r.time_ms for r in self.replies if not r.lost and r.time_ms is not None]

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects decorated properties
    @property
    def rtt_min(self) -> float | None:
        times = self._times()
        return min(times) if times else None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects decorated properties
    @property
    def rtt_avg(self) -> float | None:
        times = self._times()
        return sum(times) / len(times) if times else None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects decorated properties
    @property
    def rtt_max(self) -> float | None:
        times = self._times()
        return max(times) if times else None


def _is_header(line: str) -> bool:
    return HEADER_RE.match(line) is not None


def _is_summary(line: str) -> bool:
    return SUMMARY_RE.search(line) is not None


class _Scan:
    """What one pass over a block's lines found."""

    def __init__(self) -> None:
        self.src: int | None = None
        self.dst: str | None = None
        self.v6 = False
        self.replies: list[PingReply] = []
        self.summary: tuple[int | None, int | None, float | None] | None = None
        self.errors: list[str] = []
        self.error_kinds: set[str] = set()
        self.header = False

    def feed(self, line: str) -> None:
        if (m := HEADER_RE.match(line)) and not self.header:
            self.header = True
            self.src, self.v6, self.dst = to_int(m[1]), bool(m[2]) or ":" in m[3], m[3]
        elif m := _REPLY_RE.match(line):
            self.replies.append(PingReply(seq=seq_number(m[1]), time_ms=to_float(m[2]), lost=False))
        elif m := _TIMEOUT_RE.match(line):
            self.replies.append(PingReply(seq=seq_number(m[1]), time_ms=None, lost=True))
        elif m := SUMMARY_RE.search(line):
            self.summary = (to_int(m[1]), to_int(m[2]), to_float(m[3]))
        elif kind := error_kind(line):
            self.errors.append(line)
            self.error_kinds.add(kind)
        elif _UNREACHABLE_RE.search(line):
            self.errors.append(line)
            self.error_kinds.add("unreachable")
        elif _TOO_LONG_RE.search(line):
            self.errors.append(line)
            self.error_kinds.add("too_long")

    def status(self) -> PingStatus:
        if "link_down" in self.error_kinds:
            return "link_down"
        if "unreachable" in self.error_kinds:
            return "unreachable"
        if "too_long" in self.error_kinds:
            return "error"
        if self.summary is not None:
            sent, got, loss = self.summary
            if sent and got == sent and loss == 0:
                return "ok"
            return "loss" if sent else "error"
        if self.errors:
            return "error"
        return "loss" if any(r.lost for r in self.replies) else "error"


def parse_ping_block(block: str) -> PingReport | Unparsed:
    """One block (one run) -> ``PingReport``; ``Unparsed`` when nothing in it is ping output."""
    scan = _Scan()
    for line in lines_of(block):
        if line.strip():
            scan.feed(line.strip())
    if not (scan.replies or scan.summary or scan.errors):
        reason = (
            "ping header without any reply, summary or error (output cut short?)"
            if scan.header
            else "no ping header, reply, summary or hccn_tool error"
        )
        return Unparsed(raw=block, reason=reason)
    sent, got, loss = scan.summary or (None, None, None)
    return PingReport(
        src_device=scan.src,
        dst_ip=scan.dst,
        ipv6=scan.v6,
        replies=scan.replies,
        transmitted=sent,
        received=got,
        loss_pct=loss,
        status=scan.status(),
        errors=scan.errors,
        raw=block,
    )


@guarded(many=True)
def parse_ping(text: str) -> list[PingReport | Unparsed]:
    """``hccn_tool -ping -g`` output -> one entry per run (block), in order. Never raises.

    Empty output gives ``[Unparsed(reason="empty output")]`` so there is always an entry.
    Counts come from the summary line; a block without one (cut short) has them None.
    """
    blocks = split_blocks(text, _is_header, _is_summary)
    if not blocks:
        return [Unparsed(raw=text, reason="empty output")]
    return [parse_ping_block(block) for block in blocks]
