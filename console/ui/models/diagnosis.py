"""The Launch pane's Diagnosis view, as pure state: the diagnosis of the current job (after a
failure, or at a stall while the job goes on), its causes grouped by server (the server of the
first cause first, the first cause marked, victims dimmed), each with its matched lines, count
and next check, the links under their cause; the folder of a server's raw evidence; the card
pairs to ping again (never tested, or lossy/failed at the last sweep) as custom ping pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from console.core.diagnosis import Cause, Diagnosis, Link
from console.core.diagnosis.evidence import server_folder
from console.core.words import counted

UNKNOWN_SERVER = "(server not known)"
SHOWN_LINES = 4


class DiagnosisState(StrEnum):
    NONE = "none"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"


@dataclass(frozen=True)
class CauseRow:
    index: int
    cause: Cause
    first: bool
    victim: bool
    links: list[Link]


@dataclass(frozen=True)
class ServerGroup:
    server: str
    rows: list[CauseRow]


@dataclass(frozen=True)
class PingPair:
    """One card pair to ping again: source and destination (host or server_id) and devices."""

    src_host: str
    src_device: int
    dst_host: str
    dst_device: int

    def line(self) -> str:
        """The custom pair file's ``HOST:DEV HOST:DEV`` line (IPv6 hosts in brackets)."""
        return f"{_host(self.src_host)}:{self.src_device} {_host(self.dst_host)}:{self.dst_device}"


@dataclass
class DiagnosisModel:
    """``start`` when a diagnosis begins, ``show`` or ``fail`` when it ends; ``changes``
    counts every change (the pane redraws on it)."""

    state: DiagnosisState = DiagnosisState.NONE
    diagnosis: Diagnosis | None = None
    run_dir: str | None = None
    during: str | None = None
    """"stall" when the job was still running (a stall named a server), else None."""
    error: str | None = None
    changes: int = 0
    _groups: list[ServerGroup] = field(default_factory=list)

    def start(self, run_dir: str | None, *, during: str | None = None) -> None:
        self.state, self.run_dir, self.during, self.error = DiagnosisState.RUNNING, run_dir, during, None
        self.changes += 1

    def show(self, diagnosis: Diagnosis) -> None:
        self.state, self.diagnosis = DiagnosisState.DONE, diagnosis
        self._groups = group_by_server(diagnosis)
        self.changes += 1

    def fail(self, message: str) -> None:
        self.state, self.error = DiagnosisState.ERROR, message
        self.changes += 1

    def clear(self) -> None:
        self.state, self.diagnosis, self.run_dir, self.during, self.error = (
            DiagnosisState.NONE,
            None,
            None,
            None,
            None,
        )
        self._groups = []
        self.changes += 1

    # -- reading -------------------------------------------------------------------------

    def groups(self) -> list[ServerGroup]:
        return self._groups

    def headline(self) -> str:
        if self.state is DiagnosisState.RUNNING:
            what = "the stall" if self.during == "stall" else "the failure"
            return f"diagnosing {what}: fetching each server's logs since the start…"
        if self.state is DiagnosisState.ERROR:
            return f"no diagnosis: {self.error}"
        if self.diagnosis is None:
            return "No diagnosis yet: it runs when a launch fails or stalls."
        when = " (at the stall; the job goes on)" if self.during == "stall" else ""
        return self.diagnosis.headline + when

    def servers(self) -> list[str]:
        """Servers with a cause, the first cause's server first."""
        return [g.server for g in self._groups if g.server != UNKNOWN_SERVER]

    def evidence_dir(self, server: str | None = None) -> Path | None:
        """``runs/<id>/evidence/<server>/`` of ``server`` (default: the first cause's), or the
        evidence folder itself, or the run folder: the deepest that exists."""
        if self.run_dir is None:
            return None
        run = Path(self.run_dir)
        server = server or next(iter(self.servers()), None)
        candidates = [run / "evidence" / server_folder(server)] if server else []
        for path in [*candidates, run / "evidence", run]:
            if path.is_dir():
                return path
        return None

    def ping_pairs(self) -> list[PingPair]:
        """The implicated card pairs to ping again, both ways (HCCL needs both directions; a
        loss may show in one only): never tested, or not ok at the last sweep."""
        out: dict[tuple[str, int, str, int], PingPair] = {}
        for link in self.diagnosis.links if self.diagnosis else []:
            if link.kind not in ("ping_untested", "ping") or (link.kind == "ping" and link.status == "ok"):
                continue
            if link.src_host is None or link.src_device is None or link.dst_host is None or link.dst_device is None:
                continue
            for pair in (
                PingPair(link.src_host, link.src_device, link.dst_host, link.dst_device),
                PingPair(link.dst_host, link.dst_device, link.src_host, link.src_device),
            ):
                out.setdefault((pair.src_host, pair.src_device, pair.dst_host, pair.dst_device), pair)
        return list(out.values())

    def ping_pairs_text(self) -> str:
        return "".join(f"{p.line()}\n" for p in self.ping_pairs())


def group_by_server(diag: Diagnosis) -> list[ServerGroup]:
    """Causes per server: the first cause's server first, then in the order they appear; in
    each server the first cause first."""
    links: dict[int, list[Link]] = {}
    for link in diag.links:
        links.setdefault(link.cause_index, []).append(link)
    by_server: dict[str, list[CauseRow]] = {}
    first = diag.first_cause()
    if first is not None:
        by_server[first.server or UNKNOWN_SERVER] = []
    for i, c in enumerate(diag.causes):
        victim = i != diag.first and c.rank is not None and c.rank in diag.victims
        by_server.setdefault(c.server or UNKNOWN_SERVER, []).append(
            CauseRow(i, c, i == diag.first, victim, links.get(i, []))
        )
    return [
        ServerGroup(server, sorted(rows, key=lambda r: (not r.first, r.index)))
        for server, rows in by_server.items()
        if rows
    ]


def cause_label(c: Cause) -> str:
    """``[rank 3 dev 3] EI0006 socket_timeout: title (x2)``"""
    where = " ".join(
        p
        for p in (
            f"rank {c.rank}" if c.rank is not None else "",
            f"dev {c.device_id}" if c.device_id is not None else "",
        )
        if p
    )
    code = f"{c.code} " if c.code else ""
    count = f" (x{c.count})" if c.count > 1 else ""
    return f"{'[' + where + '] ' if where else ''}{code}{c.cause}: {c.title}{count}"


def cause_lines(c: Cause, shown: int = SHOWN_LINES) -> list[str]:
    """The matched log lines, ``source:line: text`` (at most ``shown``, then how many more)."""
    out = [f"{ln.source}:{ln.line_no}: {ln.text.strip()[:240]}" for ln in c.lines[:shown]]
    if len(c.lines) > shown:
        out.append(f"… {counted(len(c.lines) - shown, 'more line')}")
    return out


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
