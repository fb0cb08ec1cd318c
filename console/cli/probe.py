"""``cluster-console probe --ranktable FILE``: the collective probe on every rank.

Uploads the probe (``console/probe``) with the bundled ``probe`` launch profile, starts one
probe per rank of the rank table at the same moment, and prints an nccl-tests-style table
(size, count, type, time, algbw, busbw, slowest rank), the exact-result checks per op, the
TP smoke model's verdict and the ranks that were slowest. ``--json``: the report instead.
Progress and problems go to stderr. Exit 0 every rank ok and every check passed; 1 a check
or a rank failed (root cause on stderr); 3 a server could not be reached; 130 interrupted
(Ctrl-C as for ``launch``: SIGINT to every rank, TERM after the grace, then KILL; each rank's
exit code and last lines on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

from console.cli._common import add_log_cap, print_json, stdout_console, warn
from console.cli._launch_output import Printer, event_json, progress, report, report_stopped
from console.cli.diagnose import after_launch, fetch_launch_evidence
from console.core.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_UNREACHABLE
from console.core.probe_report import COLUMNS, SLOW_LEGEND
from console.core.profiles import parse_host_items
from console.core.words import counted
from console.ops.launch_events import (
    JobFinished,
    LaunchWarning,
    RankLine,
    ServerLost,
    Stage,
    Teardown,
)

ORDER = 55


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "probe",
        parents=[common],
        help="collective probe on every rank: checks and bandwidth",
        description="Run the collective probe once per rank of the rank table (all_reduce, "
        "all_gather, reduce_scatter, all_to_all, broadcast: exact-result checks and "
        "an nccl-tests-style bandwidth table; optionally a tiny tensor-parallel "
        "model). Exit 0 all good, 1 a check or a rank failed, 3 unreachable.",
    )
    p.add_argument("--ranktable", required=True, metavar="FILE", help="RankTableFile (JSON)")
    p.add_argument(
        "--backend", choices=("hccl", "gloo"), help="hccl (NPUs, default) or gloo (CPU only: no torch_npu needed)"
    )
    p.add_argument("--sizes", default="1K,64K,1M", metavar="LIST", help="message sizes (default 1K,64K,1M)")
    p.add_argument(
        "--mode",
        choices=("collectives", "tp-smoke", "all"),
        default="collectives",
        help="collectives (default), tp-smoke (the TP smoke model), or both",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="seconds the ranks wait for each other (default 120)"
    )
    p.add_argument("--tokens", type=int, metavar="N", help="TP smoke: tokens to decode")
    p.add_argument("--iters", type=int, metavar="N", help="timed iterations per size (20)")
    p.add_argument("--warmup", type=int, metavar="N", help="untimed iterations per size (5)")
    p.add_argument(
        "--ranks-per-server",
        type=int,
        metavar="N",
        help="use only the first N devices of each server (small smoke runs)",
    )
    p.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="LINE",
        help="shell line run on every rank before the probe, e.g. 'export PATH=/opt/venv/bin:$PATH' (repeatable)",
    )
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="SERVER_ID=SSH_TARGET",
        help="how to reach a server_id over SSH (default: the server_id)",
    )
    p.add_argument("--master-port", type=int, metavar="PORT", help="MASTER_PORT (29500)")
    p.add_argument(
        "--remote-ranktable",
        metavar="PATH",
        help="absolute path of the rank table on every server; an existing file "
        "there must be a rank table (else refused); a file the probe creates "
        "there is removed afterwards unless --keep-remote",
    )
    p.add_argument(
        "--force-remote-ranktable",
        action="store_true",
        help="overwrite an existing file at --remote-ranktable even if it is not a rank table",
    )
    p.add_argument(
        "--keep-remote",
        action="store_true",
        help="keep the run folders on the servers after the probe (default: removed)",
    )
    p.add_argument(
        "--upload-base",
        metavar="DIR",
        help="folder on the servers (absolute or ~/...) under which each run gets "
        "its private folder for the probe files and the rank table "
        "(default ~/.cache/cluster-console/runs)",
    )
    p.add_argument("--run-dir", metavar="DIR", default="runs", help="run records base (runs/)")
    add_log_cap(p)
    p.add_argument("-v", "--verbose", action="store_true", help="echo the ranks' stderr")
    p.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    p.add_argument(
        "probe_args",
        nargs=argparse.REMAINDER,
        metavar="-- PROBE_ARG",
        help="more probe.py arguments, e.g. -- --dtype float16 --ops all_reduce",
    )
    p.set_defaults(func=run)


def _options(args: argparse.Namespace):
    from pydantic import ValidationError

    from console.core.errors import InputError, describe_validation_error
    from console.ops.probe import ProbeOptions

    try:
        return ProbeOptions(
            backend=args.backend,
            sizes=args.sizes,
            mode=args.mode,
            timeout_s=args.timeout,
            tokens=args.tokens,
            iters=args.iters,
            warmup=args.warmup,
            ranks_per_server=args.ranks_per_server,
            hosts=parse_host_items(args.host),
            master_port=args.master_port,
            remote_ranktable=args.remote_ranktable,
            force_remote_ranktable=args.force_remote_ranktable,
            keep_remote=args.keep_remote,
            upload_base=args.upload_base,
            setup=args.setup,
            extra_args=args.probe_args[1:] if args.probe_args[:1] == ["--"] else args.probe_args,
        )
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        name = str(loc[0]) if loc else ""
        flag = {"timeout_s": "--timeout", "hosts": "--host", "": "probe options"}.get(
            name, "--" + name.replace("_", "-")
        )
        raise InputError(f"bad {flag}", describe_validation_error(exc)) from None


def _progress(ev, verbose: bool) -> None:
    if isinstance(ev, (Stage, LaunchWarning, ServerLost, Teardown)):
        progress(ev)
    elif isinstance(ev, RankLine) and ev.stream == "e" and verbose:
        warn(f"[{ev.rank}] {ev.text}")


async def _run(args: argparse.Namespace, table, options, run_id: str, signals):
    from console.ops.probe import ProbeFinished, probe
    from console.remote import Pool, SSHOptions

    started = time.time()
    printer = Printer()  # the last lines and exits, for the report after a stop
    async with Pool(SSHOptions.from_args(args)) as pool:
        events = probe(
            table, options, pool=pool, run_base=args.run_dir, log_cap=args.log_cap, run_id=run_id, stop=signals.stops
        )
        async with contextlib.aclosing(events):
            async for ev in events:
                if isinstance(ev, ProbeFinished):
                    await fetch_launch_evidence(ev.summary, pool, since=started, prog="probe")
                    return ev, printer
                printer.record(ev)
                if isinstance(ev, Stage) and ev.name == "agents":
                    signals.agents_up = True
                _progress(ev, args.verbose)
    raise RuntimeError("the probe ended without a result")


async def run(args: argparse.Namespace) -> int:
    """Ctrl-C, SIGTERM, SIGHUP: as ``launch`` (SIGINT to every rank first, then TERM and KILL;
    a second Ctrl-C TERM at once; every rank's exit and last lines printed; 130). Before the
    host agents run, a signal cancels the probe."""
    from console.cli.launch import Signals, check_run_base
    from console.core.ranktable import subset_note, subset_table
    from console.ops.probe import plan_probe
    from console.ops.ranktable_files import load
    from console.ops.runrecord import new_run_id

    check_run_base(args.run_dir)
    table, options = load(args.ranktable), _options(args)
    if options.ranks_per_server is not None:
        used = subset_table(table, options.ranks_per_server)
        warn(f"probe: note: {subset_note(table, used, options.ranks_per_server)}")
    run_id = new_run_id()
    _, _, plan = plan_probe(table, options, run_id)  # the grace period, for the Ctrl-C message
    with Signals(plan.grace_s, prog="probe") as signals:
        try:
            finished, printer = await _run(args, table, options, run_id, signals)
        except asyncio.CancelledError:
            if not signals.got:
                raise
            sys.stdout.flush()
            when = "after KILL was sent" if signals.agents_up else "before the ranks started"
            record = Path(args.run_dir) / run_id
            warn(f"probe: interrupted ({signals.got[-1]}) {when}: every rank was stopped; run record {record}")
            return EXIT_INTERRUPTED
    if signals.got:
        sys.stdout.flush()
        report_stopped(finished.summary, signals.got[0], printer, prog="probe")
        return EXIT_INTERRUPTED
    return output(finished, as_json=args.json)


def exit_code(finished) -> int:
    if finished.summary.lost_servers:
        return EXIT_UNREACHABLE
    return 0 if finished.ok else EXIT_CHECK_FAILED


def output(finished, *, as_json: bool = False) -> int:
    """The report on stdout, the verdict and problems on stderr; the exit code."""
    code = exit_code(finished)
    if as_json:
        print_json(to_json(finished) | {"exit_code": code})
    else:
        print_report(finished)
    sys.stdout.flush()
    for line in finished.problems():
        warn(f"probe: {line}")
    if finished.summary.ok:
        warn(f"probe: run record {finished.summary.run_dir}")
    else:
        report(finished.summary)  # root cause and its last lines
        # then why, from the run record and the evidence (stderr, also with --json)
        after_launch(finished.summary, as_json=False, prog="probe")
    if code == 0:
        r = finished.report
        warn(
            f"probe: ok: {counted(len(r.checks), 'check')} passed on {counted(finished.plan.world_size, 'rank')}"
            + (f", {counted(len(r.results), 'measurement')}" if r.results else "")
        )
    return code


def to_json(finished) -> dict:
    r, plan = finished.report, finished.plan
    job = event_json(JobFinished(finished.summary))["summary"]  # + root_cause.description
    return {
        "ok": finished.ok,
        "backend": plan.backend,
        "world_size": plan.world_size,
        "servers": {s.server_id: [k.rank for k in s.ranks] for s in plan.servers},
        "columns": [key for key, _, _ in COLUMNS],
        "rows": r.rows(),
        "checks": r.check_rows(),
        "tp_smoke": r.tp_smoke,
        "slowest": finished.slowest(),
        "slow_ranks": r.slow_ranks(),
        "slow_rule": SLOW_LEGEND,
        "summary": r.summary(),
        "problems": finished.problems(),
        "ranks": {str(k): v for k, v in sorted(r.ranks.items())},
        "job": job,
    }


def _results_table(finished):
    from rich.table import Table

    plan = finished.plan
    title = f"{plan.backend}: {counted(plan.world_size, 'rank')} on {counted(len(plan.servers), 'server')}"
    t = Table(title=title, title_justify="left")
    for _, header, justify in COLUMNS:
        t.add_column(header, justify=justify)
    for row in finished.report.rows():
        t.add_row(*(row[key] for key, _, _ in COLUMNS), style="bold yellow" if row["slow"] else None)
    return t


def _checks_table(finished):
    from rich.table import Table

    t = Table(title="exact-result checks", title_justify="left")
    for header in ("op", "ranks ok", "failed ranks"):
        t.add_column(header)
    for row in finished.report.check_rows():
        style = "green" if row["ok"] else "bold red"
        t.add_row(row["op"], f"[{style}]{row['ranks_ok']}[/]", row["failed_ranks"])
    return t


def print_report(finished) -> None:
    con = stdout_console()
    r = finished.report
    if r.results:
        con.print(_results_table(finished))
    if r.checks:
        con.print(_checks_table(finished))
    if r.tp_smoke is not None:
        tp = r.tp_smoke
        style = "green" if tp.ok else "bold red"
        rate = "" if tp.tokens_per_s is None else f", {tp.tokens_per_s:.1f} tokens/s"
        err = "" if tp.max_abs_diff is None else f", max logit error {tp.max_abs_diff:.2e}"
        con.print(
            f"[{style}]tp smoke {'ok' if tp.ok else 'FAILED'}[/]: {counted(len(tp.tokens), 'token')}"
            f"{rate}{err} (tolerance {tp.tolerance}) vs the single-process reference"
        )
    _print_slow(con, finished)


def _print_slow(con, finished) -> None:
    """The ranks flagged slow (at most 3), or that none was; then the rule."""
    r = finished.report
    if not r.results:
        return
    slow = r.slow_ranks()
    for s in slow[:3]:
        con.print(
            f"[bold yellow]slow:[/] {finished.where(s['rank'])} in {s['rows']} of "
            f"{counted(len(r.results), 'row')}, worst x{s['worst_vs_median']:.2f} the median "
            f"(+{s['worst_extra_us']:.1f} us)"
        )
    if not slow:
        con.print("no slow rank")
    con.print(f"[dim]{SLOW_LEGEND} (its rows are yellow)[/]")
