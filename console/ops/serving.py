"""Serving profiles, the ops side: the serving setup (``prepare``, from the facts read from
the servers by ``console.ops.serving_facts``) and the first request once the service is ready
(``serve``: wraps ``console.ops.launch.launch``'s events), with the root cause moved to the
server to blame (a refused vLLM engine, a server that never joined the master).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from console.core.errors import ConsoleError, InputError
from console.core.planning.launch import LaunchPlan
from console.core.profiles import Profile
from console.core.serving import mindie, vllm
from console.core.serving.plan import (
    ServingSetup,
    ServingTarget,
    check_mindie_table,
    mindie_setup,
    vllm_setup,
)
from console.ops.launch_events import (
    JobFinished,
    LaunchWarning,
    RankReady,
    RankStarted,
    RootCause,
    Stage,
)
from console.ops.launch_stop import StopRequests
from console.ops.serving_facts import config_bytes, mindie_configs, raise_weights, weights_problems
from console.ops.smoke import SmokeResult, SmokeTarget, first_request

# --- after the plan: the service's events -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceReady:
    """Every process that must print the ready line did."""

    where: str
    after_s: float
    target: SmokeTarget | None = None
    """Where requests go (``first_request(pool, target, prompt)`` re-sends one)."""


@dataclass(frozen=True, slots=True)
class _Failed:
    """The launch raised: ``serve`` re-raises ``error`` after the events before it."""

    error: Exception


QUEUE_SIZE = 256
"""Events ``serve`` holds at most before the launch waits for its consumer."""


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    """The first request's result (``SmokeResult``)."""

    result: SmokeResult


def blame_engine(plan: LaunchPlan, target: ServingTarget, ev: JobFinished) -> None:
    """vLLM's head refused an engine by its data-parallel rank: the root cause becomes the
    server running that rank (its flags differ), with the head's words."""
    root = ev.summary.root_cause
    if target.kind != "vllm-ascend" or root is None or root.kind != "failure":
        return
    found = vllm.blamed_dp_rank(root.last_lines)
    if found is None:
        return
    dp_rank, line = found
    for server in plan.servers:
        start, local = int(server.values.get("dp_start", -1)), int(server.values.get("dp_local", 0))
        if start <= dp_rank < start + local and server.server_id != root.server_id:
            ev.summary.root_cause = RootCause(
                f"the head refused its engine (data-parallel rank {dp_rank}): {line.strip()}",
                server.server_id,
                server.host,
                server.ranks[0].rank,
                last_lines=root.last_lines,
            )
            return


_JOINED = (
    "ss -Htnp state established dst {ip} 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | "
    'sort -u | while read -r p; do ps -o pgid= -p "$p"; done'
)


async def not_joined(pool: Any, plan: LaunchPlan, pids: dict[int, int]) -> list[str]:
    """server_ids whose server process (its process group, ``pids``: rank -> pid) holds no
    established TCP connection to the master's address: the servers that never joined it.
    Empty when no server holds one (no evidence either way) or on any doubt."""
    master = plan.master_addr

    async def joined(server: Any) -> bool | None:
        pid = pids.get(server.ranks[0].rank)
        if pid is None:
            return None
        try:
            result = await pool.run(server.host, _JOINED.format(ip=shlex.quote(master)), timeout=15)
        except (ConsoleError, OSError):
            return None
        if not result.ok:
            return None
        return str(pid) in result.stdout.split()

    others = [s for s in plan.servers if s.server_id != master]
    found = await asyncio.gather(*(joined(s) for s in others))
    if None in found or (not any(found) and len(others) > 1):
        return []
    return [s.server_id for s, ok in zip(others, found, strict=True) if not ok]


def blame_missing(plan: LaunchPlan, missing: list[str], ev: JobFinished) -> None:
    """A ready timeout while a server never joined the master: that server is the root cause."""
    root = ev.summary.root_cause
    if not missing or root is None or root.kind != "failure" or not root.reason.startswith("did not print"):
        return
    server = plan.server(missing[0])
    also = f" (also: {', '.join(missing[1:])})" if len(missing) > 1 else ""
    ev.summary.root_cause = RootCause(
        f"never joined the master {plan.master_addr}: its server process had no TCP connection to "
        f"it when the ready timeout ran out{also}; the others waited ({root.reason})",
        server.server_id,
        server.host,
        server.ranks[0].rank,
    )


