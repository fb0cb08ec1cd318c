"""Per group pair figures of the Ping pane's grouped heatmap, kept up to date as results
arrive, so that drawing the grouped heatmap costs groups x groups cells, not every server
pair (523,776 of them at 1,024 servers).

Each group pair (a cell of the grouped heatmap; the diagonal is the pairs inside one group)
holds the sums of its server pairs' ``PairFigures``: probe counts per status, measured losses
counted, server pairs with a result, pending probes, and how many of its server pairs have
each worst loss (a small dict: hccn_tool's losses take few values), so a pair's worst loss
going down on a re-run lowers the group's without reading its other pairs. ``PingModel``
takes a server pair's share out before changing its figures and puts it back after.
Pure (no textual).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from console.core.pingresults import Tally
from console.core.pingstore import STATUSES
from console.core.pingview import Cell, fields_cell
from console.ui.models.ping_pairs import NSTAT, PairFigures


class GroupFigures:
    """Sums of the ``PairFigures`` of the server pairs between two groups of hosts.

    ``groups`` are lists of host numbers (a host in at most one group; pairs with a host in
    none count nowhere, as in a grouped heatmap that does not show them)."""

    def __init__(self, groups: Sequence[Sequence[int]], hosts: int) -> None:
        self.of_host = array("i", [-1]) * hosts
        for g, members in enumerate(groups):
            for h in members:
                self.of_host[h] = g
        self.size = len(groups)
        cells = self.size * (self.size + 1) // 2
        self.counts = array("q", [0]) * (cells * NSTAT)
        self.loss_n = array("q", [0]) * cells
        self.seen = array("q", [0]) * cells
        """Server pairs with at least one result."""
        self.pending = array("q", [0]) * cells
        """Probes still running (each server pair's count, floored at 0)."""
        self.worst: list[dict[float, int]] = [{} for _ in range(cells)]
        """Worst loss -> number of server pairs with it (pairs with a measured loss only)."""

    @classmethod
    def of(cls, groups: Sequence[Sequence[int]], figures: PairFigures, hosts: int) -> GroupFigures:
        """The sums from scratch: one pass over the server pairs with a result or pending."""
        self = cls(groups, hosts)
        pending, seen, of = figures.pending, figures.seen, self.of_host
        for j in range(1, hosts):
            if (h := of[j]) < 0:
                continue
            first = j * (j - 1) // 2
            for i in range(j):
                pid = first + i
                if pid in seen:
                    self.put(figures, i, j, pid, 1)
                elif (waiting := pending[pid]) > 0 and (g := of[i]) >= 0:  # only probes pending
                    self.pending[g * (g + 1) // 2 + h if g > h else h * (h + 1) // 2 + g] += waiting
        return self

    def cell_id(self, i: int, j: int) -> int | None:
        """The group pair of host numbers ``i`` and ``j`` (None: one of them is in no group)."""
        of = self.of_host
        g = of[i] if i < len(of) else -1
        h = of[j] if j < len(of) else -1
        if g < 0 or h < 0:
            return None
        if g > h:
            g, h = h, g
        return h * (h + 1) // 2 + g

    def put(self, figures: PairFigures, i: int, j: int, pid: int, sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) the share of server pair ``pid`` = (``i``, ``j``)."""
        cid = self.cell_id(i, j)
        if cid is None:
            return
        counts, base, at = figures.counts, pid * NSTAT, cid * NSTAT
        for k in range(NSTAT):
            n = counts[base + k]
            if n:
                self.counts[at + k] += sign * n
        if pid in figures.seen:
            self.seen[cid] += sign
        if (waiting := figures.pending[pid]) > 0:
            self.pending[cid] += sign * waiting
        if n := figures.loss_n[pid]:
            self.loss_n[cid] += sign * n
            worst, loss = self.worst[cid], figures.loss_max[pid]
            left = worst.get(loss, 0) + sign
            if left:
                worst[loss] = left
            else:
                del worst[loss]

    def clear_pending(self) -> None:
        self.pending[:] = array("q", [0]) * len(self.pending)

    def cell(self, g: int, h: int) -> tuple[Cell, int]:
        """(cell, probes pending) of groups ``g`` and ``h``: the same as folding the
        ``PairFigures`` of every server pair between them (``Tally``) would give."""
        if g > h:
            g, h = h, g
        cid = h * (h + 1) // 2 + g
        pending = self.pending[cid]
        if not self.seen[cid]:
            return Cell(text="-", status="untested"), pending
        tally, at = Tally(), cid * NSTAT
        for k in range(NSTAT):
            if n := self.counts[at + k]:
                tally.counts[STATUSES[k]] = n
        if worst := self.worst[cid]:
            tally.loss_n, tally.loss_max = self.loss_n[cid], max(worst)
        return fields_cell(tally.fields(), counted=True), pending
