"""What ending SSH sessions costs the simulator, counted: /proc walks (a sweep of 1,024
servers ends 8,192 probe lanes at once in one sim process)."""

from __future__ import annotations

import asyncio
import os

from console.sim.cluster import SimCluster
from tests.ops.procs import alive, wait_gone

SESSIONS = 8


async def test_sessions_cut_off_end_without_walking_proc(sim_factory, sim_connect, monkeypatch) -> None:
    """A connection dropped while its commands run: every group is killed; the sim sees the
    groups are empty from their reaped leaders, not by reading every process's stat."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    walks = 0
    real_scandir = os.scandir

    def counting_scandir(path: str = ".") -> object:
        nonlocal walks
        walks += str(path) == "/proc"
        return real_scandir(path)

    async with sim_connect(sim, sim.hosts[0]) as conn:
        procs = [await conn.create_process("echo $$; exec sleep 300") for _ in range(SESSIONS)]
        pids = [int(await asyncio.wait_for(p.stdout.readline(), 20)) for p in procs]
        assert all(alive(pid) for pid in pids)
        monkeypatch.setattr(os, "scandir", counting_scandir)
        conn.abort()
    for pid in pids:  # the sim TERMs each group as its channel closes (the old code walked /proc then)
        await wait_gone(pid)
    assert walks == 0, walks
