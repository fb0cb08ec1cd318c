"""The one problem-list widget: Nodes' findings, the Rank table's problems, the Launch
preflight. Items are ``console.ui.models.problems.ProblemItem`` (severity, code, message,
where); Enter on one posts ``OptionList.OptionSelected`` and ``selected_item`` gives it back."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from console.core.words import counted
from console.ui.models.problems import MARKS, ProblemItem

STYLES = {"error": "bold red", "warning": "yellow", "info": "dim", "ok": "green"}


class ProblemList(OptionList):
    def __init__(self, title: str = "Problems", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.items: list[ProblemItem] = []

    def show(self, items: list[ProblemItem]) -> None:
        if items == self.items and self.option_count == len(items):
            return
        keep = self.highlighted
        self.items = list(items)
        self.clear_options()
        self.add_options(
            [Option(Text(f"{MARKS.get(i.severity, '·')} {i.text}", style=STYLES.get(i.severity, ""))) for i in items]
        )
        errors = sum(i.severity == "error" for i in items)
        warnings = sum(i.severity == "warning" for i in items)
        self.border_title = f"{self.title}: {counted(errors, 'error')}, {counted(warnings, 'warning')}"
        if items:
            self.highlighted = min(keep or 0, len(items) - 1)

    def selected_item(self, index: int | None = None) -> ProblemItem | None:
        index = self.highlighted if index is None else index
        return self.items[index] if index is not None and 0 <= index < len(self.items) else None
