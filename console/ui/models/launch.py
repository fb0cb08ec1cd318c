"""The Launch pane's model of a running job: one state per rank, the stage, warnings, the
root cause, the summary, the log window and the probe's results. Pure Python (no textual):
``apply(event)`` takes the ``console.ops.launch_events`` events one by one.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from console.core.errors import ConsoleError
from console.core.probe_report import ProbeReport
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    LaunchEvent,
    LaunchWarning,
    RankExited,
    RankLine,
    RankReady,
    RankStarted,
    RootCause,
    ServerLost,
    Stage,
    StageName,
    Teardown,
)
from console.ops.launch_stop import STEPS as STOP_STEPS
from console.ui.models.diagnosis import DiagnosisModel
from console.ui.models.launch_log import LogWindow, fold_ranks, mask_ranges
from console.ui.models.serving import ServingView
from console.ui.models.stalls import StallBoard

__all__ = ["fold_ranks", "mask_ranges"]

PENDING, BARRIER, RUNNING, EXITED, FAILED, KILLED, LOST = (
    "pending",
    "barrier",
    "running",
    "exited",
    "failed",
    "killed",
    "lost",
)
STATES = (PENDING, BARRIER, RUNNING, EXITED, FAILED, KILLED, LOST)
FINAL = frozenset({EXITED, FAILED, KILLED, LOST})

LABELS = {
    PENDING: "pending",
    BARRIER: "at barrier",
    RUNNING: "running",
    EXITED: "exit 0",
    FAILED: "failed",
    KILLED: "killed",
    LOST: "lost",
}
STOP_HOW = "SIGINT first (as Ctrl-C), then TERM and KILL after the grace period"
STOP_MESSAGE = f"stopped by you: {STOP_HOW}"


class JobStage(StrEnum):
    """Where the job is, as the pane shows it: the launch's own stages, then the pane's."""

    IDLE = "idle"
    RECORD = StageName.RECORD.value
    VALIDATE = StageName.VALIDATE.value
    PREFLIGHT = StageName.PREFLIGHT.value
    PREPARE = StageName.PREPARE.value
    AGENTS = StageName.AGENTS.value
    GO = StageName.GO.value
    KEPT = StageName.KEPT.value
    STOPPING = "stopping"
    TEARDOWN = "teardown"
    FINISHED = "finished"
    STOPPED = "stopped"
    ERROR = "error"


EARLY_STAGES = frozenset({JobStage.IDLE, JobStage.RECORD, JobStage.VALIDATE, JobStage.PREPARE, JobStage.PREFLIGHT})
"""No rank can have started yet: Stop all cancels the launch straight away."""


@dataclass
class JobView:
    """The ranks of one job as the status grid shows them."""

    world_size: int
    states: list[str] = field(default_factory=list)
    codes: dict[int, int | None] = field(default_factory=dict)
    signals: dict[int, int] = field(default_factory=dict)
    """The signal that ended a rank, when one did."""
    servers: dict[int, str] = field(default_factory=dict)
    """The server_id each rank runs on (from the plan, then from its events)."""
    stage: JobStage = JobStage.IDLE
    stage_message: str = ""
    warnings: list[str] = field(default_factory=list)
    lost_servers: list[str] = field(default_factory=list)
    root: RootCause | None = None
    summary: JobSummary | None = None
    run_dir: str | None = None
    lines: int = 0
    ready: int = 0
    torn_down: bool = False
    stopped: bool = False
    """The user's Stop all ended the job (the launch reported it stopped, or was cancelled)."""
    failed_error: str | None = None
    """The launch itself failed (preflight, upload, ...) before or while ranks ran."""
    stalled: frozenset[int] = frozenset()
    """Running ranks silent for the stall time (the supervisor's marks)."""
    version: int = 0
    """Bumped by every change the grid or status line shows (rank lines are counted apart)."""

    def __post_init__(self) -> None:
        if not self.states:
            self.states = [PENDING] * self.world_size

    # -- feeding ---------------------------------------------------------------------

    def apply(self, ev: LaunchEvent) -> None:
        match ev:  # RankLine: LaunchModel.apply counts and routes it, never here
            case Stage(name=StageName.KEPT, message=message):  # after the job: not a stage of it
                self.warnings.append(message)
            case Stage(name=name, message=message, run_dir=run_dir):
                self.stage, self.stage_message = JobStage(name), message
                self.run_dir = run_dir or self.run_dir
                if name == StageName.AGENTS:
                    self._set_all(PENDING, BARRIER)
            case LaunchWarning(message=message, host=host):
                self.warnings.append(f"{host}: {message}" if host else message)
            case RankStarted(rank=rank, server_id=server_id):
                if self._known(rank) and self.states[rank] not in FINAL:
                    self.states[rank] = RUNNING
                    self.servers[rank] = server_id
            case RankReady():
                self.ready += 1
            case RankExited(rank=rank, code=code, signal=sig):
                self._exited(rank, code, sig)
            case ServerLost(server_id=server_id):
                self.lost_servers.append(server_id)
            case Teardown(root_cause=root):
                self.torn_down, self.root = True, root
                if not (root.kind == "stopped" and self.stage is JobStage.STOPPING):  # keep what Stop sent
                    self.stage, self.stage_message = JobStage.TEARDOWN, f"tearing down: {root.describe()}"
            case JobFinished(summary=summary):
                self._finished(summary)
        self.version += 1

    def _exited(self, rank: int, code: int | None, sig: int | None) -> None:
        if not self._known(rank):
            return
        self.codes[rank] = code
        if sig:
            self.signals[rank] = sig
        if code == 0:
            state = EXITED
        elif code is None:
            state = LOST
        elif self.torn_down and not self.is_root(rank):
            state = KILLED
        else:
            state = FAILED
        self.states[rank] = state

    def _finished(self, summary: JobSummary) -> None:
        self.summary = summary
        self.run_dir = summary.run_dir or self.run_dir
        self.root = summary.root_cause or self.root
        self.stage = JobStage.FINISHED
        if self.root is not None and self.root.kind == "stopped":
            self.stopped, self.stage_message = True, STOP_MESSAGE
        for rank, code in summary.exit_codes.items():
            if self._known(rank) and self.states[rank] not in FINAL:
                self._exited(rank, code, None)

    def mark_stopping(self, step: str = "TERM", grace_s: float | None = None) -> None:
        self.stage, self.stage_message = JobStage.STOPPING, stop_message(step, grace_s)
        self.version += 1

    def mark_stopped(self) -> None:
        """The launch was cancelled: every rank not yet ended was killed by its teardown."""
        self.stopped = True
        self.stage, self.stage_message = JobStage.STOPPED, STOP_MESSAGE
        for old in (PENDING, BARRIER, RUNNING):
            self._set_all(old, KILLED)
        self.version += 1

    def mark_failed(self, message: str) -> None:
        self.failed_error = message
        self.stage, self.stage_message = JobStage.ERROR, message
        self.version += 1

    # -- reading ---------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.summary is not None or self.stopped or self.failed_error is not None

    @property
    def ok(self) -> bool:
        return self.summary is not None and bool(self.summary.ok)

    def is_root(self, rank: int) -> bool:
        return self.root is not None and self.root.rank == rank

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state in self.states:
            out[state] += 1
        return out

    def killed_by(self) -> dict[str, int]:
        """How the killed ranks ended: ``{"SIGTERM": 15, "exit 1": 1}`` (rank counts)."""
        out: dict[str, int] = {}
        for rank, state in enumerate(self.states):
            if state == KILLED and rank in self.codes:
                sig = self.signals.get(rank)
                label = _signal_name(sig) if sig else f"exit {self.codes[rank]}"
                out[label] = out.get(label, 0) + 1
        return out

    def failures(self) -> list[tuple[int, int | None]]:
        return [(r, self.codes.get(r)) for r, s in enumerate(self.states) if s == FAILED]

    def failed_server(self) -> str | None:
        """The server_id of the root cause (or of the first failed rank)."""
        if self.root is not None and self.root.server_id:
            return self.root.server_id
        return next((self.servers[r] for r, _ in self.failures() if r in self.servers), None)

    def headline(self) -> str:
        if self.failed_error:
            return "LAUNCH FAILED"
        if self.stopped:
            return "STOPPED"
        if self.summary is not None:
            return "DONE" if self.summary.ok else "FAILED"
        return self.stage.upper()

    # -- helpers ---------------------------------------------------------------------

    def _known(self, rank: int) -> bool:
        return 0 <= rank < self.world_size

    def _set_all(self, old: str, new: str) -> None:
        self.states = [new if s == old else s for s in self.states]


