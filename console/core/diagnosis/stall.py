"""Stalls during startup, as a pure model the Launch pane and a ``--fail-fast-stall`` can use:
per rank the time since its last line, the countdown to HCCL_CONNECT_TIMEOUT after GO, and
"stalled" after N seconds of silence; and the verdict that a stall has a culprit: most running
ranks are stalled while every rank of one server has failed or never printed a line.

Times are plain seconds on one clock (the console's monotonic clock); nothing here reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model import Cause

DEFAULT_CONNECT_TIMEOUT_S = 120.0
DEFAULT_STALL_S = 60.0


def connect_timeout(env: Mapping[str, str]) -> float:
    """HCCL_CONNECT_TIMEOUT from a rank's env (seconds), default 120."""
    try:
        value = float(env.get("HCCL_CONNECT_TIMEOUT", ""))
    except ValueError:
        return DEFAULT_CONNECT_TIMEOUT_S
    return value if value > 0 else DEFAULT_CONNECT_TIMEOUT_S


@dataclass(frozen=True)
class RankStall:
    rank: int
    server: str
    silent_s: float = field(metadata={"doc": "since its last line, or since GO without one"})
    countdown_s: float | None = field(metadata={"doc": "to HCCL_CONNECT_TIMEOUT after GO"})
    stalled: bool
    printed: bool


@dataclass(frozen=True)
class StallVerdict:
    server: str
    failed: list[int]
    silent: list[int]
    stalled: list[int]

    def describe(self) -> str:
        parts = []
        if self.failed:
            parts.append(f"{_ranks(self.failed)} failed")
        if self.silent:
            parts.append(f"{_ranks(self.silent)} never printed a line")
        waiting = sorted(set(self.stalled) - set(self.silent) - set(self.failed))
        return (
            f"{_ranks(waiting)} {'is' if len(waiting) == 1 else 'are'} stalled while on "
            f"{self.server} " + " and ".join(parts)
        )


def _fold(ranks: Iterable[int]) -> str:
    return ",".join(map(str, sorted(ranks)))


def _ranks(ranks: list[int]) -> str:
    """``rank 3`` or ``ranks 2,3``"""
    return ("rank " if len(ranks) == 1 else "ranks ") + _fold(ranks)


class StallTracker:
    def __init__(
        self,
        rank_server: Mapping[int, str],
        *,
        stall_s: float = DEFAULT_STALL_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.rank_server = dict(rank_server)
        self.stall_s, self.connect_timeout_s = stall_s, connect_timeout_s
        self.go: float | None = None
        self.last: dict[int, float] = {}
        self.exits: dict[int, int | None] = {}

    def started(self, t: float) -> None:
        """GO: the ranks were released."""
        self.go = t if self.go is None else self.go

    def line(self, rank: int, t: float) -> None:
        self.last[rank] = t

    def exited(self, rank: int, code: int | None) -> None:
        self.exits[rank] = code

    def ranks(self, now: float) -> list[RankStall]:
        out = []
        for rank, server in sorted(self.rank_server.items()):
            if rank in self.exits or self.go is None:
                continue
            since = self.last.get(rank, self.go)
            silent = max(0.0, now - since)
            out.append(
                RankStall(
                    rank=rank,
                    server=server,
                    silent_s=silent,
                    countdown_s=self.go + self.connect_timeout_s - now,
                    stalled=silent >= self.stall_s,
                    printed=rank in self.last,
                )
            )
        return out

    def verdict(self, now: float) -> StallVerdict | None:
        """A server to blame, when most running ranks are stalled and every rank of that
        server failed (non-zero exit) or never printed a line; else None."""
        running = self.ranks(now)
        stalled = [r.rank for r in running if r.stalled]
        if not running or len(stalled) * 2 <= len(running):
            return None
        silent = {r.rank for r in running if r.stalled and not r.printed}
        for server in dict.fromkeys(self.rank_server.values()):
            mine = [r for r, s in self.rank_server.items() if s == server]
            failed = [r for r in mine if self.exits.get(r) not in (None, 0) and r in self.exits]
            quiet = [r for r in mine if r in silent]
            if mine and len(failed) + len(quiet) == len(mine):
                # someone else got further and now waits: all silent everywhere blames nobody
                others = [r.rank for r in running if r.stalled and r.printed and r.server != server]
                if others or failed:
                    return StallVerdict(
                        server=server, failed=sorted(failed), silent=sorted(quiet), stalled=sorted(stalled)
                    )
        return None


def stall_cause(event: Mapping[str, object]) -> Cause | None:
    """The ``stall`` event of a run record (what the supervisor saw when most ranks stalled)
    as a cause: the server whose ranks failed or never printed is where to look first. It has
    no log time, so any timed root cause in the logs comes before it."""
    server = event.get("server")
    if not isinstance(server, str):
        return None
    failed, silent, stalled = (_ints(event.get(k)) for k in ("failed", "silent", "stalled"))
    silent_s, timeout_s = event.get("silent_s"), event.get("connect_timeout_s")
    parts = []
    if silent:
        parts.append(f"{_ranks(silent)} never printed a line")
    if failed:
        parts.append(f"{_ranks(failed)} failed")
    wait = f" for {silent_s:.0f} s" if isinstance(silent_s, (int, float)) else ""
    before = f", before HCCL_CONNECT_TIMEOUT ({timeout_s:g} s) ran out" if isinstance(timeout_s, (int, float)) else ""
    waiting = sorted(set(stalled) - set(silent) - set(failed))
    title = (
        f"on {server} " + " and ".join(parts or ["ranks stopped"]) + f" while {_ranks(waiting)} waited{wait}{before}"
    )
    return Cause(
        cause="stalled_peer",
        rule="stall",
        phase="connect",
        server=server,
        fields={"failed": _fold(failed), "silent": _fold(silent), "stalled": _fold(stalled)},
        title=title,
        explanation="Most ranks went silent at startup (waiting to connect) while every rank of "
        "one server failed or never printed: the others wait for that server.",
        next_check=f"on {server}: `npu-smi info` (a hung or busy NPU?), the ranks' own logs and "
        "`ps` (did they start, are they stuck before HCCL init?)",
    )


def _ints(value: object) -> list[int]:
    return sorted(v for v in value if isinstance(v, int)) if isinstance(value, list) else []
