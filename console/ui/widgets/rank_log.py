"""Rank log view: a textual ``Log`` (lines as plain strings, rendered only when visible)
with the ``[rank]`` prefix coloured per rank and the root cause's lines in red.

The pane appends in batches (``write_lines`` every 40 ms); per-line writes and ``RichLog``
cannot keep up with thousands of lines a second (design.md section 7).
"""

from __future__ import annotations

from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import Log

from console.ui.models.launch_log import SHOW_LINES

RANK_COLOURS = (
    "cyan",
    "green",
    "yellow",
    "magenta",
    "bright_blue",
    "bright_cyan",
    "bright_green",
    "bright_yellow",
    "bright_magenta",
    "blue",
    "orange1",
    "orchid",
)
ROOT_STYLE = "bold white on red"
FOLD_STYLE = "bold bright_white"


class RankPrefixHighlighter(Highlighter):
    """Colours ``[12]`` by rank, ``[0-15]`` (folded) in bold; the root cause's in red."""

    def __init__(self) -> None:
        self.root_rank: int | None = None

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if not plain.startswith("["):
            return
        end = plain.find("] ")
        if end < 0:
            return
        label = plain[1:end]
        if label.isdigit():
            rank = int(label)
            if rank == self.root_rank:
                text.stylize(ROOT_STYLE, 0, end + 1)
                text.stylize("red", end + 1)
            else:
                text.stylize(RANK_COLOURS[rank % len(RANK_COLOURS)], 0, end + 1)
        else:
            text.stylize(FOLD_STYLE, 0, end + 1)


class RankLog(Log):
    """A ``Log`` with ``max_lines`` set and rank-coloured prefixes."""

    def __init__(self, *, id: str | None = None, max_lines: int = SHOW_LINES) -> None:
        super().__init__(highlight=True, max_lines=max_lines, auto_scroll=True, id=id)
        self.prefixes = RankPrefixHighlighter()
        self.highlighter = self.prefixes

    def set_root_rank(self, rank: int | None) -> None:
        if self.prefixes.root_rank != rank:
            self.prefixes.root_rank = rank
            self.refresh_lines(0, self.line_count)  # drops Log's rendered-line cache too

    def replace_lines(self, lines: list[str]) -> None:
        """Show exactly ``lines`` (a rebuilt view)."""
        self.clear()
        if lines:
            self.write_lines(lines, scroll_end=self.auto_scroll)
