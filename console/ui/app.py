"""The Cluster Console TUI: four panes (Nodes, Ping matrix, Rank table, Launch), one per
App mode, keys 1-4 to switch, every action also in the command palette (design.md §7).

The app holds what the panes share — the host list, the inventory (last discovery), the last
ping results, the current rank-table file — as reactives that change only through the
messages of ``console.ui.messages`` (attributes down, messages up), loads rank tables through
one function, and has the ONE handler that turns worker failures into notifications.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from console.core.errors import ConsoleError
from console.core.hosts import HostTarget, parse_hosts
from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix
from console.ui.messages import (
    HostsChanged,
    InventoryChanged,
    OpenRankTable,
    PingPairs,
    PingResultsChanged,
    RankTableChanged,
    ShowServer,
)
from console.ui.models.shared import RankTableFile, read_error
from console.ui.panes import PANES, PaneSpec
from console.ui.screens.base import PaneScreen, commands_for
from console.ui.screens.dialogs import ConfirmScreen, HelpScreen
from console.ui.sources import Sources

ERROR_TIMEOUT = 20.0


def describe_error(error: BaseException, context: str = "") -> tuple[str, str]:
    """(title, body) for a notification: names the host and the exact command."""
    if isinstance(error, ConsoleError):
        lines = [
            f"host: {error.host}" if error.host else "",
            f"command: {error.command}" if error.command else "",
            f"file: {error.path}" if error.path else "",
            error.detail,
            f"hint: {error.hint}" if error.hint else "",
        ]
        return error.title, "\n".join(line for line in lines if line)
    title = f"{context} failed" if context else "Unexpected error"
    return title, f"{type(error).__name__}: {error}"


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _as_targets(hosts: str | Sequence[str | HostTarget]) -> list[HostTarget]:
    if isinstance(hosts, str):
        hosts = [hosts] if hosts else []
    targets = [h for h in hosts if isinstance(h, HostTarget)]
    if len(targets) == len(hosts):
        return targets
    return parse_hosts([str(h) for h in hosts], read_file=_read_text) if hosts else []


class NotifyHandler(logging.Handler):
    """Diagnostics the CLI prints on stderr (``console`` loggers, e.g. the ``--accept-new``
    "Permanently added ..." line) become notifications: under Textual stderr is not seen."""

    def __init__(self, app: App) -> None:
        super().__init__(logging.INFO)
        self.app = app
        self.thread = threading.get_ident()
        """The app's thread (the handler is made in ``on_mount``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            severity: Literal["warning", "information"] = (
                "warning" if record.levelno >= logging.WARNING else "information"
            )
            notify = partial(self.app.notify, self.format(record), severity=severity, timeout=10)
            if threading.get_ident() == self.thread:
                notify()
            else:
                self.app.call_from_thread(notify)
        except Exception:
            self.handleError(record)


