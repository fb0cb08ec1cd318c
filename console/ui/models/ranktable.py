"""The Rank table pane's model: the table being edited (rows, cell edits, server moves, undo,
dirty tracking), its file, the raw JSON being typed, and every problem — the table's own, those
against the last discovery and the rank pairs the last ping sweep found lossy. No textual here.

The table is a ``console.core.ranktable.RankTable``; every change works on a deep copy
and pushes the previous table on the undo stack, so undo is exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core.diagnostic import Diagnostic
from console.core.errors import ConsoleError, InputError
from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix
from console.core.ranktable import (
    RankDevice,
    RankServer,
    RankTable,
    RankTableInvalid,
    loads,
    validate,
    validate_against,
)
from console.core.words import counted
from console.ui.models.links import lossy_rank_pairs
from console.ui.models.problems import ProblemItem
from console.ui.models.ranktable_problems import (
    SERVER_FIELDS,
    Entry,
    Row,
    cells_for,
    entries,
    grid_items,
    raw_items,
    row_index,
)
from console.ui.models.shared import RankTableFile

__all__ = ["Row", "cells_for", "row_index"]

FIXED_COLUMNS = ("server_id", "device_id", "device_ip", "rank_id")
DEVICE_OPTIONAL = ("device_port", "host_port", "super_device_id", "backup_device_ip", "backup_device_port")
NUMBER_FIELDS = {"device_id", "rank_id", "device_port", "host_port", "super_device_id", "backup_device_port"}
UNDO_LIMIT = 200

OPTIONAL_COLUMNS = SERVER_FIELDS[1:] + DEVICE_OPTIONAL


def columns_of(table: RankTable, shown: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Fixed columns, then every optional field some server or device has set (or ``shown``)."""
    extra = [
        f for f in SERVER_FIELDS[1:] if f in shown or any(getattr(s, f, None) is not None for s in table.server_list)
    ]
    extra += [
        f
        for f in DEVICE_OPTIONAL
        if f in shown or any(getattr(d, f, None) is not None for s in table.server_list for d in s.device)
    ]
    return FIXED_COLUMNS + tuple(extra)


def convert(column: str, text: str) -> Any:
    """Cell text -> field value; numbers are checked, empty clears an optional field."""
    text = text.strip()
    if column in NUMBER_FIELDS:
        if not text and column not in ("device_id", "rank_id"):
            return None
        if not re.fullmatch(r"\d+", text):
            raise InputError(f"{column} must be a non-negative integer", f"got {text!r}")
        return int(text)
    if not text and column not in ("server_id",):
        return None
    if not text:
        raise InputError(f"{column} must not be empty")
    return text


