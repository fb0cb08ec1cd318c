"""Ping sweep results: one ``ProbeResult`` per probe, the ``PingMatrix`` with its aggregates
(per server pair, per rail), the summary and exit code, and JSON / CSV exports. Pure.

Statuses of a probe:
  ok           every packet answered, exit status 0
  loss         some packets lost (0 < loss < 100 %)
  unreachable  nothing came back (100 % loss, or ``Destination Host Unreachable``)
  link_down    the tool refused: ``Execute failed: Link status is down.``
  timeout      the command did not finish in time (killed; exit 124 from ``timeout``)
  error        anything else: tool error, output not understood, output for another
               device or address, or a non-zero exit with 0 % loss
  skipped      planned but not run (server lost mid-sweep, sweep cancelled)
Summary buckets: ok; lossy = loss; failed = unreachable + link_down + timeout + error.
Loss figures (worst / mean) are over measured loss only; failures without a summary line
show in the status counts and in ``worst_status``.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from .parsers.ping import PingReport, parse_ping
from .parsers.tool_errors import error_kind
from .planning.ping import PingPlan, Probe, Skip

ProbeStatus = Literal["ok", "loss", "timeout", "unreachable", "link_down", "error", "skipped"]
FAILED: frozenset[str] = frozenset({"unreachable", "link_down", "timeout", "error"})
SEVERITY: dict[str, int] = {
    "skipped": 0, "ok": 1, "loss": 2, "error": 3, "timeout": 4, "unreachable": 5, "link_down": 6,
}
TIMEOUT_EXIT = 124  # what `timeout(1)` exits with when it had to kill the command


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _mismatch(report: PingReport, probe: Probe) -> str | None:
    if report.src_device is not None and report.src_device != probe.src_device:
        return f"output is from device {report.src_device}, expected device {probe.src_device}"
    if report.dst_ip is not None and not _same_ip(report.dst_ip, probe.dst_ip):
        return f"output is a ping of {report.dst_ip}, expected {probe.dst_ip}"
    return None


def _classify(
    report: PingReport, exit_status: int | None, probe: Probe
) -> tuple[ProbeStatus, list[str]]:
    """Status from the numbers first (summary line), then from the tool's own verdict."""
    if mismatch := _mismatch(report, probe):
        return "error", [mismatch]
    if report.status == "link_down":
        return "link_down", []
    loss = report.loss_pct
    if loss is not None and report.transmitted:
        if loss >= 100:
            return "unreachable", []
        if loss > 0:
            return "loss", []
        if exit_status not in (0, None):
            return "error", [f"exit status {exit_status} with 0 % loss"]
        return ("ok", []) if report.status == "ok" else ("error", [])
    if exit_status == TIMEOUT_EXIT:
        return "timeout", ["killed by timeout (exit status 124) before the summary line"]
    if report.status == "unreachable":
        return "unreachable", []
    return "error", ([] if report.errors else ["no summary line (output cut short?)"])


def _pick(reports: list[PingReport], probe: Probe) -> PingReport:
    return next((r for r in reports if _mismatch(r, probe) is None), reports[0])