PARTIAL_LIMIT = 1 << 20
"""Characters of a probe's unfinished line kept at most (the rest cannot parse anyway)."""


class LaunchModel:
    """Everything the Run and Probe tabs show about the current job. ``apply(event)`` for
    every event of the launch; ``changes`` counts every change (``EventFeed`` redraws on it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        """When an event arrived (silence and the HCCL_CONNECT_TIMEOUT countdown)."""
        self.job: JobView | None = None
        self.stalls: StallBoard | None = None
        self.diagnosis = DiagnosisModel()
        self.started_at: float | None = None
        """Wall-clock start of the job (epoch seconds): evidence is fetched from then on."""
        self.window = LogWindow()
        self.report: ProbeReport | None = None
        self.running = False
        self.stop_step: str | None = None
        """The strongest signal Stop all has asked for (INT, TERM, KILL), None before."""
        self.changes = 0
        self.probe_changes = 0
        """Bumped by each line the probe's table takes (it is redrawn less often)."""
        self._partial: dict[int, str] = {}
        self.serving = ServingView()
        """The served model, for serving profiles (mindie-service, vllm-ascend)."""

    def start(
        self,
        world_size: int,
        *,
        probe: bool,
        servers: dict[int, str] | None = None,
        stall_s: float | None = None,
        connect_timeout_s: float | None = None,
    ) -> None:
        self.job = JobView(world_size, servers=dict(servers or {}))
        self.serving = ServingView()
        kw = {k: v for k, v in (("stall_s", stall_s), ("connect_timeout_s", connect_timeout_s)) if v is not None}
        self.stalls = StallBoard(dict(servers or {}), **kw)
        self.diagnosis.clear()
        self.started_at = time.time()
        self.window = LogWindow()
        self.report = ProbeReport() if probe else None
        self._partial.clear()
        self.running, self.stop_step = True, None
        self.changes += 1

    def apply(self, event: LaunchEvent) -> None:
        job = self.job
        assert job is not None, "start() the job first"
        self.changes += 1
        if self.stalls is not None and self.stalls.apply(event, self.clock()):
            job.stalled = frozenset(self.stalls.stalled)
            job.version += 1
        match event:
            case RankLine(rank=rank, text=text, partial=partial):
                self.window.add(rank, text)
                if partial:
                    if self.report is not None:  # only a probe's lines are joined (a tqdm bar is not)
                        head = self._partial.get(rank, "")
                        self._partial[rank] = (head + text)[:PARTIAL_LIMIT]
                    return
                job.lines += 1
                head = self._partial.pop(rank, "")
                if self.report is not None:
                    self.report.add_line(head + text, rank)
                    self.probe_changes += 1
            case _:
                if not self.serving.apply(event):
                    job.apply(event)

    def request_stop(self, grace_s: float | None = None) -> str | None:
        """Stop all was asked: the signal to send every rank now, as the CLI's Ctrl-C does
        (``console.ops.launch_stop``): INT first, each further ask the next stronger one
        (TERM, then KILL); None when no job runs or KILL was sent already."""
        if self.job is None or not self.running or self.stop_step == "KILL":
            return None
        step = STOP_STEPS[0] if self.stop_step is None else STOP_STEPS[STOP_STEPS.index(self.stop_step) + 1]
        self.stop_step = step
        self.job.mark_stopping(step, grace_s)
        self.changes += 1
        return step

    @property
    def stop_requested(self) -> bool:
        return self.stop_step is not None

    def end(self, error: BaseException | None, cancelled: bool) -> None:
        """The launch's events ended: normally, by a cancel (Stop all's fallback, quitting),
        or by an error (``error``)."""
        if self.stalls is not None:
            self.stalls.end()
        if self.job is not None:
            self.job.stalled = frozenset()
        if self.job is not None and not self.job.finished:
            if cancelled:
                self.job.mark_stopped()
            elif error is not None:
                self.job.mark_failed(describe(error))
        self.running = False
        self.changes += 1

    @property
    def early(self) -> bool:
        """No rank can run yet: a stop may simply cancel."""
        return self.job is None or self.job.stage in EARLY_STAGES


def stop_message(step: str, grace_s: float | None = None) -> str:
    """What Stop all just did, and what the next one does: ``sent SIGINT to every rank
    (TERM after 10 s, then KILL); F8 again: TERM now``."""
    after = f" after {grace_s:g} s" if grace_s is not None else " after the grace period"
    if step == "INT":
        return f"sent SIGINT to every rank, as Ctrl-C (TERM{after}, then KILL); F8 again: TERM now"
    if step == "TERM":
        return f"sent SIGTERM to every rank (KILL{after}); F8 again: KILL now"
    return "sent SIGKILL to every rank"


def describe(error: BaseException) -> str:
    if isinstance(error, ConsoleError):
        return f"{error.title}: {error.detail}".strip(": ")
    return f"{type(error).__name__}: {error}"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
