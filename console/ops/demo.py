"""The demo's end-to-end flow on a (simulated) cluster, as step events.

    async for step in demo_flow(pool, DemoSettings(hosts=[...], workdir=..., expected_loss=[...])):
        Step("discover", "running") -> Step("discover", "ok", seconds, details, data) -> ...

Steps: discover -> ping (cross pattern; the spec's lossy pairs must be found, and nothing
else) -> rank table (build, validate, validate against the inventory, save) -> probe (the
collective probe + TP smoke model with gloo on ``ranks_per_server`` ranks of every server,
when torch is importable on the servers; otherwise a simulated workload, said so).

A step ends ``ok``, ``expected`` (it found exactly the faults the spec planted) or
``failed``; after a failed step the rest are ``skipped``. Starting the simulated servers is
the caller's business (``ops`` does not import ``sim``): ``cluster-console demo --headless``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from console.core.errors import ConsoleError
from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.planning.ping import default_pattern, plan_ping
from console.core.ranktable import RankTable, build, validate, validate_against
from console.core.ranktable.problems import describe

StepStatus = Literal["running", "ok", "expected", "failed", "skipped"]
STEPS = ("discover", "ping", "ranktable", "probe")
# on the simulated servers, ccsim-hccl-init first does HCCL's init checks against the planted
# faults (it prints HCCL's own error lines when one is hit)
WORKLOAD = (
    "{ ! command -v ccsim-hccl-init >/dev/null || ccsim-hccl-init; } && "
    'echo "rank $RANK of $WORLD_SIZE (local $LOCAL_RANK, device $DEVICE_ID) on '
    '$(hostname): simulated workload done"'
)


@dataclass(frozen=True)
class Step:
    """One step's start (``running``) or end (any other status, with ``seconds``)."""

    name: str
    status: StepStatus
    seconds: float | None = None
    details: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def good(self) -> bool:
        return self.status in ("ok", "expected")


class LossyPair(BaseModel):
    """A card pair expected to lose packets (the spec's ``loss`` fault)."""

    src_host: str
    src_device: int
    dst_host: str
    dst_device: int | None = Field(None, description="None: every device of dst_host")
    percent: float

    def matches(self, r: ProbeResult) -> bool:
        p = r.probe
        return (
            (p.src_host, p.src_device, p.dst_host) == (self.src_host, self.src_device, self.dst_host)
            and self.dst_device in (None, p.dst_device)
            and r.loss_pct is not None
            and abs(r.loss_pct - self.percent) < 0.5
        )


def describe_loss(r: ProbeResult) -> str:
    """``127.0.0.11 dev 3 -> 127.0.0.12 dev 3 at 33.33 %``"""
    p = r.probe
    return f"{p.src_host} dev {p.src_device} -> {p.dst_host} dev {p.dst_device} at {r.loss_pct:.2f} %"


