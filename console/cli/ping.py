"""`cluster-console ping HOSTS`: the per-card RoCE ping matrix.

    cluster-console ping node[01-16] [--pattern cross|rail|pairwise|sample|custom] [--pairs FILE]
                         [--sample-k K] [--seed N] [--estimate]
                         [--json] [--csv FILE] [--per-card N] [--per-server N] [--rerun]

Discovers the servers first (device IPs), plans the probes, prints their count and the
estimated time, runs the sweep, and prints the server x server matrix (grouped into blocks of
servers above 24 servers) plus a card x card matrix for every server pair that lost packets.
The default pattern is cross up to 16 servers, rail above. Progress goes to stderr. Exit 0
every probe ok; 1 loss or failed probes; 3 a server could not be reached; 130 interrupted
(Ctrl-C: running probes are killed, finished ones printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import cast

from console.cli._common import (
    add_hosts_argument,
    hosts_from_args,
    print_json,
    stdout_console,
    warn,
)
from console.cli.discover import gather
from console.core.errors import EXIT_INTERRUPTED, EXIT_UNREACHABLE, InputError
from console.core.pingresults import PingMatrix, result_row
from console.core.pingview import (
    MatrixView,
    block_view,
    card_view,
    corner_lines,
    group_servers,
    group_view,
    server_view,
)
from console.core.planning.estimate import estimate
from console.core.planning.ping import (
    CROSS_MAX_SERVERS,
    PATTERNS,
    PingPattern,
    PingPlan,
    default_pattern,
    parse_custom_pairs,
    plan_ping,
)
from console.core.words import counted
from console.ops import safefiles

ORDER = 20
MAX_MATRIX_HOSTS = 24  # above this the server matrix is too wide for a terminal
MAX_SKIP_LINES = 20
MAX_DRILL_DOWN = 4  # block pairs drawn server by server; x5 server pairs drawn card by card
_STYLE = {"ok": "green", "loss": "bold red", "self": "dim", "untested": "dim", "skipped": "dim"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ping",
        parents=[common],
        help="RoCE ping matrix between the NPU cards of the servers",
        description="Discover the servers, then run `hccn_tool -i N -ping -g address IP` between "
        "their cards and show the loss matrix. Exit 0 all ok, 1 loss or failed "
        "probes, 3 a server unreachable.",
    )
    add_hosts_argument(p)
    p.add_argument(
        "--pattern",
        choices=PATTERNS,
        default=None,
        help="cross: every card to every card of every other server (default up to "
        f"{CROSS_MAX_SERVERS} servers); rail: card i to card i (default above); "
        "pairwise: each pair once, in rounds; sample: each card pings K random "
        "cards of other servers; custom: the pairs of --pairs",
    )
    p.add_argument(
        "--sample-k",
        type=int,
        default=None,
        metavar="K",
        help="sample: probes per card, one per round (default: the fewest rounds that cover every server pair)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="sample: random seed (default 0; the same seed gives the same plan)",
    )
    p.add_argument(
        "--estimate", action="store_true", help="plan only: print the probe count and the estimated time, run nothing"
    )
    p.add_argument("--pairs", metavar="FILE", help="pair file (`HOST:DEV HOST:DEV` per line); implies --pattern custom")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--csv", metavar="FILE", help="also write one CSV row per probe to FILE")
    p.add_argument("--per-card", type=int, default=1, metavar="N", help="probes one card sends at once (default 1)")
    p.add_argument("--per-server", type=int, default=8, metavar="N", help="probes one server runs at once (default 8)")
    p.add_argument(
        "--probe-timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds before one probe is killed on its server (default 15)",
    )
    p.add_argument(
        "--busy-retries", type=int, default=5, metavar="N", help="retries when hccn_tool answers busy (default 5)"
    )
    p.add_argument("--rerun", action="store_true", help="re-run the failed or lossy probes once and report the re-run")
    p.add_argument(
        "--tool-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="timeout of each hccn_tool call during discovery (default 5)",
    )
    p.set_defaults(func=run)


def _options(args: argparse.Namespace):
    from console.ops.ping import SweepOptions

    try:
        return SweepOptions(
            per_card=args.per_card,
            per_server=args.per_server,
            probe_timeout=args.probe_timeout,
            busy_retries=args.busy_retries,
        )
    except ValueError as exc:
        first = str(exc).splitlines()
        raise InputError("invalid sweep option", " ".join(first[1:3]).strip()) from None


def _pattern(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The pattern asked for (None: by cluster size, after discovery) and the pair file text."""
    pattern = args.pattern or ("custom" if args.pairs else None)
    if args.sample_k is not None and pattern != "sample":
        raise InputError("--sample-k goes with --pattern sample")
    if args.sample_k is not None and args.sample_k < 1:
        raise InputError(f"--sample-k must be at least 1, not {args.sample_k}")
    if args.pairs and pattern != "custom":
        raise InputError(f"--pairs goes with --pattern custom, not {pattern}")
    if pattern == "custom" and not args.pairs:
        raise InputError(
            "--pattern custom needs --pairs FILE", hint="one pair a line: `HOST:DEV HOST:DEV` or `HOST DEV HOST DEV`"
        )
    if not args.pairs:
        return pattern, None
    try:
        text = Path(args.pairs).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError("cannot read pair file", reason, path=args.pairs) from None
    parse_custom_pairs(text, args.pairs)  # a typo fails here, before any SSH
    return pattern, text


