"""`cluster-console layout`: which ranks form each TP / DP / PP / EP group.

cluster-console layout --ranktable rt.json --tp 8 --pp 2 [--ep N] [--dp N] [--json]
cluster-console layout --world-size 32 --per-server 16 --tp 8 --pp 2 [--groups]
"""

from __future__ import annotations

import argparse
import sys

from console.cli._common import print_json, warn
from console.core.errors import InputError
from console.core.planning import layout as plan
from console.core.planning.layout import KINDS, Layout, describe_ranks, plan_layout, rank_servers_of

ORDER = 60  # position among the subcommands
SHOWN_GROUPS = 4


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "layout",
        parents=[common],
        help="show the TP/DP/PP/EP rank groups of a parallel layout",
        description="Rank groups for tensor (tp), data (dp), pipeline (pp) and expert (ep) "
        "parallelism, Megatron order (tp fastest, then dp, then pp; EP groups cut "
        "from each pipeline stage's dp*tp ranks). Warns when a TP group spans "
        "servers.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ranktable", metavar="FILE", help="rank table: world size and servers")
    src.add_argument("--world-size", type=int, metavar="N", help="number of ranks")
    p.add_argument(
        "--per-server", type=int, metavar="M", help="ranks per server (with --world-size), enables the server checks"
    )
    for kind, default, text in (("tp", 1, "tensor"), ("pp", 1, "pipeline"), ("ep", 1, "expert"), ("dp", None, "data")):
        extra = "; default world/(tp*pp)" if default is None else f"; default {default}"
        p.add_argument(f"--{kind}", type=int, default=default, metavar="N", help=f"{text}-parallel size{extra}")
    p.add_argument("--groups", action="store_true", help="list every group with its servers")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=run)


def build(args: argparse.Namespace) -> Layout:
    if args.ranktable:
        if args.per_server is not None:
            raise InputError(
                "--per-server goes with --world-size; the rank table already says which server holds each rank"
            )
        servers = _table_servers(args.ranktable)
        return plan_layout(len(servers), tp=args.tp, pp=args.pp, ep=args.ep, dp=args.dp, rank_servers=servers)
    return plan_layout(
        args.world_size, tp=args.tp, pp=args.pp, ep=args.ep, dp=args.dp, ranks_per_server=args.per_server
    )


def _table_servers(path: str) -> list[str]:
    try:
        from console.ops import ranktable_files
    except ImportError as exc:  # pragma: no cover - only while the loader is being written
        raise InputError(
            "--ranktable is not available in this build", hint="use --world-size N --per-server M"
        ) from exc
    table = ranktable_files.load(path)
    try:
        return rank_servers_of(table)
    except InputError as exc:
        exc.path = path
        raise


def run(args: argparse.Namespace) -> int:
    layout = build(args)
    for f in layout.findings:
        warn(f"cluster-console: {f.severity}: {f.message}")
    if args.json:
        doc = layout.model_dump(mode="json")
        doc["placeholders"] = layout.placeholders()
        print_json(doc)
        return 0
    _print(layout, every_group=args.groups)
    return 0


def summary_rows(layout: Layout) -> list[dict[str, str]]:
    """One row per kind: size, number of groups, the first groups."""
    rows = []
    for kind in KINDS:
        groups = layout.groups[kind]
        shown = " | ".join(describe_ranks(g) for g in groups[:SHOWN_GROUPS])
        if len(groups[0]) == 1:
            shown = "each rank alone"
        elif len(groups) > SHOWN_GROUPS:
            shown += f" | ... (+{len(groups) - SHOWN_GROUPS})"
        split = sum(1 for g in groups if len(layout.servers_of(g)) > 1)
        rows.append(
            {
                "kind": kind,
                "size": str(len(groups[0])),
                "groups": str(len(groups)),
                "ranks": shown,
                "multi_server": "" if layout.rank_servers is None else str(split),
            }
        )
    return rows


def group_rows(layout: Layout) -> list[dict[str, str]]:
    """Every group of every kind with the servers it lands on (kinds of size 1 left out)."""
    return [
        {"kind": kind, "group": str(i), "ranks": describe_ranks(g), "servers": ", ".join(layout.servers_of(g))}
        for kind in KINDS
        if len(layout.groups[kind][0]) > 1
        for i, g in enumerate(layout.groups[kind])
    ]


def _print(layout: Layout, *, every_group: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    # piped output is data: no wrapping at 80 columns, no trailing padding
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 240)
    print(
        f"world {layout.world_size} = tp {layout.tp} x dp {layout.dp} x pp "
        f"{layout.pp}; ep {layout.ep} (order {plan.ORDER}: tp fastest)"
    )
    rows = group_rows(layout) if every_group else summary_rows(layout)
    if not rows:
        print("every group has size 1: each rank runs alone")
        return
    headers = {
        "kind": "kind",
        "size": "size",
        "groups": "groups",
        "ranks": "ranks",
        "multi_server": "across servers",
        "group": "#",
        "servers": "servers",
    }
    table = Table(box=None, pad_edge=False)
    keys = list(rows[0])
    if layout.rank_servers is None:
        keys = [k for k in keys if k not in ("multi_server", "servers")]
    for key in keys:
        table.add_column(
            headers[key], justify="right" if key in ("size", "groups", "group") else "left", overflow="fold"
        )
    for row in rows:
        table.add_row(*(row[k] for k in keys))
    with console.capture() as cap:
        console.print(table)
    print("\n".join(line.rstrip() for line in cap.get().splitlines()))
