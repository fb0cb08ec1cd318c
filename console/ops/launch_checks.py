"""Before a launch: validation (always, before anything touches a server) and the server
checks (skipped by ``--no-preflight``).

* ``validate_launch``: the rank table (the exact bytes that will be uploaded) passes every
  rule, the plan's servers, ranks and devices are that table's, and (given an inventory) the
  cards exist with the table's device IPs. No I/O.
* ``check_servers``: every server reachable and has the agent's interpreter; no process
  holds a needed NPU (``npu-smi info`` process table); the master port is free on the master.
  One shell script per server, sections split by explicit markers.
* ``preflight`` = both (the Launch pane's F6).
The files themselves go to each server's private run folder: ``console.ops.rundir``.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from typing import Any

from console.core.diagnostic import Diagnostic, Where, diagnostic
from console.core.errors import CheckFailed, ConsoleError, RemoteError
from console.core.inventory import Inventory, Server
from console.core.parsers.npu_smi_table import parse_npu_smi_info
from console.core.planning.launch import LaunchPlan, ServerPlan
from console.core.ranktable.validate import validate

MARK = "__CLUSTER_CONSOLE_{}__"
PORT_TEST = (
    "import socket,sys\ns=socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "try:\n s.bind(('',int(sys.argv[1])))\nexcept OSError as e:\n"
    " print(e)\n sys.exit(1)"
)


def _script(plan: LaunchPlan, master: bool) -> str:
    py = shlex.quote(plan.python)
    lines = [
        f"echo {MARK.format('PY')}",
        f"command -v {py} || echo MISSING",
        f"echo {MARK.format('NPU')}",
        "npu-smi info 2>&1",
        f'echo "{MARK.format("RC")} $?"',
    ]
    if master:
        lines += [
            f"echo {MARK.format('PORT')}",
            f"{py} -c {shlex.quote(PORT_TEST)} {plan.master_port} 2>&1 && echo FREE",
        ]
    return "\n".join(lines)


def _sections(text: str) -> dict[str, str]:
    parts, current = {}, None
    for line in text.splitlines():
        m = re.fullmatch(r"__CLUSTER_CONSOLE_(\w+)__(.*)", line.strip())
        if m:
            current = m.group(1)
            parts[current] = m.group(2).strip()
            continue
        if current:
            parts[current] = (parts[current] + "\n" + line).lstrip("\n")
    return parts


def busy_devices(npu_smi_text: str, chips_per_card: int | None) -> dict[int, list[str]]:
    """device_id -> ["pid name", ...] from the ``npu-smi info`` process table."""
    info = parse_npu_smi_info(npu_smi_text)  # Unparsed has no processes: nothing busy
    rows = [(p.npu_id, p.chip_id or 0, p.pid, p.name) for p in getattr(info, "processes", [])]
    a3 = getattr(info, "layout", None) == "A3"
    per_card = chips_per_card or (2 if a3 else 1)
    busy: dict[int, list[str]] = {}
    for npu, chip, pid, name in rows:
        busy.setdefault(npu * per_card + chip, []).append(f"{pid} {name}")
    return busy


async def _check_server(
    pool: Any, plan: LaunchPlan, server: ServerPlan, inventory: Inventory | None
) -> list[Diagnostic]:
    master = server.server_id == plan.master_addr
    try:
        result = await pool.run(server.host, _script(plan, master))
    except ConsoleError as exc:
        return [diagnostic("error", "unreachable", f"unreachable: {exc.title} {exc.detail}".strip(), host=server.host)]
    sec = _sections(result.stdout)
    out: list[Diagnostic] = []
    if "MISSING" in sec.get("PY", "MISSING"):
        out.append(
            diagnostic("error", "python_missing", f"{plan.python} not found: the host agent needs it", host=server.host)
        )
    if sec.get("RC", "127").split()[0] != "0":
        out.append(
            diagnostic(
                "warning", "npu_smi_failed", "npu-smi info failed; leftover NPU processes not checked", host=server.host
            )
        )
    else:
        inv = inventory_server(inventory, server) if inventory else None
        busy = busy_devices(sec.get("NPU", ""), inv.chips_per_card if inv else None)
        for spec in server.ranks:
            for dev in spec.devices or [spec.device_id]:
                if dev in busy:
                    who = f"rank {spec.rank}" if not spec.devices else f"server {server.server_id}"
                    out.append(
                        diagnostic(
                            "error",
                            "npu_busy",
                            f"device {dev} ({who}) is in use by {', '.join(busy[dev])}",
                            host=server.host,
                            device=dev,
                            rank=spec.rank,
                        )
                    )
    if master and not sec.get("PORT", "").endswith("FREE"):
        why = sec.get("PORT", "no answer").splitlines()[0] if sec.get("PORT") else "no answer"
        out.append(
            diagnostic(
                "error", "master_port_busy", f"master port {plan.master_port} is not free: {why}", host=server.host
            )
        )
    return out


def check_inventory(plan: LaunchPlan, inventory: Inventory) -> list[Diagnostic]:
    """Every planned device exists on its server, with the table's device_ip."""
    out: list[Diagnostic] = []
    for server in plan.servers:
        inv = inventory_server(inventory, server)
        if inv is None:
            out.append(
                diagnostic("warning", "not_in_inventory", "not in the inventory; cards not checked", host=server.host)
            )
            continue
        for spec in server.ranks:
            dev = inv.device(spec.device_id)
            if dev is None:
                out.append(
                    diagnostic(
                        "error",
                        "device_unknown",
                        f"rank {spec.rank}: no device {spec.device_id} on this server",
                        host=server.host,
                        device=spec.device_id,
                    )
                )
            elif spec.device_ip and dev.device_ip and dev.device_ip != spec.device_ip:
                out.append(
                    diagnostic(
                        "error",
                        "device_ip_mismatch",
                        f"rank {spec.rank}: table says device "
                        f"{spec.device_id} has {spec.device_ip}, the card has "
                        f"{dev.device_ip} (HCCL EI0014)",
                        host=server.host,
                        device=spec.device_id,
                    )
                )
    return out


