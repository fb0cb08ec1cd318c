"""The collective probe over the launch: plan it, run it, read what every rank said.

    async for ev in probe(table, ProbeOptions(backend="gloo", mode="all"), pool=pool):
        launch events as they happen (Stage, RankStarted, RankLine, ..., JobFinished),
        then ``ProbeFinished(report, summary, plan)`` last.

``run_probe(...)`` is the same run as one coroutine returning the ``ProbeFinished``. The
CLI (``cluster-console probe``), the headless demo and the Launch pane consume these.

The probe (``console/probe/probe.py``) is uploaded with the bundled ``probe`` profile into
the run-specific ``{upload_dir}`` on every server and started once per rank; its stdout is
JSON lines, fed into a ``console.core.probe_report.ProbeReport`` as they arrive.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from console.core.diagnostic import Diagnostic
from console.core.inventory import Inventory
from console.core.planning.launch import LaunchPlan, build_launch_plan
from console.core.probe_report import ProbeReport
from console.core.ranktable import RankTable, dumps, subset_table
from console.ops.launch import launch
from console.ops.launch_events import JobFinished, JobSummary, LaunchEvent, RankLine
from console.ops.launch_stop import StopRequests
from console.ops.profiles import load_profile
from console.ops.runrecord import DEFAULT_BASE, DEFAULT_LOG_CAP, new_run_id

PROFILE = "probe"


class ProbeOptions(BaseModel):
    """What to probe and how (``cluster-console probe`` flags)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    backend: Literal["hccl", "gloo"] | None = None
    """BACKEND of every rank; None = the profile's (hccl)."""
    sizes: str = "1K,64K,1M"
    """Message sizes, e.g. 1K,64K,1M (binary units)."""
    mode: Literal["collectives", "tp-smoke", "all"] = "collectives"
    timeout_s: float = Field(120.0, gt=0)
    """Seconds the ranks wait for each other (rendezvous and collective timeout)."""
    tokens: int | None = Field(None, ge=1)
    """TP smoke model: tokens to decode (probe default 16)."""
    iters: int | None = Field(None, ge=1)
    """Timed iterations per size (probe default 20)."""
    warmup: int | None = Field(None, ge=0)
    """Untimed iterations per size (probe default 5)."""
    ranks_per_server: int | None = Field(None, ge=1)
    """Use only the first N devices (by rank) of each server; ranks renumbered."""
    hosts: dict[str, str] = Field(default_factory=dict)
    """server_id -> SSH target (default: the server_id)."""
    master_port: int | None = Field(None, ge=1, le=65535)
    remote_ranktable: str | None = None
    """Absolute path of the rank table on every server (default: the launcher's)."""
    force_remote_ranktable: bool = False
    """Overwrite an existing file at remote_ranktable even if it is not a rank table."""
    keep_remote: bool = False
    """Keep each server's private run folder (probe files, rank table) after the job."""
    upload_base: str | None = None
    """Absolute folder on the servers for the probe files (default: the profile's)."""
    setup: list[str] = Field(default_factory=list)
    """Shell lines run before the probe on every rank, after the profile's (e.g. put the
    python that has torch on PATH: servers run what a login gives, not the console's env)."""
    extra_args: list[str] = Field(default_factory=list)
    """More probe.py arguments, appended last (e.g. --dtype float16, --ops all_reduce)."""

    def probe_args(self) -> list[str]:
        """Arguments appended to the profile's command (they win over its defaults)."""
        args = ["--sizes", self.sizes, "--mode", self.mode, "--timeout", f"{self.timeout_s:g}"]
        for flag, value in (("--tokens", self.tokens), ("--iters", self.iters), ("--warmup", self.warmup)):
            if value is not None:
                args += [flag, str(value)]
        return [*args, *self.extra_args]


def plan_probe(
    table: RankTable, options: ProbeOptions, run_id: str | None = None
) -> tuple[RankTable, bytes, LaunchPlan]:
    """(the table the probe runs on, its exact bytes, the launch plan)."""
    used = subset_table(table, options.ranks_per_server)
    profile = load_profile(PROFILE)
    if options.upload_base is not None:
        profile = profile.model_copy(update={"upload_base": options.upload_base})
    env = {"BACKEND": options.backend} if options.backend else {}
    plan = build_launch_plan(
        used,
        profile,
        args=options.probe_args(),
        env=env,
        setup=options.setup,
        hosts=options.hosts,
        master_port=options.master_port,
        remote_ranktable=options.remote_ranktable,
        force_remote_ranktable=options.force_remote_ranktable,
        keep_remote=options.keep_remote,
        run_id=run_id or new_run_id(),
    )
    return used, dumps(used).encode("utf-8"), plan


