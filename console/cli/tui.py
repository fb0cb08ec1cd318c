"""`cluster-console tui [HOSTS] [--ranktable FILE]`: the terminal console (also the default)."""

from __future__ import annotations

import argparse
from typing import Any

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
    add_launch_pane_options(p)
    p.set_defaults(func=run)


def add_launch_pane_options(p: argparse.ArgumentParser) -> None:
    """The launch options the Launch pane takes from the command line (``tui``, ``demo``, ``serve``)."""
    p.add_argument(
        "--force-remote-ranktable",
        action="store_true",
        help="Launch pane: overwrite an existing file at a profile's remote_ranktable even if it is "
        "not a rank table (as launch --force-remote-ranktable)",
    )


def launch_pane_options(args: argparse.Namespace) -> dict[str, Any]:
    """``build_launch_plan`` keywords for the Launch pane (``LaunchSource.plan_options``)."""
    return {"force_remote_ranktable": True} if getattr(args, "force_remote_ranktable", False) else {}


def launch_pane_argv(args: argparse.Namespace) -> list[str]:
    """The same options as command-line words (``serve`` passes them to each console it runs)."""
    return ["--force-remote-ranktable"] if getattr(args, "force_remote_ranktable", False) else []


def run(args: argparse.Namespace) -> int:
    from console.remote import SSHOptions
    from console.ui.app import ClusterConsoleApp
    from console.ui.sources import Sources

    hosts = hosts_from_args(args.hosts, args.max_hosts) if args.hosts else []
    options = SSHOptions.from_args(args)
    sources = Sources.default(options)
    sources.launch.plan_options.update(launch_pane_options(args))
    app = ClusterConsoleApp(hosts=hosts, ssh_options=options, sources=sources, ranktable_path=args.ranktable)
    return int(app.run() or 0)