def smoke_target(plan: LaunchPlan, target: ServingTarget) -> SmokeTarget:
    host = plan.server(target.server_id).host
    return SmokeTarget(
        host=host, address=target.address, port=target.port, api=target.api, model=target.model, https=target.https
    )


async def _ask(pool: Any, smoke: SmokeTarget, prompt: str | None, timeout: float, queue: asyncio.Queue) -> None:
    """The first request; its answer (or failure) into ``queue`` as ``ServiceAnswer``."""
    try:
        result = await first_request(pool, smoke, prompt or "", timeout=timeout)
    except Exception as exc:  # any failure is the request's answer, never a lost task
        error = str(exc) if isinstance(exc, ConsoleError) else f"{type(exc).__name__}: {exc}"
        result = SmokeResult(ok=False, where=smoke.where, prompt=prompt or "", error=error)
    await queue.put(ServiceAnswer(result))


async def _pump(events: AsyncGenerator[Any, None], queue: asyncio.Queue) -> None:
    """The launch's events into the queue, then None; its error (CheckFailed,
    RemoteError, InputError...) as ``_Failed`` so that ``serve`` raises it."""
    try:
        async for ev in events:
            await queue.put(ev)
    except Exception as exc:  # handed to the consumer, which raises it
        await queue.put(_Failed(exc))
        return
    await queue.put(None)


async def _check_joins(
    pool: Any, plan: LaunchPlan, waiting: set[int], pids: dict[int, int], missing: list[str]
) -> None:
    """At half, three quarters and just before the ready timeout: who has not joined
    (into ``missing``). The latest check that completed counts (a loaded server may answer late)."""
    t_go, total = time.monotonic(), plan.ready_timeout_s
    for at in (total * 0.5, total * 0.75, total - min(5.0, total * 0.1)):
        await asyncio.sleep(max(0.0, t_go + at - time.monotonic()))
        if not waiting or pool is None:
            return
        found = await not_joined(pool, plan, pids)
        missing[:] = found


async def serve(
    events: AsyncGenerator[Any, None],
    plan: LaunchPlan,
    target: ServingTarget,
    pool: Any,
    *,
    prompt: str | None,
    stop: asyncio.Event | None = None,
    smoke_only: bool = False,
    timeout: float = 120.0,
) -> AsyncGenerator[Any, None]:
    """``events`` (a launch) passed through, plus ``ServiceReady`` when every awaited process
    printed its ready line and ``ServiceAnswer`` after the first request (``prompt``; None =
    no request). With ``smoke_only`` the job is stopped (``stop``) after the answer."""
    waiting = {r.rank for s in plan.servers for r in s.ranks if r.await_ready}
    smoke = smoke_target(plan, target)
    queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)  # back-pressure on the launch
    task: asyncio.Task | None = None
    t0 = time.monotonic()
    pids: dict[int, int] = {}
    missing: list[str] = []
    checker: asyncio.Task | None = None
    feeder = asyncio.ensure_future(_pump(events, queue))
    try:
        while True:
            ev = await queue.get()
            if ev is None:
                break
            if isinstance(ev, _Failed):
                raise ev.error
            if isinstance(ev, JobFinished):
                blame_engine(plan, target, ev)
                blame_missing(plan, missing, ev)
            elif isinstance(ev, RankStarted) and ev.pid is not None:
                pids[ev.rank] = ev.pid
            elif isinstance(ev, Stage) and ev.name == "go" and checker is None:
                checker = asyncio.ensure_future(_check_joins(pool, plan, waiting, pids, missing))
            yield ev
            if isinstance(ev, RankReady) and ev.rank in waiting:
                waiting.discard(ev.rank)
                if not waiting:
                    yield ServiceReady(smoke.where, time.monotonic() - t0, smoke)
                    if prompt is not None:
                        task = asyncio.ensure_future(_ask(pool, smoke, prompt, timeout, queue))
            elif isinstance(ev, ServiceAnswer) and smoke_only and stop is not None:
                stop.set()
            elif isinstance(ev, JobFinished):
                break
    finally:
        await _end([task, checker, feeder], events)


