"""Validation problems -> problem-list items and painted grid cells (Rank table pane)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from console.core.diagnostic import Diagnostic
from console.core.ranktable import RankTable
from console.ui.models.links import LossyPair
from console.ui.models.problems import RANK, ProblemItem, worst_first

SERVER_FIELDS = ("server_id", "host_ip", "container_ip", "host_nic_ip", "hardware_type")
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


Entry = tuple[ProblemItem, Sequence[str]]
"""An item and the JSON paths of the cells it concerns."""


def as_item(problem: Diagnostic) -> ProblemItem:
    """The one adapter from the core's diagnostic type to a list item."""
    return ProblemItem(problem.severity, problem.code, problem.message, problem.where.path or "(table)")


def entries(problems: Sequence[Diagnostic], lossy: Sequence[LossyPair] = ()) -> list[Entry]:
    out: list[Entry] = [(as_item(p), (p.where.path or "",)) for p in problems]
    out += [(ProblemItem("warning", "lossy_pair", p.describe()), p.paths) for p in lossy]
    return out


def grid_items(
    found: Sequence[Entry], table: RankTable | None, columns: tuple[str, ...]
) -> tuple[list[ProblemItem], dict[tuple[int, str], str]]:
    """Items for the list (``target``: the first cell) and {(row, column): worst severity}."""
    marks: dict[tuple[int, str], str] = {}
    items: list[ProblemItem] = []
    for item, paths in found:
        cells: set[tuple[int, str]] = set()
        if table is not None:
            for path in paths:
                cells |= cells_for_path(path, table, columns)
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
