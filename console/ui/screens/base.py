"""What every pane has: header, pane bar, footer, sources, error routing, palette commands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState

from console.ui.panes import PANES
from console.ui.sources import Sources

if TYPE_CHECKING:
    from console.ui.app import ClusterConsoleApp


class PaneBar(Static):
    """One line naming the panes, the active one highlighted; click or press 1-4."""

    DEFAULT_CSS = """
    PaneBar { height: 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, active: str) -> None:
        super().__init__(id="pane-bar")
        self.active = active

    def render(self) -> Content:
        parts: list[Content] = []
        for spec in PANES:
            label = f" {spec.key} {spec.title} "
            if spec.mode == self.active:
                parts.append(Content.styled(label, "bold reverse"))
            else:
                parts.append(Content.from_markup(f"[@click=app.switch_mode('{spec.mode}')]{label}[/]"))
        return Content(" ").join(parts)


class PaneScreen(Screen):
    """Base class of the four panes. Subclasses set ``PANE`` and implement ``compose_body``."""

    PANE: str = ""

    def __init__(self, sources: Sources) -> None:
        super().__init__(id=f"{self.PANE}-screen")
        self.sources = sources

    @property
    def console_app(self) -> ClusterConsoleApp:
        return cast("ClusterConsoleApp", self.app)  # every pane runs inside the console app

    def compose(self) -> ComposeResult:
        yield Header()
        yield PaneBar(self.PANE)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def unsaved_changes(self) -> str | None:
        """A sentence describing unsaved work, or None. Asked before quitting."""
        return None

    async def wind_down(self) -> None:
        """Quitting: end this pane's remote work cleanly (channels closed by their owners)
        while the app's connections are still open."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every pane routes its workers' failures to the app's one error handler."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.console_app.report_error(event.worker.error, context=event.worker.name)

    def pane_commands(self) -> Iterator[SystemCommand]:
        """Palette commands: one per described binding of this screen."""
        yield from commands_for(self, self.BINDINGS)


def commands_for(node, bindings: Iterable) -> Iterator[SystemCommand]:
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        if not node.check_action(binding.action, ()):
            continue
        help_text = binding.tooltip or binding.description
        key = binding.key_display or binding.key.split(",")[0]
        yield SystemCommand(
            binding.description, f"{help_text} \\[{escape(key)}]", partial(node.run_action, binding.action)
        )
