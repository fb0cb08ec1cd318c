"""Read what a diagnosis needs from disk, bounded: a run record (``runs/<id>/``: rank logs,
events.jsonl, plan.json, ranktable.json, ``evidence/<server>/...``), a folder of log files
copied from servers (one sub-folder per server, or plain files), or one file.

Files are opened without following symbolic links; each contributes at most ``FILE_HEAD``
bytes from its start and ``FILE_TAIL`` from its end, and reading stops at ``TOTAL_BYTES``
or ``MAX_FILES`` (what was left out is said in ``notes``). Binary files are skipped.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from console.core.diagnosis import (
    Cause,
    Diagnosis,
    LogSource,
    RankPlace,
    classify_all,
    diagnose,
)
from console.core.diagnosis.inputs import (
    clocks_from_events,
    ping_from_json,
    places_from_plan,
    places_from_ranktable,
)
from console.core.diagnosis.stall import stall_cause
from console.core.errors import InputError, describe_validation_error
from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix

FILE_HEAD = 256 * 1024
FILE_TAIL = 2 * 1024 * 1024
TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 4000
JSON_MAX = 32 * 1024 * 1024
RANK_LOG = re.compile(r"^rank-(\d+)\.log$")
RECORD_FILES = {"events.jsonl", "plan.json", "ranktable.json", "discovery.json", "ping.json"}


@dataclass
class DiagnosisInput:
    sources: list[LogSource] = field(default_factory=list)
    places: list[RankPlace] = field(default_factory=list)
    offsets: dict[str, float] = field(default_factory=dict)
    exits: dict[int, float] = field(default_factory=dict)
    inventory: Inventory | None = None
    ping: PingMatrix | None = None
    notes: list[str] = field(default_factory=list)
    is_run_record: bool = False
    teardown: dict[str, Any] | None = None
    stall: dict[str, Any] | None = None


def read_bounded(path: Path, head: int = FILE_HEAD, tail: int = FILE_TAIL) -> bytes | None:
    """The file's first ``head`` and last ``tail`` bytes (all of it when small), or None when it
    is not a regular file (symbolic links are not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size <= head + tail:
            return f.read(head + tail)
        first = f.read(head)
        f.seek(st.st_size - tail)
        last = f.read(tail)
        cut = last.find(b"\n")
        skipped = st.st_size - head - tail + cut + 1
        return first + f"\n[... {skipped} bytes left out ...]\n".encode() + last[cut + 1 :]


def read_json(path: Path) -> Any:
    data = read_bounded(path, JSON_MAX, 0)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except ValueError as exc:
        raise InputError("not valid JSON", str(exc), path=str(path)) from None


def read_events(path: Path) -> list[dict[str, Any]]:
    data = read_bounded(path, 0, JSON_MAX) or b""
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def walk_files(root: Path) -> list[Path]:
    """Regular files under root, sorted, not entering symbolic links."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        found += [Path(dirpath) / f for f in sorted(filenames)]
    return found


class _Reader:
    def __init__(self, root: Path, inp: DiagnosisInput) -> None:
        self.root, self.inp, self.total, self.files = root, inp, 0, 0

    def add(self, path: Path, server: str | None, rank: int | None = None) -> None:
        if self.files >= MAX_FILES or self.total >= TOTAL_BYTES:
            self.inp.notes.append(f"left out {path.relative_to(self.root)}: read limit reached")
            return
        data = read_bounded(path)
        if data is None or b"\x00" in data[:4096]:
            return
        self.files += 1
        self.total += len(data)
        name = str(path.relative_to(self.root)) if path != self.root else path.name
        self.inp.sources.append(LogSource(name=name, server=server, rank=rank, text=data.decode("utf-8", "replace")))


def _run_record(root: Path, inp: DiagnosisInput, reader: _Reader) -> None:
    inp.is_run_record = True
    plan = read_json(root / "plan.json") if (root / "plan.json").exists() else None
    if isinstance(plan, dict):
        inp.places = places_from_plan(plan)
    if not inp.places and (root / "ranktable.json").exists():
        table = read_json(root / "ranktable.json")
        inp.places = places_from_ranktable(table) if isinstance(table, dict) else []
    if (root / "events.jsonl").exists():
        events = read_events(root / "events.jsonl")
        inp.offsets, inp.exits = clocks_from_events(events)
        inp.teardown = next(
            (ev for ev in events if ev.get("event") == "teardown" and ev.get("cause") != "stopped"), None
        )
        inp.stall = next((ev for ev in events if ev.get("event") == "stall"), None)
    server_of = {p.rank: p.server for p in inp.places}
    ranked = [(int(m.group(1)), p) for p in root.glob("rank-*.log") if (m := RANK_LOG.match(p.name))]
    for rank, path in sorted(ranked):
        reader.add(path, server_of.get(rank), rank)
    evidence = root / "evidence"
    if evidence.is_dir() and not evidence.is_symlink():
        for server_dir in sorted(evidence.iterdir()):
            if server_dir.is_dir() and not server_dir.is_symlink():
                for path in walk_files(server_dir):
                    reader.add(path, server_dir.name)


def _log_folder(root: Path, reader: _Reader) -> None:
    for entry in sorted(root.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            for path in walk_files(entry):
                m = RANK_LOG.match(path.name)
                reader.add(path, entry.name, int(m.group(1)) if m else None)
        elif entry.name not in RECORD_FILES:
            m = RANK_LOG.match(entry.name)
            reader.add(entry, None, int(m.group(1)) if m else None)


def load(path: str | Path, *, discovery: str | Path | None = None, ping: str | Path | None = None) -> DiagnosisInput:
    """Everything to diagnose ``path`` (run record, log folder or file); InputError when the
    path does not exist or a given JSON file is not what it should be."""
    root = Path(path)
    if not root.exists():
        raise InputError("no such run record, folder or file", path=str(root))
    inp = DiagnosisInput()
    reader = _Reader(root if root.is_dir() else root.parent, inp)
    if root.is_file():
        reader.add(root, None)
    elif (root / "events.jsonl").exists() or (root / "plan.json").exists():
        _run_record(root, inp, reader)
    else:
        _log_folder(root, reader)
    disc = Path(discovery) if discovery else (root / "discovery.json" if root.is_dir() else None)
    if disc is not None and disc.exists():
        try:
            inp.inventory = Inventory.model_validate(read_json(disc))
        except ValidationError as exc:
            raise InputError(
                "not a discovery document (discover --json)", describe_validation_error(exc), path=str(disc)
            ) from None
    png = Path(ping) if ping else (root / "ping.json" if root.is_dir() else None)
    if png is not None and png.exists():
        doc = read_json(png)
        try:
            inp.ping = ping_from_json(doc if isinstance(doc, dict) else {})
        except (ValidationError, TypeError, KeyError) as exc:
            detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            raise InputError("not a ping document (ping --json)", detail, path=str(png)) from None
    return inp


def diagnose_path(
    path: str | Path, *, ping_matrix: PingMatrix | None = None, inventory: Inventory | None = None, **kw: Any
) -> tuple[Diagnosis, DiagnosisInput]:
    """The diagnosis of ``path`` (see ``load``); ``ping_matrix`` / ``inventory``: results
    already in memory, used instead of files."""
    inp = load(path, **kw)
    inp.ping = ping_matrix or inp.ping
    inp.inventory = inventory or inp.inventory
    causes = classify_all(inp.sources)
    if inp.stall is not None and (stalled := stall_cause(inp.stall)) is not None:
        causes.append(stalled)
    diag = diagnose(
        causes, places=inp.places, offsets=inp.offsets, exits=inp.exits, inventory=inp.inventory, ping=inp.ping
    )
    diag.notes += inp.notes
    if not diag.causes and inp.teardown:
        td = inp.teardown
        rank = td.get("rank") if isinstance(td.get("rank"), int) else None
        log = f"rank-{rank}.log" if rank is not None else "the failed rank's rank-<rank>.log"
        cause = Cause(
            cause="rank_failed",
            rule="run_record",
            title=str(td.get("root_cause")),
            explanation="No log line explains it; this is the launch's own root cause.",
            next_check=f"read that rank's log ({log}) and the server's CANN logs",
            server=td.get("server"),
            rank=rank,
        )
        diag = diagnose(
            [cause], places=inp.places, offsets=inp.offsets, exits=inp.exits, inventory=inp.inventory, ping=inp.ping
        )
        diag.notes += inp.notes
    return diag, inp
