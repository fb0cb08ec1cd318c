"""The run record: ``<base>/<run-id>/`` with every line of every rank and what happened.

* ``rank-<r>.log``  every stdout and stderr line of rank r, bytes as the rank wrote them, up
  to ``log_cap`` bytes per rank; then one "truncated" marker line and nothing more
* ``events.jsonl``  start, agents, ready, barrier, GO, starts, exits, teardown, end (with ts)
* ``plan.json``     the launch plan; ``ranktable.json`` the exact rank table uploaded

Private: the run folder is created 0700 (the base folder too, when the console creates it;
a stranger's symlink on the way is refused, see ``console.ops.safefiles``), every file
0600, all opened through the run folder's descriptor with ``O_EXCL | O_NOFOLLOW``. No secrets: in
``plan.json`` the value of every secret-looking env name (``console.core.secrets``) is
``***``, and those values are replaced by ``***`` wherever they appear in ``plan.json``,
``events.jsonl`` and the rank logs (a rank that prints its token is recorded as ``***``;
values shorter than 3 characters are masked by name only). In ``plan.json`` and
``events.jsonl`` every string also gets ``mask_document``'s ``NAME=value`` and private-key
masking, and the value under any secret-looking key is ``***``.

Never fatal: the record serves the job, not the other way round. When the folder cannot be
created or a write fails (disk full, quota, folder gone read-only), recording stops for
good, every file is closed, ``failed`` says why and ``take_warning()`` returns that text
once, for the caller to show as one warning; the job goes on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from console.core.errors import ConsoleError
from console.core.planning.launch import LaunchPlan
from console.core.secrets import MASK, mask_document, mask_env, secret_values
from console.ops import safefiles

DEFAULT_BASE = Path("runs")
DEFAULT_LOG_CAP = 1 << 30
FILE_MODE = 0o600
MIN_SECRET_LEN = 3  # as console.core.secrets.mask_text: shorter values are masked by name only

_HINTS = {
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
    errno.ENFILE: "the system ran out of file handles",
    errno.ENOSPC: "the disk is full: free space or record runs elsewhere (--run-dir)",
    errno.EDQUOT: "disk quota exceeded: free space or record runs elsewhere (--run-dir)",
    errno.EROFS: "the file system is read-only: record runs elsewhere (--run-dir)",
    errno.EACCES: "the run folder is not writable: record runs elsewhere (--run-dir)",
}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _scrub(text: str, values: list[str]) -> str:
    """Rank log lines: the secret values only (a substring test per value: cheap per line)."""
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _safe_cut(text: str, values: list[str]) -> int:
    """Where a partial piece may be cut: the last ``max(len) - 1`` characters could begin a
    secret, and no secret that occurs in ``text`` may cross the cut."""
    cut = max(0, len(text) - (len(values[0]) - 1))
    moved = True
    while moved and cut > 0:
        moved = False
        for value in values:  # the last occurrence starting before the cut
            start = text.rfind(value, 0, cut + len(value) - 1)
            if start != -1 and start + len(value) > cut:
                cut, moved = start, True
    return cut


def masked_plan(plan: LaunchPlan) -> LaunchPlan:
    """``plan`` with every secret-looking env value shown as ``***``."""
    servers = [
        s.model_copy(update={"ranks": [r.model_copy(update={"env": mask_env(r.env)}) for r in s.ranks]})
        for s in plan.servers
    ]
    return plan.model_copy(update={"servers": servers})


class RunRecord:
    def __init__(
        self, base: Path | str = DEFAULT_BASE, run_id: str | None = None, *, log_cap: int = DEFAULT_LOG_CAP
    ) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = Path(base) / self.run_id
        self.log_cap = log_cap
        self.lines = 0
        self.failed: str | None = None
        self._warned = False
        self._fd: int | None = None
        self._events: IO[str] | None = None
        self._logs: dict[int, BinaryIO] = {}
        self._sizes: dict[int, int] = {}
        self._open_line: set[int] = set()  # ranks whose log ends inside a line (partial write)
        self._capped: set[int] = set()
        self._dirty: set[int] = set()
        self._secrets: list[str] = []  # secret env values, longest first
        self._carry: dict[int, str] = {}  # rank -> held-back tail of a partial line
        with self._writing(self.dir):
            self._fd = safefiles.private_dir(base, self.run_id)
            self._events = os.fdopen(self._open("events.jsonl"), "a", encoding="utf-8")

    # --- writing ----------------------------------------------------------------------------

    def write_plan(self, plan: LaunchPlan) -> None:
        """plan.json, secrets masked; also learns the secret values to keep out of every file."""
        values = {v for v in secret_values([r.env for s in plan.servers for r in s.ranks]) if len(v) >= MIN_SECRET_LEN}
        self._secrets = sorted(values, key=lambda v: (-len(v), v))
        doc = json.loads(masked_plan(plan).model_dump_json())
        text = json.dumps(mask_document(doc, self._secrets), indent=2, ensure_ascii=False)
        self._write_file("plan.json", text.encode("utf-8"))

    @property
    def secrets(self) -> tuple[str, ...]:
        """The live secret env values of the plan written (longest first), for masking
        anything else written from this run (the evidence)."""
        return tuple(self._secrets)

    def write_ranktable(self, data: bytes) -> None:
        self._write_file("ranktable.json", data)

    def event(self, kind: str, **fields: Any) -> None:
        if self._events is None:
            return
        record = {"ts": round(time.time(), 6), "event": kind, **fields}
        if self._secrets:  # plain JSON first (tuples, paths...), then masked value by value
            record = mask_document(json.loads(json.dumps(record, default=str)), self._secrets)
        text = json.dumps(record, ensure_ascii=False, default=str)
        with self._writing(self.dir / "events.jsonl"):
            self._events.write(text + "\n")
            self._events.flush()

    def log_path(self, rank: int) -> Path:
        return self.dir / f"rank-{rank}.log"

    def line(self, rank: int, text: str, partial: bool = False) -> None:
        """One line of a rank; ``partial``: a piece of a long line (the agent cuts them), the
        rest follows. Of a piece, the tail that could begin a secret (the longest secret's
        length - 1 characters, and any secret crossing that cut) is held back and masked with
        what follows, so a secret split by a cut is still masked."""
        if not partial:
            self.lines += 1
        text = self._carry.pop(rank, "") + text
        if partial and self._secrets:
            cut = _safe_cut(text, self._secrets)
            self._carry[rank], text = text[cut:], text[:cut]
            if not text:
                return
        self._write_line(rank, text, partial)

    def _write_line(self, rank: int, text: str, partial: bool) -> None:
        if self._fd is None or rank in self._capped:
            return
        data = _scrub(text, self._secrets).encode("utf-8", "surrogateescape")
        if not partial:
            data += b"\n"
        with self._writing(self.log_path(rank)):
            log = self._logs.get(rank)
            if log is None:
                log = self._logs[rank] = os.fdopen(self._open(self.log_path(rank).name), "ab")
            size = self._sizes.get(rank, 0)
            if size + len(data) > self.log_cap:
                self._capped.add(rank)
                data = (b"\n" if rank in self._open_line else b"") + (
                    f"[cluster-console] log truncated: rank {rank} wrote more than "
                    f"{self.log_cap} bytes (--log-cap); the rest is not recorded\n"
                ).encode()
            self._dirty.add(rank)
            log.write(data)
            self._sizes[rank] = size + len(data)
            (self._open_line.add if partial else self._open_line.discard)(rank)
        if rank in self._capped:
            self.event("log_truncated", rank=rank, cap=self.log_cap)

    def flush(self) -> None:
        while self._dirty:
            rank = self._dirty.pop()
            log = self._logs.get(rank)
            if log is not None:
                with self._writing(self.log_path(rank)):
                    log.flush()

    def take_warning(self) -> str | None:
        """Why recording stopped, the first time it is asked after it stopped; else None."""
        if self.failed is None or self._warned:
            return None
        self._warned = True
        return self.failed

    def close(self) -> None:
        """Flush and close every file; each is closed even if another failed."""
        for rank, rest in list(self._carry.items()):  # a rank's last piece, never ended
            del self._carry[rank]
            self._write_line(rank, rest, True)
        with contextlib.ExitStack() as stack:
            if self._fd is not None:
                stack.callback(os.close, self._fd)
            if self._events is not None:
                stack.callback(self._closing, self._events, self.dir / "events.jsonl")
            for rank, log in self._logs.items():
                stack.callback(self._closing, log, self.log_path(rank))
            self._fd, self._events = None, None
            self._logs.clear()
            self._dirty.clear()

    # --- helpers ----------------------------------------------------------------------------

    def _open(self, name: str) -> int:
        assert self._fd is not None
        return safefiles.open_new(self._fd, name, FILE_MODE)

    def _write_file(self, name: str, data: bytes) -> None:
        if self._fd is None:
            return
        with self._writing(self.dir / name), os.fdopen(self._open(name), "wb") as f:
            f.write(data)

    def _closing(self, f: IO[Any], path: Path) -> None:
        with self._writing(path):
            f.close()  # flushes first

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """A failing write stops the recording (see the module doc), never the caller."""
        try:
            yield
        except (OSError, ConsoleError) as exc:
            self._stop(path, exc)

    def _stop(self, path: Path, exc: OSError | ConsoleError) -> None:
        if self.failed is None:
            if isinstance(exc, OSError):
                why = exc.strerror or str(exc)
                hint = _HINTS.get(exc.errno or 0, "check the run folder")
                self.failed = f"{path}: run record stopped: {why}\n  hint: {hint}; the job goes on"
            else:
                self.failed = f"run record stopped: {exc}\n  the job goes on without a record"
        logs, events, fd = list(self._logs.values()), self._events, self._fd
        self._logs.clear()
        self._dirty.clear()
        self._events, self._fd = None, None
        files: list[IO[Any]] = [*logs, *([events] if events is not None else [])]
        for f in files:
            with contextlib.suppress(OSError, ValueError):
                f.close()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
