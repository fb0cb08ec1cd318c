"""The Rank table pane's edits: a cell, the servers' order, adding and removing servers,
renumbering, building from the inventory, showing an optional field, undo. Each goes through
``RankTableModel`` (console.ui.models.ranktable) and is reported, when refused, with the
app's one error handler.

Mixed into ``RankTableScreen`` (console.ui.screens.ranktable), which renders the model
(``refresh_view``) and owns the files, the raw JSON view and the problem list.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from console.core.errors import ConsoleError, InputError
from console.core.ranktable import build, renumber
from console.ui.models.ranktable import OPTIONAL_COLUMNS, RankTableModel, Row, convert, row_index
from console.ui.screens.dialogs import InputScreen
from console.ui.widgets.ranktable_grid import RankGrid

if TYPE_CHECKING:  # what the mixin relies on, for the type checker only
    from console.ui.screens.base import PaneScreen as _Pane
else:
    _Pane = object


class RankTableEditsMixin(_Pane):
    """Mixed into ``RankTableScreen``; expects ``model``, ``grid``, ``refresh_view``,
    ``console_app`` and the screen's ``app``/``notify``."""

    if TYPE_CHECKING:
        model: RankTableModel

        @property
        def grid(self) -> RankGrid: ...

        def refresh_view(self) -> None: ...

    def _selected_row(self) -> Row | None:
        where = self.grid.current()
        rows = self.model.rows()
        return rows[where[0]][0] if where and where[0] < len(rows) else None

    def _guard(self, fn, *args) -> bool:
        try:
            fn(*args)
        except ConsoleError as exc:
            self.console_app.report_error(exc, "rank table")
            return False
        self.refresh_view()
        return True

    def action_build(self) -> None:
        inv = self.console_app.inventory
        if inv is None or not inv.servers:
            self.notify("Discover the cluster first (Nodes pane, 1 then d).", severity="warning")
            return
        a3 = [s for s in inv.servers if s.product == "A3"]
        sdids = all(d.super_device_id is not None for s in a3 for d in s.devices)
        version = "1.2" if a3 and sdids else "1.0"
        self._guard(lambda: self.model.replace(build(inv, version), saved=False))

    def action_undo(self) -> None:
        if not self.model.undo():
            self.notify("Nothing to undo.")
        self.refresh_view()

    def action_renumber(self) -> None:
        self._guard(self.model.transform, renumber)

    def action_edit(self) -> None:
        row, where = self._selected_row(), self.grid.current()
        if row is None or where is None:
            return
        column = where[1]
        value = self.model.value(row, column)
        server = self.model.loaded.server_list[row.server]
        prompt = f"{column} — server {server.server_id}, device {server.device[row.device].device_id}"
        self.app.push_screen(
            InputScreen(prompt, "" if value is None else str(value)), partial(self._edited, row, column)
        )

    def _edited(self, row: Row, column: str, text: str | None) -> None:
        if text is None:
            return
        try:
            if convert(column, text) == self.model.value(row, column):
                return
        except InputError:
            pass  # set_cell reports it
        self._guard(self.model.set_cell, row, column, text)

    def action_move(self, delta: int) -> None:
        row = self._selected_row()
        if row is None:
            return
        new = self.model.move_server(row.server, delta)
        self.refresh_view()
        target = row_index(self.model.loaded).get(Row(new, row.device))
        where = self.grid.current()
        if target is not None and where:
            self.grid.go_to(target, where[1])

    def action_add_server(self) -> None:
        if self.model.table is None:
            self.notify("Build (b) or open (o) a rank table first.", severity="warning")
            return
        row = self._selected_row()
        after = row.server if row else len(self.model.loaded.server_list) - 1

        def chosen(text: str | None) -> None:
            if text and self._guard(self.model.add_server, after, text):
                where = self.grid.current()
                column = where[1] if where else "server_id"
                self.grid.go_to(row_index(self.model.loaded)[Row(after + 1, 0)], column)

        self.app.push_screen(InputScreen("server_id (IP address) of the new server"), chosen)

    def action_remove_server(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        server_id = self.model.loaded.server_list[row.server].server_id
        if self._guard(self.model.remove_server, row.server):
            self.notify(f"Removed server {server_id} (u undoes).")

    def action_add_column(self) -> None:
        def chosen(name: str | None) -> None:
            name = (name or "").strip()
            if name and self._guard(self.model.show_column, name):
                self.grid.go_to(self.grid.cursor_row, name)

        self.app.push_screen(InputScreen("Show field", placeholder=", ".join(OPTIONAL_COLUMNS)), chosen)
