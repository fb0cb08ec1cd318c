"""Per-rank status grid: one character per rank, 8 ranks a block, as many blocks a row as
fit; 512 ranks take 8 rows at 80 columns. A legend with the counts comes first. A running
rank silent for the stall time shows ``!`` (bold yellow on red)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from console.ui.models.launch import (
    BARRIER,
    EXITED,
    FAILED,
    KILLED,
    LABELS,
    LOST,
    PENDING,
    RUNNING,
    STATES,
    JobView,
)

GLYPHS = {
    PENDING: ("·", "dim"),
    BARRIER: ("○", "yellow"),
    RUNNING: ("●", "cyan"),
    EXITED: ("✓", "green"),
    FAILED: ("✗", "bold red"),
    KILLED: ("×", "magenta"),
    LOST: ("?", "bold red"),
}
ROOT_STYLE = "bold white on red"
STALLED = ("!", "bold yellow on dark_red")
BLOCK = 8


class RankStatusGrid(Widget):
    """Shows a :class:`JobView`; call :meth:`show` after the view changed."""

    DEFAULT_CSS = """
    RankStatusGrid { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: JobView | None = None
        self._shown_version = -1

    def show(self, view: JobView | None) -> None:
        changed = view is not self.view or (view is not None and view.version != self._shown_version)
        self.view = view
        if changed:
            self._shown_version = view.version if view is not None else -1
            self.refresh(layout=True)

    def per_row(self, width: int | None = None) -> int:
        width = width or self.size.width or 78
        label = len(str(max(0, (self.view.world_size if self.view else 1) - 1))) + 1
        blocks = max(1, (width - label) // (BLOCK + 1))
        return blocks * BLOCK

    def get_content_height(self, container, viewport, width: int) -> int:
        if self.view is None:
            return 1
        rows = -(-self.view.world_size // self.per_row(width))
        return 1 + rows

    def render(self) -> Text:
        if self.view is None:
            return Text("No job yet — F5 launches the plan.", style="dim")
        text = self.legend(self.view)
        per_row = self.per_row()
        width = len(str(max(0, self.view.world_size - 1)))
        for start in range(0, self.view.world_size, per_row):
            text.append("\n")
            text.append(f"{start:>{width}} ", style="dim")
            self._row(text, start, min(start + per_row, self.view.world_size))
        return text

    def _row(self, text: Text, start: int, end: int) -> None:
        view = self.view
        assert view is not None  # render() returns early without a job
        for rank in range(start, end):
            if rank > start and (rank - start) % BLOCK == 0:
                text.append(" ")
            glyph, style = GLYPHS[view.states[rank]]
            if rank in view.stalled and view.states[rank] == RUNNING:
                glyph, style = STALLED
            text.append(glyph, style=ROOT_STYLE if view.is_root(rank) else style)

    @staticmethod
    def legend(view: JobView) -> Text:
        counts = view.counts()
        text = Text()
        for state in STATES:
            if counts[state]:
                glyph, style = GLYPHS[state]
                text.append(f"{glyph} ", style=style)
                text.append(f"{LABELS[state]} {counts[state]}  ")
        stalled = sum(1 for r in view.stalled if 0 <= r < view.world_size and view.states[r] == RUNNING)
        if stalled:
            text.append(f"{STALLED[0]} ", style=STALLED[1])
            text.append(f"stalled {stalled}  ")
        killed = view.killed_by()
        if killed:
            shown = ", ".join(f"{label} {n}" for label, n in killed.items())
            text.append(f"killed by: {shown}  ", style="magenta")
        failures = view.failures()
        if failures:
            shown = ", ".join(f"{r} (exit {c})" for r, c in failures[:4])
            more = f" +{len(failures) - 4}" if len(failures) > 4 else ""
            text.append(f"failed: {shown}{more}", style="red")
        return text


class StatusLine(Widget):
    """One line of text that changes often: repaints itself only, never relayouts the screen
    (``Static.update`` asks for a layout of the whole screen: too slow at 10 updates/s)."""

    DEFAULT_CSS = """
    StatusLine { height: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.text = ""

    def set(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return Text(self.text, no_wrap=True, overflow="ellipsis")
