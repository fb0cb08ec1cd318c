"""Output of ``cluster-console launch``: ``[rank] line`` text, or JSON lines with ``--json``.

Text mode: rank stdout lines on stdout and rank stderr lines on stderr, each prefixed
``[<rank>] `` (like ``srun -l``); progress, warnings, the summary and the root cause on stderr.

``--json``: stdout carries ONE JSON object per line, one per event, in order; the last one
is ``{"event": "finished", "summary": {...}}`` (``JobSummary.to_dict()``). Kinds: stage,
warning, started, line, ready, exited, server_lost, teardown, finished, stalled (a rank silent
for ``--stall-after`` seconds, or ``"stalled": false`` when it prints again), stall (most ranks
stalled while one server's ranks failed or stayed silent; ``"teardown": true`` with
``--fail-fast-stall``), diagnosis. A ``line`` is
``{"event": "line", "rank": r, "stream": "o"|"e", "text": ..., "partial": false}``; bytes
that are not UTF-8 become U+FFFD here (the run record keeps the exact bytes). Progress and
the root cause still go to stderr as text.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import deque
from typing import Any

from console.cli._common import warn
from console.core.errors import EXIT_CHECK_FAILED
from console.core.words import counted
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    LaunchWarning,
    RankExited,
    RankLine,
    RankReady,
    RankStalled,
    RankStarted,
    ServerLost,
    Stage,
    StallDetected,
    Teardown,
)

STOP_TAIL = 3
"""Last lines per rank printed after a stop (Ctrl-C, SIGTERM, SIGHUP)."""

KINDS = {
    Stage: "stage",
    LaunchWarning: "warning",
    RankStarted: "started",
    RankLine: "line",
    RankReady: "ready",
    RankExited: "exited",
    ServerLost: "server_lost",
    Teardown: "teardown",
    JobFinished: "finished",
    RankStalled: "stalled",
    StallDetected: "stall",
}


def _clean(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def event_json(ev: Any) -> dict[str, Any]:
    """One event as a JSON-able dict with its kind under ``event``."""
    if isinstance(ev, JobFinished):
        body: dict[str, Any] = {"summary": ev.summary.to_dict()}
        if ev.summary.root_cause is not None:
            body["summary"]["root_cause"]["description"] = ev.summary.root_cause.describe()
    else:
        body = dataclasses.asdict(ev)
        if isinstance(ev, Teardown):
            body["root_cause"]["description"] = ev.root_cause.describe()
    return {"event": KINDS[type(ev)], **_clean(body)}


class Printer:
    """``[rank] line``; pieces of over-long lines continue without a new prefix."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.open: set[int] = set()
        self.torn_down = False
        self.tails: dict[int, deque[str]] = {}
        """Each rank's last whole lines (both streams), for the report after a stop."""
        self.exits: dict[int, RankExited] = {}

    def record(self, ev: Any) -> None:
        """Only keep the last lines and the exits (for ``report_stopped``); print nothing."""
        if isinstance(ev, RankLine) and not ev.partial:
            self.tails.setdefault(ev.rank, deque(maxlen=STOP_TAIL)).append(ev.text)
        elif isinstance(ev, RankExited):
            self.exits[ev.rank] = ev

    def event(self, ev: Any) -> None:
        if self.as_json and type(ev) in KINDS:
            sys.stdout.write(json.dumps(event_json(ev), ensure_ascii=False) + "\n")
        self.record(ev)
        if isinstance(ev, RankLine):
            if not self.as_json:
                self.line(ev)
        elif isinstance(ev, (Stage, LaunchWarning, ServerLost, Teardown, RankStalled, StallDetected)):
            progress(ev)
            self.torn_down = self.torn_down or isinstance(ev, Teardown)
        elif isinstance(ev, RankExited) and not self.torn_down and ev.code not in (0, None):
            warn(f"launch: rank {ev.rank} on {ev.server_id} exited {ev.code}")

    def line(self, ev: RankLine) -> None:
        out = sys.stderr if ev.stream == "e" else sys.stdout
        text = ev.text if ev.rank in self.open else f"[{ev.rank}] {ev.text}"
        if ev.partial:
            self.open.add(ev.rank)
        else:
            self.open.discard(ev.rank)
            text += "\n"
        try:
            out.write(text)
        except UnicodeEncodeError:
            out.write(text.encode("utf-8", "replace").decode("utf-8"))


