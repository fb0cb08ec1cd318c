"""``cluster-console launch``: start one process per rank on every server, supervised.

Every rank line is printed as ``[<rank>] <line>`` (stdout lines on stdout, stderr lines on
stderr, like ``srun -l``), or JSON lines with ``--json`` (see ``_launch_output``); progress,
warnings and the summary go to stderr. Exit 0 when every rank exited 0, else 1 with the root
cause (rank, server, exit code, last lines) on stderr; 130 after Ctrl-C / SIGTERM / SIGHUP,
once every rank is stopped, with each rank's exit code and last lines on stderr.

Signals (as torchrun): the first Ctrl-C sends SIGINT to every rank, TERM follows after the
grace period, then KILL; a second Ctrl-C sends TERM at once, a third KILL. SIGTERM and
SIGHUP start at TERM. Before the host agents run (upload, preflight) a signal just cancels.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from console.cli import _serving
from console.cli._common import add_log_cap, warn
from console.cli._launch_output import Printer, report, report_stopped
from console.cli._plan_options import plan_options
from console.cli.diagnose import after_failed_launch, during_stall
from console.core.diagnosis.stall import DEFAULT_STALL_S
from console.core.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    InputError,
    describe_validation_error,
)
from console.core.inventory import Inventory
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile, with_source
from console.core.secrets import secret_values
from console.ops.launch import launch
from console.ops.launch_events import JobFinished, Stage, StallDetected
from console.ops.launch_stall import StallOptions
from console.ops.launch_stop import StopRequests
from console.ops.profiles import (
    DEFAULT_PROFILE,
    bundled_profile_names,
    load_profile,
    user_profile_dir,
)
from console.ops.safefiles import UnsafePath, trusted_folder

ORDER = 50


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "launch",
        parents=[common],
        help="launch one process per rank on every server",
        description="Start COMMAND once per rank of the rank table, on every server at the same "
        "moment, with RANK, LOCAL_RANK, WORLD_SIZE, RANK_ID_START, DEVICE_ID, "
        "RANK_TABLE_FILE, MASTER_ADDR... set; tear everything down at the first "
        "failure. Placeholders {tp} {pp} {ep} {dp} {world_size} {rank} {local_rank} "
        "{device_id} {upload_dir} are replaced per rank; {node_rank} {nnodes} {local_world_size} "
        "{rank_id_start} {server_ip} {master_ip} {is_master} {host_ip} {host_nic} "
        "{container_ip} per server. Serving profiles (vllm-ascend, mindie-service) "
        "run one process per server and can send a first request (--smoke-prompt).",
    )
    p.add_argument("--ranktable", required=True, metavar="FILE", help="RankTableFile (JSON)")
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="launch profile name or .toml path "
        f"(default: {DEFAULT_PROFILE}; bundled: {', '.join(bundled_profile_names())}; "
        f"yours: {user_profile_dir()}/NAME.toml)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V|NAME",
        help="extra env for every rank (repeatable); a bare NAME takes its value from "
        "the console's own environment (use it for secrets: a K=V item is "
        "visible to every local user in the process list)",
    )
    p.add_argument(
        "--env-file",
        action="append",
        default=[],
        metavar="FILE",
        help="KEY=VALUE lines ('#' comments; values literal) for every rank "
        "(repeatable; --env wins); refused if group or others can read it",
    )
    p.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="LINE",
        help="shell line run before the command, e.g. 'source .../set_env.sh'",
    )
    p.add_argument("--cwd", metavar="DIR", help="working folder on the servers ($VARS allowed)")
    p.add_argument(
        "--ranks-per-server",
        type=int,
        metavar="N",
        help="launch only the first N devices (by rank) of each server in the table, "
        "ranks renumbered (the servers get that smaller table)",
    )
    p.add_argument(
        "--remote-ranktable",
        metavar="PATH",
        help="absolute path of the rank table on every server (default: "
        "ranktable.json in each server's private run folder); its folder must "
        "be yours or root's and not writable by others, an existing file there "
        "must be a rank table (else refused); a file the launch creates there "
        "is removed after the job unless --keep-remote",
    )
    p.add_argument(
        "--force-remote-ranktable",
        action="store_true",
        help="overwrite an existing file at --remote-ranktable (or the profile's "
        "remote_ranktable) even if it is not a rank table",
    )
    p.add_argument(
        "--keep-remote",
        action="store_true",
        help="keep the run folders on the servers after the job (default: removed)",
    )
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="SERVER_ID=SSH_TARGET",
        help="how to reach a server_id over SSH (default: the server_id)",
    )
    p.add_argument("--run-dir", metavar="DIR", default="runs", help="run records base (default runs/)")
    add_log_cap(p)
    p.add_argument("--inventory", metavar="FILE", help="inventory JSON (discover --json) to check cards")
    p.add_argument(
        "--master-port",
        type=int,
        metavar="PORT",
        help="MASTER_PORT of every rank (default: the profile's master_port, "
        f"else {_default('master_port')}; --env MASTER_PORT=N wins)",
    )
    for key in ("tp", "pp", "ep", "dp"):
        p.add_argument(f"--{key}", type=int, metavar="N", help=f"value of {{{key}}}")
    p.add_argument("--ready-pattern", metavar="REGEX", help="every rank must print a match ...")
    p.add_argument(
        "--ready-timeout",
        type=float,
        metavar="S",
        help="... within S seconds of GO (default: the profile's ready_timeout_s, "
        f"else {_default('ready_timeout_s'):g})",
    )
    p.add_argument(
        "--grace",
        type=float,
        metavar="S",
        help="seconds between TERM and KILL when the ranks are torn down "
        f"(default: the profile's grace_s, else {_default('grace_s'):g})",
    )
    p.add_argument("--barrier", choices=("hold", "spawn"), help="hold: setup before GO (default)")
    p.add_argument(
        "--no-realtime-release",
        dest="realtime_release",
        action="store_const",
        const=False,
        help="the servers' host agents wait for the release moment and release the ranks as normal "
        "processes (default: the profile's realtime_release, else at real-time priority where the "
        "server allows it, given back right after the release; ranks never inherit it)",
    )
    add_stall_options(p)
    p.add_argument(
        "--no-preflight",
        action="store_true",
        help="skip the server checks (busy NPUs, master port, python); the rank "
        "table and the plan are still validated first",
    )
    p.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="BUNDLE|FILE",
        help="put a bundle (probe) or a local file into {upload_dir} on every server "
        "before the launch (repeatable; profiles can name them in upload=)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='stdout: one JSON object per event (JSON lines), the last one {"event": "finished", "summary": {...}}',
    )
    p.add_argument(
        "--local", action="store_true", help="run every server's ranks on this machine (no SSH), to try a command"
    )
    _serving.add_arguments(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    p.set_defaults(func=run)


def add_stall_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stall-after",
        type=_positive,
        default=DEFAULT_STALL_S,
        metavar="S",
        help="a rank silent for S seconds after GO (or since its last line) is "
        f"stalled (default {DEFAULT_STALL_S:g}); when most ranks stall while one "
        "server's ranks failed or never printed, that server is diagnosed at once",
    )
    p.add_argument(
        "--fail-fast-stall",
        action="store_true",
        help="tear the job down at that point instead of waiting for HCCL_CONNECT_TIMEOUT",
    )


def stall_options(args: argparse.Namespace) -> StallOptions:
    return StallOptions(stall_s=args.stall_after, fail_fast=args.fail_fast_stall)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _default(field: str):
    """A profile field's default, for the help text (a profile file may set its own)."""
    return Profile.model_fields[field].default