class DemoSettings(BaseModel):
    """What the flow runs on and how small it keeps the probe."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    hosts: list[str]
    """SSH targets of the servers, in rank-table order."""
    workdir: Path
    """Local folder for the rank table and run records; with a simulated cluster (this
    machine) also the servers' rank table and probe files."""
    expected_loss: list[LossyPair] = Field(default_factory=list)
    ranks_per_server: int = Field(2, ge=1)
    backend: Literal["gloo", "hccl"] = "gloo"
    sizes: str = "1K,16K"
    tokens: int = Field(4, ge=1)
    iters: int = Field(2, ge=1)
    warmup: int = Field(1, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    master_port: int | None = None
    workload: Literal["auto", "probe", "simulated"] = "auto"
    """auto: the probe when torch is importable on every server, else a simulated one."""
    setup: list[str] = Field(default_factory=list)
    """Shell lines run on the servers before ``python3`` (the torch check and every probe
    rank), e.g. the line that puts the python with torch on PATH."""
    scenario: Literal["lossy-launch", "stuck-server"] | None = None
    """Instead of the probe, a launch that fails on a planted fault and its diagnosis
    (``console.ops.demo_scenarios``)."""
    stuck_hosts: list[str] = Field(default_factory=list)
    """Servers with a hung NPU (the spec's ``stuck`` faults): the stall must name one."""


class _Flow:
    """The steps; each returns (status, details, data) and may raise ConsoleError."""

    def __init__(self, pool: Any, s: DemoSettings) -> None:
        self.pool, self.s = pool, s
        self.inventory: Inventory | None = None
        self.table: RankTable | None = None
        self.matrix: PingMatrix | None = None

    async def discover(self) -> tuple[str, str, dict]:
        from console.ops.discovery import discover_inventory

        inv = self.inventory = await discover_inventory(self.pool, self.s.hosts)
        down = [f"{s.host}: {s.error}" for s in inv.servers if not s.reachable]
        errors = [f.message for f in inv.findings if f.severity == "error"]
        cards = sum(len(s.devices) for s in inv.servers)
        data = {
            "servers": len(inv.servers),
            "devices": cards,
            "findings": [f.model_dump(mode="json") for f in inv.findings],
        }
        if down or errors:
            return "failed", "; ".join(down + errors), data
        return "ok", (f"{len(inv.servers)} servers, {cards} NPUs, {len(inv.findings)} findings"), data

    def _inventory(self) -> Inventory:
        assert self.inventory is not None, "the discover step runs first"
        return self.inventory

    def _table(self) -> RankTable:
        assert self.table is not None, "the ranktable step runs first"
        return self.table

    async def ping(self) -> tuple[str, str, dict]:
        from console.ops.ping import run_sweep

        # cross up to 16 servers, rail above (a 64-server cross would be 258,048 probes)
        inventory = self._inventory()
        plan = plan_ping(inventory, default_pattern(len(inventory.servers)))
        table = plan.probes
        keys = {table.key(i) for i in range(len(table))}
        expected = [
            e
            for e in self.s.expected_loss
            if any((e.src_host, e.src_device, e.dst_host) == k[:3] and e.dst_device in (None, k[3]) for k in keys)
        ]
        matrix = self.matrix = await run_sweep(self.pool, plan)
        return judge_ping(matrix, expected)

    async def ranktable(self) -> tuple[str, str, dict]:
        from console.ops.ranktable_files import save

        inventory = self._inventory()
        table = build(inventory)
        problems = [*validate(table), *validate_against(table, inventory)]
        errors = [f"{p.where.path}: {p.message}" for p in problems if p.severity == "error"]
        path = self.s.workdir / "ranktable.json"
        save(table, path)
        data = {
            "path": str(path),
            "world_size": table.world_size,
            "servers": len(table.server_list),
            "problems": [describe(p) for p in problems],
        }
        if errors:
            return "failed", "invalid: " + "; ".join(errors), data
        self.table = table
        return (
            "ok",
            (
                f"{table.world_size} ranks on {len(table.server_list)} servers, valid "
                f"({len(problems)} warnings), saved to {path}"
            ),
            data,
        )

    async def probe(self) -> tuple[str, str, dict]:
        missing = await self._without_torch() if self.s.workload != "probe" else []
        if self.s.workload == "simulated" or missing:
            why = ("torch is not importable on " + ", ".join(missing)) if missing else "asked for a simulated workload"
            return await self._simulated(why)
        return await self._probe()

    async def _without_torch(self) -> list[str]:
        async def has(host: str) -> bool:
            script = "\n".join([*self.s.setup, "python3 -c 'import torch'"])
            res = await self.pool.run(host, script, timeout=120)
            return res.ok

        found = await asyncio.gather(*(has(h) for h in self.s.hosts))
        return [h for h, ok in zip(self.s.hosts, found, strict=True) if not ok]

    async def _probe(self) -> tuple[str, str, dict]:
        from console.ops.probe import ProbeOptions, run_probe

        options = ProbeOptions(
            backend=self.s.backend,
            sizes=self.s.sizes,
            mode="all",
            timeout_s=self.s.timeout_s,
            tokens=self.s.tokens,
            iters=self.s.iters,
            warmup=self.s.warmup,
            ranks_per_server=self.s.ranks_per_server,
            master_port=self.s.master_port,
            remote_ranktable=str(self.s.workdir / "remote" / "ranktable.json"),
            upload_base=str(self.s.workdir / "uploads"),
            setup=self.s.setup,
        )
        done = await run_probe(self._table(), options, pool=self.pool, run_base=self.s.workdir / "runs")
        return probe_verdict(done)

    async def _simulated(self, why: str) -> tuple[str, str, dict]:
        from console.core.planning.launch import build_launch_plan
        from console.core.ranktable import dumps
        from console.ops.launch import launch
        from console.ops.launch_events import JobFinished, RankLine
        from console.ops.probe import subset_table
        from console.ops.profiles import load_profile
        from console.ops.runrecord import new_run_id

        table = subset_table(self._table(), self.s.ranks_per_server)
        plan = build_launch_plan(
            table,
            load_profile("custom"),
            args=["bash", "-c", WORKLOAD],
            run_id=new_run_id(),
            remote_ranktable=str(self.s.workdir / "remote" / "ranktable.json"),
            master_port=self.s.master_port,
        )
        events = launch(plan, table, dumps(table).encode("utf-8"), pool=self.pool, run_base=self.s.workdir / "runs")
        said, summary = [], None
        async with contextlib.aclosing(events):
            async for ev in events:
                if isinstance(ev, RankLine) and ev.stream == "o":
                    said.append(ev.text)
                elif isinstance(ev, JobFinished):
                    summary = ev.summary
        where = f"{plan.world_size} ranks on {len(plan.servers)} servers"
        data = {
            "simulated": True,
            "reason": why,
            "world_size": plan.world_size,
            "lines": said,
            "run_dir": summary.run_dir if summary else None,
        }
        if summary is None or not summary.ok:
            root = summary.root_cause.describe() if summary and summary.root_cause else "failed"
            return "failed", f"simulated workload on {where}: {root}", data
        return (
            "ok",
            (f"{why}: ran a SIMULATED workload instead of the probe ({where}, each printed its rank and exited 0)"),
            data,
        )

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[tuple[str, str, dict]]]]]:
        return [("discover", self.discover), ("ping", self.ping), ("ranktable", self.ranktable), ("probe", self.probe)]


