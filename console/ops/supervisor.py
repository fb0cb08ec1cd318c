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
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from console.core.errors import ConsoleError
from console.core.planning.launch import LaunchPlan, ServerPlan
from console.ops.agentclock import AgentClocks
from console.ops.agentframes import check_frame
from console.ops.agentlink import AgentLink, Opener, close_links, hello_payload, spec_for
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    LaunchWarning,
    RankExited,
    RankLine,
    RankReady,
    RankStarted,
    RootCause,
    ServerLost,
    Stage,
    StageName,
    StallDetected,
    Teardown,
)
from console.ops.launch_stall import StallOptions, StallWatch
from console.ops.launch_stop import STEPS, StopRequests, stronger
from console.ops.runrecord import RunRecord

TAIL_LINES = 20
QUEUE_SIZE = 20000
QUEUE_CHARS = 64 << 20
"""Characters of agent lines waiting for the consumer: past it the readers wait (the SSH
channels' flow control then holds the agents), so memory stays bounded."""


class Supervisor:
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
        self.plan = plan
        self.stall = StallWatch(plan, stall or StallOptions())
        self.before_finish = before_finish
        self.files = files or {}
        self.cleaned: set[str] = set()  # servers whose agent removed its run folder
        self.unexpected: dict[str, int] = {}
        self.stop = stop
        self.opener = opener
        self.record = record
        self.heartbeat_s = heartbeat_s
        self.stop_wait_s = stop_wait_s
        self.clocks = AgentClocks(go_margin_s)
        self.writes = [0, 0.0]  # writes to agents' channels, and the seconds they took (GO's margin)
        self.queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.queued_chars = 0
        self.room = asyncio.Event()
        self.room.set()
        self.links: dict[str, AgentLink] = {}
        self.readers: list[asyncio.Task] = []
        self.server_of = {r.rank: s for s in plan.servers for r in s.ranks}
        # per-message lookups by server id: dicts, never a scan of the plan (1,024 servers)
        self.by_id = {s.server_id: s for s in plan.servers}
        self.ranks_of = {s.server_id: frozenset(r.rank for r in s.ranks) for s in plan.servers}
        self._server_ids = list(self.by_id)
        self.pending = set(self.server_of)
        self.exit_codes: dict[int, int | None] = {}
        self.tails: dict[int, deque[str]] = {r: deque(maxlen=TAIL_LINES) for r in self.server_of}
        self.ready: set[str] = set()
        self.ended: set[str] = set()  # bye received or channel gone
        self.closed_by_us: set[str] = set()
        self.lost: list[str] = []
        self.starts: dict[int, float] = {}
        self.woke: dict[int, float] = {}
        self.late: dict[str, float] = {}
        self.root: RootCause | None = None
        self.t0 = time.monotonic()
        self.go_at: float | None = None
        self.teardown_at: float | None = None
        self.stop_sig: str | None = None  # the last signal the agents were told to stop with
        self.stop_sent_at: float | None = None
        self.all_exited_at: float | None = None
        self.next_hb = self.t0 + heartbeat_s
        self.ready_re = re.compile(plan.ready_pattern) if plan.ready_pattern else None
        self.awaiting_ready: set[int] = set()
        self.lines = 0
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
                for event in self._handle(await self._next()):
                    yield event
                if self.record and (warning := self.record.take_warning()) is not None:
                    yield LaunchWarning(warning)  # recording stopped; the job goes on
            if self.before_finish is not None:  # e.g. run folders the agents did not remove
                for event in await self.before_finish(self):
                    yield event
            self.finished = True
            yield JobFinished(self._finish())
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
        self._event("start", servers=len(self.plan.servers), world_size=self.plan.world_size)
        beat = asyncio.ensure_future(self._beat_while_opening())
        try:
            results = await asyncio.gather(*(self._open(s) for s in self.plan.servers), return_exceptions=True)
        finally:
            beat.cancel()
        events: list[Any] = [
            Stage(
                StageName.AGENTS,
                f"host agents started on {len(self.plan.servers)} "
                f"servers; waiting for {_what(self.plan)} at the "
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
            events += self._server_gone(sid, f"cannot start the host agent: {exc}")
        return events

    async def _beat_while_opening(self) -> None:
        """Heartbeats to the agents already up while the others are still being opened (a
        thousand servers at ten handshakes at a time take longer than an agent waits for
        the console: it would stop its ranks, "no heartbeat from the console")."""
        while True:
            await asyncio.sleep(max(0.0, self.next_hb - time.monotonic()))
            self.next_hb = time.monotonic() + self.heartbeat_s
            self._send_all({"t": "hb"})

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
        timeout = min(self._deadlines().values()) - time.monotonic()
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

    def _deadlines(self) -> dict[str, float]:
        out = {"hb": self.next_hb}
        if self.root is None and self.go_at is None:
            out["setup"] = self.t0 + self.plan.setup_timeout_s
        if self.root is None and self.awaiting_ready and self.go_at is not None:
            out["ready"] = self.go_at + self.plan.ready_timeout_s
        if self.root is None and (stall := self.stall.due()) is not None:
            out["stall"] = stall
        if self.stop_sent_at is not None:
            # the agents step on to the next signal after each grace period; KILL is last
            steps_left = len(STEPS) - 1 - STEPS.index(self.stop_sig or "TERM")
            out["give_up"] = self.stop_sent_at + steps_left * self.plan.grace_s + self.stop_wait_s
        return out

    def _handle(self, item: tuple) -> list[Any]:
        if item[0] == "msg":
            sid = item[1]
            msg, problem = check_frame(item[2], self.ranks_of[sid])
            if problem is not None:
                return self._unexpected(sid, item[2], problem)
            return self._on_msg(sid, msg)
        if item[0] == "eof":
            return self._server_gone(item[1], item[2])
        if item[0] == "stop":
            return self._user_stop(item[1], item[2])
        return self._on_tick()

    def _user_stop(self, sig: str, reason: str) -> list[Any]:
        """The user's stop: a teardown starting with ``sig``; while tearing down already,
        only a stronger signal (that cause stays the root)."""
        if self.root is None:
            return self._teardown(RootCause(reason, "console", "console", kind="stopped"), sig)
        if stronger(sig, self.stop_sig):
            self._send_all({"t": "stop", "reason": reason, "sig": sig})
            self.stop_sig, self.stop_sent_at = sig, time.monotonic()
            self._event("stop_escalated", signal=sig, reason=reason)
        return []

    def _on_msg(self, sid: str, msg: dict) -> list[Any]:
        kind = msg.get("t")
        if kind == "line":
            return self._on_line(msg)
        if kind == "started":
            self.starts[msg["rank"]] = msg["ts"]
            self._event("started", rank=msg["rank"], server=sid, rank_ts=msg["ts"])
            return [RankStarted(msg["rank"], sid, msg["ts"], msg.get("pid"))]
        if kind == "exit":
            return self._on_exit(sid, msg["rank"], msg["code"], msg.get("sig"))
        if kind == "ready":
            return self._on_ready(sid)
        if kind == "pong":
            return self._on_pong(sid, msg)
        if kind == "woke":
            self.woke[msg["rank"]] = msg["ts"]
        elif kind == "go":
            self.late[sid] = msg.get("late", 0.0)
        if kind == "bye":
            self.ended.add(sid)
        elif kind == "error":
            return [LaunchWarning(msg["msg"], self._host(sid))]
        elif kind == "refused":
            return self._refused(sid, msg["msg"])
        elif kind == "cleaned":
            if msg.get("error"):
                self._event("agent.cleaned", server=sid, dir=msg.get("dir"), error=msg["error"])
                return [LaunchWarning(f"run folder: {msg['error']}", self._host(sid))]
            self.cleaned.add(sid)
        self._event(
            f"agent.{kind}", server=sid, **{("agent_ts" if k == "ts" else k): v for k, v in msg.items() if k != "t"}
        )
        return []

    def _unexpected(self, sid: str, line: str, problem: str) -> list[Any]:
        """A line that is not a frame: recorded (the first 1000 per server), shown once."""
        seen = self.unexpected[sid] = self.unexpected.get(sid, 0) + 1
        if seen <= 1000:
            self._event("agent.unexpected", server=sid, problem=problem, text=line[:200])
        if seen > 1:
            return []
        return [
            LaunchWarning(
                f"ignored a line from the host agent ({problem}): {line[:200]!r}; "
                "more such lines go to the run record only",
                self._host(sid),
            )
        ]

    def _refused(self, sid: str, why: str) -> list[Any]:
        if self.root is not None:
            return [LaunchWarning(why, self._host(sid))]
        self._event("refused", server=sid, reason=why)
        return self._teardown(RootCause(why, sid, self._host(sid)))

    def _on_line(self, msg: dict) -> list[Any]:
        rank, text, partial = msg["rank"], msg["x"], bool(msg.get("p"))
        if self.record:
            self.record.line(rank, text, partial)
        if not partial:
            self.lines += 1
            self.tails[rank].append(text)
        events: list[Any] = [RankLine(rank, msg["s"], text, partial), *self.stall.line(rank, time.monotonic())]
        if rank in self.awaiting_ready and self.ready_re is not None and self.ready_re.search(text):
            self.awaiting_ready.discard(rank)
            after = time.monotonic() - (self.go_at or self.t0)
            self._event("rank_ready", rank=rank, after_s=round(after, 3))
            events.append(RankReady(rank, after))
        return events

    def _on_exit(self, sid: str, rank: int, code: int | None, sig: int | None) -> list[Any]:
        self.pending.discard(rank)
        self.awaiting_ready.discard(rank)
        self.exit_codes[rank] = code
        self.stall.exited(rank, code)
        self._event("exit", rank=rank, server=sid, code=code, signal=sig)
        events: list[Any] = [RankExited(rank, sid, code, sig)]
        if code != 0 and self.root is None:
            what = f"killed by signal {sig}" if sig else f"exited with code {code}"
            if self.go_at is None:
                what += " before GO (setup lines failed?)"
            events += self._teardown(RootCause(what, sid, self._host(sid), rank, code, sig, tuple(self.tails[rank])))
        if not self.pending and self.all_exited_at is None:
            self.all_exited_at = time.monotonic()
        return events

    def _on_ready(self, sid: str) -> list[Any]:
        self.ready.add(sid)
        self._event("ready", server=sid)
        return self._maybe_go()

    def _on_pong(self, sid: str, msg: dict) -> list[Any]:
        if self.clocks.pong(sid, msg):
            self._send(sid, self.clocks.ping(sid))
        return self._maybe_go()

    def _maybe_go(self) -> list[Any]:
        """GO once every server is at the barrier and its clock is known."""
        everyone = len(self.by_id)  # ready and clocks hold only this plan's servers: counting is enough
        if self.root is not None or self.go_at is not None:
            return []
        if len(self.ready) < everyone or self.clocks.count() < everyone:
            return []
        self._event("barrier", servers=len(self.ready))
        self.go_at = time.monotonic()
        self.stall.started(self.go_at)
        # every agent must have GO before its release moment: the margin also covers writing GO
        # to every channel, one after another (``_send``: its measured cost times the servers)
        count, spent = self.writes
        margin = self.clocks.margin(fanout_s=spent / count * len(self.links) if count else 0.0)
        release = time.time() + margin
        for sid in self.links:
            self._send(sid, {"t": "go", "at": release + self.clocks.offset(sid)})
        self._event("go", release_ts=release, margin_s=round(margin, 4), clocks=self.clocks.report())
        if self.ready_re:
            self.awaiting_ready = {r.rank for s in self.plan.servers for r in s.ranks if r.await_ready}
        return [Stage(StageName.GO, f"all {_what(self.plan)} at the barrier; GO sent to {len(self.links)} servers")]

    def _on_tick(self) -> list[Any]:
        now, due = time.monotonic(), self._deadlines()
        if now >= due["hb"]:
            self.next_hb = now + self.heartbeat_s
            self._send_all({"t": "hb"})
        if now >= due.get("setup", float("inf")):
            return self._teardown(self._setup_timeout())
        if now >= due.get("ready", float("inf")):
            rank = min(self.awaiting_ready)
            sid = self.server_of[rank].server_id
            return self._teardown(
                RootCause(
                    f"did not print /{self.plan.ready_pattern}/ within {self.plan.ready_timeout_s:g} s",
                    sid,
                    self._host(sid),
                    rank,
                    last_lines=tuple(self.tails[rank]),
                )
            )
        if now >= due.get("give_up", float("inf")):
            return self._give_up()
        if now >= due.get("stall", float("inf")):
            return self._on_stall(now)
        return []

    def _on_stall(self, now: float) -> list[Any]:
        """Ranks newly stalled; the stall's culprit server (torn down with fail_fast)."""
        events, verdict = self.stall.check(now)
        out: list[Any] = list(events)
        for ev in events:
            if isinstance(ev, StallDetected):
                self._event(
                    "stall",
                    server=ev.server_id,
                    failed=ev.failed,
                    silent=ev.silent,
                    stalled=ev.stalled,
                    silent_s=ev.silent_s,
                    connect_timeout_s=ev.connect_timeout_s,
                    teardown=ev.teardown,
                )
            else:
                self._event("stalled", rank=ev.rank, silent_s=ev.silent_s, countdown_s=ev.countdown_s)
        if verdict is not None and self.stall.options.fail_fast:
            sid = verdict.server
            out += self._teardown(RootCause(f"stalled: {verdict.describe()}", sid, self._host(sid), kind="stall"))
        return out

    def _setup_timeout(self) -> RootCause:
        late = self.plan.setup_timeout_s
        sid = next((s for s in self.server_ids if s not in self.ready), None)
        if sid is not None:
            return RootCause(f"ranks not at the barrier after {late:g} s", sid, self._host(sid))
        # every server at the barrier, but a clock never answered its ping
        sid = next((s for s in self.server_ids if not self.clocks.synced({s})), self.server_ids[0])
        return RootCause(
            f"host agent never answered the clock ping within {late:g} s (its output garbled or lost?)",
            sid,
            self._host(sid),
        )

    # --- ending ---------------------------------------------------------------------------

    def _teardown(self, root: RootCause, sig: str = "TERM") -> list[Any]:
        self.root = root
        self.teardown_at = self.stop_sent_at = time.monotonic()
        self.stop_sig = sig
        # STOP first: it must reach the agents even if the run record cannot be written
        self._send_all({"t": "stop", "reason": f"teardown: {root.describe()}", "sig": sig})
        self._event(
            "teardown", root_cause=root.describe(), cause=root.kind, rank=root.rank, server=root.server_id, signal=sig
        )
        return [Teardown(root)]

    def _server_gone(self, sid: str, reason: str) -> list[Any]:
        was_clean = sid in self.ended or sid in self.closed_by_us
        self.ended.add(sid)
        events: list[Any] = []
        if not was_clean:
            self.lost.append(sid)
            self._event("server_lost", server=sid, reason=reason)
            events.append(ServerLost(sid, self._host(sid), reason))
            if self.root is None:
                events += self._teardown(RootCause(f"server lost: {reason}", sid, self._host(sid)))
        for spec in self.by_id[sid].ranks:
            if spec.rank in self.pending:
                events += self._on_exit(sid, spec.rank, None, None)
        return events

    def _give_up(self) -> list[Any]:
        """Agents that did not report every exit in time: close their channels."""
        events: list[Any] = []
        for sid, link in self.links.items():
            if sid not in self.ended:
                self.closed_by_us.add(sid)
                link.write_eof()
                events += self._server_gone(sid, "no answer after STOP; channel closed")
        return events

    async def _abort(self) -> None:
        """Cancelled or closed early: stop every agent and wait (briefly) for the exits."""
        if self.root is None:
            self._teardown(RootCause("launch interrupted", "console", "console"))
        for server in self.plan.servers:  # agent never started (cancelled while opening)
            if server.server_id not in self.links:
                self.pending.difference_update(r.rank for r in server.ranks)
        deadline = self._deadlines()["give_up"]
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            while not self._done() and time.monotonic() < deadline:
                item = self._taken(await asyncio.wait_for(self.queue.get(), deadline - time.monotonic()))
                self._handle(item)
        self._event("aborted", pending=sorted(self.pending))

    async def _close_links(self) -> None:
        await close_links(self.links.values())
        for task in self.readers:
            task.cancel()
        if self.record:
            self.record.flush()

    def _finish(self) -> JobSummary:
        skew = _spread(self.starts.values())
        teardown = (
            self.all_exited_at - self.teardown_at
            if self.teardown_at is not None and self.all_exited_at is not None
            else None
        )
        ok = self.root is None and all(c == 0 for c in self.exit_codes.values())
        summary = JobSummary(
            ok=ok,
            world_size=self.plan.world_size,
            exit_codes=dict(sorted(self.exit_codes.items())),
            run_dir=str(self.record.dir) if self.record else None,
            root_cause=self.root,
            start_skew_s=skew,
            teardown_s=teardown,
            duration_s=time.monotonic() - self.t0,
            lines=self.lines,
            lost_servers=self.lost,
            wake_skew_s=_spread(self.woke.values()),
            go_late_s=max(self.late.values()) if self.late else None,
            processes=self.plan.processes,
        )
        self._event(
            "finished",
            ok=ok,
            start_skew_s=skew,
            teardown_s=teardown,
            lines=self.lines,
            root_cause=self.root.describe() if self.root else None,
        )
        return summary

    # --- helpers --------------------------------------------------------------------------

    @property
    def server_ids(self) -> list[str]:
        return self._server_ids

    def _host(self, sid: str) -> str:
        server = self.by_id.get(sid)
        return sid if server is None else server.host

    def _send_all(self, msg: dict) -> None:
        text = json.dumps(msg) + "\n"
        for sid in self.links:
            self._write(sid, text)

    def _send(self, sid: str, msg: dict) -> None:
        self._write(sid, json.dumps(msg) + "\n")

    def _write(self, sid: str, text: str) -> None:
        link = self.links.get(sid)
        if link is None or sid in self.ended:
            return
        start = time.perf_counter()
        with contextlib.suppress(ConsoleError, OSError, RuntimeError):
            link.write(text)
        self.writes[0] += 1
        self.writes[1] += time.perf_counter() - start

    def _event(self, kind: str, **fields: Any) -> None:
        if self.record:
            self.record.event(kind, t=round(time.monotonic() - self.t0, 6), **fields)


def _what(plan: LaunchPlan) -> str:
    return f"{plan.world_size} ranks" if plan.per == "rank" else f"{plan.processes} server processes"


def _spread(values: Any) -> float | None:
    values = list(values)
    return max(values) - min(values) if values else None
