"""Rank table pane: build from the inventory or open a file, edit cells, reorder servers,
renumber, see every problem live (with its JSON path and the cell painted), edit the raw
JSON with live parsing, save atomically, undo."""

from __future__ import annotations

import asyncio
import re
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ContentSwitcher, DataTable, OptionList, Static, TextArea

from console.core.errors import ConsoleError, InputError
from console.core.ranktable import (
    RankTable, RankTableInvalid, build, dumps, loads, renumber, validate, validate_against,
)
from console.ui.ranktable_editor import FIXED_COLUMNS, OPTIONAL_COLUMNS, RankTableEditor, Row, columns_of, convert, row_index
from console.ui.screens.base import PaneScreen
from console.ui.screens.dialogs import ConfirmScreen, InputScreen
from console.ui.screens.ranktable_problems import grid_items, raw_items
from console.ui.widgets.ranktable_grid import ProblemList, RankGrid

GRID_ONLY = {"edit", "move", "add_server", "remove_server", "renumber", "build", "open", "add_column"}
_LINE_COL = re.compile(r"line (\d+), column (\d+)")


class RankTableScreen(PaneScreen):
    PANE = "ranktable"
    CSS_PATH = "ranktable.tcss"
    AUTO_FOCUS = "#rt-grid"
    BINDINGS = [
        Binding("e", "edit", "Edit", id="ranktable.edit", tooltip="Edit the cell under the cursor (also Enter)"),
        Binding("b", "build", "Build", id="ranktable.build", tooltip="Build a rank table from the discovered cards"),
        Binding("o", "open", "Open", id="ranktable.open", tooltip="Open a rank table file"),
        Binding("s,ctrl+s", "save", "Save", id="ranktable.save",
                tooltip="Save atomically (previous file kept as .bak, mode 0640)"),
        Binding("S", "save_as", "Save as", show=False, id="ranktable.save_as", tooltip="Save to another file"),
        Binding("u,ctrl+z", "undo", "Undo", id="ranktable.undo", tooltip="Undo the last change"),
        Binding("j,f2", "toggle_raw", "JSON", id="ranktable.raw",
                tooltip="Switch between the grid and the raw JSON (F2 works while typing)"),
        Binding("r", "renumber", "Renumber", id="ranktable.renumber",
                tooltip="Renumber rank_id 0..n-1 by server order, then device order"),
        Binding("left_square_bracket", "move(-1)", "Server up", show=False, key_display="[",
                id="ranktable.server_up", tooltip="Move the selected server one place up"),
        Binding("right_square_bracket", "move(1)", "Server down", show=False, key_display="]",
                id="ranktable.server_down", tooltip="Move the selected server one place down"),
        Binding("a", "add_server", "Add server", show=False, id="ranktable.add_server",
                tooltip="Add a server after the selected one (same device ids)"),
        Binding("x,delete", "remove_server", "Remove server", show=False, id="ranktable.remove_server",
                tooltip="Remove the selected server (u undoes)"),
        Binding("c", "add_column", "Add field", show=False, id="ranktable.add_field",
                tooltip="Show an optional field as a column (device_port, host_port, container_ip, ...)"),
        Binding("p", "focus_problems", "Problems", show=False, id="ranktable.problems",
                tooltip="Jump to the problem list"),
    ]

    def __init__(self, sources) -> None:
        super().__init__(sources)
        self.editor = RankTableEditor()
        self.path: Path | None = None
        self.raw_table: RankTable | None = None
        self.raw_error: str | None = None
        self.shown_columns: frozenset[str] = frozenset()

    def compose_body(self) -> ComposeResult:
        yield Static(id="rt-status", classes="status", markup=False)
        with ContentSwitcher(initial="rt-grid", id="rt-views"):
            yield RankGrid(id="rt-grid")
            yield TextArea("", id="rt-raw", soft_wrap=False, show_line_numbers=True)
        yield ProblemList(id="rt-problems")

    def on_mount(self) -> None:
        self.query_one("#rt-raw", TextArea).border_title = "Raw JSON (validated as you type)"
        self.watch(self.app, "inventory", self._inventory_changed, init=False)
        self.refresh_view()
        path = self.console_app.ranktable_path
        if path is not None:
            self.open_path(path, missing_ok=True)

    # -- state helpers -----------------------------------------------------------------

    @property
    def raw_mode(self) -> bool:
        return self.query_one(ContentSwitcher).current == "rt-raw"

    @property
    def grid(self) -> RankGrid:
        return self.query_one("#rt-grid", RankGrid)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in GRID_ONLY and self.is_mounted and self.raw_mode:
            return False
        return True

    def unsaved_changes(self) -> str | None:
        raw_pending = self.raw_mode and (self.raw_error is not None or self.raw_table != self.editor.table)
        if self.editor.dirty or raw_pending:
            return f"Rank table {self.path or '(not saved yet)'} has unsaved changes."
        return None

    def problems(self, table: RankTable | None) -> list:
        if table is None:
            return []
        found = list(validate(table))
        inventory = self.console_app.inventory
        if inventory is not None and inventory.servers:
            found += list(validate_against(table, inventory))
        return found

    def _selected_row(self) -> Row | None:
        where = self.grid.current()
        rows = self.editor.rows()
        return rows[where[0]][0] if where and where[0] < len(rows) else None

    # -- display -----------------------------------------------------------------------

    def refresh_view(self) -> None:
        table = self.editor.table
        problems = self.problems(table)
        columns = columns_of(table, self.shown_columns) if table is not None else FIXED_COLUMNS
        items, marks = grid_items(problems, table, columns)
        rows = [[self.editor.value(row, c) for c in columns] for row, _, _ in self.editor.rows()]
        self.grid.show(rows, columns, marks)
        if not self.raw_mode:
            self.query_one(ProblemList).show(items)
        self._update_status(problems)

    def _update_status(self, problems: list) -> None:
        table = self.editor.table
        name = self.path.name if self.path else "untitled"
        dirty = self.unsaved_changes() is not None
        self.sub_title = f"{name} *" if dirty else name
        if table is None:
            text = "No rank table — b builds one from the discovered cards, o opens a file"
        else:
            errors = sum(p.severity == "error" for p in problems)
            ranks = sum(len(s.device) for s in table.server_list)
            inv = self.console_app.inventory
            checked = f"vs discovery of {len(inv.servers)} servers" if inv and inv.servers \
                else "not checked against discovery"
            text = (f"{'MODIFIED · ' if dirty else ''}{ranks} ranks on {len(table.server_list)} servers"
                    f" · {errors} errors, {len(problems) - errors} warnings · {checked}"
                    f" · {self.path or 'not saved yet'}")
        self.query_one("#rt-status", Static).update(text)

    def _inventory_changed(self, _inventory: object) -> None:
        if self.raw_mode:
            self._validate_raw(self.query_one("#rt-raw", TextArea).text)
        else:
            self.refresh_view()

    # -- file I/O (workers: never block the UI loop) ----------------------------------

    @work(exclusive=True, group="ranktable.io", exit_on_error=False, name="open rank table")
    async def open_path(self, path: Path, missing_ok: bool = False) -> None:
        if missing_ok and not await asyncio.to_thread(path.exists):
            self.path = path
            self.refresh_view()
            return
        table = await asyncio.to_thread(self.sources.load_ranktable, path)
        self.path = path
        self.editor.replace(table, saved=True)
        self.refresh_view()
        self.notify(f"Opened {path}", title="Rank table")

    @work(exclusive=True, group="ranktable.io", exit_on_error=False, name="save rank table")
    async def save_to(self, path: Path) -> None:
        table = self.editor.table.model_copy(deep=True)
        await asyncio.to_thread(self.sources.save_ranktable, table, path)
        self.path = path
        self.editor.saved = table
        self.refresh_view()
        self.notify(f"Saved {path} (previous version kept as {path.name}.bak)", title="Rank table")

    # -- actions: files ----------------------------------------------------------------

    def action_open(self) -> None:
        def chosen(text: str | None) -> None:
            if text and text.strip():
                self.open_path(Path(text.strip()).expanduser())
        self.app.push_screen(InputScreen("Open rank table file", str(self.path or "")), chosen)

    def action_save(self, ask_path: bool = False) -> None:
        if self.raw_mode and not self._apply_raw():
            return
        if self.editor.table is None:
            self.notify("Nothing to save: build (b) or open (o) a rank table first.", severity="warning")
            return
        if self.path is None or ask_path:
            def chosen(text: str | None) -> None:
                if text and text.strip():
                    self._confirm_and_save(Path(text.strip()).expanduser())
            self.app.push_screen(InputScreen("Save rank table as", str(self.path or "ranktable.json")), chosen)
            return
        self._confirm_and_save(self.path)

    def action_save_as(self) -> None:
        self.action_save(ask_path=True)

    def _confirm_and_save(self, path: Path) -> None:
        errors = [p for p in self.problems(self.editor.table) if p.severity == "error"]
        if not errors:
            self.save_to(path)
            return
        question = (f"The table has {len(errors)} errors, e.g.\n{errors[0].where.path}: {errors[0].message}\n\n"
                    f"Save to {path} anyway?")
        self.app.push_screen(ConfirmScreen(question, yes="Save", no="Cancel"),
                             lambda ok: self.save_to(path) if ok else None)

    # -- actions: edits ----------------------------------------------------------------

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
        self._guard(lambda: self.editor.replace(build(inv, version), saved=False))

    def action_undo(self) -> None:
        if not self.editor.undo():
            self.notify("Nothing to undo.")
        self.refresh_view()

    def action_renumber(self) -> None:
        self._guard(self.editor.transform, renumber)

    def action_edit(self) -> None:
        row, where = self._selected_row(), self.grid.current()
        if row is None or where is None:
            return
        column = where[1]
        value = self.editor.value(row, column)
        server = self.editor.table.server_list[row.server]
        prompt = (f"{column} — server {server.server_id}, "
                  f"device {server.device[row.device].device_id}")
        self.app.push_screen(InputScreen(prompt, "" if value is None else str(value)),
                             partial(self._edited, row, column))

    def _edited(self, row: Row, column: str, text: str | None) -> None:
        if text is None:
            return
        try:
            if convert(column, text) == self.editor.value(row, column):
                return
        except InputError:
            pass  # set_cell reports it
        self._guard(self.editor.set_cell, row, column, text)

    @on(DataTable.CellSelected, "#rt-grid")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.action_edit()

    def action_move(self, delta: int) -> None:
        row = self._selected_row()
        if row is None:
            return
        new = self.editor.move_server(row.server, delta)
        self.refresh_view()
        target = row_index(self.editor.table).get(Row(new, row.device))
        if target is not None and self.grid.current():
            self.grid.go_to(target, self.grid.current()[1])

    def action_add_server(self) -> None:
        if self.editor.table is None:
            self.notify("Build (b) or open (o) a rank table first.", severity="warning")
            return
        row = self._selected_row()
        after = row.server if row else len(self.editor.table.server_list) - 1
        def chosen(text: str | None) -> None:
            if text and self._guard(self.editor.add_server, after, text):
                column = self.grid.current()[1] if self.grid.current() else "server_id"
                self.grid.go_to(row_index(self.editor.table)[Row(after + 1, 0)], column)
        self.app.push_screen(InputScreen("server_id (IP address) of the new server"), chosen)

    def action_remove_server(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        server_id = self.editor.table.server_list[row.server].server_id
        if self._guard(self.editor.remove_server, row.server):
            self.notify(f"Removed server {server_id} (u undoes).")

    def action_add_column(self) -> None:
        def chosen(name: str | None) -> None:
            name = (name or "").strip()
            if not name:
                return
            if name not in OPTIONAL_COLUMNS:
                self.console_app.report_error(InputError(
                    f"unknown rank-table field {name!r}", f"choose one of {', '.join(OPTIONAL_COLUMNS)}"))
                return
            self.shown_columns |= {name}
            self.refresh_view()
            self.grid.go_to(self.grid.cursor_row, name)
        self.app.push_screen(InputScreen("Show field", placeholder=", ".join(OPTIONAL_COLUMNS)), chosen)

    def action_focus_problems(self) -> None:
        self.query_one(ProblemList).focus()

    # -- raw JSON view -----------------------------------------------------------------

    def action_toggle_raw(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        raw = self.query_one("#rt-raw", TextArea)
        if not self.raw_mode:
            if self.editor.table is None:
                self.notify("No rank table yet: build (b) or open (o) one.", severity="warning")
                return
            raw.load_text(dumps(self.editor.table))
            switcher.current = "rt-raw"
            raw.focus()
        else:
            if not self._apply_raw():
                return
            switcher.current = "rt-grid"
            self.grid.focus()
            self.refresh_view()
        self.refresh_bindings()

    def _apply_raw(self) -> bool:
        if self.raw_error is not None:
            self.notify(f"Fix the JSON first (ctrl+z undoes typing):\n{self.raw_error}",
                        severity="error", markup=False)
            return False
        if self.raw_table is not None and self.raw_table != self.editor.table:
            self.editor.replace(self.raw_table, saved=False)
        return True

    @on(TextArea.Changed, "#rt-raw")
    def _raw_changed(self, event: TextArea.Changed) -> None:
        self._validate_raw(event.text_area.text)

    def _validate_raw(self, text: str) -> None:
        try:
            table = loads(text, source="raw JSON")
        except RankTableInvalid as exc:  # JSON, but not the schema: each problem at its path
            self.raw_table, self.raw_error = None, str(exc)
            problems, items = exc.problems, raw_items(exc.problems, None, None)
        except ConsoleError as exc:
            self.raw_table, self.raw_error = None, str(exc)
            m = _LINE_COL.search(self.raw_error)
            problems, items = [], raw_items([], self.raw_error, m and (int(m[1]), int(m[2])))
        else:
            self.raw_table, self.raw_error = table, None
            problems = self.problems(table)
            items = raw_items(problems, None, None)
        self.query_one(ProblemList).show(items)
        self._update_status(problems)

    @on(OptionList.OptionSelected, "#rt-problems")
    def _problem_selected(self, event: OptionList.OptionSelected) -> None:
        item = self.query_one(ProblemList).selected_item(event.option_index)
        if item is None:
            return
        if item.cell and not self.raw_mode:
            self.grid.go_to(*item.cell)
            self.grid.focus()
        elif item.position and self.raw_mode:
            raw = self.query_one("#rt-raw", TextArea)
            raw.cursor_location = (item.position[0] - 1, max(0, item.position[1] - 1))
            raw.focus()
