"""``cluster-console launch`` with a serving profile (``mindie-service``, ``vllm-ascend``) or
``--per server``: facts read from the servers before the plan (host NIC, MindIE's
config.json and weights), the launch, then the first request once the service is ready.

stdout: the service's lines as for any launch (``[server index] line``), then the answer
(text), or one ``{"event": "answer", ...}`` JSON line with ``--json``. Exit codes: with
``--smoke-only`` 0 when the service answered (it is then stopped), 1 when the request failed
(HTTP status and body on stderr) or the service never got ready (root cause named); without
it the service keeps running until Ctrl-C or SIGTERM stop it: then 0 when it had answered (the
operator's way to end a service), 1 if the request failed, 130 when stopped before an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from console.cli._common import warn
from console.cli._launch_output import Printer, report
from console.cli._plan_options import plan_options
from console.cli._serving_stop import PlannedStop, print_commands
from console.core.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, InputError
from console.core.planning.launch import build_launch_plan
from console.core.planning.perserver import HostFacts
from console.core.profiles import Profile, parse_host_items
from console.core.serving import mindie
from console.core.serving.openai import DEFAULT_PROMPT
from console.core.serving.plan import ServingSetup, check_mindie_table
from console.ops.launch import launch
from console.ops.launch_events import JobFinished
from console.ops.serving import (
    ServiceAnswer,
    ServiceReady,
    prepare,
    serve,
)
from console.ops.serving_facts import host_facts
from console.ops.smoke import SmokeResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("serving (per-server launches, mindie-service, vllm-ascend)")
    g.add_argument(
        "--per", choices=("rank", "server"), help="one process per rank or per server (default: the profile's)"
    )
    g.add_argument(
        "--http-port",
        type=int,
        metavar="PORT",
        help="the service's HTTP port ({http_port}; vllm-ascend default 8000; "
        "mindie-service: sets ServerConfig.port, default the config's)",
    )
    g.add_argument(
        "--rpc-port", type=int, metavar="PORT", help="vLLM's --data-parallel-rpc-port ({rpc_port}, default 13389)"
    )
    g.add_argument(
        "--mindie-home",
        metavar="DIR",
        default=mindie.DEFAULT_HOME,
        help=f"MindIE Service folder on the servers (default {mindie.DEFAULT_HOME})",
    )
    g.add_argument(
        "--mindie-config",
        metavar="FILE",
        help="config.json to derive every server's from (default: each server's own "
        "<mindie-home>/conf/config.json, read over SSH)",
    )
    g.add_argument(
        "--mindie-tls",
        choices=("on", "off"),
        help="set BackendConfig.interNodeTLSEnabled and ServerConfig.interCommTLSEnabled (default: as in the config)",
    )
    g.add_argument(
        "--smoke-prompt",
        metavar="TEXT",
        nargs="?",
        const=DEFAULT_PROMPT,
        help=f"once ready, send one completion request (default prompt {DEFAULT_PROMPT!r})",
    )
    g.add_argument(
        "--smoke-only", action="store_true", help="stop the service after the first request (implies --smoke-prompt)"
    )
    g.add_argument(
        "--smoke-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds the first request may take (default 120)",
    )


def wanted(args: argparse.Namespace, profile: Profile) -> bool:
    return bool(profile.serving) or args.per == "server" or args.smoke_prompt is not None or args.smoke_only


def _targets(args: argparse.Namespace, table: Any) -> dict[str, str]:
    hosts = parse_host_items(args.host)
    return {s.server_id: hosts.get(s.server_id, s.server_id) for s in table.server_list}


def _override(args: argparse.Namespace) -> tuple[str, str] | None:
    if not args.mindie_config:
        return None
    path = Path(args.mindie_config)
    try:
        if path.stat().st_size > 4 << 20:
            raise InputError("config.json too large", "over 4 MiB", path=str(path))
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise InputError("cannot read the MindIE config", exc.strerror or str(exc), path=str(path)) from None


async def _setup(
    args: argparse.Namespace, profile: Profile, table: Any, command: list[str], pool: Any
) -> tuple[ServingSetup | None, dict[str, HostFacts], dict[str, dict[str, bytes]], list[str]]:
    """(serving setup, host facts, files for the run folder, warnings): ``prepare`` (the
    Launch pane's too), then the host facts the profile's texts need."""
    targets = _targets(args, table)
    if profile.serving == "mindie-service" and pool is None:
        check_mindie_table(table)  # the table's problems first, then "needs the servers"
        raise InputError("profile mindie-service needs the servers (not --local)")
    tls = None if args.mindie_tls is None else args.mindie_tls == "on"
    setup, files, warnings = await prepare(
        pool,
        table,
        profile,
        command,
        targets=targets,
        home=args.mindie_home,
        override=_override(args) if profile.serving == "mindie-service" else None,
        tls=tls,
        port=args.http_port,
        tp=args.tp,
        rpc_port=args.rpc_port,
        preflight=not args.no_preflight,
    )
    texts = [profile.command, *profile.env.values(), *args.env, *command]
    needs = any("{host_ip}" in t or "{host_nic}" in t for t in texts)
    facts = await host_facts(pool, targets) if pool is not None and needs else {}
    return setup, facts, files, warnings


def _plan(
    args: argparse.Namespace,
    profile: Profile,
    table: Any,
    command: list[str],
    setup: ServingSetup | None,
    facts: dict[str, HostFacts],
):
    options = plan_options(args)
    if setup is not None:
        options["parallel"] = {**options["parallel"], **setup.parallel}
    cwd = args.cwd
    if profile.serving == "mindie-service" and cwd is None and args.mindie_home != mindie.DEFAULT_HOME:
        cwd = "${CLUSTER_CONSOLE_ROOT}" + args.mindie_home
    return build_launch_plan(
        table,
        profile,
        args=setup.args if setup else command,
        cwd=cwd,
        per=args.per,
        host_facts=facts,
        values=setup.values if setup else None,
        **options,
    )


def _print_answer(result: SmokeResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"event": "answer", **result.to_dict()}, ensure_ascii=False) + "\n")
    elif result.ok:
        sys.stdout.write(result.answer + "\n")
    sys.stdout.flush()
    if result.ok:
        warn(
            f"launch: serving at {result.where}: answered in {result.total_s:.2f} s "
            f"(first token after {result.ttft_s:.2f} s)"
        )
    else:
        warn(f"launch: the first request to {result.where} FAILED: {result.error}")


async def _events(args, profile, table, data, plan, setup, files, pool, stop, printer) -> int:
    events = launch(
        plan,
        table,
        data,
        pool=pool,
        run_base=args.run_dir,
        check=not args.no_preflight,
        log_cap=args.log_cap,
        stop=stop,
        server_files=files,
    )
    prompt = args.smoke_prompt if args.smoke_prompt is not None else (DEFAULT_PROMPT if args.smoke_only else None)
    if setup is not None:
        events = serve(
            events,
            plan,
            setup.target,
            pool,
            prompt=prompt,
            stop=stop,
            smoke_only=args.smoke_only,
            timeout=args.smoke_timeout,
        )
    answer: SmokeResult | None = None
    quiet = PlannedStop(printer, args.json)
    async with contextlib.aclosing(events):
        async for ev in events:
            if quiet.swallow(ev):
                continue
            if isinstance(ev, ServiceReady):
                if args.json:
                    sys.stdout.write(
                        json.dumps({"event": "ready_service", "where": ev.where, "after_s": ev.after_s}) + "\n"
                    )
                warn(f"launch: service ready at {ev.where} after {ev.after_s:.1f} s")
                if prompt is not None:
                    warn(f"launch: first request to {ev.where}: {prompt!r}")
            elif isinstance(ev, ServiceAnswer):
                answer = ev.result
                _print_answer(answer, args.json)
                if args.smoke_only:  # serve stops the job now
                    quiet.start(answer.ok)
            elif not isinstance(ev, JobFinished):
                printer.event(ev)
            if isinstance(ev, JobFinished):
                sys.stdout.flush()
                quiet.report()
                root = ev.summary.root_cause
                if root is not None and root.kind == "stopped":
                    if args.json:
                        printer.event(ev)
                    warn(f"launch: every server process stopped; run record {ev.summary.run_dir}")
                    if answer is None:  # stopped before the service answered
                        return EXIT_CHECK_FAILED if args.smoke_only else EXIT_INTERRUPTED
                    return 0 if answer.ok else EXIT_CHECK_FAILED
                if args.json:
                    printer.event(ev)
                code = report(ev.summary)
                return EXIT_CHECK_FAILED if answer is not None and not answer.ok else code
    return EXIT_CHECK_FAILED


async def run(args: argparse.Namespace, profile: Profile) -> int:
    """The serving launch; Ctrl-C / SIGTERM stops every server process: exit 0 when the
    service had answered the first request, 1 when that request failed, else 130."""
    from console.ops.ranktable_files import read

    data, table = read(args.ranktable)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    printer = Printer(as_json=args.json)
    pool_cm: Any = contextlib.nullcontext(None)
    if not args.local:
        from console.remote import Pool, SSHOptions

        pool_cm = Pool(SSHOptions.from_args(args))
    stop = asyncio.Event()
    loop, got = asyncio.get_running_loop(), []
    task = asyncio.current_task()

    def on_signal(sig: signal.Signals) -> None:
        got.append(sig.name)
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with pool_cm as pool:
            setup, facts, files, warnings = await _setup(args, profile, table, command, pool)
            plan = _plan(args, profile, table, command, setup, facts)
            for w in warnings:
                warn(f"launch: warning: {w}")
            print_commands(plan)
            code = await _events(args, profile, table, data, plan, setup, files, pool, stop, printer)
        if got and code == EXIT_INTERRUPTED:
            warn(f"launch: interrupted ({got[0]}) before the service answered")
        return code
    except asyncio.CancelledError:
        if not got:
            raise
        return EXIT_INTERRUPTED
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
