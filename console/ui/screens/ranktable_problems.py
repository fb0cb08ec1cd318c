"""Validation problems -> problem-list items and painted grid cells (Rank table pane)."""

from __future__ import annotations

from typing import Any

from console.core.diagnostic import Diagnostic
from console.ui.ranktable_editor import cells_for_path
from console.ui.widgets.ranktable_grid import ProblemItem

_RANK = {"error": 2, "warning": 1}


def _text(problem: Diagnostic) -> str:
    where = problem.where.path or "(table)"
    return f"{where}: {problem.message}  [{problem.code}]"


def grid_items(problems: list[Diagnostic], table: Any, columns: tuple[str, ...]
               ) -> tuple[list[ProblemItem], dict[tuple[int, str], str]]:
    """Items for the list and {(row, column): worst severity} for the grid."""
    marks: dict[tuple[int, str], str] = {}
    items: list[ProblemItem] = []
    for problem in problems:
        cells = cells_for_path(problem.where.path or "", table, columns) if table is not None else set()
        for cell in cells:
            if _RANK.get(problem.severity, 0) > _RANK.get(marks.get(cell, ""), 0):
                marks[cell] = problem.severity
        first = min(cells) if cells else None
        items.append(ProblemItem(problem.severity, _text(problem), cell=first))
    items.sort(key=lambda i: -_RANK.get(i.severity, 0))
    return items, marks


def raw_items(problems: list[Diagnostic], parse_error: str | None,
              position: tuple[int, int] | None) -> list[ProblemItem]:
    """Items for the raw JSON view: the parse error (with line:col) or the table's problems."""
    if parse_error is not None:
        return [ProblemItem("error", parse_error.replace("\n", " "), position=position)]
    items = [ProblemItem(p.severity, _text(p)) for p in problems]
    return sorted(items, key=lambda i: -_RANK.get(i.severity, 0))
