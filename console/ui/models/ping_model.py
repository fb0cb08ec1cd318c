"""The Ping pane's model itself: ``PingModel`` (results of a sweep kept compactly, cells,
problem pairs). The texts and colours are in ``console.ui.models.ping``, which re-exports
this. No textual here."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from console.core.pingresults import FAILED, PingMatrix, ProbeResult, summary_of
from console.core.pingstore import CODE, ResultTable
from console.core.pingview import Cell, fields_cell
from console.core.planning.ping import PingPlan, Skip
from console.core.planning.probetable import ProbeTable
from console.ops.ping import ProbeDone, ProbeRunning, SweepDone, SweepEvent, SweepStarted
from console.ops.ping import ServerLost as PingServerLost
from console.ui.models.ping_groups import GroupFigures
from console.ui.models.ping_pairs import (
    NSTAT,
    Key,
    Pair,
    PairFigures,
    PendingView,
    ResultsView,
    RowIndex,
    pair_id,
    pair_of,
)

COMPACT_OVER = 8
"""Above this many servers the heatmap uses numbered columns and 3-character cells."""
RANK = {"bad": 4, "partial": 3, "ok": 1, "untested": 0, "self": 0, "running": 0}

RED_LOSS_PCT = 33.33  # one of hccn_tool's three probes lost


def category(status: str, loss_pct: float | None) -> str:
    """Legend colour of a cell or a probe: ok / partial / bad / untested / self."""
    if status == "ok":
        return "ok"
    if status == "loss":
        return "bad" if (loss_pct or 0) >= RED_LOSS_PCT else "partial"
    if status in FAILED:
        return "bad"
    return "self" if status == "self" else "untested"


class PingModel:
    """The sweep as the pane sees it: results so far, probes pending per server pair.

    ``start(plan)`` then ``apply(event)`` for every ``SweepEvent``; ``changes`` counts every
    change, ``take_dirty()`` says which server pairs' cells changed since the last redraw.

    Results are kept compactly: the probes' figures in ``table`` (a ``ResultTable``, about
    100 bytes a probe) and per server pair only counts (``PairFigures``); a ``ProbeResult``
    is built only for what is read (a pair's drill-down, an export, ``results[key]``)."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.pattern = "cross"
        self.skipped: list[Skip] = []
        self.table = ResultTable()
        self.figures = PairFigures()
        self.dirty: set[Pair] | None = None
        """Pairs changed since the last ``take_dirty`` (None: everything)."""
        self.running = False
        self.cancelled = False
        self.done = self.total = 0
        self.eta_s: float | None = None
        self.lost: dict[str, str] = {}
        self._base: PingMatrix | None = None
        self._host_no: dict[str, int] = {}
        self._end_host: list[int] = []
        self._rows: RowIndex | None = None
        self._status = [0] * NSTAT
        self._group_hosts: list[list[str]] | None = None
        self._groups: GroupFigures | None = None
        """The grouped heatmap's sums (None: to be summed again at the next read)."""
        self.changes = 0
        self.finished: PingMatrix | None = None
        """The matrix of the last sweep that ended with ``SweepDone`` (what the app shares)."""

    @property
    def results(self) -> Mapping[Key, ProbeResult]:
        """The results so far by probe key, built when read (nothing is held per probe)."""
        return ResultsView(self)

    @property
    def pending(self) -> Mapping[Pair, int]:
        """Probes still running per server pair (pairs with none left out)."""
        return PendingView(self)

    # -- feeding -------------------------------------------------------------------------

    def reset(self, hosts: Iterable[str], pattern: str = "cross") -> None:
        """An empty grid of ``hosts`` (everything untested)."""
        self.show(PingMatrix(pattern=pattern, hosts=list(hosts)))

    def show(self, matrix: PingMatrix) -> None:
        """Display a finished matrix (after a sweep, or one built elsewhere)."""
        self.pattern, self.skipped = matrix.pattern, list(matrix.skipped)
        self._set_hosts(matrix.all_hosts())
        self._load(matrix.results)
        self.running, self._base, self.eta_s = False, None, None
        self.done = self.total = len(matrix.results)
        self.changes += 1

    def start(self, plan: PingPlan, base: PingMatrix | None = None) -> None:
        """A sweep of ``plan`` begins; ``base`` is the matrix a re-run updates."""
        probes = ProbeTable.of(plan.probes)
        if base is None:
            self.pattern, self.skipped = plan.pattern, list(plan.skipped)
            self._set_hosts(plan.hosts)
            self._load(ResultTable(probes.copy() if probes is plan.probes else probes))
        else:
            self.show(base)
            self.table = self.table.copy()  # the base matrix stays as it was
        self._base = base
        self._rows = RowIndex(self.table.probes)  # now, with the plan: not a stall at the first result
        ends = [self._add_host(e.host) for e in probes.ends]
        pending = self.figures.pending
        for src, dst in zip(probes.src, probes.dst, strict=True):
            a, b = ends[src], ends[dst]
            if a != b:
                pending[pair_id(a, b)] += 1
        self._groups = None
        self.running, self.cancelled, self.lost = True, False, {}
        self.done, self.total, self.eta_s = 0, len(probes), None
        self.changes += 1

    def apply(self, event: SweepEvent) -> None:
        """Fold one ``console.ops.ping`` event in."""
        match event:
            case ProbeDone(result=result, done=done, total=total, eta_s=eta_s):
                self._record(result)
                self.done, self.total, self.eta_s = done, total, eta_s
            case SweepDone(matrix=matrix, cancelled=cancelled):
                if self._base is not None:
                    matrix = self._base.with_retries(r for r in matrix.results if r.status != "skipped")
                self.show(matrix)
                self.cancelled = cancelled
                self.finished = matrix
            case PingServerLost(host=host, error=error):
                self.lost[host] = error
            case SweepStarted() | ProbeRunning():
                return
        self.changes += 1

    def end(self, error: BaseException | None = None, cancelled: bool = False) -> None:
        """The sweep's events ended; without its last event (failure) nothing is pending."""
        if self.running:
            self.running, self.dirty = False, None
            self._clear_pending()
        self.changes += 1

    def _clear_pending(self) -> None:
        pending = self.figures.pending
        pending[:] = array("i", [0]) * len(pending)
        if self._groups is not None:
            self._groups.clear_pending()

    def _set_hosts(self, hosts: Iterable[str]) -> None:
        self.hosts, self._host_no = [], {}
        self.figures, self._groups = PairFigures(), None
        for host in hosts:
            self._add_host(host)

    def _add_host(self, host: str) -> int:
        n = self._host_no.get(host)
        if n is None:
            n = self._host_no[host] = len(self.hosts)
            self.hosts.append(host)
            self.figures.grow(len(self.hosts))
            self.dirty, self._groups = None, None  # the group sums are summed again when read
        return n

    def _end_hosts(self) -> list[int]:
        """Host number of every endpoint of ``table.probes`` (extended as endpoints are added)."""
        ends = self.table.probes.ends
        for end in ends[len(self._end_host) :]:
            self._end_host.append(self._add_host(end.host))
        return self._end_host

    def _load(self, table: ResultTable) -> None:
        """Show ``table``: the pair figures from its arrays, in one pass."""
        self.table, self._end_host, self._rows, self.dirty = table, [], None, None
        self.figures, self._groups = PairFigures(len(self.hosts)), None
        self._status = [0] * NSTAT
        ends, add = self._end_hosts(), self.figures.add
        status, loss, src, dst = table.status, table.floats["loss_pct"], table.probes.src, table.probes.dst
        for row in range(len(table)):
            code = status[row]
            if code < 0:
                continue
            self._status[code] += 1
            a, b = ends[src[row]], ends[dst[row]]
            if a != b:
                value = loss[row]
                add(pair_id(a, b), code, None if math.isnan(value) else value)

    def row_of(self, key: Key) -> int | None:
        if self._rows is None:
            self._rows = RowIndex(self.table.probes)
        rows = list(self._rows.rows(key))
        return next((r for r in rows if not self.table.is_set(r)), rows[0] if rows else None)

    def _record(self, result: ProbeResult) -> None:
        """Store ``result``, count it for its server pair (none: both ends on one server), one
        probe of that pair less pending. A result
        that replaces one (a re-run) takes the old one's figures back: only that pair's rows
        are read again, and only when its worst loss may have dropped."""
        p = result.probe
        a, b = self._add_host(p.src_host), self._add_host(p.dst_host)
        row = self.row_of(p.key)
        code = CODE[result.status]
        rows = self._rows
        assert rows is not None
        old: tuple[int, float | None] | None = None
        if row is None:
            row = self.table.append(result)
            rows.add(p.key, row)
        else:
            if self.table.is_set(row):
                old = self.table.status[row], self.table.loss_of(row)
                self._status[old[0]] -= 1
            self.table.set(row, result)
        self._status[code] += 1
        if a == b:
            return
        pid, groups = pair_id(a, b), self._groups
        if groups is not None:
            groups.put(self.figures, a, b, pid, -1)
        recount = old is not None and self.figures.remove(pid, *old)
        self.figures.add(pid, code, result.loss_pct)
        if recount:
            self.figures.set_worst(pid, self._losses(rows.between(p.src_host, p.dst_host)))
        self.figures.pending[pid] -= 1
        if groups is not None:  # the group pair's sums: this pair's figures out before, back in now
            groups.put(self.figures, a, b, pid, 1)
        if self.dirty is not None:
            self.dirty.add(self.pair(p.src_host, p.dst_host))

    def _losses(self, rows: Iterable[int]) -> Iterable[float]:
        """The measured losses of ``rows`` that count for a pair (set, not skipped)."""
        table, skipped = self.table, CODE["skipped"]
        for r in rows:
            code = table.status[r]
            if table.is_set(r) and code != skipped and (loss := table.loss_of(r)) is not None:
                yield loss

    def take_dirty(self) -> set[Pair] | None:
        dirty, self.dirty = self.dirty, set()
        return dirty

    # -- reading -------------------------------------------------------------------------

    def pair(self, a: str, b: str) -> Pair:
        """The undirected pair, in host order (hosts not in the grid sort last, by name)."""
        last = len(self.hosts)
        ia, ib = self._host_no.get(a, last), self._host_no.get(b, last)
        return (a, b) if (ia, a) <= (ib, b) else (b, a)

    def pair_number(self, a: str, b: str) -> int | None:
        ia, ib = self._host_no.get(a), self._host_no.get(b)
        return None if ia is None or ib is None or ia == ib else pair_id(ia, ib)

    @property
    def compact(self) -> bool:
        return len(self.hosts) > COMPACT_OVER

    def pair_results(self, a: str, b: str) -> list[ProbeResult]:
        """The results of server pair ``a`` <-> ``b``, built now (the drill-down)."""
        pid = self.pair_number(a, b)
        if pid is None or pid not in self.figures.seen:
            return []
        if self._rows is None:
            self._rows = RowIndex(self.table.probes)
        rows = sorted(set(self._rows.between(a, b)))
        return [self.table.result(r) for r in rows if self.table.is_set(r)]

    def pair_fields(self, a: str, b: str) -> dict[str, Any] | None:
        """``loss_fields`` of the pair's results (None: nothing yet), from the counts."""
        pid = self.pair_number(a, b)
        return None if pid is None or pid not in self.figures.seen else self.figures.tally(pid).fields()

    def cell(self, a: str, b: str) -> tuple[Cell, int]:
        """(cell, probes still pending) of server pair ``a`` <-> ``b``."""
        if a == b:
            return Cell(text="·", status="self"), 0
        pid = self.pair_number(a, b)
        pending = 0 if pid is None else max(self.figures.pending[pid], 0)
        if pid is not None and pid in self.figures.seen:
            return fields_cell(self.figures.tally(pid).fields(), counted=True), pending
        if any(s.host in (a, b) and s.device is None and s.dst_host is None for s in self.skipped):
            return Cell(text="skip", status="skipped"), pending
        return Cell(text="-", status="untested"), pending

    def set_groups(self, groups: Iterable[Iterable[str]] | None) -> None:
        """The grouped heatmap's rows/columns (lists of hosts; None: not grouped). Their cells
        (``group_cell``) are then kept up to date as results arrive."""
        self._group_hosts = None if groups is None else [list(g) for g in groups]
        self._groups = None

    def group_cell(self, n: int, m: int) -> tuple[Cell, int]:
        """(cell, probes pending) over every server pair between groups ``n`` and ``m`` of
        ``set_groups`` (``n == m``: the pairs inside the group): one cell of the grouped
        heatmap, read from sums kept per group pair (no server pair is visited)."""
        if self._group_hosts is None:
            raise ValueError("group_cell needs set_groups first")
        if self._groups is None:
            no = self._host_no
            numbers = [[no[h] for h in g if h in no] for g in self._group_hosts]
            self._groups = GroupFigures.of(numbers, self.figures, len(self.hosts))
        return self._groups.cell(n, m)

    def matrix(self, pair: Pair | None = None) -> PingMatrix:
        """The results so far as a matrix (only ``pair``'s when given)."""
        if pair:
            results: Iterable[ProbeResult] = self.pair_results(*pair)
        elif self.table.filled == len(self.table):
            results = self.table
        else:  # a sweep that ended early: its unset rows are left out
            results = ResultTable.of(self.table.result(i) for i in range(len(self.table)) if self.table.is_set(i))
        return PingMatrix(pattern=self.pattern, hosts=list(self.hosts), results=results, skipped=self.skipped)

    def problem_pairs(self) -> list[tuple[Pair, Cell]]:
        """Server pairs with a lossy or failed probe, worst first."""
        found = []
        for pid in self.figures.bad:
            i, j = pair_of(pid)
            cell = fields_cell(self.figures.tally(pid).fields(), counted=True)
            if cell.status not in ("ok", "skipped"):
                found.append(((i, j), cell))
        found.sort(
            key=lambda pc: (
                -RANK[category(pc[1].status, pc[1].loss_pct)],
                pc[1].status == "loss",
                -(pc[1].loss_pct or 0),
                -pc[1].bad,
                pc[0][0],
                pc[0][1],
            )
        )
        return [((self.hosts[i], self.hosts[j]), cell) for (i, j), cell in found]

    def summary(self) -> dict[str, int]:
        """As ``PingMatrix.summary``: the counts so far and the plan entries left out."""
        return summary_of(self._status, len(self.skipped))

    def not_ok(self) -> int:
        """Results that are neither ok nor skipped."""
        return sum(self._status) - self._status[CODE["ok"]] - self._status[CODE["skipped"]]

    def nbytes(self) -> int:
        """Bytes in the compact stores (the table's arrays and the pair figures)."""
        f = self.figures
        pairs = sum(c.itemsize * len(c) for c in (f.counts, f.loss_sum, f.loss_n, f.loss_max, f.pending))
        return self.table.nbytes() + pairs
