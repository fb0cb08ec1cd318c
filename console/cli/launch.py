"""``cluster-console launch``: start one process per rank on every server, supervised.

Every rank line is printed as ``[<rank>] <line>`` (stdout lines on stdout, stderr lines on
stderr, like ``srun -l``); progress, warnings and the summary go to stderr. Exit 0 when every
rank exited 0, else 1 with the root cause (rank, server, exit code, last lines) on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from console.cli._common import warn
from console.core.errors import EXIT_CHECK_FAILED, InputError
from console.core.inventory import Inventory
from console.core.planning.launch import build_launch_plan
from console.core.profiles import parse_env_items, parse_host_items
from console.ops.launch import launch
from console.ops.launch_events import (
    JobFinished, JobSummary, LaunchWarning, RankExited, RankLine, ServerLost, Stage, Teardown,
)
from console.ops.profiles import load_profile

ORDER = 50


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "launch", parents=[common], help="launch one process per rank on every server",
        description="Start COMMAND once per rank of the rank table, on every server at the same "
                    "moment, with RANK, LOCAL_RANK, WORLD_SIZE, RANK_ID_START, DEVICE_ID, "
                    "RANK_TABLE_FILE, MASTER_ADDR... set; tear everything down at the first "
                    "failure. Placeholders {tp} {pp} {ep} {dp} {world_size} {rank} {local_rank} "
                    "{device_id} are replaced per rank.")
    p.add_argument("--ranktable", required=True, metavar="FILE", help="RankTableFile (JSON)")
    p.add_argument("--profile", metavar="NAME", help="launch profile name or .toml path "
                   "(default: custom; bundled: mindie-run-pa)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra env (repeatable)")
    p.add_argument("--setup", action="append", default=[], metavar="LINE",
                   help="shell line run before the command, e.g. 'source .../set_env.sh'")
    p.add_argument("--cwd", metavar="DIR", help="working folder on the servers ($VARS allowed)")
    p.add_argument("--remote-ranktable", metavar="PATH",
                   help="absolute path of the rank table on every server")
    p.add_argument("--host", action="append", default=[], metavar="SERVER_ID=SSH_TARGET",
                   help="how to reach a server_id over SSH (default: the server_id)")
    p.add_argument("--run-dir", metavar="DIR", default="runs", help="run records base (default runs/)")
    p.add_argument("--inventory", metavar="FILE", help="inventory JSON (discover --json) to check cards")
    p.add_argument("--master-port", type=int, metavar="PORT")
    for key in ("tp", "pp", "ep", "dp"):
        p.add_argument(f"--{key}", type=int, metavar="N", help=f"value of {{{key}}}")
    p.add_argument("--ready-pattern", metavar="REGEX", help="every rank must print a match ...")
    p.add_argument("--ready-timeout", type=float, metavar="S", help="... within S seconds of GO")
    p.add_argument("--grace", type=float, metavar="S", help="TERM -> KILL grace at teardown")
    p.add_argument("--barrier", choices=("hold", "spawn"), help="hold: setup before GO (default)")
    p.add_argument("--no-preflight", action="store_true", help="skip the preflight checks")
    p.add_argument("--local", action="store_true",
                   help="run every server's ranks on this machine (no SSH), to try a command")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    p.set_defaults(func=run)


def _profile(args: argparse.Namespace):
    profile = load_profile(args.profile)
    updates = {k: v for k, v in (("ready_pattern", args.ready_pattern),
                                  ("ready_timeout_s", args.ready_timeout),
                                  ("grace_s", args.grace), ("barrier", args.barrier))
               if v is not None}
    if updates:
        profile = profile.model_validate({**profile.model_dump(), **updates})
    return profile


def _plan(args: argparse.Namespace):
    from console.ops.ranktable_files import load

    table = load(args.ranktable)
    data = Path(args.ranktable).read_bytes()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    parallel = {k: getattr(args, k) for k in ("tp", "pp", "ep", "dp") if getattr(args, k)}
    plan = build_launch_plan(
        table, _profile(args), args=command, env=parse_env_items(args.env), setup=args.setup,
        cwd=args.cwd, remote_ranktable=args.remote_ranktable, hosts=parse_host_items(args.host),
        master_port=args.master_port, parallel=parallel)
    return table, data, plan


def _inventory(path: str | None) -> Inventory | None:
    if not path:
        return None
    try:
        return Inventory.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError("cannot read the inventory", str(exc).splitlines()[0], path=path) from None


class Printer:
    """``[rank] line``; pieces of over-long lines continue without a new prefix."""

    def __init__(self) -> None:
        self.open: set[int] = set()

    def line(self, ev: RankLine) -> None:
        out = sys.stderr if ev.stream == "e" else sys.stdout
        text = ev.text if ev.rank in self.open else f"[{ev.rank}] {ev.text}"
        if ev.partial:
            self.open.add(ev.rank)
        else:
            self.open.discard(ev.rank)
            text += "\n"
        try:
            out.write(text)
        except UnicodeEncodeError:
            out.write(text.encode("utf-8", "replace").decode("utf-8"))


def _report(summary: JobSummary) -> int:
    codes = summary.exit_codes
    failed = sorted(r for r, c in codes.items() if c != 0)
    skew = f"; start skew {summary.start_skew_s * 1000:.1f} ms" if summary.start_skew_s is not None else ""
    if summary.ok:
        warn(f"launch: all {summary.world_size} ranks exited 0 in {summary.duration_s:.1f} s{skew}; "
             f"run record {summary.run_dir}")
        return 0
    warn(f"launch: FAILED: {len(failed)} of {summary.world_size} ranks did not exit 0{skew}; "
         f"run record {summary.run_dir}")
    root = summary.root_cause
    if root is not None:
        warn(f"launch: root cause: {root.describe()}")
        if root.last_lines:
            warn(f"launch: last {len(root.last_lines)} lines of rank {root.rank}:")
            for line in root.last_lines:
                warn(f"  [{root.rank}] {line}")
    return EXIT_CHECK_FAILED


async def run(args: argparse.Namespace) -> int:
    table, data, plan = _plan(args)
    inventory = _inventory(args.inventory)
    printer = Printer()
    torn_down = False
    pool_cm = contextlib.nullcontext(None)
    if not args.local:
        from console.remote import Pool, SSHOptions
        pool_cm = Pool(SSHOptions.from_args(args))
    async with pool_cm as pool:
        events = launch(plan, table, data, pool=pool, run_base=args.run_dir, inventory=inventory,
                        check=not args.no_preflight)
        async with contextlib.aclosing(events):
            async for ev in events:
                if isinstance(ev, RankLine):
                    printer.line(ev)
                elif isinstance(ev, (Stage, LaunchWarning, ServerLost, Teardown)):
                    _progress(ev)
                    torn_down = torn_down or isinstance(ev, Teardown)
                elif isinstance(ev, RankExited) and not torn_down and ev.code not in (0, None):
                    warn(f"launch: rank {ev.rank} on {ev.server_id} exited {ev.code}")
                elif isinstance(ev, JobFinished):
                    sys.stdout.flush()
                    return _report(ev.summary)
    return EXIT_CHECK_FAILED


def _progress(ev) -> None:
    if isinstance(ev, Stage):
        warn(f"launch: {ev.message}")
    elif isinstance(ev, LaunchWarning):
        warn(f"launch: warning: {ev.host + ': ' if ev.host else ''}{ev.message}")
    elif isinstance(ev, ServerLost):
        warn(f"launch: server {ev.server_id} lost: {ev.reason}")
    elif isinstance(ev, Teardown):
        warn(f"launch: tearing down: {ev.root_cause.describe()}")