class RankTableEditor:
    def __init__(self) -> None:
        self.table: RankTable | None = None
        self.saved: RankTable | None = None
        self._undo: list[RankTable | None] = []
        self.changes = 0

    # -- state ---------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.table is not None and self.table != self.saved

    def rows(self) -> list[tuple[Row, RankServer, RankDevice]]:
        if self.table is None:
            return []
        return [(Row(si, di), s, d) for si, s in enumerate(self.table.server_list) for di, d in enumerate(s.device)]

    def replace(self, table: RankTable, *, saved: bool) -> None:
        """A new table (loaded, built, or from the raw JSON view). Undoable."""
        self._push()
        self.table = table
        if saved:
            self.saved = table.model_copy(deep=True)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.table = self._undo.pop()
        self.changes += 1
        return True

    def _push(self) -> None:
        self.changes += 1
        self._undo.append(self.table.model_copy(deep=True) if self.table is not None else None)
        del self._undo[:-UNDO_LIMIT]

    def _change(self, fn: Callable[[RankTable], Any]) -> Any:
        if self.table is None:
            raise InputError("no rank table", hint="build one from the inventory (b) or open a file (o)")
        work = self.table.model_copy(deep=True)
        result = fn(work)
        self._push()
        self.table = work
        return result

    # -- edits ---------------------------------------------------------------------

    @property
    def loaded(self) -> RankTable:
        """The table, where one must be loaded (a row is selected, a save was asked for)."""
        assert self.table is not None, "no rank table loaded"
        return self.table

    def value(self, row: Row, column: str) -> Any:
        server = self.loaded.server_list[row.server]
        if column in SERVER_FIELDS:
            return getattr(server, column, None)
        return getattr(server.device[row.device], column, None)

    def set_cell(self, row: Row, column: str, text: str) -> None:
        try:
            value = convert(column, text)
        except InputError as exc:
            where = (
                f"server_list[{row.server}]"
                + ("" if column in SERVER_FIELDS else f".device[{row.device}]")
                + f".{column}"
            )
            raise InputError(exc.title, f"{where}: {exc.detail}") from None

        def edit(table: RankTable) -> None:
            server = table.server_list[row.server]
            target = server if column in SERVER_FIELDS else server.device[row.device]
            setattr(target, column, value)

        self._change(edit)

    def move_server(self, index: int, delta: int) -> int:
        """Move server ``index`` up (-1) or down (+1); returns its new index."""
        new = index + delta
        if self.table is None or not 0 <= new < len(self.table.server_list):
            return index

        def move(table: RankTable) -> None:
            servers = table.server_list
            servers[index], servers[new] = servers[new], servers[index]

        self._change(move)
        return new

    def add_server(self, after: int, server_id: str) -> int:
        """A new server after ``after`` with the same device ids as it, IPs empty."""
        server_id = convert("server_id", server_id)

        def add(table: RankTable) -> int:
            like = table.server_list[after].device if table.server_list else []
            start = sum(len(s.device) for s in table.server_list)
            devices = [RankDevice(device_id=d.device_id, rank_id=start + i) for i, d in enumerate(like)] or [
                RankDevice(device_id=0, rank_id=start)
            ]
            table.server_list.insert(after + 1, RankServer(server_id=server_id, device=devices))
            _sync_count(table)
            return after + 1

        return self._change(add)

    def remove_server(self, index: int) -> None:
        def remove(table: RankTable) -> None:
            del table.server_list[index]
            _sync_count(table)

        self._change(remove)

    def transform(self, fn: Callable[[RankTable], RankTable | None]) -> None:
        """Apply a core function (e.g. ``renumber``) that returns a table or edits in place."""
        if self.table is None:
            raise InputError("no rank table", hint="build one from the inventory (b) or open a file (o)")
        work = self.table.model_copy(deep=True)
        result = fn(work)
        self._push()
        self.table = result if isinstance(result, RankTable) else work


def _sync_count(table: RankTable) -> None:
    if table.server_count is not None:
        table.server_count = len(table.server_list)


# -- the pane's model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """The app's current rank-table file changed (loaded, or saved by this pane)."""

    file: RankTableFile


@dataclass(frozen=True)
class ContextChanged:
    """What the table is checked against: the last discovery and the last ping sweep."""

    inventory: Inventory | None
    ping: PingMatrix | None


@dataclass(frozen=True)
class RawEdited:
    """The raw JSON view's text (None: back to the grid)."""

    text: str | None


RankTableEvent = Opened | ContextChanged | RawEdited