def _profile(args: argparse.Namespace):
    profile = load_profile(args.profile)
    updates = {
        k: v
        for k, v in (
            ("ready_pattern", args.ready_pattern),
            ("ready_timeout_s", args.ready_timeout),
            ("grace_s", args.grace),
            ("barrier", args.barrier),
            ("realtime_release", getattr(args, "realtime_release", None)),
        )
        if v is not None
    }
    if updates:
        profile = with_source(profile.model_validate({**profile.model_dump(), **updates}), profile)
    return profile


def _plan(args: argparse.Namespace):
    from console.core.ranktable import dumps, subset_note, subset_table
    from console.ops.ranktable_files import read

    data, table = read(args.ranktable)
    if args.ranks_per_server is not None:
        used = subset_table(table, args.ranks_per_server)
        warn(f"launch: note: {subset_note(table, used, args.ranks_per_server)}")
        table, data = used, dumps(used).encode("utf-8")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    plan = build_launch_plan(table, _profile(args), args=command, cwd=args.cwd, **plan_options(args))
    return table, data, plan


def check_run_base(path: str) -> None:
    """A run base other users could change is refused (exit 2) before anything runs; nothing is
    created here (a job refused later leaves no folder behind), and one that cannot be created
    is left to the run record (one warning, the job goes on)."""
    try:
        trusted_folder(path, create=False)
    except UnsafePath:
        raise
    except InputError:
        pass


