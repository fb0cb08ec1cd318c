"""`cluster-console bundle runs/<id> [-o FILE.tar.gz]`: a support bundle without secrets.

Holds SUMMARY.txt on top, the diagnosis, the rank table, the plan and events (secrets masked),
the discovery and ping results when present, versions per server, rank log tails and the
evidence. Prints the bundle's path. Exit 0 written; 2 not a run record or cannot write.
"""

from __future__ import annotations

import argparse

ORDER = 75


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "bundle",
        parents=[common],
        help="pack a run record into a support bundle (no secrets)",
        description="Write RUN's diagnosis, rank table, plan, events, discovery and ping results, "
        "versions, rank log tails and evidence into one .tar.gz with SUMMARY.txt on "
        "top. Secret-looking env values and private keys are masked or left out.",
    )
    p.add_argument("run", metavar="RUN", help="run record folder (runs/<run-id>)")
    p.add_argument("-o", "--output", metavar="FILE", help="bundle file (default ./<run-id>.bundle.tar.gz)")
    p.add_argument("--discovery", metavar="FILE", help="discover --json output to include")
    p.add_argument("--ping", metavar="FILE", help="ping --json output to include")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.ops.bundle import write_bundle

    out = write_bundle(args.run, args.output, discovery=args.discovery, ping=args.ping)
    print(out)
    return 0
