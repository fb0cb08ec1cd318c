"""The running half of the Launch pane: the launch worker, the status grid, the logs, the
root cause, the probe's table.

Events come from ``Sources.launch.run(...)`` (``console.ops.launch`` in the app) in one worker.
Rank lines only go into the :class:`LogWindow`; a 40 ms timer writes what arrived with one
``Log.write_lines`` and refreshes the grid and status at most every 100 ms, so 50,000
lines a second cost a few screen updates, not 50,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Static

from console.core.errors import ConsoleError
from console.core.probe_report import COLUMNS as PROBE_COLUMNS
from console.core.probe_report import ProbeReport
from console.ops.launch_events import JobFinished, RankLine, Teardown
from console.ui.launch_form import blocking
from console.ui.launch_log import LogWindow
from console.ui.launch_view import JobView
from console.ui.screens.dialogs import InputScreen
from console.ui.widgets.rank_log import RankLog
from console.ui.widgets.rank_status import RankStatusGrid, StatusLine

FLUSH_S = 0.04
STATUS_S = 0.1
FOLD_S = 0.25
PROBE_S = 0.5
YIELD_S = 0.01
"""The worker hands the loop back at least this often while events pour in."""
STOP_MARGIN_S = 10.0
"""Stop all: the worker is cancelled if the job has not ended this long after the plan's
TERM -> KILL grace (the supervisor itself gives up on silent agents before that)."""
EARLY_STAGES = frozenset({"idle", "record", "validate", "prepare", "preflight"})
"""No rank can have started yet: Stop all cancels the launch straight away."""


def compose_run() -> ComposeResult:
    with VerticalScroll(id="launch-grid-box"):
        yield RankStatusGrid(id="launch-grid")
    yield Static(id="launch-root", markup=False)
    with Horizontal(classes="form-row"):
        yield Input(placeholder="/ filter", compact=True, id="launch-filter")
        yield Static(id="launch-log-mode", markup=False)
    yield RankLog(id="launch-log")


def compose_probe() -> ComposeResult:
    yield Static("Probe results appear here when the profile is probe.",
                 id="launch-probe-summary", markup=False)
    yield DataTable(id="launch-probe-table", zebra_stripes=True, cursor_type="row")


class LaunchRunMixin:
    """Mixed into ``LaunchScreen``; expects ``query_one``, ``sources``, ``console_app``."""

    def init_run(self) -> None:
        self.job: JobView | None = None
        self.window = LogWindow()
        self.report: ProbeReport | None = None
        self.running = False
        self._partial: dict[int, str] = {}
        self._last = {"status": 0.0, "fold": 0.0, "probe": 0.0}
        self._shown: tuple[int, int] | None = None
        self._probe_dirty = False
        self._stop: asyncio.Event | None = None
        self._stop_timer: Any = None
        self._grace_s = 0.0
        self.stop_fallback_s: float | None = None
        """Stop all -> cancel delay; None: the plan's ``grace_s`` + ``STOP_MARGIN_S``."""

    def mount_run(self) -> None:
        table = self.query_one("#launch-probe-table", DataTable)
        for key, header, justify in PROBE_COLUMNS:
            table.add_column(header, key=key)
        self.query_one("#launch-root", Static).display = False
        self.set_interval(FLUSH_S, self.flush)
        self.refresh_log_mode()

    # -- the job -------------------------------------------------------------------------

    def start_job(self, plan: Any, table: Any, data: bytes) -> None:
        self.job = JobView(plan.world_size)
        self.window = LogWindow()
        self.report = ProbeReport() if plan.profile == "probe" else None
        self._partial.clear()
        self._stop = None  # made by the worker: a Stop before it runs cancels it
        log = self.query_one("#launch-log", RankLog)
        log.clear()
        log.set_root_rank(None)
        self.running = True
        # Everything alive now (the app, its widgets) lives as long as the app: take it out
        # of the collector's full passes, which otherwise stall the loop for 100+ ms while
        # thousands of lines a second allocate (gen-2 pauses measured in bench/tui_logs.py).
        # Collect first so no garbage cycle is frozen; ``_consume`` unfreezes when the job ends.
        gc.collect()
        gc.freeze()
        self.refresh_bindings()
        self.action_show_tab("launch-run")
        self.refresh_status(force=True)
        self.run_job(plan, table, data)

    @work(exclusive=True, group="launch", exit_on_error=False, name="launch")
    async def run_job(self, plan: Any, table: Any, data: bytes) -> None:
        await self._consume(plan, table, data)

    async def _consume(self, plan: Any, table: Any, data: bytes) -> None:
        inventory = self.console_app.inventory
        handed_back = time.perf_counter()
        self._stop = asyncio.Event()
        self._grace_s = getattr(plan, "grace_s", 0.0)
        try:
            # aclosing: a cancel landing on the sleep below (not inside the source) still
            # closes the source, so its teardown is over before ``running`` turns False.
            source = self.sources.launch.run(plan, table, data, inventory=inventory,
                                             stop=self._stop)
            async with contextlib.aclosing(source) as events:
                async for event in events:
                    self.on_launch_event(event)
                    now = time.perf_counter()
                    if now - handed_back > YIELD_S:
                        await asyncio.sleep(0)
                        handed_back = time.perf_counter()
        except asyncio.CancelledError:
            self.job.mark_stopped()
            raise
        except ConsoleError as exc:
            self.job.mark_failed(f"{exc.title}: {exc.detail}".strip(": "))
            raise
        except Exception as exc:
            self.job.mark_failed(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            gc.unfreeze()
            if self._stop_timer is not None:
                self._stop_timer.stop()
                self._stop_timer = None
            self.running = False
            self.flush(force=True)
            self.refresh_bindings()

    def on_launch_event(self, event: Any) -> None:
        if type(event) is RankLine:
            if event.partial:
                self._partial[event.rank] = self._partial.get(event.rank, "") + event.text
                self.window.add(event.rank, event.text)
                return
            self.job.lines += 1
            self.window.add(event.rank, event.text)
            if self.report is not None:
                self.report.add_line(self._partial.pop(event.rank, "") + event.text, event.rank)
                self._probe_dirty = True
            return
        self.job.apply(event)
        if isinstance(event, Teardown):
            self.query_one("#launch-log", RankLog).set_root_rank(event.root_cause.rank)
        elif isinstance(event, JobFinished):
            self._finished(event.summary)

    def _finished(self, summary: Any) -> None:
        if summary.ok:
            self.notify(f"All {summary.world_size} ranks exited 0. Run folder {summary.run_dir}",
                        title="Launch done", markup=False)
        elif self.job.stopped:
            self.notify(f"Every rank has ended. Run folder {summary.run_dir}",
                        title="Launch stopped", markup=False)
        else:
            root = summary.root_cause.describe() if summary.root_cause else "see the run folder"
            self.notify(f"{root}\nRun folder {summary.run_dir}", title="Launch failed",
                        severity="error", markup=False)

    def action_stop(self) -> None:
        """Stop all: the launch tears the job down (TERM, grace, KILL) and goes on reporting
        the exits; cancelled outright before any rank can run, or if it does not end in time."""
        if not self.running:
            self.notify("No job is running.")
            return
        if self._stop is not None and self._stop.is_set():
            self.notify("Already stopping every rank.")
            return
        early = self.job.stage in EARLY_STAGES
        self.job.stage, self.job.stage_message = "stopping", "stopping every rank (TERM, grace, KILL)"
        self.job.version += 1
        if early or self._stop is None:
            self._cancel_job()
        else:
            self._stop.set()
            delay = self.stop_fallback_s
            if delay is None:
                delay = self._grace_s + STOP_MARGIN_S
            self._stop_timer = self.set_timer(delay, self._cancel_job)
        self.refresh_status(force=True)

    def _cancel_job(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "launch")

    # -- screen updates ------------------------------------------------------------------

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        log = self.query_one("#launch-log", RankLog)
        window = self.window
        if window.fold:
            if window.fold_dirty and not window.paused and (force or now - self._last["fold"] >= FOLD_S):
                self._last["fold"] = now
                log.replace_lines(window.folded())
        elif not window.paused:
            lines = window.take()
            if lines:
                log.write_lines(lines)
        if force or now - self._last["status"] >= STATUS_S:
            self._last["status"] = now
            self.refresh_status(force=force)
        if self._probe_dirty and (force or now - self._last["probe"] >= PROBE_S):
            self._last["probe"] = now
            self.refresh_probe()

    def refresh_status(self, force: bool = False) -> None:
        job = self.job
        shown = (job.version, job.lines) if job else (-1, -1)
        if shown == self._shown and not force:
            return
        self._shown = shown
        self.query_one("#launch-grid", RankStatusGrid).show(job)
        self.query_one("#launch-status", StatusLine).set(self.status_text())
        self.refresh_root()
        if self.window.paused:
            self.refresh_log_mode()

    def status_text(self) -> str:
        job = self.job
        if job is None:
            blockers = blocking(getattr(self, "checks", []))
            plan = getattr(self, "plan", None)
            if blockers:
                return f"Not ready: {blockers[0]}"
            return f"Ready: {plan.world_size} ranks on {len(plan.servers)} servers — F5 launches" \
                if plan else "No plan yet"
        parts = [job.headline()]
        if job.stage_message and not job.summary:
            parts.append(job.stage_message)
        parts.append(f"{job.lines:,} lines")
        if job.warnings:
            parts.append(f"{len(job.warnings)} warnings")
        parts.append(f"run folder {job.run_dir or '(not created yet)'}")
        return " · ".join(parts)

    def refresh_root(self) -> None:
        banner = self.query_one("#launch-root", Static)
        job = self.job
        text = None
        if job is not None and job.root is not None and job.root.kind == "stopped":
            text = "STOPPED  by you: every rank was sent TERM, then KILL after the grace period"
        elif job is not None and job.root is not None:
            text = f"ROOT CAUSE  {job.root.describe()}"
            for line in job.root.last_lines[-3:]:
                text += f"\n  [{job.root.rank}] {line}"
        elif job is not None and job.failed_error:
            text = f"LAUNCH FAILED  {job.failed_error}"
        banner.display = text is not None
        if text is not None:
            banner.update(text)

    def refresh_log_mode(self) -> None:
        self.query_one("#launch-log-mode", Static).update(self.window.describe())

    def refresh_probe(self) -> None:
        self._probe_dirty = False
        self._stop: asyncio.Event | None = None
        self._stop_timer: Any = None
        self.stop_fallback_s: float | None = None
        """Stop all -> cancel delay; None: the plan's ``grace_s`` + ``STOP_MARGIN_S``."""
        report = self.report
        table = self.query_one("#launch-probe-table", DataTable)
        table.clear()
        if report is None:
            return
        for row in report.rows():
            style = "bold red" if row.get("slow") else ""
            table.add_row(*(Text(str(row[key]), style=style, justify=justify)
                            for key, _, justify in PROBE_COLUMNS))
        lines = report.summary() or [f"{len(report.results)} results from "
                                     f"{len(report.ranks)} ranks"]
        self.query_one("#launch-probe-summary", Static).update("\n".join(lines))

    # -- log view actions ----------------------------------------------------------------

    def _rebuild_log(self) -> None:
        self.query_one("#launch-log", RankLog).replace_lines(self.window.rebuild())
        self.refresh_log_mode()

    def action_filter(self) -> None:
        self.action_show_tab("launch-run")
        self.query_one("#launch-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "launch-filter":
            return
        self.window.set_filter(event.value)
        self._rebuild_log()

    def action_clear_filter(self) -> None:
        field = self.query_one("#launch-filter", Input)
        if field.value:
            field.value = ""
        self.query_one("#launch-log", RankLog).focus()

    def action_follow(self) -> None:
        self.window.paused = not self.window.paused
        log = self.query_one("#launch-log", RankLog)
        log.auto_scroll = not self.window.paused
        if not self.window.paused:
            self._rebuild_log()
            log.scroll_end(animate=False)
        self.refresh_log_mode()

    def action_fold(self) -> None:
        self.window.set_fold(not self.window.fold)
        self._rebuild_log()

    def action_one_rank(self) -> None:
        current = "" if self.window.rank is None else str(self.window.rank)
        self.app.push_screen(InputScreen("Show one rank (empty: all ranks interleaved)", current),
                             self._rank_chosen)

    def _rank_chosen(self, text: str | None) -> None:
        if text is None:
            return
        text = text.strip()
        world = self.job.world_size if self.job else None
        if text and (not text.isdigit() or (world is not None and int(text) >= world)):
            limit = f" 0..{world - 1}" if world else ""
            self.notify(f"Not a rank{limit}: {text!r}", severity="error", markup=False)
            return
        self.window.rank = int(text) if text else None
        self._rebuild_log()
