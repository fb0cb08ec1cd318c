"""Discovery parses one server's answer per event-loop pass, however many arrive at once.

The answers of many servers often arrive together (a fast cluster, a burst of channels closing);
parsing one costs 5-10 ms of CPU, so parsing dozens of them in one pass of the loop froze the
Nodes pane for hundreds of milliseconds while 1,024 servers reported (bench/tui_discovery.py).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from console.ops import discovery


class BurstPool:
    """Every ``run`` answers at the same moment (when ``release`` is set): the worst burst."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def peer_address(self, host: str) -> str:
        return host

    async def run(self, host: str, script: str) -> SimpleNamespace:
        await self.release.wait()
        return SimpleNamespace(stdout="", stderr="", exit_status=0)


class Passes:
    """Counts the event loop's passes: a callback that runs once per pass."""

    def __init__(self) -> None:
        self.count = 0
        self.loop = asyncio.get_running_loop()
        self.loop.call_soon(self.tick)

    def tick(self) -> None:
        self.count += 1
        self.loop.call_soon(self.tick)


def test_a_burst_of_answers_is_parsed_one_server_per_loop_pass(monkeypatch) -> None:
    parsed_in_pass: list[int] = []
    real = discovery.assemble_server

    async def main() -> list:
        passes = Passes()

        def assemble_server(*args, **kwargs):
            parsed_in_pass.append(passes.count)
            return real(*args, **kwargs)

        monkeypatch.setattr(discovery, "assemble_server", assemble_server)
        pool = BurstPool()
        hosts = [f"node{i:02d}" for i in range(24)]
        events = []

        async def consume() -> None:
            async for event in discovery.discover(pool, hosts):  # type: ignore[arg-type]
                events.append(event)

        task = asyncio.ensure_future(consume())
        while sum(isinstance(e, discovery.ServerStarted) for e in events) < len(hosts):
            await asyncio.sleep(0)
        for _ in range(5):  # every server is now waiting for its answer
            await asyncio.sleep(0)
        pool.release.set()
        await task
        return events

    events = asyncio.run(main())
    assert len(parsed_in_pass) == 24
    assert isinstance(events[-1], discovery.DiscoveryDone) and len(events[-1].inventory.servers) == 24
    assert len(set(parsed_in_pass)) == 24, f"answers parsed in the same loop pass: {parsed_in_pass}"
