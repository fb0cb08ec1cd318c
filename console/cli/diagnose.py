"""`cluster-console diagnose PATH`: why a launch failed, with the evidence (offline).

    cluster-console diagnose runs/<id> [--json] [--discovery FILE] [--ping FILE]
    cluster-console diagnose ./logs-from-servers/      # one sub-folder per server, or plain files

PATH is a run record, a folder of log files copied from servers (rank logs, HCCL/CANN plogs,
MindIE logs), or one log file. Exit 0 no cause found; 1 causes found; 2 bad path or file.
"""

from __future__ import annotations

import argparse

from console.cli._common import print_json, warn
from console.core.diagnosis import Diagnosis

ORDER = 70
SHOWN_LINES = 2


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


def render(diag: Diagnosis, *, lines: int = SHOWN_LINES) -> list[str]:
    """The diagnosis as text lines: headline, causes with their evidence, links."""
    out = [diag.headline]
    if not diag.causes:
        return out
    out.append("")
    out.append("causes (first marked *):")
    for i, c in enumerate(diag.causes):
        mark = "*" if i == diag.first else " "
        code = f"{c.code} " if c.code else ""
        count = f" (x{c.count})" if c.count > 1 else ""
        victim = " [victim]" if c.rank in diag.victims and i != diag.first else ""
        out.append(f"{mark} [{c.where() or '?'}] {code}{c.cause}: {c.title}{count}{victim}")
        for ln in c.lines[:lines]:
            out.append(f"      {ln.source}:{ln.line_no}: {ln.text.strip()[:200]}")
        if i == diag.first:
            out.append(f"      next: {c.next_check}")
    if diag.links:
        out.append("")
        out.append("what the console knows:")
        for link in diag.links:
            out.append(f"  - {link.message}" + (f"   [{link.command}]" if link.command else ""))
    return out


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
