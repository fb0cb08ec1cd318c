"""The ping sweep: run a ``PingPlan``'s probes over SSH and stream typed events.

    async for ev in sweep(pool, plan, SweepOptions(per_card=1), cancel=token):
        SweepStarted(plan) -> ProbeRunning / ProbeDone(result, done, total, eta_s) /
        ServerLost(host, error) ... -> SweepDone(matrix, cancelled)

How it runs (design.md §3):
* Each server gets up to ``per_server`` lanes (capped by the pool's channels per
  connection); a lane is one channel running a shell loop (``pinglane``), reused for every
  probe of the sweep. A source device runs at most ``per_card`` probes at once; the device
  with the most probes left goes first (it is the critical path).
* Rounds (pairwise plans) run one after the other: a device is in one probe per round.
* Every probe is wrapped in ``timeout -k K T`` on the server, so a hung ``hccn_tool`` costs
  one probe; a lane that stops answering entirely is closed (its process group killed).
* ``hccn_tool is busy`` is retried with exponential backoff; ``attempts`` counts the tries.
* A server lost mid-sweep: its remaining probes become ``skipped`` with the reason.
* Cancel with ``cancel.cancel()`` (or by cancelling the consuming task): running probes are
  killed on the servers, finished results are kept, unfinished ones are ``skipped``.
Every result keeps the exact command run and the raw output. Results are stored in a
``ResultTable`` as they come (arrays; ok outputs compressed), not as objects: a sweep of a
million probes stays within 200 MB.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections import Counter
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from console.core.errors import RemoteError
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingstore import ResultTable
from console.core.planning.ping import PingPlan, Probe, ProbeTable, plan_retry
from console.remote import Pool

from .pinglane import Lane, LaneTimeout

LOCAL_GRACE_S = 5.0  # beyond timeout + kill-after, before the lane itself is declared stuck
ETA_EVERY_S = 0.5  # the ETA walks every device: at most this often


class SweepOptions(BaseModel):
    """How hard a sweep may push the servers."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    per_card: int = Field(1, ge=1)
    """Probes one source device runs at once."""
    per_server: int = Field(8, ge=1)
    """Probes one server runs at once (also capped by the pool's channels per connection)."""
    probe_timeout: float = Field(15.0, gt=0)
    """Seconds one probe may run before ``timeout`` kills it on the server."""
    kill_after: float = Field(2.0, gt=0)
    """Seconds between timeout's TERM and its KILL."""
    busy_retries: int = Field(5, ge=0)
    """Retries of a probe answered with ``hccn_tool is busy``."""
    backoff_s: float = Field(0.2, ge=0)
    """First wait before a busy retry; doubled for each further retry."""
    backoff_max_s: float = Field(3.0, ge=0)
    """Longest wait between busy retries."""

    def command(self, probe: Probe) -> str:
        """The exact command a probe runs on its source server. ``--foreground`` keeps the
        tool in the lane's process group, so ending the lane (cancel) kills it too."""
        return f"timeout --foreground -k {self.kill_after:g} {self.probe_timeout:g} {probe.command}"


