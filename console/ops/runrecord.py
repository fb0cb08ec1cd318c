"""The run record: ``<base>/<run-id>/`` with every line of every rank and what happened.

* ``rank-<r>.log``  every stdout and stderr line of rank r, bytes as the rank wrote them
* ``events.jsonl``  start, agents, ready, barrier, GO, starts, exits, teardown, end (with ts)
* ``plan.json``     the launch plan; ``ranktable.json`` the exact rank table uploaded
"""

from __future__ import annotations

import contextlib
import errno
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from console.core.errors import ConsoleError, InputError
from console.core.planning.launch import LaunchPlan

DEFAULT_BASE = Path("runs")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """An OSError (disk full, too many open files...) -> a ConsoleError naming ``path``."""
    try:
        yield
    except OSError as exc:
        hint = {errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
                errno.ENFILE: "the system ran out of file handles",
                errno.ENOSPC: "the disk is full: free space or record runs elsewhere",
                errno.EDQUOT: "disk quota exceeded: free space or record runs elsewhere",
                }.get(exc.errno, "check the run folder")
        raise ConsoleError("cannot write the run record", exc.strerror or str(exc),
                           path=str(path), hint=hint) from None


class RunRecord:
    def __init__(self, base: Path | str = DEFAULT_BASE, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = Path(base) / self.run_id
        try:
            self.dir.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise InputError("cannot create the run folder", str(exc), path=str(self.dir)) from None
        with _writing(self.dir / "events.jsonl"):
            self._events = open(self.dir / "events.jsonl", "a", encoding="utf-8")
        self._logs: dict[int, BinaryIO] = {}
        self._dirty: set[int] = set()
        self.lines = 0

    def write_plan(self, plan: LaunchPlan) -> None:
        with _writing(self.dir / "plan.json"):
            (self.dir / "plan.json").write_text(plan.model_dump_json(indent=2), encoding="utf-8")

    def write_ranktable(self, data: bytes) -> None:
        with _writing(self.dir / "ranktable.json"):
            (self.dir / "ranktable.json").write_bytes(data)

    def event(self, kind: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "event": kind, **fields}
        with _writing(self.dir / "events.jsonl"):
            self._events.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._events.flush()

    def log_path(self, rank: int) -> Path:
        return self.dir / f"rank-{rank}.log"

    def line(self, rank: int, text: str, partial: bool = False) -> None:
        data = text.encode("utf-8", "surrogateescape")
        with _writing(self.log_path(rank)):
            log = self._logs.get(rank)
            if log is None:
                log = self._logs[rank] = open(self.log_path(rank), "ab")
            self._dirty.add(rank)
            log.write(data if partial else data + b"\n")
        if not partial:
            self.lines += 1

    def flush(self) -> None:
        while self._dirty:
            rank = self._dirty.pop()
            with _writing(self.log_path(rank)):
                self._logs[rank].flush()

    def close(self) -> None:
        """Flush and close every file; each is closed even if another failed."""
        with contextlib.ExitStack() as stack:
            stack.callback(self._events.close)
            for rank, log in self._logs.items():
                stack.callback(_closing, log, self.log_path(rank))
            self._logs.clear()
            self._dirty.clear()


def _closing(log: BinaryIO, path: Path) -> None:
    with _writing(path):
        log.close()  # flushes first
