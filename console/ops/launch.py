"""Launch a job on every server of a rank table, supervised (design.md section 4).

``launch(...)`` is an async generator of ``console.ops.launch_events`` events, consumed
alike by the CLI (``cluster-console launch``) and the Launch pane:

1. run record created (plan, exact rank-table bytes);
2. prepare: the rank table uploaded to the same absolute path on every server (0640,
   sha256 checked), and the profile's uploads (bundles such as ``probe``, local files) into
   the run-specific ``plan.upload_dir`` (``console.ops.uploads``) -- or written locally
   when agents are local;
3. preflight (reachable, python, table valid, inventory, idle NPUs, master port free);
4. one host agent per server, every rank at the barrier, GO to all at once;
5. lines, starts and exits streamed; the first failing rank or lost server tears the whole
   job down and is reported as root cause; ``JobFinished`` last. The user's Stop (the
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
from console.core.planning.launch import LaunchPlan
from console.ops.agentlink import Opener, local_opener, ssh_opener
from console.ops.launch_checks import describe, preflight, raise_for, upload_ranktable
from console.ops.launch_events import LaunchEvent, LaunchWarning, Stage
from console.ops.launch_stop import StopRequests
from console.ops.launch_stall import StallOptions
from console.ops.ranktable_files import FILE_MODE, write_bytes_atomic
from console.ops.runrecord import DEFAULT_BASE, DEFAULT_LOG_CAP, RunRecord
from console.ops.supervisor import Supervisor
from console.ops.uploads import resolve_uploads, upload_files, write_local

__all__ = ["launch", "write_local_ranktable"]

PRIVATE_MODE = 0o640
"""Files the console writes for the job (MindIE's config.json: MindIE refuses more than 640)."""


def write_local_ranktable(path: str, data: bytes) -> None:
    """Local agents: put the table at the plan's path on this machine (0640, atomic)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("cannot create the rank table's folder", exc.strerror or str(exc),
                         path=path) from None
    write_bytes_atomic(path, data, FILE_MODE)


async def _prepare(plan: LaunchPlan, table: Any, data: bytes, pool: Any,
                   inventory: Inventory | None, check: bool,
                   record: RunRecord, own: dict[str, dict[str, bytes]]) -> AsyncIterator[LaunchEvent]:
    files = resolve_uploads(plan.uploads)
    extra = {name: data for per in own.values() for name, data in per.items()}
    if clash := sorted(set(files) & set(extra)):
        raise InputError(f"an upload is named like a file the console writes: {clash[0]}")
    if pool is None:
        write_local_ranktable(plan.remote_ranktable, data)
        if files:
            write_local(plan, files)
        if extra:
            write_local(plan, extra, PRIVATE_MODE)
        record.event("prepared", path=plan.remote_ranktable, local=True,
                     uploads=sorted(files), upload_dir=plan.upload_dir)
        return
    yield Stage("prepare", f"uploading the rank table to {plan.remote_ranktable}"
                + (f" and {len(files)} files to {plan.upload_dir}" if files else "")
                + f" on {len(plan.servers)} servers")
    digest = await upload_ranktable(pool, plan, data)
    sums = await upload_files(pool, plan, files) if files else {}
    if own:  # each server gets its own files only
        found = await asyncio.gather(*(
            upload_files(pool, plan.model_copy(update={"servers": [s]}), own[s.server_id], PRIVATE_MODE)
            for s in plan.servers if own.get(s.server_id)))
        for one in found:
            sums.update(one)
    record.event("prepared", path=plan.remote_ranktable, sha256=digest,
                 upload_dir=plan.upload_dir, uploads=sums)
    if not check:
        return
    yield Stage("preflight", "checking servers, NPUs and the master port")
    problems = await preflight(pool, plan, table, inventory)
    record.event("preflight", problems=[describe(p) for p in problems])
    for p in problems:
        if p.severity == "warning":
            yield LaunchWarning(p.message, p.where.host)
    raise_for(problems)


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
    """
    record = RunRecord(run_base, plan.run_id, log_cap=log_cap)
    try:
        record.write_plan(plan)
        record.write_ranktable(ranktable_bytes)
        yield Stage("record", f"run record {record.dir}" if record.failed is None
                    else f"no run record ({record.dir} could not be written)")
        if (warning := record.take_warning()) is not None:
            yield LaunchWarning(warning)
        for warning in plan.warnings:
            yield LaunchWarning(warning)
        async for event in _prepare(plan, table, ranktable_bytes, pool, inventory, check,
                                    record, server_files or {}):
            yield event
        if opener is None:
            opener = ssh_opener(pool, plan.python) if pool is not None else local_opener()
        supervisor = Supervisor(plan, opener, record, heartbeat_s=heartbeat_s,
                                go_margin_s=go_margin_s, stop=stop, stall=stall)
        async with contextlib.aclosing(supervisor.events()) as events:
            async for event in events:
                yield event
    finally:
        record.close()
