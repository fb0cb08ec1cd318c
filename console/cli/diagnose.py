"""`cluster-console diagnose PATH`: why a launch failed, with the evidence (offline).

    cluster-console diagnose runs/<id> [--json] [--discovery FILE] [--ping FILE]
    cluster-console diagnose ./logs-from-servers/      # one sub-folder per server, or plain files

PATH is a run record, a folder of log files copied from servers (rank logs, HCCL/CANN plogs,
MindIE logs), or one log file. Exit 0 no cause found; 1 causes found; 2 bad path or file.
"""

from __future__ import annotations

import argparse
import os

from console.cli._common import print_json, warn
from console.core.diagnosis.text import render

ORDER = 70


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "diagnose",
        parents=[common],
        help="find why a launch failed, from its logs (offline)",
        description="Classify the failures in a run record or a folder of logs copied from "
        "servers (HCCL/CANN plog, torch, MindIE), say which server and rank failed "
        "first and which ranks are its victims, and link them to ping results and "
        "discovery. Exit 0 no cause found, 1 causes found, 2 bad path.",
    )
    p.add_argument("path", metavar="PATH", help="run record (runs/<id>), log folder or log file")
    p.add_argument(
        "--discovery", metavar="FILE", help="discover --json output (default: PATH/discovery.json if present)"
    )
    p.add_argument("--ping", metavar="FILE", help="ping --json output (default: PATH/ping.json if present)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument(
        "--collect",
        action="store_true",
        help="first fetch each server's HCCL/CANN and MindIE log lines written since "
        "the run started into RUN/evidence (over SSH; a run record only)",
    )
    p.set_defaults(func=run)


async def _collect(args: argparse.Namespace) -> None:
    from pathlib import Path

    from console.core.errors import InputError
    from console.ops.diagnosis_files import read_events
    from console.ops.safefiles import open_own_dir
    from console.remote import Pool, SSHOptions

    run = Path(args.path)
    if not (run / "plan.json").is_file():
        raise InputError("--collect needs a run record (plan.json names the servers)", path=str(run))
    os.close(open_own_dir(run))  # refused before any connection; collect checks it again
    events = read_events(run / "events.jsonl") if (run / "events.jsonl").is_file() else []
    since = min((e["ts"] for e in events if isinstance(e.get("ts"), (int, float))), default=0.0)
    async with Pool(SSHOptions.from_args(args)) as pool:
        await fetch_evidence(pool, run, None, since)


async def fetch_evidence(pool, run_dir, plan: dict | None, since: float, secrets=()) -> None:
    """Evidence of every server into the run record (``plan`` None: its plan.json, read
    through the checked run folder); what failed is said on stderr."""
    from console.ops.evidence import collect

    for got in await collect(pool, run_dir, plan, since=since, secrets=secrets):
        if got.error:
            warn(f"cluster-console: no evidence from {got.server}: {got.error}")
        elif got.cut:
            warn(f"cluster-console: evidence of {got.server} cut at its limit")


async def run(args: argparse.Namespace) -> int:
    from console.ops.diagnosis_files import diagnose_path

    if args.collect:
        await _collect(args)
    diag, _ = diagnose_path(args.path, discovery=args.discovery, ping=args.ping)
    for note in diag.notes:
        warn(f"cluster-console: note: {note}")
    if args.json:
        print_json(diag.to_json())
    else:
        print("\n".join(render(diag)))
    return 1 if diag.causes else 0


async def after_failed_launch(
    summary,
    pool,
    *,
    as_json: bool,
    discovery: str | None,
    since: float,
    prog: str = "launch",
    plan: dict | None = None,
    secrets=(),
) -> None:
    """Fetch the evidence over the launch's connections (when there are some), then
    ``after_launch``. ``plan``: the launch's plan kept in memory (JSON document, live env);
    ``secrets``: its secret values, masked in the evidence."""
    await fetch_launch_evidence(summary, pool, since=since, prog=prog, plan=plan, secrets=secrets)
    after_launch(summary, as_json=as_json, discovery=discovery, prog=prog)


async def fetch_launch_evidence(
    summary, pool, *, since: float, prog: str = "launch", plan: dict | None = None, secrets=()
) -> None:
    """A failed job's evidence into its run record (not after a user's Stop, not without SSH)."""
    root = summary.root_cause
    failed = not summary.ok and summary.run_dir and not (root is not None and root.kind == "stopped")
    if failed and pool is not None:
        await _launch_evidence(pool, summary.run_dir, since, prog, plan=plan, secrets=secrets)


async def _launch_evidence(
    pool, run_dir: str, since: float, prog: str = "launch", *, plan: dict | None = None, secrets=()
) -> None:
    from console.core.errors import ConsoleError

    try:
        await fetch_evidence(pool, run_dir, plan, since, secrets)
    except (ConsoleError, OSError) as exc:
        warn(f"{prog}: no evidence: {exc}")


async def during_stall(
    run_dir: str | None,
    pool,
    *,
    as_json: bool,
    discovery: str | None,
    since: float,
    plan: dict | None = None,
    secrets=(),
) -> None:
    """A stall named a culprit server while the job goes on: its evidence and diagnosis now,
    without waiting for HCCL's own timeout (``--json``: a ``diagnosis`` event with
    ``"during": "stall"``)."""
    if not run_dir:
        return
    if pool is not None:
        await _launch_evidence(pool, run_dir, since, plan=plan, secrets=secrets)
    _print_diagnosis(run_dir, as_json=as_json, discovery=discovery, during="stall")


def after_launch(summary, *, as_json: bool, discovery: str | None = None, prog: str = "launch") -> None:
    """A failed launch's diagnosis: stderr lines (``launch: diagnosis: ...``), or with --json one
    ``{"event": "diagnosis", ...}`` object on stdout (before the ``finished`` event). Nothing when
    the job succeeded or the user stopped it; a diagnosis that fails is one warning."""
    root = summary.root_cause
    if summary.ok or not summary.run_dir or (root is not None and root.kind == "stopped"):
        return
    _print_diagnosis(summary.run_dir, as_json=as_json, discovery=discovery, prog=prog)


def _print_diagnosis(
    run_dir: str, *, as_json: bool, discovery: str | None, during: str | None = None, prog: str = "launch"
) -> None:
    import json
    import sys

    from console.core.errors import ConsoleError
    from console.ops.diagnosis_files import diagnose_path

    try:
        diag, _ = diagnose_path(run_dir, discovery=discovery)
    except (ConsoleError, OSError) as exc:
        warn(f"{prog}: no diagnosis: {exc}")
        return
    if as_json:
        extra = {"during": during} if during else {}
        sys.stdout.write(json.dumps({"event": "diagnosis", **extra, **diag.to_json()}, ensure_ascii=False) + "\n")
        return
    lines = render(diag)
    warn(f"{prog}: diagnosis{' (' + during + ')' if during else ''}: {lines[0]}")
    for line in lines[1:]:
        if line:
            warn(f"  {line}")