def inventory_server(inventory: Inventory, server: ServerPlan) -> Server | None:
    """The inventory entry of a plan server: by its SSH host, else by its server_id."""
    return inventory.server(server.host) or inventory.server(server.server_id)


def check_table(table: Any) -> list[Diagnostic]:
    """The table's own problems; the message names the JSON path (``rank table PATH: ...``)."""
    return [
        p.model_copy(update={"message": f"rank table {p.where.path}: {p.message}", "where": Where()})
        for p in validate(table)
    ]


def check_plan(plan: LaunchPlan, table: Any) -> list[Diagnostic]:
    """The plan runs exactly the table's servers and devices (per rank: each rank on its own
    device; per server: every device of the server)."""
    want = {s.server_id: {(int(d.rank_id), int(d.device_id)) for d in s.device} for s in table.server_list}
    out = []
    for sid in sorted(set(want) | {s.server_id for s in plan.servers}):
        server = next((s for s in plan.servers if s.server_id == sid), None)
        if server is None:
            out.append(diagnostic("error", "plan_server_missing", f"plan: server {sid} of the rank table has no ranks"))
            continue
        if sid not in want:
            out.append(diagnostic("error", "plan_server_unknown", f"plan: server {sid} is not in the rank table"))
            continue
        if plan.per == "rank":
            have: set[object] = {(r.rank, r.device_id) for r in server.ranks}
            wanted: set[object] = set(want[sid])
        else:
            have = {d for r in server.ranks for d in r.devices}
            wanted = {d for _, d in want[sid]}
        if have != wanted:
            out.append(
                diagnostic(
                    "error",
                    "plan_ranks_differ",
                    f"plan: server {sid} runs {sorted(map(str, have))}, the rank table says {sorted(map(str, wanted))}",
                )
            )
    if plan.world_size != sum(len(v) for v in want.values()):
        out.append(
            diagnostic("error", "plan_world_size", f"plan: world size {plan.world_size} is not the rank table's")
        )
    return out


def validate_launch(plan: LaunchPlan, table: Any, inventory: Inventory | None = None) -> list[Diagnostic]:
    """Table rules, plan against table, cards against the inventory: no server touched."""
    problems = check_table(table) + check_plan(plan, table)
    if inventory is not None:
        problems += check_inventory(plan, inventory)
    return problems


async def check_servers(pool: Any, plan: LaunchPlan, inventory: Inventory | None = None) -> list[Diagnostic]:
    per_server = await asyncio.gather(*(_check_server(pool, plan, s, inventory) for s in plan.servers))
    return [p for group in per_server for p in group]


async def preflight(pool: Any, plan: LaunchPlan, table: Any, inventory: Inventory | None = None) -> list[Diagnostic]:
    problems = check_table(table)
    if inventory is not None:
        problems += check_inventory(plan, inventory)
    return problems + await check_servers(pool, plan, inventory)


def describe(p: Diagnostic) -> str:
    """``HOST: MESSAGE`` (or the message): how preflight problems are printed and recorded."""
    return f"{p.where.host}: {p.message}" if p.where.host else p.message


def raise_for(
    problems: list[Diagnostic],
    what: str = "preflight",
    hint: str = "fix them, or pass --no-preflight to skip the server checks",
) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    detail = "\n  ".join(describe(p) for p in errors)
    cls = RemoteError if any(p.code == "unreachable" for p in errors) else CheckFailed
    raise cls(f"{what} found {len(errors)} problem(s)", "\n  " + detail, hint=hint)