class _Progress:
    """One status line on stderr (rewritten in place on a terminal, else only at the end)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.bad = 0
        self.line = ""

    def done(self, event) -> None:
        self.bad += event.result.status not in ("ok", "skipped")
        eta = "" if event.eta_s is None else f"  eta {event.eta_s:.0f}s"
        self.line = f"ping: {event.done}/{event.total} probes, {self.bad} not ok{eta}"
        if self.tty:
            sys.stderr.write("\r" + self.line.ljust(60))
            sys.stderr.flush()

    def end(self) -> None:
        if self.tty and self.line:
            sys.stderr.write("\n")


async def _sweep(pool, plan: PingPlan, options, rerun: bool) -> tuple[PingMatrix, bool, list[str]]:
    """Run (and maybe re-run) the sweep; Ctrl-C once ends it gracefully, twice at once."""
    from console.ops.ping import (
        CancelToken,
        ProbeDone,
        ServerLost,
        SweepDone,
        sweep,
        sweep_retry,
    )

    token, lost = CancelToken(), []
    loop, task = asyncio.get_running_loop(), asyncio.current_task()

    def interrupt() -> None:
        if token.cancelled and task is not None:
            task.cancel()
        token.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    progress = _Progress()
    matrix = PingMatrix.from_plan(plan, [])
    try:
        for n in range(2 if rerun else 1):
            events = (
                sweep(pool, plan, options, cancel=token) if n == 0 else sweep_retry(pool, matrix, options, cancel=token)
            )
            async for ev in events:
                if isinstance(ev, ProbeDone):
                    progress.done(ev)
                elif isinstance(ev, ServerLost):
                    lost.append(ev.host)
                    warn(f"\nping: {ev.host}: server lost: {ev.error}")
                elif isinstance(ev, SweepDone):
                    matrix = ev.matrix
            if token.cancelled or not any(r.status != "ok" for r in matrix.results):
                break
    finally:
        progress.end()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
    return matrix, token.cancelled, lost


async def run(args: argparse.Namespace) -> int:
    from console.remote import Pool, SSHOptions

    hosts = hosts_from_args(args.hosts, args.max_hosts)
    pattern, custom = _pattern(args)
    options = _options(args)
    async with Pool(SSHOptions.from_args(args)) as pool:
        warn(f"discovering {counted(len(hosts), 'server')} ...")
        inv = await gather(args, hosts, pool=pool, progress="unreachable")
        if pattern is None:
            pattern = default_pattern(len(inv.servers))
            if pattern != "cross":
                warn(
                    f"ping: {counted(len(inv.servers), 'server')}: pattern {pattern} (above {CROSS_MAX_SERVERS} "
                    "servers; every card pair: --pattern cross)"
                )
        plan = plan_ping(
            inv,
            cast(PingPattern, pattern),
            custom_text=custom,
            custom_path=args.pairs,
            sample_k=args.sample_k,
            seed=args.seed,
        )
        _announce(plan, inv, options, pool.options.max_channels)
        if args.estimate:
            return 0
        matrix, cancelled, lost = await _sweep(pool, plan, options, args.rerun)
    unreachable = [s.host for s in inv.servers if not s.reachable] + lost
    if args.csv:
        _write_csv(args.csv, matrix)
    if args.json:
        print_json(matrix.to_json() | {"unreachable": unreachable, "cancelled": cancelled})
    else:
        print_matrix(matrix, switch_of=inv.switch_of())
    s = matrix.summary()
    warn(
        f"ping: {counted(s['probes'], 'probe')}: {s['ok']} ok, {s['lossy']} lossy, {s['failed']} failed, "
        f"{s['skipped']} skipped" + (" (interrupted)" if cancelled else "")
    )
    if cancelled:
        return EXIT_INTERRUPTED
    return EXIT_UNREACHABLE if unreachable else matrix.exit_code()


def _announce(plan: PingPlan, inv, options, max_channels: int) -> None:
    """Before the sweep: what is left out, the probe count and the estimated time."""
    for skip in plan.skipped[:MAX_SKIP_LINES]:
        warn(f"ping: not probed: {_where(skip)}: {skip.reason}")
    if len(plan.skipped) > MAX_SKIP_LINES:
        warn(f"ping: ... and {len(plan.skipped) - MAX_SKIP_LINES} more not probed (listed in --json)")
    guess = estimate(plan.probes, per_card=options.per_card, lanes=min(options.per_server, max_channels))
    warn(
        f"ping: {plan.pattern} over {sum(s.reachable for s in inv.servers)}/{len(inv.servers)} servers: {guess.text()}"
    )
    if plan.sample is not None and not plan.sample.covers_all:
        warn(
            f"ping: sample: --sample-k {plan.sample.k} leaves some server pairs unprobed; "
            f"{plan.sample.rounds_to_cover} covers every pair"
        )


def _where(skip) -> str:
    text = skip.host if skip.device is None else f"{skip.host}:{skip.device}"
    if skip.dst_host is not None:
        text += f" -> {skip.dst_host}" + ("" if skip.dst_device is None else f":{skip.dst_device}")
    return text


def _write_csv(path: str, matrix: PingMatrix) -> None:
    safefiles.write_atomic(path, matrix.to_csv().encode("utf-8"), what="CSV file")


def _table(view: MatrixView):
    """The view as a rich table, its title on a line of its own (never wrapped to the table)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    t = Table()
    t.add_column(escape("\n".join(corner_lines(view))), style="bold")
    for label in view.col_labels:
        t.add_column(escape(label), justify="right", vertical="bottom")
    for label, row in zip(view.row_labels, view.cells, strict=True):
        cells = [f"[{_STYLE.get(c.status, 'bold red')}]{escape(c.text)}[/]" for c in row]
        t.add_row(escape(label), *cells)
    return Group(Text(view.title, style="italic"), t)


