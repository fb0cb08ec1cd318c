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
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from .parsers.ping import PingReport, parse_ping
from .parsers.tool_errors import error_kind
from .planning.ping import PingPlan, Probe, Skip

ProbeStatus = Literal["ok", "loss", "timeout", "unreachable", "link_down", "error", "skipped"]
FAILED: frozenset[str] = frozenset({"unreachable", "link_down", "timeout", "error"})
SEVERITY: dict[str, int] = {
    "skipped": 0,
    "ok": 1,
    "loss": 2,
    "error": 3,
    "timeout": 4,
    "unreachable": 5,
    "link_down": 6,
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


def _classify(report: PingReport, exit_status: int | None, probe: Probe) -> tuple[ProbeStatus, list[str]]:
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
        cls,
        probe: Probe,
        exit_status: int | None,
        output: str,
        duration_s: float | None = None,
        attempts: int = 1,
        *,
        command: str | None = None,
    ) -> ProbeResult:
        """The result of running ``command`` (default ``probe.command``) on the source host."""
        base: dict[str, Any] = {
            "probe": probe,
            "exit_status": exit_status,
            "raw": output,
            "attempts": attempts,
            "command": command or probe.command,
            "duration_s": duration_s,
        }
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
            **base,
            status=status,
            transmitted=report.transmitted,
            received=report.received,
            loss_pct=report.loss_pct,
            rtt_min_ms=report.rtt_min,
            rtt_avg_ms=report.rtt_avg,
            rtt_max_ms=report.rtt_max,
            errors=[*report.errors, *notes],
        )

    @classmethod
    def timeout(
        cls,
        probe: Probe,
        timeout_s: float,
        output: str = "",
        duration_s: float | None = None,
        attempts: int = 1,
        *,
        command: str | None = None,
    ) -> ProbeResult:
        """The command did not finish within ``timeout_s``; ``output`` is what came before."""
        return cls(
            probe=probe,
            status="timeout",
            raw=output,
            attempts=attempts,
            duration_s=duration_s,
            command=command or probe.command,
            errors=[f"no answer within {timeout_s:g} s"],
        )

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


class Tally:
    """Running ``LossStats`` figures: counts per status, measured loss (max, sum, count)."""

    __slots__ = ("counts", "loss_max", "loss_n", "loss_sum")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.loss_max: float | None = None
        self.loss_sum = 0.0
        self.loss_n = 0

    def add(self, status: str, loss: float | None) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if status != "skipped" and loss is not None:
            self.loss_sum += loss
            self.loss_n += 1
            if self.loss_max is None or loss > self.loss_max:
                self.loss_max = loss

    def fields(self) -> dict[str, Any]:
        counts = {s: self.counts[s] for s in sorted(self.counts, key=SEVERITY.__getitem__)}
        total = sum(counts.values())
        skipped = counts.get("skipped", 0)
        return {
            "probes": total,
            "tested": total - skipped,
            "untested": skipped,
            "bad": sum(n for status, n in counts.items() if status not in ("ok", "skipped")),
            "counts": counts,
            "worst_status": max(counts, key=SEVERITY.__getitem__) if counts else None,
            "worst_loss_pct": self.loss_max,
            "mean_loss_pct": self.loss_sum / self.loss_n if self.loss_n else None,
        }


def loss_fields(results: Iterable[ProbeResult]) -> dict[str, Any]:
    """``LossStats`` field values for ``results`` (a dict, so subclasses can add their keys)."""
    tally = Tally()
    for r in results:
        tally.add(r.status, r.loss_pct)
    return tally.fields()


class PairStats(LossStats):
    """Probes from ``src_host`` to ``dst_host`` (directed, as probed)."""

    src_host: str
    dst_host: str


class RailStats(LossStats):
    """Probes between device ``device`` of one server and device ``device`` of another."""

    device: int


ROW_FIELDS = (
    "src_host",
    "src_device",
    "src_ip",
    "dst_host",
    "dst_device",
    "dst_ip",
    "src_server_id",
    "dst_server_id",
    "ipv6",
    "round",
    "transmitted",
    "received",
    "loss_pct",
    "rtt_min_ms",
    "rtt_avg_ms",
    "rtt_max_ms",
    "status",
    "exit_status",
    "attempts",
    "duration_s",
    "errors",
    "command",
    "raw",
)


def result_row(r: ProbeResult) -> dict[str, Any]:
    """One flat record per probe: the JSON ``pairs`` entry and the CSV row."""
    row = r.probe.model_dump(exclude={"command"}) | r.model_dump(exclude={"probe"})
    return {key: row[key] for key in ROW_FIELDS}


