"""Launch pane — placeholder until the launch supervisor lands (it replaces this module).

Contract: export ``LaunchScreen(PaneScreen)`` with ``PANE = "launch"``; run
``self.sources.launch`` in a worker; batch rank lines into ``Log.write_lines`` (20-50 ms).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from console.ui.screens.base import PaneScreen


class LaunchScreen(PaneScreen):
    PANE = "launch"

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Launch — coming next.\n\n"
            "Starts every rank of the saved rank table on every server in lockstep,\n"
            "streams each rank's output, and stops the whole job at the first failing rank,\n"
            "naming it as the root cause. Save a rank table on the Rank table pane (3) first.",
            classes="placeholder", id="launch-placeholder")
