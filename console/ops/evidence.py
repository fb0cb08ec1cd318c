"""Evidence collection: each server's HCCL/CANN and MindIE log lines written since the run
started, fetched over the existing SSH connections, bounded per server, into the run record
(``runs/<id>/evidence/<server>/NNN-<file>``). Servers are asked in parallel; one that fails is
reported and the rest go on.

The run folder is opened once and must be the user's and writable by nobody else
(``safefiles.open_own_dir``); ``evidence/`` and each server's folder are reached through
descriptors under the same check, and every file is created ``O_EXCL | O_NOFOLLOW`` (an old
one of the same name removed first). The plan comes from the caller (a launch keeps it in
memory) or from ``plan.json`` read through that descriptor. Lines are masked before they are
written: the given secret values (a launch passes its live ones: ``plan.json`` holds ``***``),
``NAME=value`` of secret-looking names, private keys and common token shapes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.diagnosis.evidence import (
    evidence_script,
    local_name,
    parse_evidence,
    server_folder,
)
from console.core.errors import ConsoleError, InputError
from console.core.secrets import mask_text, mask_token_shapes
from console.ops import safefiles

PER_SERVER = 4 * 1024 * 1024
PLAN_LIMIT = 32 << 20
TIMEOUT_S = 60.0


@dataclass
class ServerEvidence:
    server: str
    host: str
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    error: str | None = None
    cut: bool = False


def servers_of(plan: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(server_id, SSH host, one rank's env) per server of a plan.json document."""
    out = []
    for s in plan.get("servers") or []:
        ranks = s.get("ranks") or [{}]
        out.append((str(s.get("server_id")), str(s.get("host") or s.get("server_id")), dict(ranks[0].get("env") or {})))
    return out


def _write(folder_fd: int, name: str, text: str) -> None:
    safefiles.replace_new(folder_fd, name, text.encode("utf-8", "surrogateescape"), 0o600)


def read_plan(run_fd: int, run_dir: Path) -> dict[str, Any]:
    """``plan.json`` of the run folder open at ``run_fd`` (bounded, no link followed)."""
    try:
        doc = json.loads(safefiles.read_in(run_fd, "plan.json", PLAN_LIMIT))
    except (OSError, ValueError) as exc:
        raise InputError("cannot read the plan", str(exc).splitlines()[0], path=str(run_dir / "plan.json")) from None
    return doc if isinstance(doc, dict) else {}


async def _one(
    pool: Any,
    run_fd: int,
    run_dir: Path,
    server: str,
    host: str,
    env: dict[str, str],
    since: int,
    cap: int,
    values: tuple[str, ...],
) -> ServerEvidence:
    got = ServerEvidence(server=server, host=host)
    marker = "CCEV" + secrets.token_hex(8)
    script = evidence_script(
        marker, since, cap, log_path=env.get("ASCEND_PROCESS_LOG_PATH"), mindie_path=env.get("MINDIE_LOG_PATH")
    )
    lines: list[str] = []
    try:
        async with contextlib.aclosing(pool.stream(host, script, timeout=TIMEOUT_S)) as stream:
            async for item in stream:
                text = getattr(item, "text", None)
                if text is None or getattr(item, "stream", "stdout") != "stdout":
                    continue
                got.bytes += len(text) + 1
                if got.bytes > cap + 4096:  # the server ignored head -c: stop reading
                    got.cut = True
                    break
                lines.append(text)
    except ConsoleError as exc:
        got.error = str(exc).splitlines()[0]
        return got
    files = parse_evidence(marker, lines)
    if not files:
        return got
    shown = run_dir / "evidence" / server_folder(server)
    try:
        ev_fd = safefiles.own_subdir(run_fd, "evidence", str(run_dir / "evidence"))
        try:
            folder_fd = safefiles.own_subdir(ev_fd, server_folder(server), str(shown))
        finally:
            os.close(ev_fd)
        try:
            for i, (path, body) in enumerate(files.items()):
                name = local_name(path, i)
                text = mask_token_shapes(mask_text("\n".join(body), values))
                _write(folder_fd, name, f"# {host}:{path}\n{text}\n")
                got.files.append(name)
        finally:
            os.close(folder_fd)
    except ConsoleError as exc:
        got.error = str(exc).splitlines()[0]
    except OSError as exc:
        got.error = f"{shown}: {exc.strerror or exc}"
    return got


async def collect(
    pool: Any,
    run_dir: str | Path,
    plan: dict[str, Any] | None = None,
    *,
    since: float,
    per_server: int = PER_SERVER,
    secrets: Iterable[str] = (),
) -> list[ServerEvidence]:
    """Fetch every server's evidence into ``run_dir/evidence``; ``since`` is the run's start
    (console clock, epoch seconds; files a little older are taken too). ``plan``: the launch's
    plan as a JSON document (default: ``plan.json`` of the run folder); ``secrets``: values to
    mask. A run folder that is not the user's or is writable by others is refused
    (``UnsafePath``)."""
    run_dir = Path(run_dir)
    run_fd = safefiles.open_own_dir(run_dir)
    try:
        if plan is None:
            plan = read_plan(run_fd, run_dir)
        values = tuple(secrets)
        jobs = [
            _one(pool, run_fd, run_dir, sid, host, env, int(since) - 120, per_server, values)
            for sid, host, env in servers_of(plan)
        ]
        return list(await asyncio.gather(*jobs))
    finally:
        os.close(run_fd)