class ClusterConsoleApp(App[int]):
    """``ClusterConsoleApp(hosts="node[1-2]").run()``; tests inject ``sources``."""

    CSS_PATH = "app.tcss"
    TITLE = "Cluster Console"
    BINDINGS = [
        *(
            Binding(
                p.key,
                f"app.switch_mode('{p.mode}')",
                p.title,
                show=False,
                id=f"pane.{p.mode}",
                tooltip=f"Show the {p.title} pane",
            )
            for p in PANES
        ),
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            key_display="?",
            id="app.help",
            tooltip="List every key binding of this pane",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            priority=True,
            id="app.quit",
            tooltip="Quit (asks first if there are unsaved changes)",
        ),
    ]

    hosts: reactive[list[HostTarget]] = reactive(list, always_update=True)
    """The hosts the user gave (command line or Nodes pane)."""
    inventory: reactive[Inventory | None] = reactive(None, always_update=True)
    """The latest discovery result, shared by every pane."""
    ping_results: reactive[PingMatrix | None] = reactive(None, always_update=True)
    """The last finished ping sweep."""
    ranktable: reactive[RankTableFile] = reactive(RankTableFile, always_update=True)
    """The current rank-table file (path, bytes on disk, parsed table, saved or not)."""

    def __init__(
        self,
        hosts: str | Sequence[str | HostTarget] = (),
        ssh_options: Any = None,
        inventory: Inventory | None = None,
        ranktable_path: str | Path | None = None,
        *,
        sources: Sources | None = None,
        start: str = "nodes",
        launch_setup: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.launch_setup = list(launch_setup)
        """Setup lines the Launch pane starts with (the demo: the python that has torch)."""
        self.ssh_options = ssh_options
        self.sources = sources or Sources.default(ssh_options)
        self.ranktable_path = Path(ranktable_path) if ranktable_path else None
        self._loads = 0
        self._quitting = False
        self.start_mode = start
        self.panes: dict[str, PaneScreen] = {}
        self.errors: list[tuple[str, str]] = []
        self.set_reactive(ClusterConsoleApp.hosts, _as_targets(hosts))
        self.set_reactive(ClusterConsoleApp.inventory, inventory)
        self.set_reactive(ClusterConsoleApp.ranktable, RankTableFile(path=self.ranktable_path))
        for spec in PANES:
            self.add_mode(spec.mode, partial(self._make_pane, spec))

    def _make_pane(self, spec: PaneSpec) -> Screen:
        screen = spec.screen_class()(self.sources)
        self.panes[spec.mode] = screen
        return screen

    def on_mount(self) -> None:
        self._log_handler = NotifyHandler(self)
        logger = logging.getLogger("console")
        logger.addHandler(self._log_handler)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
        if self.ranktable_path is not None:
            self.load_ranktable(self.ranktable_path, missing_ok=True)
        self.switch_mode(self.start_mode)

    # -- shared state: changed only by messages -----------------------------------------

    def on_hosts_changed(self, message: HostsChanged) -> None:
        self.hosts = message.hosts

    def on_inventory_changed(self, message: InventoryChanged) -> None:
        self.inventory = message.inventory

    def on_ping_results_changed(self, message: PingResultsChanged) -> None:
        self.ping_results = message.matrix

    def on_rank_table_changed(self, message: RankTableChanged) -> None:
        self.ranktable = message.file

    def on_open_rank_table(self, message: OpenRankTable) -> None:
        self.load_ranktable(message.path, missing_ok=message.missing_ok)

    def on_show_server(self, message: ShowServer) -> None:
        self.switch_mode("nodes")
        nodes = self.panes.get("nodes")
        if nodes is not None:
            nodes.post_message(message)

    async def on_ping_pairs(self, message: PingPairs) -> None:
        """Another pane asked to ping card pairs: the Ping pane runs them (and stops the
        message there)."""
        await self.switch_mode("ping")
        ping = self.panes.get("ping")
        if ping is not None:
            ping.post_message(PingPairs(message.text, message.source))

    @work(exclusive=True, group="app.ranktable", exit_on_error=False, name="reading rank table")
    async def load_ranktable(self, path: Path, missing_ok: bool = False) -> None:
        """The one way a rank table is read: the exact bytes and the table parsed from them."""
        self._loads += 1
        generation = self._loads
        if missing_ok and not await asyncio.to_thread(path.exists):
            self.ranktable = RankTableFile(path=path, generation=generation)
            return
        try:
            data, table = await asyncio.to_thread(self.sources.load_ranktable, path)
        except ConsoleError as exc:
            self.ranktable = replace(read_error(path, exc), generation=generation)
            raise
        self.ranktable = RankTableFile(path=path, data=data, table=table, generation=generation)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.node is self and event.state == WorkerState.ERROR and event.worker.error:
            self.report_error(event.worker.error, context=event.worker.name)

    async def on_unmount(self) -> None:
        logging.getLogger("console").removeHandler(self._log_handler)
        await self.sources.aclose()

    # -- the one error handler -------------------------------------------------------

    def report_error(self, error: BaseException, context: str = "") -> None:
        """Every worker failure ends here: a notification naming host and command."""
        title, body = describe_error(error, context)
        self.errors.append((title, body))
        self.log.error(title, body)
        self.notify(body or title, title=title, severity="error", timeout=ERROR_TIMEOUT, markup=False)

    # -- actions ---------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        rows = self.binding_rows(self.screen)
        title = f"Keys — {self.screen.title or self.title}"
        if isinstance(self.screen, PaneScreen):
            title = f"Keys — {_pane_title(self.screen.PANE)}"
        self.push_screen(HelpScreen(title, rows))

    def binding_rows(self, screen: Screen) -> list[tuple[str, str, str]]:
        """(keys, description, id) for every binding with an id active on ``screen``:
        the pane's own first, then the app's; textual's widget keys are left out."""
        grouped: dict[str, tuple[list[str], Binding]] = {}
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or not binding.id:
                continue
            keys, _ = grouped.setdefault(binding.id, ([], binding))
            keys.append(self.get_key_display(Binding(key, binding.action)))
        rows = [(", ".join(dict.fromkeys(keys)), b.description, b.id or "") for keys, b in grouped.values()]
        rows.sort(key=lambda row: row[2].startswith(("app.", "pane.")))
        rows.append(
            (
                self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")),
                "Command palette: every action by name",
                "app.command_palette",
            )
        )
        return rows

    async def action_quit(self) -> None:
        if isinstance(self.screen, ConfirmScreen):
            return
        reasons = [r for pane in self.panes.values() if (r := pane.unsaved_changes())]
        if not reasons:
            await self.quit_cleanly()
            return

        async def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                await self.quit_cleanly()

        question = "\n".join(reasons) + "\n\nQuit and lose these changes?"
        self.push_screen(ConfirmScreen(question, yes="Quit", no="Stay"), answered)

    async def quit_cleanly(self) -> None:
        """Let every pane end its remote work while the connections are open, then exit: the
        pool is closed in ``on_unmount`` before the loop ends, so nothing is left to write to
        a closed connection (no asyncio noise on the terminal after the app)."""
        if self._quitting:
            return
        self._quitting = True
        for pane in list(self.panes.values()):
            await pane.wind_down()
        self.exit(0)

    # -- command palette ---------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for spec in PANES:
            yield SystemCommand(
                f"Go to {spec.title}", f"Show the {spec.title} pane [{spec.key}]", partial(self.switch_mode, spec.mode)
            )
        yield SystemCommand("Help: keys", "List every key binding of this pane [?]", self.action_help)
        if isinstance(screen, PaneScreen):
            yield from screen.pane_commands()
        yield from commands_for(self, [b for b in self.BINDINGS if isinstance(b, Binding) and b.id == "app.quit"])
        yield from (c for c in super().get_system_commands(screen) if c.title != "Quit")


def _pane_title(mode: str) -> str:
    return next((p.title for p in PANES if p.mode == mode), mode)
