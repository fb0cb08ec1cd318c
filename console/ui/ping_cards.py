"""The drill-down of the Ping matrix pane: one server pair's card x card matrix, and for the
highlighted cell every probe between the two cards — rtt, loss, exact command, raw output."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static, TextArea

from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingview import card_view
from console.ui.ids import safe_id
from console.ui.models import ping as view


class CardMatrix(Vertical):
    """``show(matrix, a, b)``: rows are ``a``'s devices, columns ``b``'s; both directions."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.matrix = PingMatrix(pattern="cross")
        self.pair: tuple[str, str] = ("", "")
        self.rows: list[int] = []
        self.cols: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static(id="cards-title", classes="status", markup=False)
        yield DataTable(id="card-matrix", cursor_type="cell", cell_padding=1)
        yield TextArea("", id="cell-detail", read_only=True, soft_wrap=False)

    def on_mount(self) -> None:
        self.query_one("#cell-detail", TextArea).border_title = "Probe: command and raw output"

    def focus_matrix(self) -> None:
        self.query_one("#card-matrix", DataTable).focus()

    def show(self, matrix: PingMatrix, a: str, b: str) -> None:
        same = self.pair == (a, b)
        self.matrix, self.pair = matrix, (a, b)
        grid = card_view(matrix, a, b)
        self.rows = [int(r) for r in grid.row_labels]
        self.cols = [int(c) for c in grid.col_labels]
        table = self.query_one("#card-matrix", DataTable)
        cursor = table.cursor_coordinate if same else None
        table.clear(columns=True)
        width = max([len(c.text) for row in grid.cells for c in row] + [4])
        for dev in self.cols:
            table.add_column(str(dev).center(width), width=width, key=safe_id("dst", str(dev)))
        for dev, row in zip(self.rows, grid.cells, strict=True):
            cells = [Text(c.text.center(width), style=view.STYLES[view.category(c.status, c.loss_pct)]) for c in row]
            table.add_row(*cells, key=safe_id("src", str(dev)), label=f"dev {dev}")
        if cursor is not None and cursor.row < len(self.rows) and cursor.column < len(self.cols):
            table.cursor_coordinate = cursor
        self.query_one("#cards-title", Static).update(
            f"{a} <-> {b}: loss per card (rows {a}, columns {b}) · Esc back to servers"
        )
        self._show_detail()

    def results(self, src_dev: int, dst_dev: int) -> list[ProbeResult]:
        """Probes between ``a``:src_dev and ``b``:dst_dev, both directions."""
        a, b = self.pair
        ends = {(a, src_dev, b, dst_dev), (b, dst_dev, a, src_dev)}
        return [r for r in self.matrix.results if r.probe.key in ends]

    def selected(self) -> tuple[int, int] | None:
        table = self.query_one("#card-matrix", DataTable)
        at = table.cursor_coordinate
        if not self.rows or not self.cols or at.row >= len(self.rows) or at.column >= len(self.cols):
            return None
        return self.rows[at.row], self.cols[at.column]

    def _show_detail(self) -> None:
        where = self.selected()
        text = "" if where is None else view.probe_detail(self.results(*where))
        self.query_one("#cell-detail", TextArea).load_text(text)

    @on(DataTable.CellHighlighted, "#card-matrix")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.CellSelected, "#card-matrix")
    def _selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.query_one("#cell-detail", TextArea).focus()
