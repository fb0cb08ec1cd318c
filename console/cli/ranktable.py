"""`cluster-console ranktable {validate,show,build,merge,schema}`: RankTableFiles from the command line.

stdout carries data (problems, the table, JSON); the verdict and diagnostics go to stderr.
Exit codes: 0 valid (warnings allowed), 1 the table has errors (including JSON that breaks the
schema: a missing field, a wrong type, another format such as 2.0), 2 missing or unreadable
file, not JSON, or nested too deeply.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli._common import add_hosts_argument, hosts_from_args, print_json, warn
from console.core.diagnostic import Diagnostic
from console.core.errors import EXIT_CHECK_FAILED, EXIT_OK, ConsoleError
from console.core.ranktable import (
    SUPPORTED_VERSIONS,
    RankTable,
    RankTableInvalid,
    build,
    json_schema,
    merge,
    validate,
    validate_against,
)
from console.core.ranktable.problems import describe, problem_json, sort_problems
from console.core.words import counted
from console.ops.ranktable_files import load, save

ORDER = 30


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "ranktable",
        help="validate, show, build, merge RankTableFiles (HCCL ranktable JSON 1.0/1.2)",
        description="Validate, show, build (from live servers) and merge RankTableFiles (HCCL ranktable "
        "JSON, versions 1.0 and 1.2), or print their JSON Schema.",
    )
    sub = parser.add_subparsers(dest="ranktable_command", metavar="ACTION", required=True)
    _add_validate(sub, common)
    _add_show(sub)
    _add_merge(sub)
    p = sub.add_parser("schema", help="JSON Schema of the on-disk format (numbers are strings)")
    p.set_defaults(func=_cmd_schema)
    _add_build(sub, common)


def _add_build(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "build",
        parents=[common],
        help="build a rank table from live servers",
        description="Discover the servers, then write a rank table: servers in the order "
        "given, devices by device_id, rank ids sequential by server then device. "
        "Written atomically, mode 0640, the previous file kept as FILE.bak.",
    )
    add_hosts_argument(p)
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="file to write")
    p.add_argument("--version", choices=SUPPORTED_VERSIONS, default="1.0", help="table version (1.0)")
    p.set_defaults(func=_cmd_build)


async def _cmd_build(args: argparse.Namespace) -> int:
    from console.cli.discover import gather

    hosts = hosts_from_args(args.hosts, args.max_hosts)
    inventory = await gather(args, hosts)
    table = build(inventory, args.version, order=hosts)
    sha = save(table, args.output)
    problems = sort_problems(validate(table) + validate_against(table, inventory))
    _print_problems(problems, sys.stderr)
    valid, verdict = _verdict(problems)
    size = f"{counted(len(table.server_list), 'server')}, {counted(table.world_size, 'rank')}"
    print(f"{args.output}: {size}, sha256 {sha}")
    warn(f"{args.output}: {verdict}")
    return EXIT_OK if valid else EXIT_CHECK_FAILED


def _add_validate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "validate",
        parents=[common],
        help="check a rank table against HCCL/MindIE/ATB-Models rules",
        description="Print every problem as `PATH: severity: message` (errors first). "
        "Exit 0 without errors (warnings are printed), 1 with errors (a missing field, "
        "a wrong type and another format such as 2.0 are errors at their JSON path), "
        "2 if the file is missing, unreadable, not JSON or nested too deeply.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"file", "valid", "problems"} as JSON; {"file", "valid": false, "error"} '
        "when the file cannot be read (exit 2)",
    )
    p.add_argument(
        "--against",
        metavar="HOSTS",
        nargs="+",
        help="also check the table against live servers: each device_ip equals what that "
        "card reports (HCCL EI0014), each server_id is the server reached",
    )
    p.set_defaults(func=_cmd_validate)


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="the table's servers, ranks and devices",
        description="Show servers, ranks and devices as a table (or JSON).",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print servers and ranks as JSON")
    p.set_defaults(func=_cmd_show)


def _add_merge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge",
        help="merge single-server tables (like mindspore's merge_hccl.py)",
        description="Concatenate the servers of the given tables in argument order, renumber "
        "rank ids 0..N-1 and write OUT (atomically, mode 0640, previous OUT kept as OUT.bak). "
        "Exit 1 if the merged table has errors (it is written anyway, for inspection).",
    )
    p.add_argument("files", metavar="FILE", nargs="+")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="file to write")
    p.set_defaults(func=_cmd_merge)


def _print_problems(problems: list[Diagnostic], stream: Any) -> None:
    """Errors first, then warnings; each group in path order."""
    for problem in sorted(problems, key=lambda p: p.severity != "error"):
        print(describe(problem), file=stream)


def _verdict(problems: list[Diagnostic]) -> tuple[bool, str]:
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    counts = f"{counted(errors, 'error')}, {counted(warnings, 'warning')}"
    return errors == 0, ("valid" if errors == 0 else "INVALID") + f": {counts}"


async def _problems(args: argparse.Namespace) -> list[Diagnostic]:
    try:
        table = load(args.file)
    except RankTableInvalid as exc:  # JSON that breaks the schema: problems like any others
        return exc.problems
    problems = validate(table)
    if args.against:
        from console.cli.discover import gather

        inventory = await gather(args, hosts_from_args(args.against, args.max_hosts))
        problems = sort_problems(problems + validate_against(table, inventory))
    return problems


async def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        problems = await _problems(args)
    except ConsoleError as exc:
        if args.json:  # stdout still gets its JSON object; stderr and the exit code say the rest
            print_json({"file": args.file, "valid": False, "error": exc.to_dict()})
        raise
    valid, verdict = _verdict(problems)
    if args.json:
        print_json({"file": args.file, "valid": valid, "problems": [problem_json(p) for p in problems]})
    else:
        _print_problems(problems, sys.stdout)
    warn(f"{args.file}: {verdict}")
    return EXIT_OK if valid else EXIT_CHECK_FAILED


def _ranks(table: RankTable) -> list[dict[str, Any]]:
    return [
        {
            "rank_id": d.rank_id,
            "server_index": i,
            "server_id": s.server_id,
            "device_id": d.device_id,
            "device_ip": d.device_ip,
            "super_device_id": d.super_device_id,
            "super_pod_id": table.super_pod_of(s.server_id),
        }
        for i, _j, s, d in table.devices()
    ]


def _cmd_show(args: argparse.Namespace) -> int:
    table = load(args.file)
    if args.json:
        servers = [
            {"server_id": s.server_id, "container_ip": s.container_ip, "host_ip": s.host_ip, "devices": len(s.device)}
            for s in table.server_list
        ]
        print_json(
            {
                "file": args.file,
                "status": table.status,
                "version": table.version,
                "server_count": table.server_count,
                "world_size": table.world_size,
                "servers": servers,
                "ranks": _ranks(table),
            }
        )
    else:
        _print_table(args.file, table)
    errors = sum(p.severity == "error" for p in validate(table))
    if errors:
        warn(f"{args.file}: {counted(errors, 'error')}: see `cluster-console ranktable validate {args.file}`")
    return EXIT_OK


def _print_table(name: str, table: RankTable) -> None:
    from rich.console import Console
    from rich.table import Table

    v12 = table.version == "1.2"
    title = (
        f"{name}: version {table.version}, status {table.status}, "
        f"{counted(len(table.server_list), 'server')}, {counted(table.world_size, 'rank')}"
    )
    out = Table(title=title, title_justify="left")
    for column in ("rank", "server", "server_id", "device_id", "device_ip"):
        out.add_column(column, justify="right" if column in ("rank", "server", "device_id") else "left", no_wrap=True)
    if v12:
        out.add_column("super_device_id", justify="right", no_wrap=True)
        out.add_column("super_pod_id", no_wrap=True)
    for row in _ranks(table):
        cells = [
            str(row["rank_id"]),
            str(row["server_index"]),
            row["server_id"],
            str(row["device_id"]),
            row["device_ip"] or "-",
        ]
        if v12:
            cells += [_text(row["super_device_id"]), _text(row["super_pod_id"])]
        out.add_row(*cells)
    width = None if sys.stdout.isatty() else 200
    Console(file=sys.stdout, width=width, highlight=False).print(out)


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _summary(path: str, table: RankTable, sha256: str) -> str:
    return (
        f"{path}: {counted(len(table.server_list), 'server')}, {counted(table.world_size, 'rank')}, "
        f"version {table.version}, sha256 {sha256}"
    )


def _cmd_merge(args: argparse.Namespace) -> int:
    tables = [load(f) for f in args.files]
    merged = merge(tables, names=args.files)
    sha = save(merged, args.output)
    print(_summary(args.output, merged, sha))
    problems = validate(merged)
    _print_problems(problems, sys.stderr)
    valid, verdict = _verdict(problems)
    warn(f"{args.output}: {verdict}")
    return EXIT_OK if valid else EXIT_CHECK_FAILED


def _cmd_schema(args: argparse.Namespace) -> int:
    print_json(json_schema())
    return EXIT_OK
