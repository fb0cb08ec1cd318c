"""Launch a job on every server of a rank table, supervised (design.md section 4).

``launch(...)`` is an async generator of ``console.ops.launch_events`` events, consumed
alike by the CLI (``cluster-console launch``) and the Launch pane:

1. run record created (plan, exact rank-table bytes);
2. validate, always and before anything touches a server: the rank table that will be
   uploaded (its exact bytes), the plan against it, the cards against the inventory;
3. preflight, unless ``check=False`` (``--no-preflight``): the server checks (reachable,
   python, idle NPUs, master port free);
4. prepare: each server's private run folder (``console.ops.rundir``: fresh, mode 0700,
   every path component checked) gets the rank table (0640) and the profile's uploads, their
   sha256 read back; the plan is bound to the real folders;
5. one host agent per server, every rank at the barrier (the agent checks the files' sha256
   again), GO to all at once;
6. lines, starts and exits streamed; the first failing rank or lost server tears the whole
   job down and is reported as root cause; the run folders are removed (by the agents, else
   by the console) unless ``plan.keep_remote``; ``JobFinished`` last. The user's Stop (the
   ``stop`` event) tears it down the same way, with a root cause of kind "stopped".

Closing the generator early (Ctrl-C, cancellation) tears the job down too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

from console.core.errors import InputError
from console.core.inventory import Inventory
from console.core.planning.launch import LaunchPlan, bind_run
from console.core.planning.rundir import run_dirs
from console.core.ranktable.text import loads
from console.ops.agentlink import Opener, local_opener, ssh_opener
from console.ops.launch_checks import check_servers, describe, raise_for, validate_launch
from console.ops.launch_events import LaunchEvent, LaunchWarning, Stage, StageName
from console.ops.launch_stall import StallOptions
from console.ops.launch_stop import StopRequests
from console.ops.ranktable_files import FILE_MODE, write_bytes_atomic
from console.ops.rundir import make_run_dirs, remove_run_dirs
from console.ops.runrecord import DEFAULT_BASE, DEFAULT_LOG_CAP, RunRecord
from console.ops.supervisor import Supervisor
from console.ops.uploads import resolve_uploads

__all__ = ["launch", "write_local_ranktable"]

PRIVATE_MODE = 0o640
"""Files the console writes for the job (MindIE's config.json: MindIE refuses more than 640)."""


def write_local_ranktable(path: str, data: bytes) -> None:
    """Put a rank table at ``path`` on this machine (0640, atomic)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("cannot create the rank table's folder", exc.strerror or str(exc), path=path) from None
    write_bytes_atomic(path, data, FILE_MODE)


def _validate(plan: LaunchPlan, data: bytes, inventory: Inventory | None, record: RunRecord) -> list[LaunchEvent]:
    """The table as uploaded (its bytes) and the plan; raises on errors. No server touched."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("the rank table is not UTF-8 text", str(exc)) from None
    problems = validate_launch(plan, loads(text, "rank table"), inventory)
    record.event("validated", problems=[describe(p) for p in problems])
    raise_for(problems, "validation", "fix the rank table (`cluster-console ranktable validate`) or the plan")
    return [LaunchWarning(p.message, p.where.host) for p in problems]


async def _prepare(
    plan: LaunchPlan,
    data: bytes,
    pool: Any,
    inventory: Inventory | None,
    check: bool,
    record: RunRecord,
    own: dict[str, dict[str, bytes]],
    made: dict[str, str],
    sums: dict[str, dict[str, str]],
) -> AsyncIterator[LaunchEvent | LaunchPlan]:
    """Validation, preflight, run folders (filling ``made`` and ``sums``: server_id ->
    folder, and -> {uploaded path: sha256}); the bound plan is yielded last."""
    yield Stage(StageName.VALIDATE, "checking the rank table and the plan")
    for event in _validate(plan, data, inventory, record):
        yield event
    if check and pool is not None:
        yield Stage(StageName.PREFLIGHT, "checking servers, NPUs and the master port")
        problems = await check_servers(pool, plan, inventory)
        record.event("preflight", problems=[describe(p) for p in problems])
        for p in problems:
            if p.severity == "warning":
                yield LaunchWarning(p.message, p.where.host)
        raise_for(problems)
    files = resolve_uploads(plan.uploads)
    extra = {name: data for per in own.values() for name, data in per.items()}
    if clash := sorted(set(files) & set(extra)):
        raise InputError(f"an upload is named like a file the console writes: {clash[0]}")
    where = "this machine" if pool is None else f"{len(plan.servers)} servers"
    yield Stage(
        StageName.PREPARE,
        f"private run folders on {where}: the rank table"
        + (f" and {len(files) + len(extra)} files" if files or extra else ""),
    )
    bound, digests = await make_run_dirs(pool, plan, data, files, own, PRIVATE_MODE)
    sums.update(digests)
    made.update({s.server_id: s.run_dir for s in bound.servers})
    # plan.json keeps the plan as made (files are written once); the real folders are here
    record.event("prepared", run_dirs=made, sha256=sums, keep=plan.keep_remote)
    yield bound


async def _remove(
    pool: Any, plan: LaunchPlan, made: dict[str, str], supervisor: Supervisor | None, record: RunRecord
) -> list[LaunchEvent]:
    """Remove the run folders the agents did not remove themselves (once), and the explicit
    rank table where the launch created it (an agent leaves that to the console while the
    console is there: other servers' ranks may still read it on a shared filesystem)."""
    done = supervisor.cleaned if supervisor is not None else set()
    tables = {s.server_id for s in plan.servers if s.ranktable_created and plan.remote_ranktable}
    left = {sid: d for sid, d in made.items() if sid not in done or sid in tables}
    made.clear()
    if not left:
        return []
    if plan.keep_remote:
        record.event("kept", run_dirs=left)
        return [Stage(StageName.KEPT, "run folders kept: " + ", ".join(sorted(set(left.values()))))]
    problems = await remove_run_dirs(pool, plan, left)
    record.event("removed", run_dirs=left, problems=[f"{h}: {m}" for h, m in problems])
    return [LaunchWarning(m, h) for h, m in problems]


async def launch(
    plan: LaunchPlan,
    table: Any,
    ranktable_bytes: bytes,
    *,
    pool: Any = None,
    opener: Opener | None = None,
    run_base: Path | str = DEFAULT_BASE,
    inventory: Inventory | None = None,
    check: bool = True,
    heartbeat_s: float = 5.0,
    go_margin_s: float | None = None,
    stop: asyncio.Event | StopRequests | None = None,
    log_cap: int = DEFAULT_LOG_CAP,
    server_files: dict[str, dict[str, bytes]] | None = None,
    stall: StallOptions | None = None,
) -> AsyncGenerator[LaunchEvent, None]:
    """The whole launch. With ``pool`` agents run over SSH; without, as local processes.

    The run record is ``<run_base>/<plan.run_id>/`` (a new id when the plan has none).
    ``go_margin_s``: release the ranks this long after GO is sent (default: from the
    measured round trips, see ``console.ops.agentclock``).
    ``stop``: set it to stop the job the user's way: every rank gets TERM, grace, KILL (as
    at a failure), the events go on (exits with their codes and signals, ``Teardown``,
    ``JobFinished`` whose root cause has kind "stopped") and the generator ends normally.
    Set before the agents start, the job is stopped as soon as they are up. A
    ``StopRequests`` instead stops signal by signal (Ctrl-C: INT first, see
    ``console.ops.launch_stop``).
    ``log_cap``: bytes of each rank's log in the run record (then one "truncated" line).
    A run record that cannot be written stops recording with one ``LaunchWarning``; the
    job goes on (``console.ops.runrecord``).
    ``server_files``: server_id -> {name: bytes} put into that server's run folder (mode
    0640) with the profile's uploads (the serving profiles' derived config files).
    ``stall``: when a rank counts as stalled and whether a stall with a culprit server tears
    the job down (``console.ops.launch_stall``; default 60 s, no teardown).
    ``table`` is not used: the rank table checked and uploaded is ``ranktable_bytes``.
    """
    record = RunRecord(run_base, plan.run_id, log_cap=log_cap)
    if plan.run_id is None:
        plan = bind_run(
            plan, record.run_id, run_dirs(plan.run_base, record.run_id, [s.server_id for s in plan.servers])
        )
    made: dict[str, str] = {}
    sums: dict[str, dict[str, str]] = {}
    supervisor: Supervisor | None = None
    try:
        record.write_plan(plan)
        record.write_ranktable(ranktable_bytes)
        yield Stage(
            StageName.RECORD,
            f"run record {record.dir}"
            if record.failed is None
            else f"no run record ({record.dir} could not be written)",
            run_dir=str(record.dir) if record.failed is None else None,
        )
        if (warning := record.take_warning()) is not None:
            yield LaunchWarning(warning)
        for warning in plan.warnings:
            yield LaunchWarning(warning)
        async for item in _prepare(
            plan, ranktable_bytes, pool, inventory, check, record, server_files or {}, made, sums
        ):
            if isinstance(item, LaunchPlan):
                plan = item
            else:
                yield item
        if opener is None:
            opener = ssh_opener(pool, plan.python) if pool is not None else local_opener()
        bound = plan

        async def before_finish(sup: Supervisor) -> list[LaunchEvent]:
            return await _remove(pool, bound, made, sup, record)

        supervisor = Supervisor(
            plan,
            opener,
            record,
            heartbeat_s=heartbeat_s,
            go_margin_s=go_margin_s,
            stop=stop,
            stall=stall,
            files=sums,
            before_finish=before_finish,
        )
        async with contextlib.aclosing(supervisor.events()) as events:
            async for event in events:
                yield event
    finally:
        try:
            if made:  # stopped early: the folders still go
                await _remove(pool, plan, made, supervisor, record)
        finally:
            record.close()
