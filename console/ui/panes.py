"""The four panes, in key order. The app builds one mode per entry (design.md §7).

A pane module only has to export its screen class (a :class:`~console.ui.screens.base.PaneScreen`
taking ``sources``); adding or replacing a pane is a change to that module alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PaneSpec:
    mode: str
    key: str
    title: str
    target: str
    """``module:ClassName`` of the pane's screen."""

    def screen_class(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("nodes", "1", "Nodes", "console.ui.screens.nodes:NodesScreen"),
    PaneSpec("ping", "2", "Ping matrix", "console.ui.screens.ping:PingScreen"),
    PaneSpec("ranktable", "3", "Rank table", "console.ui.screens.ranktable:RankTableScreen"),
    PaneSpec("launch", "4", "Launch", "console.ui.screens.launch:LaunchScreen"),
)