class ProbeResult(BaseModel):
    """What one probe gave: figures, status, and the exact command and output."""

    probe: Probe
    status: ProbeStatus
    transmitted: int | None = None
    received: int | None = None
    loss_pct: float | None = None
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    exit_status: int | None = None
    command: str = Field(description="The exact command run on probe.src_host")
    raw: str = Field("", description="stdout+stderr exactly as printed")
    errors: list[str] = Field(default_factory=list, description="Tool error lines and our notes")
    attempts: int = 1
    duration_s: float | None = None

    @classmethod
    def from_output(
        cls, probe: Probe, exit_status: int | None, output: str, duration_s: float | None = None,
        attempts: int = 1, *, command: str | None = None,
    ) -> ProbeResult:
        """The result of running ``command`` (default ``probe.command``) on the source host."""
        base: dict[str, Any] = dict(probe=probe, exit_status=exit_status, raw=output, attempts=attempts,
                                    command=command or probe.command, duration_s=duration_s)
        parsed = parse_ping(output)
        reports = [p for p in parsed if isinstance(p, PingReport)]
        if not reports:
            reason = "; ".join(getattr(p, "reason", "not understood") for p in parsed)
            status: ProbeStatus = "timeout" if exit_status == TIMEOUT_EXIT else "error"
            return cls(**base, status=status, errors=[f"output not understood: {reason}"])
        report = _pick(reports, probe)
        status, notes = _classify(report, exit_status, probe)
        if len(reports) > 1:
            notes.append(f"{len(reports)} ping runs in the output; used the one for {probe.dst_ip}")
        return cls(
            **base, status=status, transmitted=report.transmitted, received=report.received,
            loss_pct=report.loss_pct, rtt_min_ms=report.rtt_min, rtt_avg_ms=report.rtt_avg,
            rtt_max_ms=report.rtt_max, errors=[*report.errors, *notes],
        )

    @classmethod
    def timeout(
        cls, probe: Probe, timeout_s: float, output: str = "", duration_s: float | None = None,
        attempts: int = 1, *, command: str | None = None,
    ) -> ProbeResult:
        """The command did not finish within ``timeout_s``; ``output`` is what came before."""
        return cls(probe=probe, status="timeout", raw=output, attempts=attempts, duration_s=duration_s,
                   command=command or probe.command, errors=[f"no answer within {timeout_s:g} s"])

    @classmethod
    def skipped(cls, probe: Probe, reason: str) -> ProbeResult:
        """Planned but not run, with why (e.g. the source server dropped)."""
        return cls(probe=probe, status="skipped", command=probe.command, attempts=0, errors=[reason])

    @property
    def is_busy(self) -> bool:
        """``hccn_tool is busy`` / device occupied: the same command may work a moment later."""
        return self.status == "error" and any(
            error_kind(line) in ("busy", "occupied") for line in self.raw.splitlines()
        )


class LossStats(BaseModel):
    """Aggregate over a set of probe results."""

    probes: int = 0
    tested: int = Field(0, description="Results that ran (not skipped)")
    untested: int = Field(0, description="Results planned but skipped")
    bad: int = Field(0, description="lossy + failed")
    counts: dict[str, int] = Field(default_factory=dict, description="Results by status")
    worst_status: ProbeStatus | None = None
    worst_loss_pct: float | None = Field(None, description="Highest measured loss")
    mean_loss_pct: float | None = Field(None, description="Mean measured loss")

    @classmethod
    def of(cls, results: Iterable[ProbeResult]) -> LossStats:
        return cls(**loss_fields(results))


def loss_fields(results: Iterable[ProbeResult]) -> dict[str, Any]:
    """``LossStats`` field values for ``results`` (a dict, so subclasses can add their keys)."""
    rs = list(results)
    counts: dict[str, int] = {}
    for r in sorted(rs, key=lambda r: SEVERITY[r.status]):
        counts[r.status] = counts.get(r.status, 0) + 1
    losses = [r.loss_pct for r in rs if r.status != "skipped" and r.loss_pct is not None]
    skipped = counts.get("skipped", 0)
    return dict(
        probes=len(rs), tested=len(rs) - skipped, untested=skipped,
        bad=sum(n for status, n in counts.items() if status not in ("ok", "skipped")),
        counts=counts, worst_status=max(counts, key=SEVERITY.__getitem__) if counts else None,
        worst_loss_pct=max(losses) if losses else None,
        mean_loss_pct=sum(losses) / len(losses) if losses else None,
    )


class PairStats(LossStats):
    """Probes from ``src_host`` to ``dst_host`` (directed, as probed)."""

    src_host: str
    dst_host: str


class RailStats(LossStats):
    """Probes between device ``device`` of one server and device ``device`` of another."""

    device: int


ROW_FIELDS = (
    "src_host", "src_device", "src_ip", "dst_host", "dst_device", "dst_ip", "src_server_id",
    "dst_server_id", "ipv6", "round", "transmitted", "received", "loss_pct", "rtt_min_ms",
    "rtt_avg_ms", "rtt_max_ms", "status", "exit_status", "attempts", "duration_s", "errors",
    "command", "raw",
)


def result_row(r: ProbeResult) -> dict[str, Any]:
    """One flat record per probe: the JSON ``pairs`` entry and the CSV row."""
    row = r.probe.model_dump(exclude={"command"}) | r.model_dump(exclude={"probe"})
    return {key: row[key] for key in ROW_FIELDS}