class RankTableModel(RankTableEditor):
    """``apply(event)`` for the app's file and context and the raw JSON; edits through the
    editor's methods. ``changes`` counts every change."""

    def __init__(self) -> None:
        super().__init__()
        self.file = RankTableFile()
        self.inventory: Inventory | None = None
        self.ping: PingMatrix | None = None
        self.raw_text: str | None = None
        self.raw_table: RankTable | None = None
        self.raw_error: ProblemItem | None = None
        self.raw_problems: list[Diagnostic] = []
        """The raw JSON is JSON but breaks the schema: each problem at its JSON path."""
        self.shown_columns: frozenset[str] = frozenset()

    @property
    def path(self) -> Path | None:
        return self.file.path

    def apply(self, event: RankTableEvent) -> None:
        match event:
            case Opened(file=file):
                new = file.generation != self.file.generation
                self.file = file
                if new and file.table is not None:
                    if self.table is None or self.saved is None or file.table != self.table:
                        self.replace(file.table, saved=True)
                    else:
                        self.saved = file.table.model_copy(deep=True)
            case ContextChanged(inventory=inventory, ping=ping):
                self.inventory, self.ping = inventory, ping
            case RawEdited(text=text):
                self._raw(text)
        self.changes += 1

    def _raw(self, text: str | None) -> None:
        self.raw_text = text
        self.raw_table, self.raw_error, self.raw_problems = None, None, []
        if text is None:
            return
        try:
            self.raw_table = loads(text, source="raw JSON")
        except RankTableInvalid as exc:  # JSON, but not the schema: each problem at its path
            self.raw_problems = list(exc.problems)
            self.raw_error = ProblemItem("error", "schema", "not a valid rank table", "raw JSON")
        except ConsoleError as exc:
            position = (exc.line, exc.column) if exc.line is not None and exc.column is not None else None
            message = f"{exc.title}: {exc.detail}".strip(": ").replace("\n", " ")
            self.raw_error = ProblemItem("error", "json", message, "raw JSON", target=position)

    def show_column(self, name: str) -> None:
        if name not in OPTIONAL_COLUMNS:
            raise InputError(f"unknown rank-table field {name!r}", f"choose one of {', '.join(OPTIONAL_COLUMNS)}")
        self.shown_columns |= {name}
        self.changes += 1

    # -- reading -------------------------------------------------------------------------

    @property
    def raw_pending(self) -> bool:
        return self.raw_text is not None and (self.raw_error is not None or self.raw_table != self.table)

    @property
    def unsaved(self) -> bool:
        return self.dirty or self.raw_pending

    def problems(self, table: RankTable | None = None) -> list[Diagnostic]:
        table = self.table if table is None else table
        if table is None:
            return []
        found = list(validate(table))
        if self.inventory is not None and self.inventory.servers:
            found += list(validate_against(table, self.inventory))
        return found

    def entries(self, table: RankTable | None = None) -> list[Entry]:
        """Every problem of ``table`` (default: the edited one) with the cells it concerns."""
        table = self.table if table is None else table
        return entries(self.problems(table), lossy_rank_pairs(table, self.ping))

    def columns(self) -> tuple[str, ...]:
        return columns_of(self.table, self.shown_columns) if self.table is not None else FIXED_COLUMNS

    def grid(self) -> tuple[list[list[Any]], tuple[str, ...], list[ProblemItem], dict[tuple[int, str], str]]:
        """(rows, columns, problem items, painted cells) of the grid view."""
        columns = self.columns()
        items, marks = grid_items(self.entries(), self.table, columns)
        rows = [[self.value(row, c) for c in columns] for row, _, _ in self.rows()]
        return rows, columns, items, marks

    def raw_view(self) -> list[ProblemItem]:
        if self.raw_problems:
            return raw_items(entries(self.raw_problems), None)
        if self.raw_error is not None:
            return raw_items([], self.raw_error)
        return raw_items(self.entries(self.raw_table), None)

    def status(self) -> str:
        table = self.table if self.raw_text is None or self.raw_table is None else self.raw_table
        if table is None:
            return "No rank table — b builds one from the discovered cards, o opens a file"
        found = self.entries(table)
        errors = sum(item.severity == "error" for item, _ in found)
        ranks = sum(len(s.device) for s in table.server_list)
        inv = self.inventory
        checked = "not checked against discovery"
        if inv and inv.servers:
            checked = f"vs discovery of {counted(len(inv.servers), 'server')}"
        pinged = f" · vs ping of {counted(len(self.ping.results), 'probe')}" if self.ping and self.ping.results else ""
        return (
            f"{'MODIFIED · ' if self.unsaved else ''}{counted(ranks, 'rank')}"
            f" on {counted(len(table.server_list), 'server')}"
            f" · {counted(errors, 'error')}, {counted(len(found) - errors, 'warning')} · {checked}{pinged}"
            f" · {self.path or 'not saved yet'}"
        )
