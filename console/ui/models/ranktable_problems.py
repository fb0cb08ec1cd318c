"""Validation problems -> problem-list items and painted grid cells (Rank table pane)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from console.core.diagnostic import Diagnostic, Where
from console.core.ranktable import RankTable
from console.ui.models.links import LossyPair
from console.ui.models.problems import RANK, ProblemItem, worst_first

SERVER_FIELDS = ("server_id", "host_ip", "container_ip", "host_nic_ip", "hardware_type")


@dataclass(frozen=True)
class Row:
    server: int
    device: int


def cells_for(where: Where, table: RankTable, columns: tuple[str, ...]) -> set[tuple[int, str]]:
    """The (row index, column) cells a problem points at: its ``Where``'s server and device
    indices and field, as the core's rank-table checks fill them."""
    s_idx, d_idx, field = where.server_index, where.device_index, where.field
    if s_idx is None or s_idx >= len(table.server_list):
        return set()
    rows = row_index(table)
    if d_idx is not None:
        column = field if field in columns else "device_id"
        r = rows.get(Row(s_idx, d_idx))
        return {(r, column)} if r is not None else set()
    column = field if field in columns and field in SERVER_FIELDS else "server_id"
    return {(r, column) for row, r in rows.items() if row.server == s_idx}


def row_index(table: RankTable) -> dict[Row, int]:
    out: dict[Row, int] = {}
    for s_idx, server in enumerate(table.server_list):
        for d_idx in range(len(server.device)):
            out[Row(s_idx, d_idx)] = len(out)
    return out


Entry = tuple[ProblemItem, Sequence[Where]]
"""An item and where the cells it concerns are (server and device indices, field)."""


def as_item(problem: Diagnostic) -> ProblemItem:
    """The one adapter from the core's diagnostic type to a list item."""
    return ProblemItem(problem.severity, problem.code, problem.message, problem.where.path or "(table)")


def entries(problems: Sequence[Diagnostic], lossy: Sequence[LossyPair] = ()) -> list[Entry]:
    out: list[Entry] = [(as_item(p), (p.where,)) for p in problems]
    out += [(ProblemItem("warning", "lossy_pair", p.describe()), p.wheres) for p in lossy]
    return out


def grid_items(
    found: Sequence[Entry], table: RankTable | None, columns: tuple[str, ...]
) -> tuple[list[ProblemItem], dict[tuple[int, str], str]]:
    """Items for the list (``target``: the first cell) and {(row, column): worst severity}."""
    marks: dict[tuple[int, str], str] = {}
    items: list[ProblemItem] = []
    for item, wheres in found:
        cells: set[tuple[int, str]] = set()
        if table is not None:
            for where in wheres:
                cells |= cells_for(where, table, columns)
        for cell in cells:
            if RANK.get(item.severity, 0) > RANK.get(marks.get(cell, ""), 0):
                marks[cell] = item.severity
        items.append(_with_target(item, min(cells) if cells else None))
    return worst_first(items), marks


def raw_items(found: Sequence[Entry], parse_error: ProblemItem | None) -> list[ProblemItem]:
    """Items for the raw JSON view: the parse error (``target``: line, column) or the problems."""
    if parse_error is not None:
        return [parse_error]
    return worst_first([item for item, _ in found])


def _with_target(item: ProblemItem, target: object) -> ProblemItem:
    return ProblemItem(item.severity, item.code, item.message, item.where, item.detail, target)
