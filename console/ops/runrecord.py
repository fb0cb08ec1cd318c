"""The run record: ``<base>/<run-id>/`` with every line of every rank and what happened.

* ``rank-<r>.log``  every stdout and stderr line of rank r, bytes as the rank wrote them
* ``events.jsonl``  start, agents, ready, barrier, GO, starts, exits, teardown, end (with ts)
* ``plan.json``     the launch plan; ``ranktable.json`` the exact rank table uploaded
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any, BinaryIO

from console.core.errors import InputError
from console.core.planning.launch import LaunchPlan

DEFAULT_BASE = Path("runs")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class RunRecord:
    def __init__(self, base: Path | str = DEFAULT_BASE, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = Path(base) / self.run_id
        try:
            self.dir.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise InputError("cannot create the run folder", str(exc), path=str(self.dir)) from None
        self._events = open(self.dir / "events.jsonl", "a", encoding="utf-8")
        self._logs: dict[int, BinaryIO] = {}
        self._dirty: set[int] = set()
        self.lines = 0

    def write_plan(self, plan: LaunchPlan) -> None:
        (self.dir / "plan.json").write_text(plan.model_dump_json(indent=2), encoding="utf-8")

    def write_ranktable(self, data: bytes) -> None:
        (self.dir / "ranktable.json").write_bytes(data)

    def event(self, kind: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "event": kind, **fields}
        self._events.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._events.flush()

    def log_path(self, rank: int) -> Path:
        return self.dir / f"rank-{rank}.log"

    def line(self, rank: int, text: str, partial: bool = False) -> None:
        log = self._logs.get(rank)
        if log is None:
            log = self._logs[rank] = open(self.log_path(rank), "ab")
        data = text.encode("utf-8", "surrogateescape")
        log.write(data if partial else data + b"\n")
        self._dirty.add(rank)
        if not partial:
            self.lines += 1

    def flush(self) -> None:
        for rank in self._dirty:
            self._logs[rank].flush()
        self._dirty.clear()

    def close(self) -> None:
        self.flush()
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        self._events.close()
