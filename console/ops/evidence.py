"""Evidence collection: each server's HCCL/CANN and MindIE log lines written since the run
started, fetched over the existing SSH connections, bounded per server, into the run record
(``runs/<id>/evidence/<server>/NNN-<file>``). Servers are asked in parallel; one that fails is
reported and the rest go on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.diagnosis.evidence import (
    evidence_script,
    local_name,
    parse_evidence,
    server_folder,
)
from console.core.errors import ConsoleError

PER_SERVER = 4 * 1024 * 1024
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
        out.append((str(s.get("server_id")), str(s.get("host") or s.get("server_id")),
                    dict(ranks[0].get("env") or {})))
    return out


def _write(folder: Path, name: str, text: str) -> None:
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0),
                 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


async def _one(pool: Any, run_dir: Path, server: str, host: str, env: dict[str, str],
               since: int, cap: int) -> ServerEvidence:
    got = ServerEvidence(server=server, host=host)
    marker = "CCEV" + secrets.token_hex(8)
    script = evidence_script(marker, since, cap, log_path=env.get("ASCEND_PROCESS_LOG_PATH"),
                             mindie_path=env.get("MINDIE_LOG_PATH"))
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
    folder = run_dir / "evidence" / server_folder(server)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for i, (path, body) in enumerate(files.items()):
        name = local_name(path, i)
        _write(folder, name, f"# {host}:{path}\n" + "\n".join(body) + "\n")
        got.files.append(name)
    return got


async def collect(pool: Any, run_dir: str | Path, plan: dict[str, Any], *, since: float,
                  per_server: int = PER_SERVER) -> list[ServerEvidence]:
    """Fetch every server's evidence into ``run_dir/evidence``; ``since`` is the run's start
    (console clock, epoch seconds; files a little older are taken too)."""
    run_dir = Path(run_dir)
    jobs = [_one(pool, run_dir, sid, host, env, int(since) - 120, per_server)
            for sid, host, env in servers_of(plan)]
    return list(await asyncio.gather(*jobs))
