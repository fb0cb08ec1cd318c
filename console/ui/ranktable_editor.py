"""Rank-table editing state behind the Rank table pane: rows, cell edits, server moves,
undo, dirty tracking, and where each validation problem points. No textual here.

The table is a ``console.core.ranktable.RankTable``; every change works on a deep copy
and pushes the previous table on the undo stack, so undo is exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.core.errors import InputError
from console.core.ranktable import RankDevice, RankServer, RankTable

FIXED_COLUMNS = ("server_id", "device_id", "device_ip", "rank_id")
SERVER_FIELDS = ("server_id", "host_ip", "container_ip", "host_nic_ip", "hardware_type")
DEVICE_OPTIONAL = ("device_port", "host_port", "super_device_id", "backup_device_ip",
                   "backup_device_port")
NUMBER_FIELDS = {"device_id", "rank_id", "device_port", "host_port", "super_device_id",
                 "backup_device_port"}
UNDO_LIMIT = 200

_PATH = re.compile(r"^server_list\[(\d+)\](?:\.device\[(\d+)\])?(?:\.(\w+))?")


@dataclass(frozen=True)
class Row:
    server: int
    device: int


def cells_for_path(path: str, table: RankTable, columns: tuple[str, ...]) -> set[tuple[int, str]]:
    """The (row index, column) cells a problem's JSON path points at."""
    m = _PATH.match(path or "")
    if not m or int(m.group(1)) >= len(table.server_list):
        return set()
    s_idx, d_idx, field = int(m.group(1)), m.group(2), m.group(3)
    rows = row_index(table)
    if d_idx is not None:
        column = field if field in columns else "device_id"
        r = rows.get(Row(s_idx, int(d_idx)))
        return {(r, column)} if r is not None else set()
    column = field if field in columns and field in SERVER_FIELDS else "server_id"
    return {(r, column) for row, r in rows.items() if row.server == s_idx}


def row_index(table: RankTable) -> dict[Row, int]:
    out: dict[Row, int] = {}
    for s_idx, server in enumerate(table.server_list):
        for d_idx in range(len(server.device)):
            out[Row(s_idx, d_idx)] = len(out)
    return out


OPTIONAL_COLUMNS = SERVER_FIELDS[1:] + DEVICE_OPTIONAL


def columns_of(table: RankTable, shown: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Fixed columns, then every optional field some server or device has set (or ``shown``)."""
    extra = [f for f in SERVER_FIELDS[1:] if f in shown
             or any(getattr(s, f, None) is not None for s in table.server_list)]
    extra += [f for f in DEVICE_OPTIONAL if f in shown
              or any(getattr(d, f, None) is not None for s in table.server_list for d in s.device)]
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

    # -- state ---------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.table is not None and self.table != self.saved

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def rows(self) -> list[tuple[Row, RankServer, RankDevice]]:
        if self.table is None:
            return []
        return [(Row(si, di), s, d) for si, s in enumerate(self.table.server_list)
                for di, d in enumerate(s.device)]

    def replace(self, table: RankTable, *, saved: bool) -> None:
        """A new table (loaded, built, or from the raw JSON view). Undoable."""
        self._push()
        self.table = table
        if saved:
            self.saved = table.model_copy(deep=True)

    def mark_saved(self) -> None:
        self.saved = self.table.model_copy(deep=True) if self.table is not None else None

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.table = self._undo.pop()
        return True

    def _push(self) -> None:
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

    def value(self, row: Row, column: str) -> Any:
        server = self.table.server_list[row.server]
        if column in SERVER_FIELDS:
            return getattr(server, column, None)
        return getattr(server.device[row.device], column, None)

    def set_cell(self, row: Row, column: str, text: str) -> None:
        try:
            value = convert(column, text)
        except InputError as exc:
            where = f"server_list[{row.server}]" + (
                "" if column in SERVER_FIELDS else f".device[{row.device}]") + f".{column}"
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
            devices = [RankDevice(device_id=d.device_id, rank_id=start + i)
                       for i, d in enumerate(like)] or [RankDevice(device_id=0, rank_id=start)]
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
