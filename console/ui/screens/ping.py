"""Ping matrix pane — placeholder until the ping sweep lands (it replaces this module).

Contract: export ``PingScreen(PaneScreen)`` with ``PANE = "ping"``; read the cluster from
``self.console_app.inventory`` (watch it), run ``self.sources.ping`` in a worker.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from console.ui.screens.base import PaneScreen


class PingScreen(PaneScreen):
    PANE = "ping"

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Ping matrix — coming next.\n\n"
            "Every NPU card pings every other card over RoCE (hccn_tool -ping), server by server;\n"
            "the matrix shows loss per card pair, and a selected cell shows the exact command\n"
            "and its raw output. Run Discover on the Nodes pane (1) first.",
            classes="placeholder", id="ping-placeholder")
