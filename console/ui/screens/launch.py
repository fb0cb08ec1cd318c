"""Launch pane: profile, command, env and setup lines -> the plan (ranks per server, env of a
selected rank) and a preflight checklist; F5 launches every rank in lockstep and the Run tab
follows the job: a per-rank status grid, the logs (interleaved or one rank, ``/`` filter,
follow/pause, folded ``clush -b`` style), the root cause, the run folder. Probe results
(profile ``probe``) get their own tab.

State: ``LaunchSetup`` (console.ui.models.launch_setup) for the form's plan and checklist,
``LaunchModel`` (console.ui.models.launch) for the job. The rank table, the inventory and the
ping results are the app's: this pane watches them (the last sweep's lossy pairs inside the
job are ``!`` checks). This module holds the setup half's form; the plan table and the
checklist are ``launch_plan.LaunchPlanMixin``, the running job ``launch_run.LaunchRunMixin``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from console.core.errors import ConsoleError
from console.core.ranktable import validate
from console.core.words import counted
from console.ops.profiles import DEFAULT_PROFILE
from console.ops.runrecord import new_run_id
from console.ui.launch_source import LaunchSource
from console.ui.models.launch_setup import Form, LaunchSetup, blocking, make_plan
from console.ui.models.shared import RankTableFile
from console.ui.screens.base import PaneScreen
from console.ui.screens.launch_plan import PLAN_COLUMNS, LaunchPlanMixin
from console.ui.screens.launch_run import LaunchRunMixin, compose_diagnosis, compose_probe, compose_run
from console.ui.sources import Sources
from console.ui.widgets.problems import ProblemList
from console.ui.widgets.rank_status import StatusLine


class LaunchScreen(LaunchPlanMixin, LaunchRunMixin, PaneScreen):
    PANE = "launch"
    CSS_PATH = "launch.tcss"
    AUTO_FOCUS = "#launch-plan"
    BINDINGS = [
        Binding(
            "c",
            "edit_command",
            "Command",
            id="launch.command",
            tooltip="Type the command every rank runs (Tab moves on to env and setup lines)",
        ),
        Binding(
            "f5",
            "launch",
            "Launch",
            id="launch.start",
            tooltip="Start every rank of the plan on every server in lockstep",
        ),
        Binding(
            "f8",
            "stop",
            "Stop all",
            id="launch.stop",
            tooltip="Stop every rank as Ctrl-C does: SIGINT, TERM after the grace, KILL; again: the next signal now",
        ),
        Binding(
            "f6",
            "check",
            "Check servers",
            show=False,
            id="launch.check",
            tooltip="Run the server checks now: reachable, python, idle NPUs, master port",
        ),
        Binding("slash", "filter", "Filter", id="launch.filter", tooltip="Filter the log as you type (Esc clears)"),
        Binding(
            "f",
            "follow",
            "Follow/pause",
            id="launch.follow",
            tooltip="Pause the log (new lines are kept) or follow it again",
        ),
        Binding(
            "b",
            "fold",
            "Fold",
            id="launch.fold",
            tooltip="Fold identical lines across ranks, clush -b style: [0-15] text",
        ),
        Binding(
            "r", "one_rank", "Rank", id="launch.rank", tooltip="Show one rank's log (empty: all ranks interleaved)"
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="launch.clear_filter",
            tooltip="Clear the log filter",
        ),
        Binding(
            "f2",
            "show_tab('launch-setup')",
            "Setup",
            show=False,
            id="launch.setup_tab",
            tooltip="Show the form, the plan and the checklist",
        ),
        Binding(
            "f3",
            "show_tab('launch-run')",
            "Run",
            show=False,
            id="launch.run_tab",
            tooltip="Show the status grid and the logs",
        ),
        Binding(
            "f4",
            "show_tab('launch-probe')",
            "Probe",
            show=False,
            id="launch.probe_tab",
            tooltip="Show the probe's results table (profile probe)",
        ),
        Binding(
            "p",
            "prompt",
            "Prompt",
            id="launch.prompt",
            tooltip="Send a prompt to the served model (serving profiles, once ready)",
        ),
        Binding(
            "n",
            "show_failed_server",
            "Failed server",
            show=False,
            id="launch.failed_server",
            tooltip="Show the failed rank's server on the Nodes pane",
        ),
        Binding(
            "f7",
            "show_tab('launch-diagnosis-tab')",
            "Diagnosis",
            show=False,
            id="launch.diagnosis_tab",
            tooltip="Why the job failed or stalled: causes per server, the evidence, the links",
        ),
        Binding(
            "o",
            "open_evidence",
            "Evidence",
            show=False,
            id="launch.evidence",
            tooltip="Open the run folder's raw evidence (each server's HCCL/CANN log lines)",
        ),
        Binding(
            "g",
            "ping_pairs",
            "Ping pairs",
            show=False,
            id="launch.ping_pairs",
            tooltip="Ping the card pairs the diagnosis implicates again (Ping pane, custom pairs)",
        ),
    ]

    def __init__(self, sources: Sources) -> None:
        super().__init__(sources)
        if sources.launch is None:  # injected sources without one: this machine, no SSH
            sources.launch = LaunchSource(sources.pool)
        self.init_run()
        self.setup = LaunchSetup()
        self.init_plan()
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
            with TabPane("Diagnosis", id="launch-diagnosis-tab"):
                yield from compose_diagnosis()

    def compose_setup(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Profile", classes="form-label")
            profile = self._preset("profile") or DEFAULT_PROFILE
            yield Select([(profile, profile)], value=profile, allow_blank=False, compact=True, id="launch-profile")
            yield Button("Launch F5", id="launch-go", compact=True, variant="success")
            yield Button("Check F6", id="launch-check", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Command", classes="form-label")
            yield Input(
                self._preset("command"), placeholder="python3 train.py --rank {rank}", compact=True, id="launch-command"
            )
        with Horizontal(classes="form-row"):
            yield Label("Env", classes="form-label")
            yield Input(
                self._preset("env"), placeholder="HCCL_CONNECT_TIMEOUT=1200 KEY='a b'", compact=True, id="launch-env"
            )
        with Horizontal(classes="form-row", id="launch-setup-row"):
            yield Label("Setup", classes="form-label")
            yield TextArea(
                "\n".join(self.console_app.launch_setup),
                compact=True,
                id="launch-setup-lines",
                soft_wrap=False,
                placeholder="source /usr/local/Ascend/ascend-toolkit/set_env.sh",
            )
        yield Static(id="launch-plan-summary", classes="status", markup=False)
        with Horizontal(id="launch-lower"):
            yield DataTable(id="launch-plan", cursor_type="row", zebra_stripes=True)
            with Vertical(id="launch-side"):
                yield ProblemList("Preflight", id="launch-checks")
                yield TextArea("", id="launch-rank-env", read_only=True, soft_wrap=False, show_cursor=False)

    def on_mount(self) -> None:
        self.query_one("#launch-plan", DataTable).add_columns(*PLAN_COLUMNS)
        self.query_one("#launch-rank-env", TextArea).border_title = "Selected rank"
        self.mount_run()
        self.watch(self.app, "inventory", lambda _: self.update_plan(), init=False)
        self.watch(self.app, "ping_results", lambda _: self.recheck(), init=False)
        self.watch(self.app, "ranktable", self._ranktable, init=False)
        self.load_profiles()
        self.load_profile(str(self.query_one("#launch-profile", Select).value))
        self._ranktable(self.console_app.ranktable)

    def _preset(self, name: str) -> str:
        """The launch source's preset for a form field (the demo comes with the probe ready)."""
        presets = getattr(self.sources.launch, "form", None) or {}
        return str(presets.get(name, ""))

    # -- state -------------------------------------------------------------------------

    def unsaved_changes(self) -> str | None:
        if self.running:
            return f"A launch is running ({counted(self.job.world_size, 'rank')}): quitting stops every rank."
        return None

    def form(self) -> Form:
        return Form(
            profile=str(self.query_one("#launch-profile", Select).value),
            command=self.query_one("#launch-command", Input).value,
            env=self.query_one("#launch-env", Input).value,
            setup=self.query_one("#launch-setup-lines", TextArea).text,
        )

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
            self.setup.profile = await asyncio.to_thread(self.sources.launch.load_profile, name)
            self.setup.profile_error = None
        except ConsoleError as exc:
            self.setup.profile, self.setup.profile_error = None, f"{exc.title}: {exc.detail}"
        self.update_plan()

    def _ranktable(self, file: RankTableFile) -> None:
        """The app's rank table changed: its bytes on disk are what a launch uploads."""
        if file.table is not file_table(self.setup.file):
            self.setup.set_file(file, list(validate(file.table)) if file.table is not None else [])
        else:
            self.setup.set_file(file, self.setup.table_problems)
        self.update_plan()

    # -- plan and checklist --------------------------------------------------------------

    @on(Input.Changed, "#launch-command, #launch-env")
    @on(TextArea.Changed, "#launch-setup-lines")
    def _form_changed(self) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(0.15, self.update_plan)

    def update_plan(self) -> None:
        self.setup.update(
            self.form(),
            self.sources.launch.plan_options,
            self.run_id,
            inventory=self.console_app.inventory,
            ping=self.console_app.ping_results,
        )
        self.render_setup()

    @on(DataTable.RowHighlighted, "#launch-plan")
    def _rank_highlighted(self) -> None:
        self.detail_of = "rank"
        self.show_rank()

    @on(OptionList.OptionHighlighted, "#launch-checks")
    def _check_highlighted(self) -> None:
        if self.query_one("#launch-checks", ProblemList).has_focus:
            self.detail_of = "check"
            self.show_check()

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.running else None
        if action in ("launch", "check"):
            return None if self.running else True
        if action == "prompt":
            return bool(self.running and self.model.serving.ready)
        return True

    @on(Button.Pressed, "#launch-go")
    def action_launch(self) -> None:
        if self.running:
            self.notify("A job is running: stop it first (F8).", severity="warning")
            return
        blockers = blocking(self.setup.checks)
        if blockers or self.plan is None:
            why = "\n".join(blockers[:4]) or "no plan"
            self.notify(f"Launch blocked:\n{why}", title="Launch", severity="error", markup=False)
            return
        self.run_id = new_run_id()  # each launch its own run folder (and upload folder)
        setup = self.setup
        if setup.profile is None:  # blocking() lists a missing profile: not reached
            return
        plan, error = make_plan(
            setup.table,
            setup.profile,
            self.form(),
            self.sources.launch.plan_options,
            self.run_id,
            self.console_app.inventory,
        )
        if plan is None or setup.data is None:
            self.notify(f"Launch blocked:\n{error}", title="Launch", severity="error", markup=False)
            return
        setup.plan = plan
        self.start_job(plan, setup.table, setup.data)

    def action_edit_command(self) -> None:
        self.query_one("#launch-tabs", TabbedContent).active = "launch-setup"
        self.query_one("#launch-command", Input).focus()

    @on(Button.Pressed, "#launch-check")
    def action_check(self) -> None:
        if self.plan is None:
            self.notify("No plan to check yet.", severity="warning")
            return
        self.run_checks(self.plan, self.setup.table)

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#launch-tabs", TabbedContent).active = tab


def file_table(file: RankTableFile | None) -> Any:
    return file.table if file is not None else None
