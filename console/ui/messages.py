"""Messages the panes post to change what the app shares (attributes down, messages up).

The app holds the host list, the inventory (last discovery), the last ping results and the
current rank-table file as reactives; each changes only through one of these messages,
handled by the app. Panes watch the app's reactives and never read another pane.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from console.core.hosts import HostTarget
from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix
from console.ui.models.shared import RankTableFile


class HostsChanged(Message):
    def __init__(self, hosts: list[HostTarget]) -> None:
        super().__init__()
        self.hosts = hosts


class InventoryChanged(Message):
    def __init__(self, inventory: Inventory | None) -> None:
        super().__init__()
        self.inventory = inventory


class PingResultsChanged(Message):
    def __init__(self, matrix: PingMatrix | None) -> None:
        super().__init__()
        self.matrix = matrix


class RankTableChanged(Message):
    """The current rank-table file: opened, saved, or its unsaved state changed."""

    def __init__(self, file: RankTableFile) -> None:
        super().__init__()
        self.file = file


class OpenRankTable(Message):
    """Load ``path`` (through the app's one loader) and make it the current rank table."""

    def __init__(self, path: Path, missing_ok: bool = False) -> None:
        super().__init__()
        self.path = path
        self.missing_ok = missing_ok


class PingPairs(Message):
    """Go to the Ping pane and ping these card pairs now (the custom pair file's text:
    ``HOST:DEV HOST:DEV`` per line), e.g. the pairs a diagnosis implicates."""

    def __init__(self, text: str, source: str = "the diagnosis") -> None:
        super().__init__()
        self.text = text
        self.source = source


class ShowServer(Message):
    """Go to the Nodes pane with this server (a server_id or host) selected."""

    def __init__(self, server: str) -> None:
        super().__init__()
        self.server = server
