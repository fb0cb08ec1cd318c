"""What each agent message, clock tick and stop request does to a supervised job (for
``Supervisor``, ``console.ops.supervisor``): ranks started, lines (tails, ready lines, stall
marks), exits, the barrier and GO, heartbeats, timeouts, lost servers; the first failure
tears the job down (``JobState.teardown``) and is its root cause. Synchronous: each call
returns the ``console.ops.launch_events`` events to yield.
"""

from __future__ import annotations

import time
from typing import Any

from console.ops.agentframes import check_frame
from console.ops.launch_events import (
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
)
from console.ops.launch_stop import stronger
from console.ops.supervisor_state import JobState, what_runs


class JobHandlers(JobState):
    """``JobState`` plus what each queue item does to it (``handle``)."""

    def handle(self, item: tuple) -> list[Any]:
        """One item of the supervisor's queue: ("msg", sid, line), ("eof", sid, reason),
        ("stop", sig, reason) or ("tick",)."""
        if item[0] == "msg":
            sid = item[1]
            msg, problem = check_frame(item[2], self.ranks_of[sid])
            if problem is not None:
                return self._unexpected(sid, item[2], problem)
            return self._on_msg(sid, msg)
        if item[0] == "eof":
            return self.server_gone(item[1], item[2])
        if item[0] == "stop":
            return self._user_stop(item[1], item[2])
        return self._on_tick()

    def _user_stop(self, sig: str, reason: str) -> list[Any]:
        """The user's stop: a teardown starting with ``sig``; while tearing down already,
        only a stronger signal (that cause stays the root)."""
        if self.root is None:
            return self.teardown(RootCause(reason, "console", "console", kind="stopped"), sig)
        if stronger(sig, self.stop_sig):
            self.send_all({"t": "stop", "reason": reason, "sig": sig})
            self.stop_sig, self.stop_sent_at = sig, time.monotonic()
            self.record_event("stop_escalated", signal=sig, reason=reason)
        return []

    def _on_msg(self, sid: str, msg: dict) -> list[Any]:
        kind = msg.get("t")
        if kind == "line":
            return self._on_line(msg)
        if kind == "started":
            self.starts[msg["rank"]] = msg["ts"]
            rt = {"rt": 1} if msg.get("rt") == 1 else {}  # released at real-time priority
            self.record_event("started", rank=msg["rank"], server=sid, rank_ts=msg["ts"], **rt)
            return [RankStarted(msg["rank"], sid, msg["ts"], msg.get("pid"))]
        if kind == "exit":
            return self._on_exit(sid, msg["rank"], msg["code"], msg.get("sig"), msg.get("ts"))
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
            return [LaunchWarning(msg["msg"], self.host_of(sid))]
        elif kind == "refused":
            return self._refused(sid, msg["msg"])
        elif kind == "cleaned":
            if msg.get("error"):
                self.record_event("agent.cleaned", server=sid, dir=msg.get("dir"), error=msg["error"])
                return [LaunchWarning(f"run folder: {msg['error']}", self.host_of(sid))]
            self.cleaned.add(sid)
        self.record_event(
            f"agent.{kind}", server=sid, **{("agent_ts" if k == "ts" else k): v for k, v in msg.items() if k != "t"}
        )
        return []

    def _unexpected(self, sid: str, line: str, problem: str) -> list[Any]:
        """A line that is not a frame: recorded (the first 1000 per server), shown once."""
        seen = self.unexpected[sid] = self.unexpected.get(sid, 0) + 1
        if seen <= 1000:
            self.record_event("agent.unexpected", server=sid, problem=problem, text=line[:200])
        if seen > 1:
            return []
        return [
            LaunchWarning(
                f"ignored a line from the host agent ({problem}): {line[:200]!r}; "
                "more such lines go to the run record only",
                self.host_of(sid),
            )
        ]

    def _refused(self, sid: str, why: str) -> list[Any]:
        if self.root is not None:
            return [LaunchWarning(why, self.host_of(sid))]
        self.record_event("refused", server=sid, reason=why)
        return self.teardown(RootCause(why, sid, self.host_of(sid)))

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
            self.record_event("rank_ready", rank=rank, after_s=round(after, 3))
            events.append(RankReady(rank, after))
        return events

    def _on_exit(
        self, sid: str, rank: int, code: int | None, sig: int | None, agent_ts: float | None = None
    ) -> list[Any]:
        self.pending.discard(rank)
        self.awaiting_ready.discard(rank)
        self.exit_codes[rank] = code
        self.stall.exited(rank, code)
        # agent_ts: when the agent saw the exit (its clock): beside ts, how long the report took
        self.record_event("exit", rank=rank, server=sid, code=code, signal=sig, agent_ts=agent_ts)
        events: list[Any] = [RankExited(rank, sid, code, sig)]
        if code != 0 and self.root is None:
            what = f"killed by signal {sig}" if sig else f"exited with code {code}"
            if self.go_at is None:
                what += " before GO (setup lines failed?)"
            events += self.teardown(RootCause(what, sid, self.host_of(sid), rank, code, sig, tuple(self.tails[rank])))
        if not self.pending and self.all_exited_at is None:
            self.all_exited_at = time.monotonic()
        return events

    def _on_ready(self, sid: str) -> list[Any]:
        self.ready.add(sid)
        self.record_event("ready", server=sid)
        return self._maybe_go()

    def _on_pong(self, sid: str, msg: dict) -> list[Any]:
        if self.clocks.pong(sid, msg):
            self.send(sid, self.clocks.ping(sid))
        return self._maybe_go()

    def _maybe_go(self) -> list[Any]:
        """GO once every server is at the barrier and its clock is known."""
        everyone = len(self.by_id)  # ready and clocks hold only this plan's servers: counting is enough
        if self.root is not None or self.go_at is not None:
            return []
        if len(self.ready) < everyone or self.clocks.count() < everyone:
            return []
        self.record_event("barrier", servers=len(self.ready))
        self.go_at = time.monotonic()
        self.stall.started(self.go_at)
        # every agent must have GO before its release moment: the margin also covers writing GO
        # to every channel, one after another (``_send``: its measured cost times the servers)
        count, spent = self.writes
        margin = self.clocks.margin(fanout_s=spent / count * len(self.links) if count else 0.0)
        release = time.time() + margin
        for sid in self.links:
            self.send(sid, {"t": "go", "at": release + self.clocks.offset(sid)})
        self.record_event("go", release_ts=release, margin_s=round(margin, 4), clocks=self.clocks.report())
        if self.ready_re:
            self.awaiting_ready = {r.rank for s in self.plan.servers for r in s.ranks if r.await_ready}
        return [Stage(StageName.GO, f"all {what_runs(self.plan)} at the barrier; GO sent to {len(self.links)} servers")]

    def _on_tick(self) -> list[Any]:
        now, due = time.monotonic(), self.deadlines()
        if now >= due["hb"]:
            self.next_hb = now + self.heartbeat_s
            self.send_all({"t": "hb"})
        if now >= due.get("setup", float("inf")):
            return self.teardown(self._setup_timeout())
        if now >= due.get("ready", float("inf")):
            rank = min(self.awaiting_ready)
            sid = self.server_of[rank].server_id
            return self.teardown(
                RootCause(
                    f"did not print /{self.plan.ready_pattern}/ within {self.plan.ready_timeout_s:g} s",
                    sid,
                    self.host_of(sid),
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
                self.record_event(
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
                self.record_event("stalled", rank=ev.rank, silent_s=ev.silent_s, countdown_s=ev.countdown_s)
        if verdict is not None and self.stall.options.fail_fast:
            sid = verdict.server
            out += self.teardown(RootCause(f"stalled: {verdict.describe()}", sid, self.host_of(sid), kind="stall"))
        return out

    def _setup_timeout(self) -> RootCause:
        late = self.plan.setup_timeout_s
        sid = next((s for s in self.server_ids if s not in self.ready), None)
        if sid is not None:
            return RootCause(f"ranks not at the barrier after {late:g} s", sid, self.host_of(sid))
        # every server at the barrier, but a clock never answered its ping
        sid = next((s for s in self.server_ids if not self.clocks.synced({s})), self.server_ids[0])
        return RootCause(
            f"host agent never answered the clock ping within {late:g} s (its output garbled or lost?)",
            sid,
            self.host_of(sid),
        )

    def server_gone(self, sid: str, reason: str) -> list[Any]:
        """``sid``'s agent channel ended (or never opened): a lost server unless it said bye or
        we closed it; its ranks still running count as exited."""
        was_clean = sid in self.ended or sid in self.closed_by_us
        self.ended.add(sid)
        events: list[Any] = []
        if not was_clean:
            self.lost.append(sid)
            self.record_event("server_lost", server=sid, reason=reason)
            events.append(ServerLost(sid, self.host_of(sid), reason))
            if self.root is None:
                events += self.teardown(RootCause(f"server lost: {reason}", sid, self.host_of(sid)))
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
                events += self.server_gone(sid, "no answer after STOP; channel closed")
        return events
