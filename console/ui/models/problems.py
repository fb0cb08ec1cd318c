"""One line of a problem list, as every pane shows it: (severity, code, message, where).

Nodes' findings and failed commands, the Rank table's problems and the Launch preflight are
all lists of these, shown by the one ``console.ui.widgets.problems.ProblemList`` widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES = ("error", "warning", "info", "ok")
RANK = {"error": 3, "warning": 2, "info": 1, "ok": 0}
MARKS = {"error": "✖", "warning": "!", "info": "·", "ok": "✔"}


@dataclass(frozen=True)
class ProblemItem:
    severity: str
    """error, warning, info or ok (a preflight check that passed)."""
    code: str
    message: str
    where: str = ""
    """What it is about: a host, a JSON path, a rank pair."""
    detail: str = ""
    """Shown when the item is selected (exact command, raw output...)."""
    target: Any = None
    """Where selecting it leads: a grid cell, a (line, column), a host."""

    @property
    def text(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def line(self) -> str:
        return f"{MARKS.get(self.severity, '·')} {self.text}"


def worst_first(items: list[ProblemItem]) -> list[ProblemItem]:
    return sorted(items, key=lambda i: -RANK.get(i.severity, 0))