class CancelToken:
    """Set it to end a sweep early; the sweep still ends with ``SweepDone(cancelled=True)``."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass(frozen=True)
class SweepStarted:
    plan: PingPlan


@dataclass(frozen=True)
class ProbeRunning:
    probe: Probe
    attempt: int


@dataclass(frozen=True)
class ProbeDone:
    result: ProbeResult
    done: int
    total: int
    eta_s: float | None
    """Estimated seconds left (None until a probe finished)."""


@dataclass(frozen=True)
class ServerLost:
    host: str
    error: str


@dataclass(frozen=True)
class SweepDone:
    matrix: PingMatrix
    cancelled: bool
    elapsed_s: float = 0.0


SweepEvent = SweepStarted | ProbeRunning | ProbeDone | ServerLost | SweepDone


class _Queue:
    """One server's probes of one round (plan indices). A device runs at most ``per_card`` at
    once; the device with the most probes left is served first. Each device's probes are an
    array read from a cursor, so a million queued probes cost 4 bytes each."""

    def __init__(self, table: ProbeTable, indices: Iterable[int], per_card: int) -> None:
        self.table = table
        self.pending: dict[int, array] = {}
        for i in indices:
            dev = table.ends[table.src[i]].device
            queue = self.pending.get(dev)
            if queue is None:
                queue = self.pending[dev] = array("I")
            queue.append(i)
        self.head: Counter[int] = Counter()
        self.running: Counter[int] = Counter()
        self.per_card = per_card
        self._cond = asyncio.Condition()

    def left(self, dev: int) -> int:
        return len(self.pending[dev]) - self.head[dev]

    def slots(self) -> int:
        return sum(min(self.left(d), self.per_card) for d in self.pending)

    async def take(self) -> int | None:
        async with self._cond:
            while any(self.left(d) for d in self.pending):
                free = [d for d in self.pending if self.left(d) and self.running[d] < self.per_card]
                if free:
                    dev = max(free, key=self.left)
                    self.running[dev] += 1
                    self.head[dev] += 1
                    return self.pending[dev][self.head[dev] - 1]
                await self._cond.wait()
            return None

    async def release(self, i: int) -> None:
        async with self._cond:
            self.running[self.table.ends[self.table.src[i]].device] -= 1
            self._cond.notify_all()

    def drain(self) -> list[int]:
        left = [i for d, q in self.pending.items() for i in q[self.head[d] :]]
        for d, q in self.pending.items():
            self.head[d] = len(q)
        return left


class _Sweep:
    def __init__(self, pool: Pool, plan: PingPlan, options: SweepOptions, cancel: CancelToken) -> None:
        self.pool, self.plan, self.options, self.cancel = pool, plan, options, cancel
        self.events: asyncio.Queue[SweepEvent | None] = asyncio.Queue()
        self.table = plan.probes
        self.results = ResultTable(self.table)
        self.lost: dict[str, str] = {}
        self.idle: dict[str, list[Lane]] = {}
        ends = self.table.ends
        self.left: Counter[tuple[str, int]] = Counter()
        for end, n in Counter(self.table.src).items():
            self.left[(ends[end].host, ends[end].device)] += n
        self.lanes: dict[str, int] = {}
        self.measured_s, self.measured = 0.0, 0
        self._eta: tuple[float, float | None] = (-math.inf, None)

    # ---- bookkeeping -------------------------------------------------------------------

    def record(self, i: int, result: ProbeResult) -> None:
        if self.results.is_set(i):
            return
        self.results.set(i, result)
        self.left[self.table.source(i)] -= 1
        if result.status != "skipped" and result.duration_s is not None:
            self.measured_s += result.duration_s
            self.measured += 1
        total = len(self.table)
        self.events.put_nowait(ProbeDone(result, self.results.filled, total, self.eta()))

    def eta(self) -> float | None:
        """Mean probe time x the longest queue: per device (per_card wide), per server (lanes).
        Recomputed at most every ETA_EVERY_S (it walks every device), and at the last probe."""
        now = time.monotonic()
        last = self.results.filled == len(self.table)
        if self._eta[1] is not None and not last and now - self._eta[0] < ETA_EVERY_S:
            return self._eta[1]
        if not self.measured:
            return None
        mean = self.measured_s / self.measured
        per_host: Counter[str] = Counter()
        waves = 0
        for (host, _dev), n in self.left.items():
            per_host[host] += n
            waves = max(waves, math.ceil(n / self.options.per_card))
        for host, n in per_host.items():
            waves = max(waves, math.ceil(n / max(self.lanes.get(host, 1), 1)))
        self._eta = (now, mean * waves)
        return self._eta[1]

    def lose(self, host: str, exc: RemoteError, indices: Iterable[int]) -> None:
        if host not in self.lost:
            self.lost[host] = str(exc).splitlines()[0]
            self.events.put_nowait(ServerLost(host, self.lost[host]))
        for i in indices:
            self.record(i, ProbeResult.skipped(self.table.probe(i), f"server lost: {self.lost[host]}"))

    # ---- running -----------------------------------------------------------------------

    async def drive(self) -> None:
        try:
            for batch in self.table.batches():
                if self.cancel.cancelled:
                    break
                await self.run_round(batch)
        finally:
            await self.close_lanes()
            self.events.put_nowait(None)

    async def run_round(self, batch: Sequence[int]) -> None:
        by_host: dict[str, array] = {}
        ends, src = self.table.ends, self.table.src
        for i in batch:
            host = ends[src[i]].host
            rows = by_host.get(host)
            if rows is None:
                rows = by_host[host] = array("I")
            rows.append(i)
        workers: list[asyncio.Task] = []
        for host, rows in by_host.items():
            if host in self.lost:
                self.lose(host, RemoteError(self.lost[host]), rows)
                continue
            queue = _Queue(self.table, rows, self.options.per_card)
            n = min(self.options.per_server, self.pool.options.max_channels, queue.slots())
            self.lanes[host] = n
            workers += [asyncio.create_task(self.worker(host, queue)) for _ in range(n)]
        # One waiter for all the workers: asyncio.wait over every worker at each completion
        # would add a callback to each of them every time (quadratic in the lanes of a round).
        everyone = asyncio.gather(*workers, return_exceptions=True)
        stop = asyncio.create_task(self.cancel.wait())
        waiters: list[asyncio.Future[Any]] = [stop, everyone]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            for w in workers:
                w.cancel()
            outcomes = await everyone
        for out in outcomes:
            if isinstance(out, Exception):
                raise out

    async def worker(self, host: str, queue: _Queue) -> None:
        lane: Lane | None = None
        busy = False
        try:
            while (i := await queue.take()) is not None:
                busy = True
                try:
                    lane, result = await self.run_probe(host, lane, self.table.probe(i))
                except RemoteError as exc:
                    lane = None
                    self.lose(host, exc, [i, *queue.drain()])
                    return
                finally:
                    await queue.release(i)
                busy = False
                self.record(i, result)
        finally:
            if lane is not None:
                if busy:  # cancelled in the middle of a probe: kill it on the server
                    await lane.close()
                else:
                    self.idle.setdefault(host, []).append(lane)

    async def lane(self, host: str) -> Lane:
        idle = self.idle.get(host)
        if idle:
            return idle.pop()
        return await Lane.open(self.pool, host, timeout=self.pool.options.command_timeout)

    async def run_probe(self, host: str, lane: Lane | None, probe: Probe) -> tuple[Lane | None, ProbeResult]:
        """One probe with its busy retries. Returns the lane (None if it had to be closed)."""
        opts = self.options
        command = opts.command(probe)
        limit = opts.probe_timeout + opts.kill_after + LOCAL_GRACE_S
        attempt, reopened = 0, False
        while True:
            attempt += 1
            self.events.put_nowait(ProbeRunning(probe, attempt))
            lane = lane or await self.lane(host)
            try:
                out = await lane.run(command, limit)
            except LaneTimeout as t:
                await lane.close()
                return None, ProbeResult.timeout(probe, limit, t.output, t.duration_s, attempt, command=command)
            except RemoteError:
                await lane.close()
                lane = None
                if reopened:
                    raise
                reopened, attempt = True, attempt - 1  # the connection dropped: once more
                continue
            result = ProbeResult.from_output(
                probe, out.exit_status, out.output, out.duration_s, attempt, command=command
            )
            if not (result.is_busy and attempt <= opts.busy_retries):
                return lane, result
            await asyncio.sleep(min(opts.backoff_s * 2 ** (attempt - 1), opts.backoff_max_s))

    async def close_lanes(self) -> None:
        lanes = [lane for idle in self.idle.values() for lane in idle]
        self.idle.clear()
        await asyncio.gather(*(lane.close() for lane in lanes), return_exceptions=True)

    def matrix(self) -> PingMatrix:
        self.results.fill_unset("sweep cancelled" if self.cancel.cancelled else "not run")
        self.results.ok_raws.seal()
        return PingMatrix(
            pattern=self.plan.pattern, hosts=self.plan.hosts, results=self.results, skipped=self.plan.skipped
        )


async def sweep(
    pool: Pool,
    plan: PingPlan,
    options: SweepOptions | None = None,
    *,
    cancel: CancelToken | None = None,
) -> AsyncGenerator[SweepEvent, None]:
    """Run ``plan`` on the servers of ``pool``; events as they happen, ``SweepDone`` last."""
    run = _Sweep(pool, plan, options or SweepOptions(), cancel or CancelToken())
    start = time.monotonic()
    yield SweepStarted(plan)
    driver = asyncio.create_task(run.drive())
    try:
        while (event := await run.events.get()) is not None:
            yield event
        await driver  # re-raises a bug in the engine
    finally:
        if not driver.done():
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
    yield SweepDone(run.matrix(), run.cancel.cancelled, time.monotonic() - start)


async def sweep_retry(
    pool: Pool,
    matrix: PingMatrix,
    options: SweepOptions | None = None,
    *,
    cancel: CancelToken | None = None,
) -> AsyncGenerator[SweepEvent, None]:
    """Re-run only the failed or lossy probes of ``matrix``; the last event's matrix is the
    whole ``matrix`` with those results replaced (``attempts`` added up)."""
    plan = plan_retry(matrix.results)
    async for event in sweep(pool, plan, options, cancel=cancel):
        if isinstance(event, SweepDone):
            retried = [r for r in event.matrix.results if r.status != "skipped"]
            event = SweepDone(matrix.with_retries(retried), event.cancelled, event.elapsed_s)
        yield event


async def run_sweep(pool: Pool, plan: PingPlan, options: SweepOptions | None = None) -> PingMatrix:
    """Convenience: run to the end and return the matrix."""
    matrix = PingMatrix.from_plan(plan, [])
    async for event in sweep(pool, plan, options):
        if isinstance(event, SweepDone):
            matrix = event.matrix
    return matrix
