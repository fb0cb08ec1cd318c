"""Where the panes get their data: injectable callables, so tests (and the simulated
cluster) can drive the UI without touching the network.

Each pane receives the one :class:`Sources` object of the app and uses only its own
fields. The defaults call ``console.ops`` through ONE SSH connection pool shared by every
pane (design.md §3: one connection per server, reused); it is opened on first use, inside
the app's event loop, and closed when the app exits. ``console.ops`` / ``console.remote``
are imported lazily so importing the UI never drags in SSH.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DiscoverFn = Callable[[Sequence[str]], AsyncGenerator[Any, None]]
"""``discover(hosts)`` yields discovery events (``console.ops.discovery``: ServerStarted,
ServerDone, DiscoveryDone) and/or a final ``Inventory``. Hosts are SSH targets as written."""

LoadFn = Callable[[Path], tuple[bytes, Any]]
"""``load(path) -> (bytes, RankTable)``: the exact bytes of the file and the table parsed from
them — blocking; the app runs it in a thread. The one way rank tables are read."""

SaveFn = Callable[[Any, Path], Any]
"""``save(table, path)`` — blocking, atomic, keeps ``.bak``, mode 0640; run in a thread."""

PingFn = Callable[[Any, Any], AsyncGenerator[Any, None]]
"""``ping(plan, cancel)`` runs a ``PingPlan``'s probes and yields ``console.ops.ping`` events
(SweepStarted, ProbeRunning, ProbeDone, ServerLost, SweepDone last); ``cancel`` is a
``console.ops.ping.CancelToken`` (cancelled: finished results kept, the rest skipped)."""


class SharedPool:
    """The app's one ``console.remote.Pool``, opened on first use."""

    def __init__(self, ssh_options: Any = None) -> None:
        self.ssh_options = ssh_options
        self._pool: Any = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                from console.remote import Pool

                pool = Pool(self.ssh_options)
                self._pool = await pool.__aenter__()
        return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


def _default_discover(shared: SharedPool) -> DiscoverFn:
    async def discover(hosts: Sequence[str]) -> AsyncGenerator[Any, None]:
        from console.ops.discovery import discover as run

        pool = await shared.get()
        async for event in run(pool, list(hosts)):
            yield event

    return discover


def _default_ping(shared: SharedPool) -> PingFn:
    async def ping(plan: Any, cancel: Any) -> AsyncGenerator[Any, None]:
        from console.ops.ping import sweep

        pool = await shared.get()
        async for event in sweep(pool, plan, cancel=cancel):
            yield event

    return ping


def _default_launch(shared: SharedPool) -> Any:
    from console.ui.launch_source import LaunchSource

    return LaunchSource(shared)


def _default_load(path: Path) -> tuple[bytes, Any]:
    from console.ops import ranktable_files

    return ranktable_files.read(path)


def _default_save(table: Any, path: Path) -> Any:
    from console.ops import ranktable_files

    return ranktable_files.save(table, path)


@dataclass
class Sources:
    """Everything the panes read from or write to the outside world."""

    discover: DiscoverFn
    load_ranktable: LoadFn = _default_load
    save_ranktable: SaveFn = _default_save
    ping: PingFn | None = None
    """Ping pane's source: ``ping(plan, cancel)`` (see ``PingFn``)."""
    launch: Any = None
    """Launch pane's source: a ``console.ui.launch_source.LaunchSource`` (or the same shape)."""
    pool: SharedPool | None = None
    """The shared SSH pool behind the default sources (None when everything is injected)."""

    @classmethod
    def default(cls, ssh_options: Any = None) -> Sources:
        shared = SharedPool(ssh_options)
        sources = cls(discover=_default_discover(shared), pool=shared)
        sources.ping = _default_ping(shared)
        sources.launch = _default_launch(shared)
        return sources

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
