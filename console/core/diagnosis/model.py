"""Typed results of a diagnosis: one ``Cause`` per recognised failure in a log, the ``Link``s
that tie a cause to what discovery and the ping matrix know, and the ``Diagnosis`` of a job.
Pure (design.md §2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
Phase = Literal["config", "init", "connect", "exec", "runtime", "rendezvous", "unknown"]


class LogSource(BaseModel):
    """One log text to classify: a rank's log, a plog file, a MindIE log, a pasted excerpt."""

    name: str = Field(description="Where it came from: a path relative to the folder read")
    text: str
    server: str | None = Field(None, description="Server the log was written on, when known")
    rank: int | None = Field(None, description="Rank whose output this is, when known")


class EvidenceLine(BaseModel):
    """A log line that a cause rests on, exactly as written."""

    source: str
    line_no: int = Field(description="1-based line number in the source")
    text: str


def fold_ints(values: list[int]) -> str:
    """``0,1,3-7,9``: sorted, runs of three or more consecutive numbers as ranges."""
    runs: list[list[int]] = []
    for v in sorted(set(values)):
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ",".join(str(a) if a == b else f"{a},{b}" if b == a + 1 else f"{a}-{b}" for a, b in runs)


class Cause(BaseModel):
    """A failure recognised in a log, with what the matched lines name."""

    cause: str = Field(description="Stable id: socket_timeout, port_in_use, device_oom, ...")
    rule: str = Field(description="Id of the rule that matched (several rules share a cause)")
    code: str | None = Field(None, description="Ascend error code in the log (EI0006, EE9999, ...)")
    severity: Severity = "error"
    phase: Phase = "unknown"
    title: str = Field(description="One line: what happened")
    explanation: str = ""
    next_check: str = Field("", description="The check to run next")
    generic: bool = Field(False, description="A wrapper error that usually follows the real cause")
    server: str | None = None
    rank: int | None = Field(None, description="The rank that reported it (local end)")
    device_id: int | None = Field(None, description="Local device id, when named")
    remote_rank: int | None = None
    remote_server: str | None = None
    remote_device_id: int | None = None
    local_ip: str | None = None
    remote_ip: str | None = None
    ips: list[str] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list)
    timeout_s: float | None = None
    connected: int | None = Field(None, description="Topology exchange: ranks that connected")
    needed: int | None = Field(None, description="Topology exchange: ranks expected")
    ts: float | None = Field(
        None, description="The log's own time of the first line (seconds, naive local time read as UTC)"
    )
    corrected_ts: float | None = Field(None, description="ts minus the server's clock offset")
    count: int = Field(1, description="How many matching lines were folded into this cause")
    fold_ranks: list[int] = Field(
        default_factory=list,
        description=(
            "Every rank that showed this same cause (text equal but for numbers and host names), when more than one did"
        ),
    )
    fold_servers: list[str] = Field(default_factory=list, description="Their servers")
    fields: dict[str, str] = Field(default_factory=dict, description="Every value the rule read")
    lines: list[EvidenceLine] = Field(default_factory=list)

    def ranks(self) -> list[int]:
        return sorted({r for r in (self.rank, self.remote_rank, *self.fold_ranks) if r is not None})

    def own_ranks(self) -> set[int]:
        """The ranks that reported it (all of them when folded)."""
        return {*self.fold_ranks, *((self.rank,) if self.rank is not None else ())}

    def where(self) -> str:
        if len(self.fold_ranks) > 1:
            servers = self.fold_servers
            on = (
                (" on " + ", ".join(servers) if len(servers) <= 2 else f" on {len(servers)} servers") if servers else ""
            )
            return f"ranks {fold_ints(self.fold_ranks)}{on}"
        parts = []
        if self.server:
            parts.append(self.server)
        if self.rank is not None:
            parts.append(f"rank {self.rank}")
        if self.device_id is not None:
            parts.append(f"dev {self.device_id}")
        if not parts and self.lines:
            parts.append(f"{self.lines[0].source}:{self.lines[0].line_no}")
        return " ".join(parts)

    def diagnostic(self) -> dict[str, str | None]:
        """The plain (severity, code, message, where) form the shared problem widget shows."""
        return {
            "severity": self.severity,
            "code": self.code or self.cause,
            "message": self.title,
            "where": self.where() or None,
        }

    def to_json(self) -> dict[str, Any]:
        """One entry of ``diagnose --json``'s ``causes``."""
        ips = list(dict.fromkeys([*(ip for ip in (self.local_ip, self.remote_ip) if ip), *self.ips]))
        return {
            "code": self.code,
            "cause": self.cause,
            "server": self.server,
            "ranks": self.ranks(),
            "ips": ips,
            "ports": self.ports,
            "phase": self.phase,
            "lines": [f"{ln.source}:{ln.line_no}: {ln.text}" for ln in self.lines],
            "next_check": self.next_check,
            # fields added beyond the documented ones
            "title": self.title,
            "explanation": self.explanation,
            "rule": self.rule,
            "severity": self.severity,
            "rank": self.rank,
            "device_id": self.device_id,
            "remote_rank": self.remote_rank,
            "remote_server": self.remote_server,
            "remote_device_id": self.remote_device_id,
            "timeout_s": self.timeout_s,
            "connected": self.connected,
            "needed": self.needed,
            "time": self.ts,
            "corrected_time": self.corrected_ts,
            "count": self.count,
            "fields": self.fields,
            "fold_ranks": self.fold_ranks,
            "fold_servers": self.fold_servers,
        }


LinkKind = Literal["ping", "ping_untested", "discovery_ip", "tls", "npu_processes", "link_state", "missing_peer"]


class Link(BaseModel):
    """What the console already knows about the thing a cause names."""

    kind: LinkKind
    cause_index: int = Field(description="Index of the cause in Diagnosis.causes")
    message: str
    src_host: str | None = None
    src_device: int | None = None
    dst_host: str | None = None
    dst_device: int | None = None
    status: str | None = Field(None, description="Ping status, link state, TLS switch ...")
    loss_pct: float | None = None
    command: str | None = Field(None, description="A command that checks it now")


class RankPlace(BaseModel):
    """Where a rank ran: from the launch plan or the rank table."""

    rank: int
    server: str
    device_id: int | None = None
    device_ip: str | None = None


class Diagnosis(BaseModel):
    headline: str
    first: int | None = Field(None, description="Index of the cause that came first")
    causes: list[Cause] = Field(default_factory=list)
    victims: list[int] = Field(default_factory=list, description="Ranks that failed because of it")
    links: list[Link] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="What the diagnosis could not use")

    def first_cause(self) -> Cause | None:
        return None if self.first is None else self.causes[self.first]

    def to_json(self) -> dict[str, Any]:
        first = self.first_cause()
        return {
            "headline": self.headline,
            "first": None
            if first is None
            else {
                "index": self.first,
                "cause": first.cause,
                "code": first.code,
                "server": first.server,
                "rank": first.rank,
                "time": first.ts,
                "corrected_time": first.corrected_ts,
            },
            "causes": [c.to_json() for c in self.causes],
            "links": [link.model_dump(mode="json") for link in self.links],
            "victims": self.victims,
            "notes": self.notes,
        }
