"""Launch pane: profile, command, env and setup lines -> the plan (ranks per server, env of a
selected rank) and a preflight checklist; F5 launches every rank in lockstep and the Run tab
follows the job: a per-rank status grid, the logs (interleaved or one rank, ``/`` filter,
follow/pause, folded ``clush -b`` style), the root cause, the run folder. Probe results
(profile ``probe``) get their own tab.

This module holds the setup half; the running job lives in ``launch_run.LaunchRunMixin``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static, TabbedContent, TabPane, TextArea

from console.core.errors import ConsoleError
from console.core.ranktable import validate
from console.ops import ranktable_files
from console.ops.profiles import DEFAULT_PROFILE
from console.ops.runrecord import new_run_id
from console.ui.ids import safe_id
from console.ui.launch_form import (
    BLOCK, OK, WARN, Check, Form, blocking, checklist, make_plan, plan_summary, rank_detail,
)
from console.ui.launch_source import LaunchSource
from console.ui.screens.base import PaneScreen
from console.ui.screens.launch_run import LaunchRunMixin, compose_probe, compose_run
from console.ui.widgets.rank_status import StatusLine

CHECK_STYLES = {OK: "green", BLOCK: "bold red", WARN: "yellow"}
PLAN_COLUMNS = ("rank", "server", "local", "device", "device_ip")


class LaunchScreen(LaunchRunMixin, PaneScreen):
    PANE = "launch"
    CSS_PATH = "launch.tcss"
    AUTO_FOCUS = "#launch-plan"
    BINDINGS = [
        Binding("c", "edit_command", "Command", id="launch.command",
                tooltip="Type the command every rank runs (Tab moves on to env and setup lines)"),
        Binding("f5", "launch", "Launch", id="launch.start",
                tooltip="Start every rank of the plan on every server in lockstep"),
        Binding("f8", "stop", "Stop all", id="launch.stop",
                tooltip="Tear the whole job down: TERM, grace, KILL on every server"),
        Binding("f6", "check", "Check servers", show=False, id="launch.check",
                tooltip="Run the server checks now: reachable, python, idle NPUs, master port"),
        Binding("slash", "filter", "Filter", id="launch.filter",
                tooltip="Filter the log as you type (Esc clears)"),
        Binding("f", "follow", "Follow/pause", id="launch.follow",
                tooltip="Pause the log (new lines are kept) or follow it again"),
        Binding("b", "fold", "Fold", id="launch.fold",
                tooltip="Fold identical lines across ranks, clush -b style: [0-15] text"),
        Binding("r", "one_rank", "Rank", id="launch.rank",
                tooltip="Show one rank's log (empty: all ranks interleaved)"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="launch.clear_filter",
                tooltip="Clear the log filter"),
        Binding("f2", "show_tab('launch-setup')", "Setup", show=False, id="launch.setup_tab",
                tooltip="Show the form, the plan and the checklist"),
        Binding("f3", "show_tab('launch-run')", "Run", show=False, id="launch.run_tab",
                tooltip="Show the status grid and the logs"),
        Binding("f4", "show_tab('launch-probe')", "Probe", show=False, id="launch.probe_tab",
                tooltip="Show the probe's results table (profile probe)"),
    ]

    def __init__(self, sources) -> None:
        super().__init__(sources)
        if sources.launch is None:  # injected sources without one: this machine, no SSH
            sources.launch = LaunchSource(sources.pool)
        self.init_run()
        self.profile: Any = None
        self.profile_error: str | None = None
        self.table_path: Path | None = None
        self.table: Any = None
        self.table_bytes: bytes | None = None
        self.table_error: str | None = None
        self.table_problems: list[Any] = []
        self.plan: Any = None
        self.plan_error: str | None = None
        self.remote: list[Any] | None = None
        self.checks: list[Check] = []
        self._plan_key: Any = None
        self.run_id = new_run_id()
        """Run id of the plan shown; a fresh one is taken at each launch."""
        self._plan_timer: Any = None

    def compose_body(self) -> ComposeResult:
        yield StatusLine(id="launch-status", classes="status")
        with TabbedContent(initial="launch-setup", id="launch-tabs"):
            with TabPane("Setup", id="launch-setup"):
                yield from self.compose_setup()
            with TabPane("Run", id="launch-run"):
                yield from compose_run()
            with TabPane("Probe", id="launch-probe"):
                yield from compose_probe()

    def compose_setup(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Profile", classes="form-label")
            yield Select([(DEFAULT_PROFILE, DEFAULT_PROFILE)], value=DEFAULT_PROFILE, allow_blank=False,
                         compact=True, id="launch-profile")
            yield Button("Launch F5", id="launch-go", compact=True, variant="success")
            yield Button("Check F6", id="launch-check", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Command", classes="form-label")
            yield Input(placeholder="python3 train.py --rank {rank}", compact=True, id="launch-command")
        with Horizontal(classes="form-row"):
            yield Label("Env", classes="form-label")
            yield Input(placeholder="HCCL_CONNECT_TIMEOUT=1200 KEY='a b'", compact=True, id="launch-env")
        with Horizontal(classes="form-row", id="launch-setup-row"):
            yield Label("Setup", classes="form-label")
            yield TextArea("\n".join(getattr(self.app, "launch_setup", ())), compact=True,
                           id="launch-setup-lines", soft_wrap=False,
                           placeholder="source /usr/local/Ascend/ascend-toolkit/set_env.sh")
        yield Static(id="launch-plan-summary", classes="status", markup=False)
        with Horizontal(id="launch-lower"):
            yield DataTable(id="launch-plan", cursor_type="row", zebra_stripes=True)
            with Vertical(id="launch-side"):
                with VerticalScroll(id="launch-checks-box"):
                    yield Static(id="launch-checks", markup=False)
                yield TextArea("", id="launch-rank-env", read_only=True, soft_wrap=False,
                               show_cursor=False)

    def on_mount(self) -> None:
        self.query_one("#launch-plan", DataTable).add_columns(*PLAN_COLUMNS)
        self.query_one("#launch-checks-box").border_title = "Preflight"
        self.query_one("#launch-rank-env", TextArea).border_title = "Selected rank"
        self.mount_run()
        self.watch(self.app, "inventory", lambda _: self.update_plan(), init=False)
        self.load_profiles()
        self.load_profile(DEFAULT_PROFILE)
        self.refresh_setup()

    def on_screen_resume(self) -> None:
        self.load_table()

    # -- state -------------------------------------------------------------------------

    def unsaved_changes(self) -> str | None:
        if self.running:
            return (f"A launch is running ({self.job.world_size} ranks): quitting stops "
                    "every rank.")
        return None

    def saved_table(self) -> tuple[Path | None, bool]:
        """(path of the rank table to launch, the Rank table pane has unsaved changes)."""
        pane = self.console_app.panes.get("ranktable")
        path = getattr(pane, "path", None) or self.console_app.ranktable_path
        unsaved = pane is not None and pane.unsaved_changes() is not None
        return (Path(path) if path else None), unsaved

    def form(self) -> Form:
        return Form(profile=str(self.query_one("#launch-profile", Select).value),
                    command=self.query_one("#launch-command", Input).value,
                    env=self.query_one("#launch-env", Input).value,
                    setup=self.query_one("#launch-setup-lines", TextArea).text)

    # -- loading (workers: files are read off the UI loop) --------------------------------

    @work(exclusive=True, group="launch.profiles", exit_on_error=False, name="reading profiles")
    async def load_profiles(self) -> None:
        names = await asyncio.to_thread(self.sources.launch.profile_names)
        select = self.query_one("#launch-profile", Select)
        current = select.value
        select.set_options([(n, n) for n in names])
        if names:
            select.value = current if current in names else names[0]

    @on(Select.Changed, "#launch-profile")
    def _profile_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load_profile(event.value)

    @work(exclusive=True, group="launch.profile", exit_on_error=False, name="reading profile")
    async def load_profile(self, name: str) -> None:
        try:
            self.profile = await asyncio.to_thread(self.sources.launch.load_profile, name)
            self.profile_error = None
        except ConsoleError as exc:
            self.profile, self.profile_error = None, f"{exc.title}: {exc.detail}"
        self.update_plan()

    @work(exclusive=True, group="launch.table", exit_on_error=False, name="reading rank table")
    async def load_table(self) -> None:
        path, _ = self.saved_table()
        self.table_path = path
        if path is None:
            self.table = self.table_bytes = self.table_error = None
        else:
            try:
                self.table_bytes, self.table, self.table_problems = await asyncio.to_thread(_read_table, path)
                self.table_error = None
            except ConsoleError as exc:
                self.table = self.table_bytes = None
                self.table_problems, self.table_error = [], f"{exc.title} {exc.detail}".strip()
        self.update_plan()

    # -- plan and checklist --------------------------------------------------------------

    @on(Input.Changed, "#launch-command, #launch-env")
    @on(TextArea.Changed, "#launch-setup-lines")
    def _form_changed(self) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(0.15, self.update_plan)

    def update_plan(self) -> None:
        self.plan, self.plan_error = None, None
        if self.table is not None and self.profile is not None:
            self.plan, self.plan_error = make_plan(self.table, self.profile, self.form(),
                                                   self.sources.launch.plan_options, self.run_id)
        self.remote = None  # server checks were for the previous plan
        self.refresh_setup()

    def refresh_setup(self) -> None:
        path, unsaved = self.saved_table()
        self.checks = checklist(
            path=self.table_path or path, table_error=self.table_error, table=self.table,
            plan=self.plan, plan_error=self.plan_error, profile_error=self.profile_error,
            table_problems=self.table_problems, inventory=self.console_app.inventory,
            unsaved=unsaved, remote=self.remote)
        text = Text("\n").join(Text(c.line(), style=CHECK_STYLES.get(c.level, "dim"))
                               for c in self.checks)
        self.query_one("#launch-checks", Static).update(text)
        summary = plan_summary(self.plan) if self.plan else "No plan yet — " + (
            "type a command" if self.table is not None else "save a rank table first (pane 3)")
        self.query_one("#launch-plan-summary", Static).update(summary)
        self._fill_plan()
        self.refresh_status(force=True)

    def _fill_plan(self) -> None:
        table = self.query_one("#launch-plan", DataTable)
        key = [(s.server_id, [(r.rank, r.device_id) for r in s.ranks]) for s in self.plan.servers] \
            if self.plan else None
        if key != self._plan_key:
            self._plan_key = key
            table.clear()
            for server in self.plan.servers if self.plan else []:
                for spec in server.ranks:
                    table.add_row(str(spec.rank), server.server_id, str(spec.local_rank),
                                  str(spec.device_id), spec.device_ip or "",
                                  key=safe_id("rank", f"{server.server_id}/{spec.rank}"))
        self._show_rank()

    def _show_rank(self) -> None:
        table = self.query_one("#launch-plan", DataTable)
        detail = ""
        if self.plan is not None and table.row_count:
            rank = int(table.get_row_at(table.cursor_row)[0])
            detail = rank_detail(self.plan, rank)
        self.query_one("#launch-rank-env", TextArea).load_text(detail)

    @on(DataTable.RowHighlighted, "#launch-plan")
    def _rank_highlighted(self) -> None:
        self._show_rank()

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.running else None
        if action in ("launch", "check"):
            return None if self.running else True
        return True

    @on(Button.Pressed, "#launch-go")
    def action_launch(self) -> None:
        if self.running:
            self.notify("A job is running: stop it first (F8).", severity="warning")
            return
        blockers = blocking(self.checks)
        if blockers or self.plan is None:
            why = "\n".join(blockers[:4]) or "no plan"
            self.notify(f"Launch blocked:\n{why}", title="Launch", severity="error", markup=False)
            return
        self.run_id = new_run_id()  # each launch its own run folder (and upload folder)
        plan, error = make_plan(self.table, self.profile, self.form(),
                                self.sources.launch.plan_options, self.run_id)
        if plan is None:
            self.notify(f"Launch blocked:\n{error}", title="Launch", severity="error", markup=False)
            return
        self.plan = plan
        self.start_job(plan, self.table, self.table_bytes)

    @on(Button.Pressed, "#launch-check")
    def action_edit_command(self) -> None:
        self.query_one("#launch-tabs", TabbedContent).active = "launch-setup"
        self.query_one("#launch-command", Input).focus()

    def action_check(self) -> None:
        if self.plan is None:
            self.notify("No plan to check yet.", severity="warning")
            return
        self.run_checks(self.plan, self.table)

    @work(exclusive=True, group="launch.check", exit_on_error=False, name="server checks")
    async def run_checks(self, plan: Any, table: Any) -> None:
        self.query_one("#launch-checks", Static).update("checking servers…")
        problems = await self.sources.launch.preflight(plan, table, self.console_app.inventory)
        if plan is self.plan:
            self.remote = list(problems)
        self.refresh_setup()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#launch-tabs", TabbedContent).active = tab


def _read_table(path: Path) -> tuple[bytes, Any, list[Any]]:
    """The exact bytes that will be uploaded, the table parsed from them, its problems."""
    data, table = ranktable_files.read(path)
    return data, table, list(validate(table))
