"""The Rank table pane's grid of ranks (its problem list is ``widgets.problems.ProblemList``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

CELL_STYLE = {"error": "bold white on dark_red", "warning": "black on yellow"}


class RankGrid(DataTable):
    """One row per rank; offending cells painted red (error) or yellow (warning)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=True, **kwargs)
        self.column_names: tuple[str, ...] = ()

    def show(self, rows: Sequence[Sequence[Any]], columns: tuple[str, ...], marks: dict[tuple[int, str], str]) -> None:
        cursor = self.cursor_coordinate
        if columns != self.column_names:
            self.clear(columns=True)
            for name in columns:
                self.add_column(name, key=name)
            self.column_names = columns
        else:
            self.clear()
        for r, values in enumerate(rows):
            cells = [_cell(v, CELL_STYLE.get(marks.get((r, c), ""), "")) for c, v in zip(columns, values, strict=True)]
            self.add_row(*cells, key=str(r))
        if self.row_count:
            self.move_cursor(
                row=min(cursor.row, self.row_count - 1), column=min(cursor.column, len(columns) - 1), animate=False
            )

    def current(self) -> tuple[int, str] | None:
        """(row index, column name) under the cursor."""
        if not self.row_count or not self.column_names:
            return None
        coord = self.cursor_coordinate
        return coord.row, self.column_names[coord.column]

    def go_to(self, row: int, column: str) -> None:
        if column in self.column_names and 0 <= row < self.row_count:
            self.move_cursor(row=row, column=self.column_names.index(column), animate=False)


def _cell(value: Any, style: str) -> Text:
    if value is None:
        return Text("-", style=style or "dim")
    return Text(str(value), style=style)
