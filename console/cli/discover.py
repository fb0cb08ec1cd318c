"""`cluster-console discover HOSTS [--json]`: what every server and NPU device is."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from console.cli._common import add_hosts_argument, hosts_from_args, print_json, stdout_console, warn
from console.core.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNREACHABLE
from console.core.inventory import Inventory, Server

ORDER = 10
_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
ERROR_WIDTH = 60  # the Servers table shows this much of an error; Findings show all of it


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "discover",
        parents=[common],
        help="discover servers, NPUs and their RoCE NICs",
        description="Query every server over SSH (npu-smi, hccn_tool, hccn.conf, versions) "
        "and report cards, device IPs, link/health state and cluster-wide findings.",
    )
    add_hosts_argument(p)
    p.add_argument("--json", action="store_true", help="print the inventory as JSON")
    p.add_argument(
        "--tool-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="timeout for each hccn_tool call on the servers (default 5)",
    )
    p.set_defaults(func=run)


def exit_code(inv: Inventory) -> int:
    if any(not s.reachable for s in inv.servers):
        return EXIT_UNREACHABLE
    if any(f.severity == "error" for f in inv.findings):
        return EXIT_CHECK_FAILED
    return EXIT_OK


async def gather(args: argparse.Namespace, hosts: list[str], *, pool=None, progress: str = "all") -> Inventory:
    """The CLI's one "discover and return the inventory" (discover, ping, ranktable build and
    validate --against). One line per server on stderr (``progress="all"``), only the
    unreachable ones (``"unreachable"``) or none (``"none"``). Discovers over ``pool`` when
    given (ping sweeps over it next), else over a pool opened from the SSH options in args."""
    if pool is None:
        from console.remote import Pool, SSHOptions

        async with Pool(SSHOptions.from_args(args)) as own:
            return await gather(args, hosts, pool=own, progress=progress)
    from console.ops.discovery import DiscoveryDone, ServerDone, discover

    inv = Inventory()
    async for ev in discover(pool, hosts, tool_timeout=getattr(args, "tool_timeout", 5.0)):
        if isinstance(ev, ServerDone):
            bad = not ev.server.reachable
            if progress == "all" or (progress == "unreachable" and bad):
                state = f"UNREACHABLE: {ev.server.error}" if bad else "ok"
                warn(f"[{ev.done}/{ev.total}] {ev.server.host}: {state}")
        elif isinstance(ev, DiscoveryDone):
            inv = ev.inventory
    return inv


async def run(args: argparse.Namespace) -> int:
    hosts = hosts_from_args(args.hosts, args.max_hosts)
    inv = await gather(args, hosts)
    if args.json:
        print_json(inv)
    else:
        print_inventory(inv)
    return exit_code(inv)


def short_error(error: str | None, width: int = ERROR_WIDTH) -> str:
    """The first line of ``error``, cut to ``width`` characters with an ellipsis."""
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    return first if len(first) <= width else first[: width - 1].rstrip() + "…"


def _server_row(s: Server) -> list[str]:
    """The Servers table's cells: rich markup, every value a server printed escaped."""
    if not s.reachable:
        return [escape(s.host), "-", "-", "[red]unreachable[/]", "-", "-", "-", escape(short_error(s.error))]
    health = sorted({d.health or "?" for d in s.devices})
    links = sum(1 for d in s.devices if (d.link or "").upper() == "UP")
    cells = [
        s.host,
        s.server_id or "-",
        s.hostname or "-",
        f"{len(s.devices)} ({s.product or '?'})",
        f"{links}/{len(s.devices)} up",
        ",".join(health),
        f"{s.driver_version or '-'} / {s.cann_version or '-'}",
        "",
    ]
    return [escape(c) for c in cells]


def _servers_table(inv: Inventory) -> Table:
    t = Table(title="Servers", title_justify="left")
    for col in ("host", "server_id", "hostname", "devices", "links", "health", "driver / CANN"):
        t.add_column(col)
    t.add_column(
        "error (in full under Findings)" if any(not s.reachable for s in inv.servers) else "error",
        max_width=ERROR_WIDTH,
        overflow="fold",
    )
    for s in inv.servers:
        t.add_row(*_server_row(s))
    return t


def _devices_table(inv: Inventory) -> Table:
    d = Table(title="Devices", title_justify="left")
    for col in ("host", "dev", "card.chip", "device_ip", "netmask", "link", "net_health", "tls", "health", "busy"):
        d.add_column(col)
    d.add_column("switch port")
    for s in inv.servers:
        for dev in s.devices:
            link = escape(dev.link or "-")  # every value below but the ids was printed by the server
            d.add_row(
                escape(s.host),
                str(dev.device_id),
                f"{dev.card}.{dev.chip}",
                escape(dev.device_ip) if dev.device_ip else "[red]none[/]",
                escape(dev.netmask or "-"),
                link if link == "UP" else f"[red]{link}[/]",
                escape(dev.net_health or "-"),
                "-" if dev.tls is None else str(dev.tls),
                escape(dev.health or "-"),
                ",".join(map(str, dev.busy_pids)) or "",
                escape(" ".join(x for x in (dev.lldp_switch, dev.lldp_port) if x) or "-"),
            )
    return d


def print_inventory(inv: Inventory) -> None:
    """Servers, then Devices (left out when no server has any), then the findings in full."""
    con = stdout_console()
    con.print(_servers_table(inv))
    if any(s.devices for s in inv.servers):
        con.print(_devices_table(inv))
    if inv.findings:
        con.print("[bold]Findings[/]")
        for f in inv.findings:
            where = f.where.host or ""
            if f.where.device is not None:
                where += f" device {f.where.device}"
            con.print(f"[{_STYLE[f.severity]}]{f.severity:7}[/] {escape(where)}: {escape(f.message)}")
    else:
        con.print("[green]No findings.[/]")
