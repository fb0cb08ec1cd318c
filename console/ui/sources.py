"""Where the panes get their data: injectable callables, so tests (and the simulated
cluster) can drive the UI without touching the network.

Each pane receives the one :class:`Sources` object of the app and uses only its own
fields. The defaults call ``console.ops``; they are imported lazily so importing the UI
never drags in SSH, and so a missing operation fails with a clear message, not at import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.errors import ConsoleError

DiscoverFn = Callable[[Sequence[str]], AsyncIterator[Any]]
"""``discover(hosts)`` yields discovery events (``console.ops.discovery``: ServerStarted,
ServerDone, DiscoveryDone) and/or a final ``Inventory``. Hosts are SSH targets as written."""

LoadFn = Callable[[Path], Any]
"""``load(path) -> RankTable`` — blocking; panes run it in a thread."""

SaveFn = Callable[[Any, Path], None]
"""``save(table, path)`` — blocking, atomic, keeps ``.bak``; panes run it in a thread."""


def _default_discover(ssh_options: Any) -> DiscoverFn:
    def discover(hosts: Sequence[str]) -> AsyncIterator[Any]:
        try:
            from console.ops import discovery
        except ImportError as exc:  # pragma: no cover - depends on the build
            raise ConsoleError("discovery is not available", str(exc)) from None
        return discovery.discover(list(hosts), ssh_options)

    return discover


def _default_load(path: Path) -> Any:
    from console.ops import ranktable_files

    return ranktable_files.load(path)


def _default_save(table: Any, path: Path) -> None:
    from console.ops import ranktable_files

    ranktable_files.save(table, path)


@dataclass
class Sources:
    """Everything the panes read from or write to the outside world."""

    discover: DiscoverFn
    load_ranktable: LoadFn = _default_load
    save_ranktable: SaveFn = _default_save
    ping: Any = None
    """Ping pane's source (filled in by the ping sweep work)."""
    launch: Any = None
    """Launch pane's source (filled in by the launch supervisor work)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls, ssh_options: Any = None) -> Sources:
        return cls(discover=_default_discover(ssh_options))
