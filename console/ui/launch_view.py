"""What the Launch pane knows about a running job: one state per rank, the stage, warnings,
the root cause and the summary. Pure Python (no textual): fed the ``console.ops.launch_events``
events one by one, read by the status grid and the status line.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

PENDING, BARRIER, RUNNING, EXITED, FAILED, KILLED, LOST = (
    "pending", "barrier", "running", "exited", "failed", "killed", "lost")
STATES = (PENDING, BARRIER, RUNNING, EXITED, FAILED, KILLED, LOST)
FINAL = frozenset({EXITED, FAILED, KILLED, LOST})

LABELS = {PENDING: "pending", BARRIER: "at barrier", RUNNING: "running", EXITED: "exit 0",
          FAILED: "failed", KILLED: "killed", LOST: "lost"}


def mask_ranges(mask: int) -> list[tuple[int, int]]:
    """Runs of set bits: ``0b1110111`` -> ``[(0, 2), (4, 6)]`` (one step per run)."""
    runs = []
    while mask:
        low = (mask & -mask).bit_length() - 1
        shifted = mask >> low
        length = (~shifted & (shifted + 1)).bit_length() - 1
        runs.append((low, low + length - 1))
        mask &= ~(((1 << length) - 1) << low)
    return runs


def fold_ranks(ranks: Any) -> str:
    """``[0, 1, 2, 5]`` (or a bit mask) -> ``"0-2,5"``, ClusterShell RangeSet style."""
    if not isinstance(ranks, int):
        mask = 0
        for r in ranks:
            mask |= 1 << r
        ranks = mask
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in mask_ranges(ranks))


@dataclass
class JobView:
    """The job as the pane shows it. ``apply(event)`` for every event of the launch."""

    world_size: int
    states: list[str] = field(default_factory=list)
    codes: dict[int, int | None] = field(default_factory=dict)
    signals: dict[int, int] = field(default_factory=dict)
    """The signal that ended a rank, when one did."""
    stage: str = "idle"
    stage_message: str = ""
    warnings: list[str] = field(default_factory=list)
    lost_servers: list[str] = field(default_factory=list)
    root: Any = None
    """``RootCause`` of the teardown, when there was one."""
    summary: Any = None
    """``JobSummary`` once the job finished."""
    run_dir: str | None = None
    lines: int = 0
    ready: int = 0
    torn_down: bool = False
    stopped: bool = False
    """The user's Stop all ended the job (the launch reported it stopped, or was cancelled)."""
    failed_error: str | None = None
    """The launch itself failed (preflight, upload, ...) before or while ranks ran."""
    version: int = 0
    """Bumped by every change that the grid or status line would show."""

    def __post_init__(self) -> None:
        if not self.states:
            self.states = [PENDING] * self.world_size

    # -- feeding ---------------------------------------------------------------------

    def apply(self, ev: Any) -> None:
        kind = type(ev).__name__
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(ev)
            self.version += 1

    def _on_Stage(self, ev: Any) -> None:
        self.stage, self.stage_message = ev.name, ev.message
        if ev.name == "record":
            self.run_dir = ev.message.removeprefix("run record ").strip() or self.run_dir
        if ev.name == "agents":
            self._set_all(PENDING, BARRIER)

    def _on_LaunchWarning(self, ev: Any) -> None:
        self.warnings.append(f"{ev.host}: {ev.message}" if ev.host else ev.message)

    def _on_RankStarted(self, ev: Any) -> None:
        if self._known(ev.rank) and self.states[ev.rank] not in FINAL:
            self.states[ev.rank] = RUNNING

    def _on_RankReady(self, ev: Any) -> None:
        self.ready += 1

    def _on_RankExited(self, ev: Any) -> None:
        if not self._known(ev.rank):
            return
        self.codes[ev.rank] = ev.code
        if ev.signal:
            self.signals[ev.rank] = ev.signal
        if ev.code == 0:
            state = EXITED
        elif ev.code is None:
            state = LOST
        elif self.torn_down and not self.is_root(ev.rank):
            state = KILLED
        else:
            state = FAILED
        self.states[ev.rank] = state

    def _on_ServerLost(self, ev: Any) -> None:
        self.lost_servers.append(ev.server_id)

    def _on_Teardown(self, ev: Any) -> None:
        self.torn_down = True
        self.root = ev.root_cause
        self.stage = "teardown"
        self.stage_message = f"tearing down: {ev.root_cause.describe()}"

    def _on_JobFinished(self, ev: Any) -> None:
        self.summary = ev.summary
        self.run_dir = ev.summary.run_dir or self.run_dir
        self.root = ev.summary.root_cause or self.root
        self.stage = "finished"
        if self.root is not None and getattr(self.root, "kind", "") == "stopped":
            self.stopped = True
            self.stage_message = "stopped by you: every rank was sent TERM, then KILL"
        for rank, code in ev.summary.exit_codes.items():
            if self._known(rank) and self.states[rank] not in FINAL:
                self._on_RankExited(_Exit(rank, code))

    def line_seen(self) -> None:
        self.lines += 1

    def mark_stopped(self) -> None:
        """Stop all: every rank not yet ended was killed by the teardown."""
        self.stopped = True
        self.stage = "stopped"
        self.stage_message = "stopped by you: every rank was sent TERM, then KILL"
        self._set_all(PENDING, KILLED)
        self._set_all(BARRIER, KILLED)
        self._set_all(RUNNING, KILLED)
        self.version += 1

    def mark_failed(self, message: str) -> None:
        self.failed_error = message
        self.stage = "error"
        self.stage_message = message
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


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


@dataclass(frozen=True)
class _Exit:
    rank: int
    code: int | None
    signal: int | None = None
