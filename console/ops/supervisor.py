"""Supervise one job: agents on every server, barrier, GO at once, teardown on first failure.

Transport-agnostic: it talks to one ``AgentLink`` per server (``console.ops.agentlink``), made
by an ``Opener`` (local subprocesses in tests, ``Pool.open_process`` over SSH for real).
``Supervisor.events()`` is an async generator of ``console.ops.launch_events`` events;
closing it early (Ctrl-C, cancellation, the consumer giving up) tears the job down.
Every line from an agent is checked (``console.ops.agentframes``) before it is used: one that
is not a JSON object of a known type with the right fields and one of that server's rank ids
(a login script's ``1024``) is kept in the run record and shown once per server, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from console.core.errors import ConsoleError
from console.core.planning.launch import LaunchPlan, ServerPlan
from console.ops.agentlink import AgentLink, Opener, close_links, hello_payload, spec_for
from console.ops.launch_events import JobFinished, LaunchWarning, RootCause, Stage, StageName
from console.ops.launch_stall import StallOptions
from console.ops.launch_stop import StopRequests
from console.ops.runrecord import RunRecord
from console.ops.supervisor_handlers import JobHandlers
from console.ops.supervisor_state import what_runs

QUEUE_SIZE = 20000
QUEUE_CHARS = 64 << 20
"""Characters of agent lines waiting for the consumer: past it the readers wait (the SSH
channels' flow control then holds the agents), so memory stays bounded."""


class Supervisor(JobHandlers):
    """The job's bookkeeping is ``JobState`` (``console.ops.supervisor_state``), what agent
    messages do to it ``JobHandlers`` (``console.ops.supervisor_handlers``); this class opens
    the agents, reads their channels into one bounded queue and runs the loop."""

    def __init__(
        self,
        plan: LaunchPlan,
        opener: Opener,
        record: RunRecord | None = None,
        *,
        heartbeat_s: float = 5.0,
        stop_wait_s: float = 5.0,
        go_margin_s: float | None = None,
        stop: asyncio.Event | StopRequests | None = None,
        stall: StallOptions | None = None,
        files: dict[str, dict[str, str]] | None = None,
        before_finish: Callable[[Supervisor], Awaitable[list[Any]]] | None = None,
    ) -> None:
        super().__init__(
            plan, record, heartbeat_s=heartbeat_s, stop_wait_s=stop_wait_s, go_margin_s=go_margin_s, stall=stall
        )
        self.before_finish = before_finish
        self.files = files or {}
        self.stop = stop
        self.opener = opener
        self.queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.queued_chars = 0
        self.room = asyncio.Event()
        self.room.set()
        self.readers: list[asyncio.Task] = []
        self.finished = False

    # --- public ---------------------------------------------------------------------------

    async def events(self) -> AsyncGenerator[Any, None]:
        """Every event of the job, ``JobFinished`` last. Setting ``stop`` tears the job down
        like a failure (root cause of kind "stopped") and the events go on to the end."""
        watch = asyncio.ensure_future(self._watch_stop()) if self.stop is not None else None
        try:
            for event in await self._open_all():
                yield event
            while not self._done():
                for event in self.handle(await self._next()):
                    yield event
                if self.record and (warning := self.record.take_warning()) is not None:
                    yield LaunchWarning(warning)  # recording stopped; the job goes on
            if self.before_finish is not None:  # e.g. run folders the agents did not remove
                for event in await self.before_finish(self):
                    yield event
            self.finished = True
            yield JobFinished(self.finish())
        finally:
            if watch is not None:
                watch.cancel()
            try:
                if not self.finished:
                    await self._abort()
            finally:  # even when aborting failed (run record unwritable): no agent left behind
                await self._close_links()

    # --- opening --------------------------------------------------------------------------

    async def _open(self, server: ServerPlan) -> AgentLink:
        sid = server.server_id
        link = await self.opener(server)
        self.links[sid] = link  # now: closed by events() even if start-up is cancelled
        self.readers.append(asyncio.ensure_future(self._reader(sid, link)))
        spec = spec_for(self.plan, server, heartbeat_s=self.heartbeat_s * 4, files=self.files.get(sid))
        # the first clock ping goes with the spec, not after ``hello``: a login script that
        # prints text without a newline garbles hello, but the pong comes on a line of its own
        ping = json.dumps(self.clocks.ping(sid))
        link.write(f"{hello_payload(spec)}{ping}\n")
        await link.drain()
        return link

    async def _open_all(self) -> list[Any]:
        self.record_event("start", servers=len(self.plan.servers), world_size=self.plan.world_size)
        beat = asyncio.ensure_future(self._beat_while_opening())
        try:
            results = await asyncio.gather(*(self._open(s) for s in self.plan.servers), return_exceptions=True)
        finally:
            beat.cancel()
        events: list[Any] = [
            Stage(
                StageName.AGENTS,
                f"host agents started on {len(self.plan.servers)} "
                f"servers; waiting for {what_runs(self.plan)} at the "
                "barrier",
            )
        ]
        failed = []
        for server, result in zip(self.plan.servers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, (ConsoleError, OSError)):
                    raise result
                failed.append((server.server_id, result))
        for sid, exc in failed:
            events += self.server_gone(sid, f"cannot start the host agent: {exc}")
        return events

    async def _beat_while_opening(self) -> None:
        """Heartbeats to the agents already up while the others are still being opened (a
        thousand servers at ten handshakes at a time take longer than an agent waits for
        the console: it would stop its ranks, "no heartbeat from the console")."""
        while True:
            await asyncio.sleep(max(0.0, self.next_hb - time.monotonic()))
            self.next_hb = time.monotonic() + self.heartbeat_s
            self.send_all({"t": "hb"})

    async def _watch_stop(self) -> None:
        if isinstance(self.stop, StopRequests):
            while True:
                sig, reason = await self.stop.get()
                await self.queue.put(("stop", sig, reason))
        assert self.stop is not None
        await self.stop.wait()
        await self.queue.put(("stop", "TERM", "stopped by the user"))

    async def _reader(self, sid: str, link: AgentLink) -> None:
        reason = "agent channel closed"
        try:
            async for line in link:
                self.queued_chars += len(line)
                await self.queue.put(("msg", sid, line))
                if self.queued_chars > QUEUE_CHARS:
                    self.room.clear()
                    await self.room.wait()
        except (ConsoleError, OSError) as exc:
            reason = str(exc)
        stderr = getattr(link, "stderr_text", "")
        await self.queue.put(("eof", sid, f"{reason}{': ' + stderr.strip() if stderr else ''}"))

    # --- main loop ------------------------------------------------------------------------

    def _done(self) -> bool:
        return not self.pending and self.ended >= set(self.links)

    async def _next(self) -> tuple:
        if self.queue.empty() and self.record:
            self.record.flush()
        timeout = min(self.deadlines().values()) - time.monotonic()
        if timeout <= 0:
            return ("tick",)
        try:
            return self._taken(await asyncio.wait_for(self.queue.get(), timeout))
        except TimeoutError:
            return ("tick",)

    def _taken(self, item: tuple) -> tuple:
        if item[0] == "msg":
            self.queued_chars -= len(item[2])
            if self.queued_chars <= QUEUE_CHARS // 2:
                self.room.set()
        return item

    # --- ending ---------------------------------------------------------------------------

    async def _abort(self) -> None:
        """Cancelled or closed early: stop every agent and wait (briefly) for the exits."""
        if self.root is None:
            self.teardown(RootCause("launch interrupted", "console", "console"))
        for server in self.plan.servers:  # agent never started (cancelled while opening)
            if server.server_id not in self.links:
                self.pending.difference_update(r.rank for r in server.ranks)
        deadline = self.deadlines()["give_up"]
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            while not self._done() and time.monotonic() < deadline:
                item = self._taken(await asyncio.wait_for(self.queue.get(), deadline - time.monotonic()))
                self.handle(item)
        self.record_event("aborted", pending=sorted(self.pending))

    async def _close_links(self) -> None:
        await close_links(self.links.values())
        for task in self.readers:
            task.cancel()
        if self.record:
            self.record.flush()
