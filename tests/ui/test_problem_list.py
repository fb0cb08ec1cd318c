"""The one problem-list widget's title counts errors and warnings in words: "1 error", not
"1 errors" (the Rank table's problems, the Launch preflight, Nodes' findings)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.ui.models.problems import ProblemItem
from console.ui.widgets.problems import ProblemList


class OneList(App):
    def compose(self) -> ComposeResult:
        yield ProblemList("Preflight")


def item(severity: str, n: int = 0) -> ProblemItem:
    return ProblemItem(severity, "code", f"message {n}")


async def test_problem_list_title_counts_are_grammatical() -> None:
    async with OneList().run_test() as pilot:
        problems = pilot.app.query_one(ProblemList)
        problems.show([item("error"), item("warning"), item("ok")])
        assert problems.border_title == "Preflight: 1 error, 1 warning"
        problems.show([item("error", 1), item("error", 2), item("warning", 1), item("warning", 2)])
        assert problems.border_title == "Preflight: 2 errors, 2 warnings"
        problems.show([])
        assert problems.border_title == "Preflight: 0 errors, 0 warnings"