def judge_ping(matrix: PingMatrix, expected: list[LossyPair]) -> tuple[str, str, dict]:
    """``expected`` when exactly the expected pairs lost packets, ``ok`` when none was
    expected and none did, else ``failed`` naming the missing and unexpected ones."""
    table = matrix.results
    bad = [table[i] for i in range(len(table)) if table.status_of(i) not in ("ok", "skipped")]
    lossy = [r for r in bad if r.status == "loss"]
    unexpected = [r for r in bad if not any(e.matches(r) for e in expected)]
    missing = [e for e in expected if not any(e.matches(r) for r in lossy)]
    s = matrix.summary()
    data = {
        "summary": s,
        "lossy_pairs": [
            {
                "src_host": r.probe.src_host,
                "src_device": r.probe.src_device,
                "dst_host": r.probe.dst_host,
                "dst_device": r.probe.dst_device,
                "loss_pct": r.loss_pct,
                "status": r.status,
                "command": r.command,
            }
            for r in bad
        ],
    }
    text = f"{s['probes']} probes, {s['ok']} ok"
    if missing or unexpected:
        parts = [
            f"expected loss not found: {e.src_host} dev {e.src_device} -> {e.dst_host} "
            f"dev {e.dst_device if e.dst_device is not None else '*'} at {e.percent} %"
            for e in missing
        ]
        parts += [
            f"unexpected {r.status}: "
            + (
                describe_loss(r)
                if r.status == "loss"
                else f"{r.probe.src_host} dev {r.probe.src_device} -> {r.probe.dst_host} dev {r.probe.dst_device}"
            )
            for r in unexpected
        ]
        return "failed", f"{text}; " + "; ".join(parts), data
    if lossy:
        found = "; ".join(describe_loss(r) for r in lossy)
        return "expected", f"{text}; found the lossy pair {found} (as planted)", data
    return "ok", f"{text}, no loss", data


def probe_verdict(done: Any) -> tuple[str, str, dict]:
    """(status, details, data) of a ``ProbeFinished``."""
    r, plan = done.report, done.plan
    data = {
        "backend": plan.backend,
        "world_size": plan.world_size,
        "rows": r.rows(),
        "checks": r.check_rows(),
        "problems": done.problems(),
        "tp_smoke": r.tp_smoke.model_dump(mode="json") if r.tp_smoke else None,
        "run_dir": done.summary.run_dir,
    }
    where = f"{plan.world_size} {plan.backend} ranks on {len(plan.servers)} servers"
    if not done.ok:
        root = done.summary.root_cause
        why = done.problems() or ([root.describe()] if root else ["failed"])
        return "failed", f"{where}: " + "; ".join(why), data
    tp = r.tp_smoke
    tp_text = (
        ""
        if tp is None
        else (f", tp smoke ok ({tp.tokens_per_s or 0:.1f} tokens/s, max logit error {tp.max_abs_diff or 0:.1e})")
    )
    return (
        "ok",
        (
            f"{where}: {len(r.ops)} ops x {len(r.results) // max(len(r.ops), 1)} sizes, "
            f"{len(r.checks)} checks passed{tp_text}"
        ),
        data,
    )


async def demo_flow(pool: Any, settings: DemoSettings) -> AsyncIterator[Step]:
    """Every step's start and end; after a failure the remaining steps are ``skipped``."""
    settings.workdir.mkdir(parents=True, exist_ok=True)
    flow, failed = _Flow(pool, settings), None
    if settings.scenario is not None:
        from console.ops.demo_scenarios import ScenarioFlow

        flow = ScenarioFlow(pool, settings)
    for name, method in flow.steps():
        if failed is not None:
            yield Step(name, "skipped", details=f"after the failed {failed} step")
            continue
        yield Step(name, "running")
        t0 = time.monotonic()
        try:
            status, details, data = await method()
        except ConsoleError as exc:
            status, details, data = "failed", str(exc), {}
        seconds = round(time.monotonic() - t0, 3)
        yield Step(name, status, seconds, details, data)  # type: ignore[arg-type]  # each step returns a StepStatus
        if status == "failed":
            failed = name


__all__ = ["STEPS", "DemoSettings", "LossyPair", "Step", "demo_flow", "judge_ping", "probe_verdict"]