def _inventory(path: str | None) -> Inventory | None:
    if not path:
        return None
    try:
        return Inventory.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise InputError("not a valid inventory", describe_validation_error(exc), path=path) from None
    except (OSError, ValueError) as exc:
        raise InputError("cannot read the inventory", str(exc).splitlines()[0], path=path) from None


class Signals:
    """Ctrl-C / SIGTERM / SIGHUP: a stop request once the agents run (see the module doc),
    else (and after KILL was asked for) a cancellation of the launch."""

    NAMES = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, grace_s: float, prog: str = "launch") -> None:
        self.grace, self.prog = grace_s, prog
        task = asyncio.current_task()
        assert task is not None
        self.loop, self.task = asyncio.get_running_loop(), task
        self.stops = StopRequests()
        self.got: list[str] = []
        self.agents_up = False

    def __enter__(self) -> Signals:
        for sig in self.NAMES:
            self.loop.add_signal_handler(sig, self.on_signal, sig)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig in self.NAMES:
            self.loop.remove_signal_handler(sig)

    def on_signal(self, sig: signal.Signals) -> None:
        self.got.append(sig.name)
        step = self.stops.next_step(sig.name)
        if not self.agents_up or step is None:
            self.task.cancel()
            return
        warn(
            f"{self.prog}: {sig.name}: sending SIG{step} to every rank"
            + (f" (TERM after {self.grace:g} s, then KILL)" if step == "INT" else "")
            + ("; Ctrl-C again: TERM now" if step == "INT" else "")
        )
        self.stops.request(step, f"interrupted ({sig.name})")


async def _launch(args: argparse.Namespace, table, data: bytes, plan, signals: Signals) -> int:
    inventory = _inventory(args.inventory)
    printer = Printer(as_json=args.json)
    pool_cm: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext(None)
    if not args.local:
        from console.remote import Pool, SSHOptions

        pool_cm = Pool(SSHOptions.from_args(args))
    started = time.time()
    # the evidence step uses the plan kept here (live env), never plan.json read back from disk
    plan_doc = json.loads(plan.model_dump_json())
    secrets = secret_values(plan_doc)
    async with pool_cm as pool:
        events = launch(
            plan,
            table,
            data,
            pool=pool,
            run_base=args.run_dir,
            inventory=inventory,
            check=not args.no_preflight,
            log_cap=args.log_cap,
            stop=signals.stops,
            stall=stall_options(args),
        )
        stalled: asyncio.Task | None = None
        try:
            async with contextlib.aclosing(events):
                async for ev in events:
                    if isinstance(ev, JobFinished):
                        if stalled is not None:  # its diagnosis first, then the final one
                            await stalled
                        await after_failed_launch(
                            ev.summary,
                            pool,
                            as_json=args.json,
                            discovery=args.inventory,
                            since=started,
                            plan=plan_doc,
                            secrets=secrets,
                        )
                    printer.event(ev)
                    if isinstance(ev, Stage) and ev.name == "agents":
                        signals.agents_up = True
                    if isinstance(ev, StallDetected) and not ev.teardown:
                        # in the background: the events (and heartbeats) must keep flowing
                        stalled = asyncio.ensure_future(
                            during_stall(
                                str(Path(args.run_dir) / plan.run_id),
                                pool,
                                as_json=args.json,
                                discovery=args.inventory,
                                since=started,
                                plan=plan_doc,
                                secrets=secrets,
                            )
                        )
                    if isinstance(ev, JobFinished):
                        sys.stdout.flush()
                        if signals.got:
                            report_stopped(ev.summary, signals.got[0], printer)
                            return EXIT_INTERRUPTED
                        return report(ev.summary)
        finally:
            if stalled is not None and not stalled.done():
                stalled.cancel()
    return EXIT_CHECK_FAILED


async def run(args: argparse.Namespace) -> int:
    """Signals: see the module doc; 130 once every rank is stopped."""
    check_run_base(args.run_dir)
    profile = _profile(args)
    if _serving.wanted(args, profile):
        return await _serving.run(args, profile)
    table, data, plan = _plan(args)
    with Signals(plan.grace_s) as signals:
        try:
            return await _launch(args, table, data, plan, signals)
        except asyncio.CancelledError:
            if not signals.got:
                raise
            sys.stdout.flush()
            when = "after KILL was sent" if signals.agents_up else "before the ranks started"
            warn(
                f"launch: interrupted ({signals.got[-1]}) {when}: every rank was stopped; run "
                f"record {Path(args.run_dir) / plan.run_id}"
            )
            return EXIT_INTERRUPTED