def report(summary: JobSummary) -> int:
    """The summary on stderr; the exit code (0 every rank exited 0, else 1)."""
    skew = f"; start skew {summary.start_skew_s * 1000:.1f} ms" if summary.start_skew_s is not None else ""
    if summary.ok:
        warn(
            f"launch: all {counted(summary.world_size, 'rank')} exited 0 in {summary.duration_s:.1f} s"
            f"{skew}; run record {summary.run_dir}"
        )
        return 0
    warn(f"launch: FAILED: {failure_headline(summary)}{skew}; run record {summary.run_dir}")
    root = summary.root_cause
    if root is not None:
        warn(f"launch: root cause: {root.describe()}")
        if root.last_lines:
            warn(f"launch: last {counted(len(root.last_lines), 'line')} of rank {root.rank}:")
            for line in root.last_lines:
                warn(f"  [{root.rank}] {line}")
    return EXIT_CHECK_FAILED


def report_stopped(summary: JobSummary, signal_name: str, printer: Printer, prog: str = "launch") -> None:
    """After a stop: every rank's exit code (and signal) and its last lines, on stderr."""
    codes = summary.exit_codes
    nonzero = sum(1 for c in codes.values() if c != 0)
    warn(
        f"{prog}: interrupted ({signal_name}): {len(codes)} of {_ranks(summary.world_size)} "
        f"reported an exit, {nonzero} not 0; run record {summary.run_dir}"
    )
    for rank in range(summary.world_size):
        ev = printer.exits.get(rank)
        if ev is None:
            what = "no exit reported"
        elif ev.code is None:
            what = f"on {ev.server_id}: lost with its server"
        else:
            what = f"on {ev.server_id}: exit {ev.code}" + (f" (signal {ev.signal})" if ev.signal else "")
        warn(f"{prog}: rank {rank} {what}")
        for line in printer.tails.get(rank, ()):
            warn(f"  [{rank}] {line}")


def _ranks(n: int) -> str:
    return f"{n} rank{'' if n == 1 else 's'}"


def failure_headline(summary: JobSummary) -> str:
    """``rank 5 failed (exit 1); 15 ranks torn down``: the root cause first, then what the
    teardown stopped, not "16 of 16 ranks did not exit 0"."""
    root = summary.root_cause
    codes = summary.exit_codes
    parts: list[str] = []
    if root is not None and root.rank is not None:
        if root.exit_code not in (0, None) and root.signal is None:
            why = f"exit {root.exit_code}"
        elif root.signal:
            why = f"signal {root.signal}"
        else:
            why = root.reason
        parts.append(f"rank {root.rank} failed ({why})")
    elif root is not None:
        parts.append(root.describe())
    root_rank = root.rank if root is not None else None
    others = [r for r, c in codes.items() if c != 0 and r != root_rank]
    if others:
        parts.append(f"{_ranks(len(others))} {'torn down' if root is not None else 'did not exit 0'}")
    silent = (summary.processes or summary.world_size) - len(set(codes) | ({root_rank} - {None}))
    if silent > 0:
        parts.append(f"{_ranks(silent)} never reported an exit")
    return "; ".join(parts) or f"{_ranks(summary.world_size)}, not every one exited 0"


def progress(ev: Any) -> None:
    if isinstance(ev, Stage):
        warn(f"launch: {ev.message}")
    elif isinstance(ev, LaunchWarning):
        warn(f"launch: warning: {ev.host + ': ' if ev.host else ''}{ev.message}")
    elif isinstance(ev, ServerLost):
        warn(f"launch: server {ev.server_id} lost: {ev.reason}")
    elif isinstance(ev, Teardown):
        warn(f"launch: tearing down: {ev.root_cause.describe()}")
    elif isinstance(ev, RankStalled):
        left = (
            f"; HCCL_CONNECT_TIMEOUT in {ev.countdown_s:.0f} s"
            if ev.countdown_s is not None and ev.countdown_s > 0
            else ""
        )
        warn(
            f"launch: rank {ev.rank} on {ev.server_id} "
            + (f"stalled: silent for {ev.silent_s:.0f} s{left}" if ev.stalled else "printed again")
        )
    elif isinstance(ev, StallDetected):
        then = (
            "tearing down (--fail-fast-stall)"
            if ev.teardown
            else "diagnosing now; the job goes on (--fail-fast-stall would stop it)"
        )
        warn(f"launch: stall: {ev.message} ({ev.host}); {then}")