def print_matrix(matrix: PingMatrix, *, switch_of: dict[str, str] | None = None) -> None:
    """Server x server (above 24 servers: groups of servers, by switch when ``switch_of``
    names one for every server (``-lldp -g`` in discovery), else blocks; then the server pairs
    of every group pair with a problem), then card x card for each server pair with a bad
    probe (the first 20), then the bad probes one per line (their exact command)."""
    from rich.markup import escape

    con = stdout_console()
    hosts = matrix.all_hosts()
    table = matrix.results
    bad_rows = [i for i in range(len(table)) if table.status_of(i) not in ("ok", "skipped")]
    order = {h: n for n, h in enumerate(hosts)}
    bad_pairs = sorted(
        {tuple(sorted(table.probes.key(i)[::2], key=order.__getitem__)) for i in bad_rows},
        key=lambda ab: (order[ab[0]], order[ab[1]]),
    )
    if len(hosts) <= MAX_MATRIX_HOSTS:
        con.print(_table(server_view(matrix)))
    else:
        groups = group_servers(hosts, switch_of=switch_of)
        view = group_view(matrix, groups)
        con.print(_table(view))
        bad_blocks = [(a, b) for a in range(len(groups)) for b in range(a, len(groups)) if view.cells[a][b].bad]
        for a, b in bad_blocks[:MAX_DRILL_DOWN]:
            con.print(_table(block_view(matrix, groups[a], groups[b])))
        if len(bad_blocks) > MAX_DRILL_DOWN:
            con.print(f"... and {len(bad_blocks) - MAX_DRILL_DOWN} more block pairs with problems")
    for src, dst in bad_pairs[: MAX_DRILL_DOWN * 5]:
        con.print(_table(card_view(matrix, src, dst)))
    if len(bad_pairs) > MAX_DRILL_DOWN * 5:
        con.print(f"... and {counted(len(bad_pairs) - MAX_DRILL_DOWN * 5, 'more server pair')} with problems")
    if not bad_rows:
        con.print(f"[green]all {counted(len(table), 'probe')} ok[/]")
    for i in bad_rows:
        r = table[i]
        row = result_row(r)
        loss = "" if r.loss_pct is None else f" {r.loss_pct:.2f}%"
        where = (
            f"{row['src_host']}:{row['src_device']} -> {row['dst_host']}:{row['dst_device']} "
            f"({row['dst_ip']}): {r.command}"
        )
        con.print(f"[{_STYLE.get(r.status, 'bold red')}]{r.status}{loss}[/] {escape(where)}")
