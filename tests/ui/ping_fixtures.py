"""Ping matrices built from fixed tool outputs (no SSH, no clocks) and the in-process
simulated cluster, for the Ping matrix pane tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from console.core.inventory import Device, Inventory, Server
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.planning.ping import Probe, plan_ping
from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec

DATA = Path(__file__).resolve().parent.parent / "data"
LOSS_OUTPUT = (DATA / "hccn_ping_loss_guide.txt").read_text(encoding="utf-8")
LINK_DOWN_OUTPUT = (DATA / "hccn_ping_link_down.txt").read_text(encoding="utf-8")


def ok_output(probe: Probe) -> str:
    """The documented all-answered output, for this probe's device and address."""
    sample = (DATA / "hccn_ping_ok.txt").read_text(encoding="utf-8").splitlines()[1:]
    return "\n".join([f"device {probe.src_device} PING {probe.dst_ip}", *sample]) + "\n"


def inventory(servers: int, cards: int = 8) -> Inventory:
    """``servers`` reachable A2 servers node01.. with ``cards`` devices each."""
    return Inventory(
        servers=[
            Server(
                host=f"node{s:02d}",
                server_id=f"192.168.1.{s}",
                reachable=True,
                product="A2",
                devices=[
                    Device(device_id=d, card=d, chip=0, device_ip=f"10.{s // 250}.{s % 250}.{10 + d}")
                    for d in range(cards)
                ],
            )
            for s in range(1, servers + 1)
        ]
    )


def built_matrix(
    servers: int = 2, cards: int = 8, pattern: str = "cross", bad: dict[tuple[str, int, str, int], str] | None = None
) -> PingMatrix:
    """Every probe of ``pattern`` answered ok, except the keys of ``bad`` (-> their output)."""
    plan = plan_ping(inventory(servers, cards), pattern)  # type: ignore[arg-type]
    bad = bad or {}
    results = []
    for p in plan.probes:
        output = bad.get(p.key)
        exit_status = 0 if output is None or output is LOSS_OUTPUT else 1
        results.append(ProbeResult.from_output(p, exit_status, output or ok_output(p)))
    return PingMatrix.from_plan(plan, results)


def demo_matrix() -> PingMatrix:
    """The default sim's outcome: node01 dev 3 -> node02 dev 3 loses 33.33 %; plus one dead
    link so the snapshot shows every colour."""
    return built_matrix(
        3, 8, bad={("node01", 3, "node02", 3): LOSS_OUTPUT, ("node03", 5, "node01", 5): LINK_DOWN_OUTPUT}
    )


@asynccontextmanager
async def running_sim(workdir: Path, spec: ClusterSpec | None = None) -> AsyncIterator[SimCluster]:
    sim = SimCluster(spec or ClusterSpec.default(), workdir, port=0)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
