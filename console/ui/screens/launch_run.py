"""The running half of the Launch pane: the launch worker, the status grid (stalled ranks
marked, the HCCL_CONNECT_TIMEOUT countdown under it), the logs, the root cause, the probe's
table, and the Diagnosis tab: run when the job fails (not on Stop) or when a stall names a
server, from the run record and each server's evidence, linked to the last discovery and ping
sweep (``o`` opens the raw evidence, ``g`` pings the implicated card pairs again).

Events come from ``Sources.launch.run(...)`` (``console.ops.launch`` in the app) through the
pane's ``EventFeed`` into its ``LaunchModel``; rank lines only go into the model's log window,
and the feed's one redraw per frame writes what arrived with one ``Log.write_lines``, so
50,000 lines a second cost a few screen updates, not 50,000.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from console.core.diagnosis.stall import connect_timeout
from console.core.probe_report import COLUMNS as PROBE_COLUMNS
from console.core.words import counted
from console.ops.launch_events import LaunchEvent, StallDetected, Teardown
from console.ops.launch_stop import STEPS as STOP_STEPS
from console.ops.launch_stop import StopRequests
from console.ui.feed import EventFeed
from console.ui.messages import PingPairs, ShowServer
from console.ui.models.diagnosis import DiagnosisState
from console.ui.models.launch import STOP_HOW, LaunchModel, describe
from console.ui.screens.dialogs import InputScreen
from console.ui.screens.evidence import EvidenceScreen
from console.ui.widgets.diagnosis import DiagnosisView
from console.ui.widgets.rank_log import RankLog
from console.ui.widgets.rank_status import RankStatusGrid, StatusLine

FOLD_S = 0.25
PROBE_S = 0.5
STOP_MARGIN_S = 10.0
"""Stop all: the worker is cancelled if the job has not ended this long after the plan's
grace periods (INT -> TERM -> KILL; the supervisor itself gives up on silent agents before that)."""


def compose_run() -> ComposeResult:
    with VerticalScroll(id="launch-grid-box"):
        yield RankStatusGrid(id="launch-grid")
    yield StatusLine(id="launch-stall")
    yield Static(id="launch-root", markup=False)
    yield Static(id="launch-serving", markup=False)
    with Horizontal(classes="form-row"):
        yield Input(placeholder="/ filter", compact=True, id="launch-filter")
        yield Static(id="launch-log-mode", markup=False)
    yield RankLog(id="launch-log")


def compose_diagnosis() -> ComposeResult:
    with VerticalScroll(id="launch-diagnosis-box"):
        yield DiagnosisView(id="launch-diagnosis")


def compose_probe() -> ComposeResult:
    yield Static("Probe results appear here when the profile is probe.", id="launch-probe-summary", markup=False)
    yield DataTable(id="launch-probe-table", zebra_stripes=True, cursor_type="row")


if TYPE_CHECKING:  # what the mixin relies on, for the type checker only
    from console.ui.screens.base import PaneScreen as _Pane
else:
    _Pane = object


class LaunchRunMixin(_Pane):
    """Mixed into ``LaunchScreen``; expects ``query_one``, ``sources``, ``console_app``."""

    if TYPE_CHECKING:
        setup: Any

        def action_show_tab(self, tab: str) -> None: ...

    def init_run(self) -> None:
        self.model = LaunchModel()
        self.feed = EventFeed(self, self.model, self.render_run)
        self._stop: StopRequests | None = None
        self._stop_timer: Timer | None = None
        self._grace_s = 0.0
        self._last = {"fold": 0.0, "probe": 0.0}
        self._tick: Timer | None = None
        self._shown_probe = 0
        self.stop_fallback_s: float | None = None
        """Stop all -> cancel delay; None: the plan's ``grace_s`` + ``STOP_MARGIN_S``."""

    @property
    def job(self) -> Any:
        return self.model.job

    @property
    def running(self) -> bool:
        return self.model.running

    def mount_run(self) -> None:
        table = self.query_one("#launch-probe-table", DataTable)
        for key, header, _justify in PROBE_COLUMNS:
            table.add_column(header, key=key)
        self.query_one("#launch-root", Static).display = False
        self.query_one("#launch-serving", Static).display = False
        self.query_one("#launch-stall", StatusLine).display = False
        self.refresh_log_mode()

    # -- the job -------------------------------------------------------------------------

    def start_job(self, plan: Any, table: Any, data: bytes) -> None:
        servers = {spec.rank: s.server_id for s in plan.servers for spec in s.ranks}
        env: dict[str, str] = next((spec.env for s in plan.servers for spec in s.ranks), {})
        self.model.start(
            plan.processes if plan.per == "server" else plan.world_size,
            probe=plan.profile == "probe",
            servers=servers,
            stall_s=getattr(getattr(self.sources.launch, "stall", None), "stall_s", None),
            connect_timeout_s=connect_timeout(env),
        )
        self.refresh_diagnosis()
        if self._tick is None:  # silence and countdown move on between events
            self._tick = self.set_interval(1.0, self.refresh_stall)
        self._stop = StopRequests()
        self._grace_s = plan.grace_s
        log = self.query_one("#launch-log", RankLog)
        log.clear()
        log.set_root_rank(None)
        self.query_one("#launch-probe-table", DataTable).clear()
        self._shown_probe = 0
        # Everything alive now (the app, its widgets) lives as long as the app: take it out
        # of the collector's full passes, which otherwise stall the loop for 100+ ms while
        # thousands of lines a second allocate (gen-2 pauses measured in bench/tui_logs.py).
        # Collect first so no garbage cycle is frozen; ``_ended`` unfreezes when the job ends.
        gc.collect()
        gc.freeze()
        self.refresh_bindings()
        self.action_show_tab("launch-run")
        inventory, stop = self.console_app.inventory, self._stop

        def events() -> AsyncGenerator[LaunchEvent, None]:
            return self.sources.launch.run(plan, table, data, inventory=inventory, stop=stop)

        self.feed.redraw()
        self.feed.run(events, name="launch", group="launch", on_event=self._event, on_end=self._ended)

    def _event(self, event: LaunchEvent) -> None:
        if isinstance(event, Teardown):
            self.query_one("#launch-log", RankLog).set_root_rank(event.root_cause.rank)
        elif isinstance(event, StallDetected):
            self.notify(
                f"{event.message}. "
                + (
                    "Tearing the job down." if event.teardown else "Diagnosing it now; the job goes on (F7: Diagnosis)."
                ),
                title="Launch stalled",
                severity="warning",
                markup=False,
            )
            if not event.teardown:
                self.start_diagnosis(during="stall")

    def _ended(self, error: BaseException | None, cancelled: bool) -> None:
        gc.unfreeze()
        if self._tick is not None:
            self._tick.stop()
            self._tick = None
        self.refresh_stall()
        if self._stop_timer is not None:
            self._stop_timer.stop()
            self._stop_timer = None
        self._stop = None
        self.refresh_bindings()
        job = self.model.job
        summary = job.summary if job is not None else None
        if summary is None:
            return
        if summary.ok:
            self.notify(
                f"All {counted(summary.world_size, 'rank')} exited 0. Run folder {summary.run_dir}",
                title="Launch done",
                markup=False,
            )
        elif job is not None and job.stopped:
            self.notify(f"Every rank has ended. Run folder {summary.run_dir}", title="Launch stopped", markup=False)
        else:
            root = summary.root_cause.describe() if summary.root_cause else "see the run folder"
            self.notify(
                f"{root}\nRun folder {summary.run_dir}  (n shows its server; F7: why)",
                title="Launch failed",
                severity="error",
                markup=False,
            )
            self.start_diagnosis()

    def action_stop(self) -> None:
        """Stop all, as the CLI's Ctrl-C: SIGINT to every rank first (``except
        KeyboardInterrupt:`` cleanup runs), TERM after the grace period, then KILL; a second
        Stop sends TERM at once, a third KILL. The launch goes on reporting the exits; it is
        cancelled outright before any rank can run, or if it does not end in time."""
        if not self.model.running:
            self.notify("No job is running.")
            return
        early = self.model.early
        step = self.model.request_stop(self._grace_s)
        if step is None:
            self.notify("SIGKILL was sent to every rank already: waiting for their exits.")
            return
        if early or self._stop is None:
            self._cancel_job()
        else:
            self._stop.request(step, "stopped by the user")
            self.notify(self.model.job.stage_message if self.model.job else step, title="Stop all", markup=False)
            delay = self.stop_fallback_s
            if delay is None:  # the agents step on to the next signal after each grace period
                delay = (len(STOP_STEPS) - 1 - STOP_STEPS.index(step)) * self._grace_s + STOP_MARGIN_S
            if self._stop_timer is not None:
                self._stop_timer.stop()
            self._stop_timer = self.set_timer(delay, self._cancel_job)
        self.feed.redraw()

    def _cancel_job(self) -> None:
        self._stop_timer = None
        if self.model.running:
            self.workers.cancel_group(self, "launch")

    def action_show_failed_server(self) -> None:
        """The failed rank's server, one key away on the Nodes pane."""
        server = self.model.job.failed_server() if self.model.job is not None else None
        if server is None:
            self.notify("No rank has failed.", severity="warning")
            return
        self.post_message(ShowServer(server))

    # -- diagnosis -----------------------------------------------------------------------

    def start_diagnosis(self, during: str | None = None) -> None:
        """Fetch each server's evidence into the run record and diagnose it (a worker; a
        newer diagnosis replaces one still running)."""
        job = self.model.job
        if job is None or job.run_dir is None:
            return
        self.model.diagnosis.start(job.run_dir, during=during)
        self.refresh_diagnosis()
        self.run_worker(
            self._diagnose(job.run_dir), name="diagnosis", group="launch.diagnosis", exclusive=True, exit_on_error=False
        )

    async def _diagnose(self, run_dir: str) -> None:
        model = self.model.diagnosis
        diagnose = getattr(self.sources.launch, "diagnose", None)
        try:
            if diagnose is None:
                raise RuntimeError("this console's launch source cannot diagnose")
            diag = await diagnose(
                run_dir,
                since=self.model.started_at or 0.0,
                inventory=self.console_app.inventory,
                ping=self.console_app.ping_results,
            )
        except Exception as exc:  # shown in the view, never breaks the pane
            model.fail(describe(exc))
        else:
            model.show(diag)
            self.notify(
                diag.headline, title="Diagnosis (F7)", markup=False, severity="error" if diag.causes else "information"
            )
        self.refresh_diagnosis()

    def refresh_diagnosis(self) -> None:
        self.query_one("#launch-diagnosis", DiagnosisView).show(self.model.diagnosis)

    def action_open_evidence(self) -> None:
        """The run folder's files, the first cause's server's evidence selected."""
        model = self.model.diagnosis
        folder = model.evidence_dir()
        if folder is None or model.run_dir is None:
            self.notify("No run folder to open yet.", severity="warning")
            return
        self.app.push_screen(EvidenceScreen(Path(model.run_dir), select=folder))

    def action_ping_pairs(self) -> None:
        """The card pairs the diagnosis implicates, pinged again on the Ping pane."""
        model = self.model.diagnosis
        text = model.ping_pairs_text() if model.state is DiagnosisState.DONE else ""
        if not text:
            self.notify("The diagnosis names no card pair to ping.", severity="warning")
            return
        self.post_message(PingPairs(text, "the launch's diagnosis"))

    # -- render --------------------------------------------------------------------------

    def render_run(self) -> None:
        """One frame: new log lines, the grid, the status line, the banner, the probe table."""
        now = time.monotonic()
        log = self.query_one("#launch-log", RankLog)
        window = self.model.window
        finished = not self.model.running
        if window.fold:
            if window.fold_dirty and not window.paused:
                if finished or now - self._last["fold"] >= FOLD_S:
                    self._last["fold"] = now
                    log.replace_lines(window.folded())
                else:
                    self.feed.schedule()
        elif not window.paused:
            lines = window.take()
            if lines:
                log.write_lines(lines)
        self.query_one("#launch-grid", RankStatusGrid).show(self.model.job)
        self.query_one("#launch-status", StatusLine).set(self.status_text())
        self.refresh_stall()
        self.refresh_root()
        self.refresh_serving()
        if window.paused:
            self.refresh_log_mode()
        if self.model.probe_changes != self._shown_probe:
            if finished or now - self._last["probe"] >= PROBE_S:
                self._last["probe"] = now
                self.refresh_probe()
            else:
                self.feed.schedule()

    def refresh_stall(self) -> None:
        stalls = self.model.stalls
        text = stalls.summary(time.monotonic()) if stalls is not None else ""
        line = self.query_one("#launch-stall", StatusLine)
        line.set(text)
        line.display = bool(text)

    def status_text(self) -> str:
        job = self.model.job
        if job is None:
            return str(self.setup.status())
        parts = [job.headline()]
        if job.stage_message and not job.summary:
            parts.append(job.stage_message)
        parts.append(counted(job.lines, "line", fmt=","))
        if job.warnings:
            parts.append(counted(len(job.warnings), "warning"))
        parts.append(f"run folder {job.run_dir or '(not created yet)'}")
        return " · ".join(parts)

    def refresh_root(self) -> None:
        banner = self.query_one("#launch-root", Static)
        job = self.model.job
        text = None
        if job is not None and job.root is not None and job.root.kind == "stopped":
            text = f"STOPPED  by you: {STOP_HOW}"
        elif job is not None and job.root is not None:
            text = f"ROOT CAUSE  {job.root.describe()}   (n: its server on the Nodes pane)"
            for line in job.root.last_lines[-3:]:
                text += f"\n  [{job.root.rank}] {line}"
        elif job is not None and job.failed_error:
            text = f"LAUNCH FAILED  {job.failed_error}"
        banner.display = text is not None
        if text is not None:
            banner.update(text)

    def refresh_serving(self) -> None:
        """``SERVING at <server>:<port>`` with the last answer (serving profiles)."""
        box = self.query_one("#launch-serving", Static)
        text = self.model.serving.text() if self.running or self.model.serving.answers else None
        box.display = text is not None
        if text is not None:
            box.update(text)

    def action_prompt(self) -> None:
        """p: type a prompt and send it to the ready service."""
        if not self.model.serving.ready:
            self.notify("No service is ready yet.", severity="warning")
            return
        last = self.model.serving.answers[-1].prompt if self.model.serving.answers else ""
        self.app.push_screen(InputScreen("Prompt for the served model", value=last), self._prompt_typed)

    def _prompt_typed(self, text: str | None) -> None:
        if text and text.strip():
            self.send_prompt(text.strip())

    def send_prompt(self, text: str) -> None:
        serving = self.model.serving
        serving.ask(text)
        self.feed.redraw()

        async def ask() -> None:
            try:
                result = await self.sources.launch.ask(serving.target, text)
            except Exception as exc:  # any failure is this prompt's answer: never "waiting" forever
                result = serving.failure(text, exc)
            if serving is self.model.serving:
                serving.answered(result)
                self.feed.redraw()

        self.run_worker(ask(), group="launch.prompt", exclusive=True, exit_on_error=False, name="prompt")

    def refresh_log_mode(self) -> None:
        self.query_one("#launch-log-mode", Static).update(self.model.window.describe())

    def refresh_probe(self) -> None:
        self._shown_probe = self.model.probe_changes
        report = self.model.report
        table = self.query_one("#launch-probe-table", DataTable)
        table.clear()
        if report is None:
            return
        for row in report.rows():
            style = "bold red" if row.get("slow") else ""
            table.add_row(*(Text(str(row[key]), style=style, justify=justify) for key, _, justify in PROBE_COLUMNS))
        lines = report.summary() or [
            f"{counted(len(report.results), 'result')} from {counted(len(report.ranks), 'rank')}"
        ]
        self.query_one("#launch-probe-summary", Static).update("\n".join(lines))

    # -- log view actions ----------------------------------------------------------------

    def _rebuild_log(self) -> None:
        self.query_one("#launch-log", RankLog).replace_lines(self.model.window.rebuild())
        self.refresh_log_mode()

    def action_filter(self) -> None:
        self.action_show_tab("launch-run")
        self.query_one("#launch-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "launch-filter":
            return
        self.model.window.set_filter(event.value)
        self._rebuild_log()

    def action_clear_filter(self) -> None:
        field = self.query_one("#launch-filter", Input)
        if field.value:
            field.value = ""
        self.query_one("#launch-log", RankLog).focus()

    def action_follow(self) -> None:
        window = self.model.window
        window.paused = not window.paused
        log = self.query_one("#launch-log", RankLog)
        log.auto_scroll = not window.paused
        if not window.paused:
            self._rebuild_log()
            log.scroll_end(animate=False)
        self.refresh_log_mode()

    def action_fold(self) -> None:
        self.model.window.set_fold(not self.model.window.fold)
        self._rebuild_log()

    def action_one_rank(self) -> None:
        window = self.model.window
        current = "" if window.rank is None else str(window.rank)
        self.app.push_screen(InputScreen("Show one rank (empty: all ranks interleaved)", current), self._rank_chosen)

    def _rank_chosen(self, text: str | None) -> None:
        if text is None:
            return
        text = text.strip()
        world = self.model.job.world_size if self.model.job else None
        if text and (not text.isdigit() or (world is not None and int(text) >= world)):
            limit = f" 0..{world - 1}" if world else ""
            self.notify(f"Not a rank{limit}: {text!r}", severity="error", markup=False)
            return
        self.model.window.rank = int(text) if text else None
        self._rebuild_log()