class PingMatrix(BaseModel):
    """A sweep: every planned probe's result, plus what the plan left out."""

    pattern: Literal["cross", "rail", "pairwise", "custom", "retry"]
    hosts: list[str] = Field(default_factory=list, description="Servers, in inventory order")
    results: list[ProbeResult] = Field(default_factory=list)
    skipped: list[Skip] = Field(default_factory=list, description="Not planned, with the reason")

    @classmethod
    def from_plan(cls, plan: PingPlan, results: Iterable[ProbeResult]) -> PingMatrix:
        """Results in plan order; a planned probe without a result is ``skipped`` (not run)."""
        by_key = {r.probe.key: r for r in results}
        ordered = [by_key.pop(p.key) if p.key in by_key else ProbeResult.skipped(p, "not run") for p in plan.probes]
        return cls(pattern=plan.pattern, hosts=plan.hosts, results=ordered + list(by_key.values()),
                   skipped=plan.skipped)

    def with_retries(self, retried: Iterable[ProbeResult]) -> PingMatrix:
        """This matrix with the retried probes' results replaced (attempts added up)."""
        new = {r.probe.key: r for r in retried}
        merged = []
        for old in self.results:
            r = new.pop(old.probe.key, None)
            if r is None:
                merged.append(old)
            else:
                probe = r.probe.model_copy(update={"round": old.probe.round})
                attempts = old.attempts + r.attempts
                merged.append(r.model_copy(update={"attempts": attempts, "probe": probe}))
        return self.model_copy(update={"results": merged + list(new.values())})

    def all_hosts(self) -> list[str]:
        """``hosts`` then any other host seen in the results."""
        seen = dict.fromkeys(self.hosts)
        for r in self.results:
            seen.update(dict.fromkeys((r.probe.src_host, r.probe.dst_host)))
        return list(seen)

    def summary(self) -> dict[str, int]:
        """``probes`` = ok + lossy + failed + skipped; ``excluded`` = entries the plan left out."""
        stats = loss_fields(self.results)
        counts = stats["counts"]
        return {
            "probes": stats["probes"], "ok": counts.get("ok", 0), "lossy": counts.get("loss", 0),
            "failed": sum(counts.get(s, 0) for s in FAILED), "skipped": counts.get("skipped", 0),
            "excluded": len(self.skipped),
        }

    def exit_code(self) -> int:
        """0 when no probe lost packets or failed, else 1 (design.md §6)."""
        s = self.summary()
        return 1 if s["lossy"] or s["failed"] else 0

    def pair_stats(self) -> list[PairStats]:
        groups: dict[tuple[str, str], list[ProbeResult]] = {}
        for r in self.results:
            groups.setdefault((r.probe.src_host, r.probe.dst_host), []).append(r)
        order = {h: i for i, h in enumerate(self.all_hosts())}
        keys = sorted(groups, key=lambda pair: (order[pair[0]], order[pair[1]]))
        return [PairStats(src_host=a, dst_host=b, **loss_fields(groups[(a, b)])) for a, b in keys]

    def rail_stats(self) -> list[RailStats]:
        groups: dict[int, list[ProbeResult]] = {}
        for r in self.results:
            if r.probe.src_device == r.probe.dst_device and r.probe.src_host != r.probe.dst_host:
                groups.setdefault(r.probe.src_device, []).append(r)
        return [RailStats(device=d, **loss_fields(rs)) for d, rs in sorted(groups.items())]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (plain JSON types)."""
        return {
            "pattern": self.pattern,
            "hosts": self.all_hosts(),
            "summary": self.summary(),
            "pairs": [result_row(r) for r in self.results],
            "skipped": [s.model_dump(mode="json") for s in self.skipped],
            "server_pairs": [s.model_dump(mode="json") for s in self.pair_stats()],
            "rails": [s.model_dump(mode="json") for s in self.rail_stats()],
        }

    def to_csv(self) -> str:
        """One row per probe, header first; ``errors`` joined with ``; ``."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ROW_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in self.results:
            row = result_row(r)
            writer.writerow(row | {"errors": "; ".join(row["errors"])})
        return out.getvalue()
