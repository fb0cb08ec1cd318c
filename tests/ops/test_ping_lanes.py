"""The sweep engine's own work at scale, counted (not timed) against a fake pool whose lanes
answer every probe like ``hccn_tool`` does: how many lanes it opens, and how much waiting
machinery a round costs as the number of lanes grows."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from console.core.inventory import Device, Inventory, Server
from console.core.planning.ping import plan_ping
from console.ops.ping import SweepDone, SweepOptions, sweep
from console.remote import SSHOptions
from console.remote.budget import OutputBudget

PROBE = re.compile(r"hccn_tool -i (\d+) -ping -g address (\S+)$")
OK = (
    "device {dev} PING {ip}\nrecv seq=0,time=0.067000ms\nrecv seq=1,time=0.049000ms\n"
    "recv seq=2,time=0.047000ms\n3 packets transmitted, 3 received, 0.00% packet loss"
)


class FakeLane:
    """The remote end of one lane: READY, then each command's output and its END marker.
    Probe ``n`` of the whole pool answers after ``n % 7`` loop turns, so lanes finish one by
    one instead of all in the same turn."""

    def __init__(self, pool: FakePool, command: str) -> None:
        found = re.search(r"M=(@@CCP[0-9a-f]+@@)", command)
        assert found, command
        self.pool, self.marker = pool, found.group(1)
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.lines.put_nowait(f"{self.marker} READY")

    def write(self, text: str) -> None:
        asyncio.get_running_loop().create_task(self._answer(text.rstrip("\n")))

    async def _answer(self, command: str) -> None:
        self.pool.probes += 1
        for _ in range(self.pool.probes % 7):
            await asyncio.sleep(0)
        m = PROBE.search(command)
        assert m, command
        for line in OK.format(dev=m.group(1), ip=m.group(2)).splitlines():
            self.lines.put_nowait(line)
        self.lines.put_nowait(f"{self.marker} END 0")

    async def drain(self) -> None:
        pass

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[str]:
        while True:
            yield await self.lines.get()

    async def close(self) -> None:
        self.pool.closed += 1


class FakePool:
    def __init__(self) -> None:
        self.options = SSHOptions()
        self.output_budget = OutputBudget(self.options.output_budget)
        self.opened: Counter[str] = Counter()
        self.closed = 0
        self.probes = 0

    async def open_process(self, host: str, command: str) -> FakeLane:
        self.opened[host] += 1
        return FakeLane(self, command)


def inventory(servers: int, cards: int) -> Inventory:
    return Inventory(
        servers=[
            Server(
                host=f"10.0.{s // 256}.{s % 256}",
                server_id=f"s{s}",
                reachable=True,
                product="A2",
                devices=[Device(device_id=c, card=c, device_ip=f"29.{s // 256}.{s % 256}.{c}") for c in range(cards)],
            )
            for s in range(servers)
        ]
    )


async def run(pool: Any, servers: int, cards: int, pattern: str) -> SweepDone:
    plan = plan_ping(inventory(servers, cards), pattern, seed=1)
    last = None
    async for ev in sweep(pool, plan, SweepOptions()):
        last = ev
    assert isinstance(last, SweepDone)
    assert last.matrix.summary()["ok"] == len(plan.probes)
    return last


async def test_a_round_waits_on_its_lanes_once_not_once_per_finished_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio.wait over every worker of a round at each completion is quadratic in the lanes
    (8,192 lanes a round at 1,024 servers): the futures handed to asyncio.wait, summed over
    the sweep, must stay linear in rounds + lanes."""
    waited = 0
    real_wait = asyncio.wait

    async def counting_wait(fs: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal waited
        fs = list(fs)
        waited += len(fs)
        return await real_wait(fs, *args, **kwargs)

    monkeypatch.setattr(asyncio, "wait", counting_wait)
    servers, cards = 64, 8
    done = await run(FakePool(), servers, cards, "sample")
    rounds = len(done.matrix.results.probes.batches())
    assert rounds == 4  # 32 pair classes / 8 cards
    assert waited <= 4 * rounds + servers * cards, waited


async def test_lanes_are_opened_once_per_server_slot_and_reused_by_every_round() -> None:
    pool = FakePool()
    await run(pool, 32, 4, "sample")  # 4 rounds of one probe per card: 4 lanes per server
    assert set(pool.opened.values()) == {4}
    assert pool.closed == 32 * 4
