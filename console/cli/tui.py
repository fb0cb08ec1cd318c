"""`cluster-console tui [HOSTS] [--ranktable FILE]`: the terminal console (also the default)."""

from __future__ import annotations

import argparse

from console.cli._common import hosts_from_args

ORDER = 90


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "tui",
        parents=[common],
        help="open the terminal console (the default)",
        description="Open the console: Nodes, Ping matrix, Rank table and Launch panes "
        "(keys 1-4; ? lists the keys, ctrl+p finds any action by name).",
    )
    p.add_argument(
        "hosts",
        nargs="*",
        metavar="HOSTS",
        help="servers: NodeSet expressions, user@host:port, or @hostfile (can be added later)",
    )
    p.add_argument("--ranktable", metavar="FILE", help="rank table file to open (created on first save)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.remote import SSHOptions
    from console.ui.app import ClusterConsoleApp

    hosts = hosts_from_args(args.hosts, args.max_hosts) if args.hosts else []
    app = ClusterConsoleApp(hosts=hosts, ssh_options=SSHOptions.from_args(args), ranktable_path=args.ranktable)
    return int(app.run() or 0)
