"""``cluster-console demo --headless``: the whole flow on the simulated cluster, no TUI.

sim up -> discover -> ping (the spec's lossy pair must be found: that is EXPECTED) -> rank
table (build, validate, save) -> probe on ``ranks_per_server`` ranks of every server with
gloo (a simulated workload when torch is not importable, said so). Each step and its timing
goes to stderr as it happens; the summary to stdout (a table, or JSON with ``--json``).
Exit 0 when every step behaved as expected, else 1.

``demo.py`` starts and stops the simulated cluster (``DemoCluster``) and calls
``run_headless(args, cluster)`` (its ``FLOWS["headless"]``); the steps are
``console.ops.demo.demo_flow``.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any

from console.cli._common import print_json, stdout_console, warn
from console.core.errors import EXIT_CHECK_FAILED

_STYLE = {"ok": "green", "expected": "yellow", "failed": "bold red", "skipped": "dim"}


def expected_loss(spec: Any) -> list[Any]:
    """The spec's ``loss`` faults as the lossy card pairs the ping step must find."""
    from console.ops.demo import LossyPair

    pairs = []
    for f in spec.faults:
        if f.kind != "loss":
            continue
        pct = f.percent if f.lost_seqs is None else round(100 * len(set(f.lost_seqs)) / 3, 2)
        src, dst = spec.server(f.src).address, spec.server(f.dst).address
        pairs.append(
            LossyPair(src_host=src, src_device=f.src_device, dst_host=dst, dst_device=f.dst_device, percent=pct)
        )
        if f.symmetric and f.dst_device is not None:
            pairs.append(
                LossyPair(src_host=dst, src_device=f.dst_device, dst_host=src, dst_device=f.src_device, percent=pct)
            )
    return pairs


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def venv_setup() -> str:
    """The setup line that puts this console's python (the one with torch) first on PATH:
    the simulated servers, like real ones, start commands with the system PATH only."""
    return f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"'


def settings(cluster: Any, scenario: str | None = None) -> Any:
    """Small probe (2 ranks per server, tiny sizes), files in the demo's own folder."""
    from console.ops.demo import DemoSettings

    hosts = cluster.sim.hosts
    spec = cluster.spec
    stuck = [spec.server(f.server).address for f in spec.faults if f.kind == "stuck"]
    return DemoSettings(
        hosts=hosts,
        workdir=cluster.workdir.resolve() / "demo",
        expected_loss=expected_loss(spec),
        master_port=_free_port(hosts[0]),
        setup=[venv_setup()],
        scenario=scenario,
        stuck_hosts=stuck,
    )


def _sim_step(cluster: Any) -> Any:
    from console.ops.demo import Step

    sim = cluster.sim
    hosts = sim.hosts
    span = hosts[0] if len(hosts) == 1 else f"{hosts[0]} .. {hosts[-1]}"
    cards = sum(len(s.devices) for s in cluster.spec.servers)
    return Step(
        "sim",
        "ok",
        getattr(cluster, "start_s", None),
        f"{len(hosts)} simulated servers ({span}, port {sim.port}), {cards} NPUs, folder {cluster.workdir}",
    )


def _seconds(step: Any) -> str:
    return "" if step.seconds is None else f"{step.seconds:.2f} s"


def _print_step(step: Any) -> None:
    if step.status == "running":
        warn(f"demo: {step.name} ...")
    else:
        timing = f" ({_seconds(step)})" if step.seconds is not None else ""
        warn(f"demo: {step.name}: {step.status}{timing}: {step.details}")


async def _flow(cluster: Any, scenario: str | None = None) -> list[Any]:
    from console.ops.demo import demo_flow
    from console.remote import Pool

    steps = []
    chosen = settings(cluster, scenario)
    for line in chosen.setup if scenario is None else []:
        warn(f"demo: the probe's ranks run the setup line: {line}")
    async with Pool(cluster.ssh_options()) as pool:
        async for step in demo_flow(pool, chosen):
            _print_step(step)
            if step.status != "running":
                steps.append(step)
    return steps


def _table(steps: list[Any], total: float) -> None:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="cluster-console demo (headless)", title_justify="left")
    t.add_column("step")
    t.add_column("status")
    t.add_column("time", justify="right")
    t.add_column("details")
    for s in steps:
        t.add_row(s.name, f"[{_STYLE.get(s.status, '')}]{s.status}[/]", _seconds(s), escape(s.details))
    t.add_row("total", "", f"{total:.2f} s", "")
    stdout_console().print(t)


def run_headless(args: argparse.Namespace, cluster: Any) -> int:
    """The flow on an already started ``DemoCluster``; the exit code."""
    t0 = time.monotonic()
    first = _sim_step(cluster)
    _print_step(first)
    scenario = getattr(args, "scenario", None)
    steps = [first, *asyncio.run(_flow(cluster, scenario))]
    total = (first.seconds or 0.0) + time.monotonic() - t0
    ok = all(s.good for s in steps)
    code = 0 if ok else EXIT_CHECK_FAILED
    if getattr(args, "json", False):
        print_json(
            {
                "ok": ok,
                "exit_code": code,
                "total_s": round(total, 3),
                "sim_dir": str(cluster.workdir),
                "steps": [
                    {"name": s.name, "status": s.status, "seconds": s.seconds, "details": s.details, "data": s.data}
                    for s in steps
                ],
                **({"scenario": scenario} if scenario else {}),
            }
        )
    else:
        _table(steps, total)
    warn(
        "demo: "
        + (
            "every step behaved as expected"
            if ok
            else "FAILED: " + ", ".join(s.name for s in steps if s.status == "failed")
        )
    )
    if not getattr(args, "dir", None):
        warn(
            f"demo: {cluster.workdir} is removed at exit; pass --dir DIR to keep the rank table "
            "and the simulated cluster's files"
        )
    return code
