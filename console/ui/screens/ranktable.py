"""Rank table pane: build from the inventory or open a file, edit cells, reorder servers,
renumber, see every problem live (with its JSON path and the cell painted; the last ping
sweep's lossy rank pairs among them), edit the raw JSON with live parsing, save atomically,
undo.

State: ``RankTableModel`` (console.ui.models.ranktable). The file itself belongs to the app
(``app.ranktable``): this pane asks the app to open one (``OpenRankTable``), and after a save
or when its unsaved state changes posts ``RankTableChanged``. The edit actions are
``ranktable_edits.RankTableEditsMixin``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ContentSwitcher, DataTable, OptionList, Static, TextArea

from console.core.ranktable import dumps
from console.core.words import counted
from console.ui.messages import OpenRankTable, RankTableChanged
from console.ui.models.ranktable import (
    ContextChanged,
    Opened,
    RankTableModel,
    RawEdited,
)
from console.ui.models.shared import RankTableFile
from console.ui.screens.base import PaneScreen
from console.ui.screens.dialogs import ConfirmScreen, InputScreen
from console.ui.screens.ranktable_edits import RankTableEditsMixin
from console.ui.sources import Sources
from console.ui.widgets.problems import ProblemList
from console.ui.widgets.ranktable_grid import RankGrid

GRID_ONLY = {"edit", "move", "add_server", "remove_server", "renumber", "build", "open", "add_column"}


class RankTableScreen(RankTableEditsMixin, PaneScreen):
    PANE = "ranktable"
    CSS_PATH = "ranktable.tcss"
    AUTO_FOCUS = "#rt-grid"
    BINDINGS = [
        Binding("e", "edit", "Edit", id="ranktable.edit", tooltip="Edit the cell under the cursor (also Enter)"),
        Binding("b", "build", "Build", id="ranktable.build", tooltip="Build a rank table from the discovered cards"),
        Binding("o", "open", "Open", id="ranktable.open", tooltip="Open a rank table file"),
        Binding(
            "s,ctrl+s",
            "save",
            "Save",
            id="ranktable.save",
            tooltip="Save atomically (previous file kept as .bak, mode 0640)",
        ),
        Binding("S", "save_as", "Save as", show=False, id="ranktable.save_as", tooltip="Save to another file"),
        Binding("u,ctrl+z", "undo", "Undo", id="ranktable.undo", tooltip="Undo the last change"),
        Binding(
            "j,f2",
            "toggle_raw",
            "JSON",
            id="ranktable.raw",
            tooltip="Switch between the grid and the raw JSON (F2 works while typing)",
        ),
        Binding(
            "r",
            "renumber",
            "Renumber",
            id="ranktable.renumber",
            tooltip="Renumber rank_id 0..n-1 by server order, then device order",
        ),
        Binding(
            "left_square_bracket",
            "move(-1)",
            "Server up",
            show=False,
            key_display="[",
            id="ranktable.server_up",
            tooltip="Move the selected server one place up",
        ),
        Binding(
            "right_square_bracket",
            "move(1)",
            "Server down",
            show=False,
            key_display="]",
            id="ranktable.server_down",
            tooltip="Move the selected server one place down",
        ),
        Binding(
            "a",
            "add_server",
            "Add server",
            show=False,
            id="ranktable.add_server",
            tooltip="Add a server after the selected one (same device ids)",
        ),
        Binding(
            "x,delete",
            "remove_server",
            "Remove server",
            show=False,
            id="ranktable.remove_server",
            tooltip="Remove the selected server (u undoes)",
        ),
        Binding(
            "c",
            "add_column",
            "Add field",
            show=False,
            id="ranktable.add_field",
            tooltip="Show an optional field as a column (device_port, host_port, container_ip, ...)",
        ),
        Binding(
            "p", "focus_problems", "Problems", show=False, id="ranktable.problems", tooltip="Jump to the problem list"
        ),
    ]

    def __init__(self, sources: Sources) -> None:
        super().__init__(sources)
        self.model = RankTableModel()
        self._posted_unsaved = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="rt-status", classes="status", markup=False)
        with ContentSwitcher(initial="rt-grid", id="rt-views"):
            yield RankGrid(id="rt-grid")
            yield TextArea("", id="rt-raw", soft_wrap=False, show_line_numbers=True)
        yield ProblemList("Problems", id="rt-problems")

    def on_mount(self) -> None:
        self.query_one("#rt-raw", TextArea).border_title = "Raw JSON (validated as you type)"
        self.watch(self.app, "inventory", self._context_changed, init=False)
        self.watch(self.app, "ping_results", self._context_changed, init=False)
        self.watch(self.app, "ranktable", self._file, init=False)
        self.model.apply(ContextChanged(self.console_app.inventory, self.console_app.ping_results))
        self._file(self.console_app.ranktable)

    def _context_changed(self, _: object = None) -> None:
        self.model.apply(ContextChanged(self.console_app.inventory, self.console_app.ping_results))
        self.refresh_view()

    def _file(self, file: RankTableFile) -> None:
        self.model.apply(Opened(file))
        self.refresh_view()

    # -- state helpers -----------------------------------------------------------------

    @property
    def raw_mode(self) -> bool:
        return self.query_one(ContentSwitcher).current == "rt-raw"

    @property
    def grid(self) -> RankGrid:
        return self.query_one("#rt-grid", RankGrid)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in GRID_ONLY and self.is_mounted and self.raw_mode)

    def unsaved_changes(self) -> str | None:
        if self.model.unsaved:
            return f"Rank table {self.model.path or '(not saved yet)'} has unsaved changes."
        return None

    # -- render ------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Render the model (grid or raw view, problems, status) and tell the app when the
        unsaved state changed."""
        if self.model.raw_text is None:
            rows, columns, items, marks = self.model.grid()
            self.grid.show(rows, columns, marks)
        else:
            items = self.model.raw_view()
        self.query_one(ProblemList).show(items)
        name = self.model.path.name if self.model.path else "untitled"
        self.sub_title = f"{name} *" if self.model.unsaved else name
        self.query_one("#rt-status", Static).update(self.model.status())
        if self.model.unsaved != self._posted_unsaved:
            self._posted_unsaved = self.model.unsaved
            self.post_message(RankTableChanged(self.model.file.unsaved(saved=not self.model.unsaved)))

    # -- saving (a worker: never blocks the UI loop) ----------------------------------

    @work(exclusive=True, group="ranktable.io", exit_on_error=False, name="save rank table")
    async def save_to(self, path: Path) -> None:
        table = self.model.loaded.model_copy(deep=True)
        existed = await asyncio.to_thread(path.exists)
        await asyncio.to_thread(self.sources.save_ranktable, table, path)
        self.model.saved = table
        self._posted_unsaved = False
        self.post_message(OpenRankTable(path))  # the app reads back the exact bytes written
        kept = f" (previous version kept as {path.name}.bak)" if existed else ""
        self.notify(f"Saved {path}{kept}", title="Rank table")

    # -- actions: files ----------------------------------------------------------------

    def action_open(self) -> None:
        def chosen(text: str | None) -> None:
            if text and text.strip():
                self.post_message(OpenRankTable(Path(text.strip()).expanduser()))

        self.app.push_screen(InputScreen("Open rank table file", str(self.model.path or "")), chosen)

    def action_save(self, ask_path: bool = False) -> None:
        if self.raw_mode and not self._apply_raw():
            return
        if self.model.table is None:
            self.notify("Nothing to save: build (b) or open (o) a rank table first.", severity="warning")
            return
        if self.model.path is None or ask_path:

            def chosen(text: str | None) -> None:
                if text and text.strip():
                    self._confirm_and_save(Path(text.strip()).expanduser())

            self.app.push_screen(InputScreen("Save rank table as", str(self.model.path or "ranktable.json")), chosen)
            return
        self._confirm_and_save(self.model.path)

    def action_save_as(self) -> None:
        self.action_save(ask_path=True)

    def _confirm_and_save(self, path: Path) -> None:
        errors = [item for item, _ in self.model.entries() if item.severity == "error"]
        if not errors:
            self.save_to(path)
            return
        question = f"The table has {counted(len(errors), 'error')}, e.g.\n{errors[0].text}\n\nSave to {path} anyway?"

        def answered(ok: bool | None) -> None:
            if ok:
                self.save_to(path)

        self.app.push_screen(ConfirmScreen(question, yes="Save", no="Cancel"), answered)

    # -- actions: edits (the rest: RankTableEditsMixin) -------------------------------------

    @on(DataTable.CellSelected, "#rt-grid")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.action_edit()

    def action_focus_problems(self) -> None:
        self.query_one(ProblemList).focus()

    # -- raw JSON view -----------------------------------------------------------------

    def action_toggle_raw(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        raw = self.query_one("#rt-raw", TextArea)
        if not self.raw_mode:
            if self.model.table is None:
                self.notify("No rank table yet: build (b) or open (o) one.", severity="warning")
                return
            text = dumps(self.model.table)
            self.model.apply(RawEdited(text))
            raw.load_text(text)
            switcher.current = "rt-raw"
            raw.focus()
        else:
            if not self._apply_raw():
                return
            self.model.apply(RawEdited(None))
            switcher.current = "rt-grid"
            self.grid.focus()
        self.refresh_view()
        self.refresh_bindings()

    def _apply_raw(self) -> bool:
        if self.model.raw_error is not None:
            self.notify(
                f"Fix the JSON first (ctrl+z undoes typing):\n{self.model.raw_error.message}",
                severity="error",
                markup=False,
            )
            return False
        if self.model.raw_table is not None and self.model.raw_table != self.model.table:
            self.model.replace(self.model.raw_table, saved=False)
        return True

    @on(TextArea.Changed, "#rt-raw")
    def _raw_changed(self, event: TextArea.Changed) -> None:
        if self.raw_mode:
            self.model.apply(RawEdited(event.text_area.text))
            self.refresh_view()

    @on(OptionList.OptionSelected, "#rt-problems")
    def _problem_selected(self, event: OptionList.OptionSelected) -> None:
        item = self.query_one(ProblemList).selected_item(event.option_index)
        if item is None or item.target is None:
            return
        if not self.raw_mode:
            row, column = item.target
            self.grid.go_to(row, column)
            self.grid.focus()
        elif item.code == "json":
            line, column = item.target
            raw = self.query_one("#rt-raw", TextArea)
            raw.cursor_location = (line - 1, max(0, column - 1))
            raw.focus()