def summary_of(counts: Sequence[int], excluded: int) -> dict[str, int]:
    """The sweep's summary from result counts per status code (``pingstore.STATUSES`` order)
    and the number of plan entries left out: what ``--json`` and the Ping pane say."""
    from .pingstore import CODE

    return {
        "probes": sum(counts),
        "ok": counts[CODE["ok"]],
        "lossy": counts[CODE["loss"]],
        "failed": sum(counts[CODE[s]] for s in FAILED),
        "skipped": counts[CODE["skipped"]],
        "excluded": excluded,
    }


class PingMatrix:
    """A sweep: every planned probe's result, plus what the plan left out.

    ``results`` is a ``ResultTable`` (``pingstore``): a ``Sequence[ProbeResult]`` stored in
    arrays, about 100 bytes a probe; a list of ``ProbeResult`` given here is stored that way.
    """

    def __init__(
        self,
        pattern: str = "cross",
        hosts: Iterable[str] = (),
        results: Iterable[ProbeResult] = (),
        skipped: Iterable[Skip] = (),
    ) -> None:
        from .pingstore import ResultTable

        self.pattern = pattern
        self.hosts: list[str] = list(hosts)
        self.results: ResultTable = results if isinstance(results, ResultTable) else ResultTable.of(results)
        self.skipped: list[Skip] = list(skipped)

    def __repr__(self) -> str:
        return f"PingMatrix({self.pattern!r}, {len(self.hosts)} hosts, {len(self.results)} results)"

    @classmethod
    def from_plan(cls, plan: PingPlan, results: Iterable[ProbeResult]) -> PingMatrix:
        """Results in plan order; a planned probe without a result is ``skipped`` (not run)."""
        from .pingstore import ResultTable

        table = ResultTable(plan.probes.copy())
        given = list(results)
        rows = {table.probes.key(i): i for i in range(len(table))} if given else {}
        for r in given:
            i = rows.get(r.probe.key)
            if i is None:  # not planned: kept after the planned ones
                table.append(r)
            else:
                table.set(i, r)
        table.fill_unset("not run")
        return cls(pattern=plan.pattern, hosts=plan.hosts, results=table, skipped=plan.skipped)

    def with_retries(self, retried: Iterable[ProbeResult]) -> PingMatrix:
        """This matrix with the retried probes' results replaced (attempts added up)."""
        new = {r.probe.key: r for r in retried}
        table = self.results.copy()
        for i in range(len(table)):
            if not new:
                break
            r = new.pop(table.probes.key(i), None)
            if r is not None:
                probe = r.probe.model_copy(update={"round": table.probes.round_of(i)})
                attempts = int(table.attempts[i]) + r.attempts
                table.set(i, r.model_copy(update={"attempts": attempts, "probe": probe}))
        for r in new.values():
            table.append(r)
        return PingMatrix(pattern=self.pattern, hosts=self.hosts, results=table, skipped=self.skipped)

    def all_hosts(self) -> list[str]:
        """``hosts`` then any other host seen in the results."""
        seen = dict.fromkeys(self.hosts)
        probes = self.results.probes
        for end in sorted(set(probes.src) | set(probes.dst)):
            seen.setdefault(probes.ends[end].host)
        return list(seen)

    def summary(self) -> dict[str, int]:
        """``probes`` = ok + lossy + failed + skipped; ``excluded`` = entries the plan left out."""
        return summary_of(self.results.counts(), len(self.skipped))

    def exit_code(self) -> int:
        """0 when no probe lost packets or failed, else 1 (design.md §6)."""
        s = self.summary()
        return 1 if s["lossy"] or s["failed"] else 0

    def _tallies(self, key: Callable[[int], Hashable | None]) -> dict[Any, Tally]:
        table = self.results
        groups: dict[Any, Tally] = {}
        for i in range(len(table)):
            if not table.is_set(i) or (k := key(i)) is None:
                continue
            tally = groups.get(k)
            if tally is None:
                tally = groups[k] = Tally()
            tally.add(table.status_of(i), table.loss_of(i))
        return groups

    def pair_stats(self) -> list[PairStats]:
        probes = self.results.probes
        ends = probes.ends
        groups = self._tallies(lambda i: (ends[probes.src[i]].host, ends[probes.dst[i]].host))
        order = {h: i for i, h in enumerate(self.all_hosts())}
        keys = sorted(groups, key=lambda pair: (order[pair[0]], order[pair[1]]))
        return [PairStats(src_host=a, dst_host=b, **groups[(a, b)].fields()) for a, b in keys]

    def rail_stats(self) -> list[RailStats]:
        probes = self.results.probes
        ends = probes.ends

        def rail(i: int) -> int | None:
            s, d = ends[probes.src[i]], ends[probes.dst[i]]
            return s.device if s.device == d.device and s.host != d.host else None

        groups = self._tallies(rail)
        return [RailStats(device=d, **t.fields()) for d, t in sorted(groups.items())]

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
