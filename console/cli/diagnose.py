"""`cluster-console diagnose PATH`: why a launch failed, with the evidence (offline).

    cluster-console diagnose runs/<id> [--json] [--discovery FILE] [--ping FILE]
    cluster-console diagnose ./logs-from-servers/      # one sub-folder per server, or plain files

PATH is a run record, a folder of log files copied from servers (rank logs, HCCL/CANN plogs,
MindIE logs), or one log file. Exit 0 no cause found; 1 causes found; 2 bad path or file.
"""

from __future__ import annotations

import argparse

from console.cli._common import print_json, warn
from console.core.diagnosis.text import render

ORDER = 70


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "diagnose", parents=[common], help="find why a launch failed, from its logs (offline)",
        description="Classify the failures in a run record or a folder of logs copied from "
                    "servers (HCCL/CANN plog, torch, MindIE), say which server and rank failed "
                    "first and which ranks are its victims, and link them to ping results and "
                    "discovery. Exit 0 no cause found, 1 causes found, 2 bad path.")
    p.add_argument("path", metavar="PATH", help="run record (runs/<id>), log folder or log file")
    p.add_argument("--discovery", metavar="FILE",
                   help="discover --json output (default: PATH/discovery.json if present)")
    p.add_argument("--ping", metavar="FILE",
                   help="ping --json output (default: PATH/ping.json if present)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.ops.diagnosis_files import diagnose_path

    diag, _ = diagnose_path(args.path, discovery=args.discovery, ping=args.ping)
    for note in diag.notes:
        warn(f"cluster-console: note: {note}")
    if args.json:
        print_json(diag.to_json())
    else:
        print("\n".join(render(diag)))
    return 1 if diag.causes else 0


def after_launch(summary, *, as_json: bool, discovery: str | None = None) -> None:
    """A failed launch's diagnosis: stderr lines (``launch: diagnosis: ...``), or with --json one
    ``{"event": "diagnosis", ...}`` object on stdout (before the ``finished`` event). Nothing when
    the job succeeded or the user stopped it; a diagnosis that fails is one warning."""
    import json
    import sys

    from console.core.errors import ConsoleError
    from console.ops.diagnosis_files import diagnose_path

    root = summary.root_cause
    if summary.ok or not summary.run_dir or (root is not None and root.kind == "stopped"):
        return
    try:
        diag, _ = diagnose_path(summary.run_dir, discovery=discovery)
    except (ConsoleError, OSError) as exc:
        warn(f"launch: no diagnosis: {exc}")
        return
    if as_json:
        sys.stdout.write(json.dumps({"event": "diagnosis", **diag.to_json()}, ensure_ascii=False) + "\n")
        return
    lines = render(diag)
    warn(f"launch: diagnosis: {lines[0]}")
    for line in lines[1:]:
        if line:
            warn(f"  {line}")
