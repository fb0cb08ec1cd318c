"""Node discovery: what every server and NPU device is, in two round trips per server.

``discover(pool, hosts)`` is an async generator of typed events; the CLI and the Nodes pane
consume the same generator. One failing server or card never stops the rest; every failure
keeps the host, the exact command and the raw output.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass

from console.core.discovery.assemble import assemble_devices, assemble_server, device_ids
from console.core.discovery.findings import findings
from console.core.discovery.script import devices_script, server_script, split_sections
from console.core.errors import ConsoleError
from console.core.inventory import Inventory, Server
from console.remote import Pool


@dataclass(frozen=True)
class ServerStarted:
    host: str


@dataclass(frozen=True)
class ServerDone:
    server: Server
    done: int
    total: int


@dataclass(frozen=True)
class DiscoveryDone:
    inventory: Inventory
    elapsed_s: float = 0.0


DiscoveryEvent = ServerStarted | ServerDone | DiscoveryDone


class Turns:
    """``async with turns():`` — one holder at a time, each in a later pass of the event loop
    than the one before (an uncontended ``asyncio.Lock`` never yields, so CPU work under a
    bare lock still ran back to back in one pass)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        async with self._lock:
            await asyncio.sleep(0)  # the others queue on the lock; this one runs next pass
            yield


async def discover_server(pool: Pool, host: str, *, tool_timeout: float = 5, turns: Turns | None = None) -> Server:
    """Everything about one server. Never raises: an unreachable server is a Server with error.

    ``turns``: shared by the servers of one discovery, held while an answer is parsed
    (5-10 ms of CPU per server). Without it, the answers of dozens of servers arriving at
    once were parsed in one event-loop pass, and the Nodes pane froze for hundreds of ms;
    with it, one server's parsing runs per pass and the loop stays live (the parsing costs
    the same CPU either way)."""
    marker = f"@@CC{secrets.token_hex(6)}@@"
    turns = turns or Turns()
    try:
        server_id = await pool.peer_address(host)
        first = await pool.run(host, server_script(marker))
        async with turns():
            server = assemble_server(host, server_id, split_sections(first.stdout, marker))
        ids = device_ids(server)
        if ids:
            cards = {d.device_id: (d.card, d.chip) for d in server.devices if d.card is not None and d.chip is not None}
            script = devices_script(marker, ids, a3=server.product == "A3", cards=cards, tool_timeout=tool_timeout)
            second = await pool.run(host, script)
            async with turns():
                server = assemble_devices(server, split_sections(second.stdout, marker))
        return server
    except ConsoleError as exc:
        return Server(host=host, reachable=False, error=error_text(exc, host))


def error_text(exc: ConsoleError, host: str) -> str:
    """``exc`` as text without the leading ``host:`` when it is about ``host``: the Server
    and its findings already name the host (no ``h: h: cannot resolve ...``)."""
    if exc.host != host:
        return str(exc)
    return str(ConsoleError(exc.title, exc.detail, command=exc.command, path=exc.path, hint=exc.hint))


async def discover(
    pool: Pool, hosts: Iterable[str], *, tool_timeout: float = 5
) -> AsyncGenerator[DiscoveryEvent, None]:
    """Discover all hosts concurrently (the pool limits handshakes and channels)."""
    hosts = list(hosts)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for h in hosts:
        yield ServerStarted(h)
    turns = Turns()
    tasks = {asyncio.ensure_future(discover_server(pool, h, tool_timeout=tool_timeout, turns=turns)): h for h in hosts}
    results: dict[str, Server] = {}
    try:
        for fut in asyncio.as_completed(tasks):
            server = await fut
            results[server.host] = server
            yield ServerDone(server, len(results), len(hosts))
    finally:
        for t in tasks:
            t.cancel()
    inv = Inventory(servers=[results[h] for h in hosts])
    inv.findings = findings(inv)
    yield DiscoveryDone(inv, loop.time() - start)


async def discover_inventory(pool: Pool, hosts: Iterable[str], **kw) -> Inventory:
    """Convenience: run discovery to the end and return the Inventory."""
    inv = Inventory()
    async for ev in discover(pool, hosts, **kw):
        if isinstance(ev, DiscoveryDone):
            inv = ev.inventory
    return inv