async def _end(tasks: list[asyncio.Task | None], events: AsyncGenerator[Any, None]) -> None:
    """``serve``'s tasks cancelled and waited for, then the launch's generator closed."""
    children = [t for t in tasks if t is not None]
    for t in children:
        t.cancel()
    try:
        # the children's own cancellation and errors are absorbed; a cancel aimed at this
        # task (while it waits for them) is not
        await asyncio.gather(*children, return_exceptions=True)
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()


# --- the serving setup (CLI and TUI) ----------------------------------------------------


async def prepare(
    pool: Any,
    table: Any,
    profile: Profile,
    command: list[str],
    *,
    targets: Mapping[str, str],
    home: str = mindie.DEFAULT_HOME,
    override: tuple[str, str] | None = None,
    tls: bool | None = None,
    port: int | None = None,
    tp: int | None = None,
    rpc_port: int | None = None,
    preflight: bool = True,
) -> tuple[ServingSetup | None, dict[str, dict[str, bytes]], list[str]]:
    """(serving setup, files for each server's run folder, warnings) of a serving profile
    (None for others). mindie-service: the table checked against MindIE's rules before any
    SSH round trip, each server's config.json read (or ``override``: text, source) and
    derived, the weights folder's permissions checked (``preflight``). ``targets``:
    server_id -> SSH host; ``port``: the HTTP port (default the profile's / config's)."""
    if profile.serving == "vllm-ascend":
        return vllm_setup(table, profile, command, tp=tp, http_port=port, rpc_port=rpc_port), {}, []
    if profile.serving != "mindie-service":
        return None, {}, []
    check_mindie_table(table)
    if pool is None:
        raise InputError("profile mindie-service needs the servers (not local agents)")
    configs = await mindie_configs(pool, table, targets, home=home, override=override, tls=tls, port=port)
    first = configs[table.server_list[0].server_id]
    if preflight:
        raise_weights(await weights_problems(pool, targets, mindie.model(first)[1]))
    files = {
        s.server_id: {mindie.server_config_name(i): config_bytes(configs[s.server_id])}
        for i, s in enumerate(table.server_list)
    }
    return mindie_setup(table, profile, command, configs), files, mindie.tls_warnings(first)


def plan_command(plan: LaunchPlan) -> list[str]:
    """The serving command a plan was built from: vllm-ascend's ``MODEL [flags]`` (the model
    is in the servers' values), MindIE's arguments."""
    if plan.serving != "vllm-ascend":
        return list(plan.template_args)
    model = shlex.split(plan.servers[0].values.get("model", "''"))
    return [*model[:1], *plan.template_args]


async def serving_run(
    plan: LaunchPlan,
    table: Any,
    data: bytes,
    *,
    profile: Profile,
    pool: Any,
    prompt: str | None,
    stop: asyncio.Event | StopRequests | None = None,
    **launch_kw: Any,
) -> AsyncGenerator[Any, None]:
    """A serving profile's launch as one generator (the Launch pane's): ``prepare`` (MindIE's
    per-server config.json read from each server and derived, default folder, TLS
    unchanged; the table and weights checks), the launch, ``ServiceReady``, the first
    request's ``ServiceAnswer``."""
    from console.ops.launch import launch

    targets = {s.server_id: s.host for s in plan.servers}
    setup, files, warnings = await prepare(
        pool, table, profile, plan_command(plan), targets=targets, preflight=launch_kw.get("check", True)
    )
    if setup is None:
        raise InputError(f"profile {profile.name} is not a serving profile")
    for warning in warnings:
        yield LaunchWarning(warning)
    events = launch(plan, table, data, pool=pool, stop=stop, server_files=files, **launch_kw)
    event = stop if isinstance(stop, asyncio.Event) else None  # serve() sets it only with smoke_only
    async with contextlib.aclosing(serve(events, plan, setup.target, pool, prompt=prompt, stop=event)) as out:
        async for ev in out:
            yield ev