@dataclass(frozen=True)
class ProbeFinished:
    """The end of a probe run: what the ranks reported and how the job ended."""

    report: ProbeReport
    summary: JobSummary
    plan: LaunchPlan

    @property
    def ok(self) -> bool:
        """Every rank exited 0 and every check passed."""
        return self.summary.ok and not self.report.failed

    def server_of(self, rank: int | None) -> str | None:
        if rank is None:
            return None
        try:
            return self.plan.rank(rank)[0].server_id
        except KeyError:
            return None

    def where(self, rank: int | None) -> str:
        """``rank 3 on 10.0.0.2`` (the server as the rank table names it)."""
        server = self.server_of(rank)
        return f"rank {rank}" + (f" on {server}" if server else "")

    def where_all(self, ranks: list[int | None]) -> str:
        """``ranks 0, 1 on 10.0.0.1; rank 2 on 10.0.0.2`` (grouped by server)."""
        by_server: dict[str | None, list[int]] = {}
        for r in sorted({r for r in ranks if r is not None}):
            by_server.setdefault(self.server_of(r), []).append(r)
        parts = [
            ("rank " if len(rs) == 1 else "ranks ") + ", ".join(map(str, rs)) + (f" on {sid}" if sid else "")
            for sid, rs in by_server.items()
        ]
        return "; ".join(parts) or "a rank"

    def problems(self) -> list[str]:
        """One line per distinct problem the ranks reported, naming rank and server."""
        return [self.describe(d) for d in self.report.diagnostics()]

    def describe(self, d: Diagnostic) -> str:
        """A probe diagnostic as a line: its ranks with their servers, then the message."""
        if d.code == "rank_error":
            return f"{self.where_all(list(d.where.ranks))}: {d.message}"
        if d.code == "check_failed":
            return f"{self.where(d.where.rank)}: {d.message}"
        return d.message

    def slowest(self) -> list[dict[str, Any]]:
        """Per rank that was the slowest of some row: in how many rows, and its worst ratio
        to the median; most often slowest first."""
        stats: dict[int, dict[str, Any]] = {}
        for r in self.report.results:
            rank, ratio = r.slowest_rank, r.slow_ratio
            if rank is None:
                continue
            s = stats.setdefault(
                rank, {"rank": rank, "server_id": self.server_of(rank), "rows": 0, "worst_vs_median": 0.0}
            )
            s["rows"] += 1
            s["worst_vs_median"] = max(s["worst_vs_median"], round(ratio or 0.0, 3))
        return sorted(stats.values(), key=lambda s: (-s["rows"], -s["worst_vs_median"]))


class _Lines:
    """Whole stdout lines per rank from RankLine pieces (over-long lines come in parts)."""

    def __init__(self) -> None:
        self.open: dict[int, list[str]] = {}

    def feed(self, ev: RankLine) -> str | None:
        parts = self.open.setdefault(ev.rank, [])
        parts.append(ev.text)
        if ev.partial:
            return None
        del self.open[ev.rank]
        return "".join(parts)


async def probe(
    table: RankTable,
    options: ProbeOptions,
    *,
    pool: Any,
    run_base: Path | str = DEFAULT_BASE,
    inventory: Inventory | None = None,
    check: bool = True,
    run_id: str | None = None,
    log_cap: int = DEFAULT_LOG_CAP,
    stop: StopRequests | None = None,
) -> AsyncGenerator[LaunchEvent | ProbeFinished, None]:
    """Run the probe on every rank of ``table`` (over SSH with ``pool``; locally without).

    Yields the launch's events, then ``ProbeFinished``. Errors before the ranks start
    (unreachable server, preflight) raise the launch's ``ConsoleError``. ``stop``: the
    user's stop requests (INT, TERM, KILL), as ``launch``'s; the events go on to the end.
    """
    used, data, plan = plan_probe(table, options, run_id)
    report, lines = ProbeReport(), _Lines()
    events = launch(
        plan, used, data, pool=pool, run_base=run_base, inventory=inventory, check=check, log_cap=log_cap, stop=stop
    )
    async with contextlib.aclosing(events):
        async for ev in events:
            if isinstance(ev, RankLine) and ev.stream == "o":
                line = lines.feed(ev)
                if line is not None:
                    report.add_line(line, ev.rank)
            yield ev
            if isinstance(ev, JobFinished):
                yield ProbeFinished(report, ev.summary, plan)
                return


async def run_probe(table: RankTable, options: ProbeOptions, *, pool: Any, **kw: Any) -> ProbeFinished:
    """``probe(...)`` to the end; the ``ProbeFinished``."""
    async with contextlib.aclosing(probe(table, options, pool=pool, **kw)) as events:
        async for ev in events:
            if isinstance(ev, ProbeFinished):
                return ev
    raise RuntimeError("the launch ended without JobFinished")  # a bug in the engine
