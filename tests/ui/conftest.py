"""Helpers for the UI tests: inventories built in Python and injectable discovery sources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from console.core.diagnostic import diagnostic
from console.core.inventory import CommandFailure, Device, Inventory, Server
from console.ops.discovery import DiscoveryDone, ServerDone, ServerStarted
from console.ui.sources import Sources

SEED_IPS = {
    "90.90.152.89": ["10.10.100.10", "10.10.100.11", "10.10.100.12", "10.10.100.13"],
    "90.90.152.91": ["10.10.100.22", "10.10.100.23", "10.10.100.24", "10.10.100.25"],
}
LINK_CMD = "timeout 5 hccn_tool -i 2 -link -g"
LINK_OUTPUT = "link status: DOWN\n"


def seed_inventory(*, fault: bool = True) -> Inventory:
    """The cluster that tests/data/ranktable_seed_2x4.json describes; node2 card 2 link down."""
    servers = []
    for n, (server_id, ips) in enumerate(SEED_IPS.items(), 1):
        devices = []
        for i, ip in enumerate(ips):
            down = fault and n == 2 and i == 2
            devices.append(
                Device(
                    device_id=i,
                    card=i,
                    chip=0,
                    logic_id=i,
                    device_ip=ip,
                    netmask="255.255.255.0",
                    ip_source="hccn_tool",
                    link="DOWN" if down else "UP",
                    net_health="Success",
                    tls=0,
                    health="OK",
                    failures=[
                        CommandFailure(command=LINK_CMD, exit_status=0, output=LINK_OUTPUT, message="link is DOWN")
                    ]
                    if down
                    else [],
                )
            )
        servers.append(
            Server(
                host=f"node{n}",
                server_id=server_id,
                hostname=f"ascend-{n:02d}",
                reachable=True,
                product="A2",
                chips_per_card=1,
                driver_version="24.1.rc2",
                cann_version="8.0.RC3",
                devices=devices,
            )
        )
    findings = [diagnostic("error", "link_down", "card 2 link is DOWN", host="node2", device=2)] if fault else []
    return Inventory(servers=servers, findings=findings)


@dataclass
class FakeDiscovery:
    """A discovery source shaped like console.ops.discovery.discover's events.

    ``gate`` (if set) is awaited after the first server, so a test can look at the
    half-done state; ``calls`` records the host lists it was asked for.
    """

    inventory: Inventory
    gate: asyncio.Event | None = None
    calls: list[list[str]] = field(default_factory=list)

    async def __call__(self, hosts: Sequence[str]) -> AsyncIterator[object]:
        self.calls.append(list(hosts))
        for h in hosts:
            yield ServerStarted(h)
        wanted = [s for s in self.inventory.servers if s.host in hosts]
        for i, server in enumerate(wanted, 1):
            yield ServerDone(server, i, len(wanted))
            if i == 1 and self.gate is not None:
                await self.gate.wait()
        yield DiscoveryDone(self.inventory.model_copy(update={"servers": wanted}))


def failing_discovery(error: Exception) -> Callable[[Sequence[str]], AsyncIterator[object]]:
    async def discover(hosts: Sequence[str]) -> AsyncIterator[object]:
        yield ServerStarted(hosts[0])
        raise error

    return discover


def sources(discover=None) -> Sources:
    return Sources(discover=discover or FakeDiscovery(seed_inventory()))


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""

    async def poll() -> None:
        while not condition():
            await pilot.pause()

    await asyncio.wait_for(poll(), timeout)


async def submit(pilot, text: str) -> None:
    """Fill the open one-line dialog with ``text`` and press Enter (long paths typed key by
    key would only slow the test down)."""
    from textual.widgets import Input

    from console.ui.screens.dialogs import InputScreen

    await wait_until(pilot, lambda: isinstance(pilot.app.screen, InputScreen))
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
