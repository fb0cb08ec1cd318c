"""Per server pair figures of the Ping pane, in arrays: what a heatmap cell needs without one
``ProbeResult`` object per probe.

The probes themselves live in a ``console.core.pingstore.ResultTable`` (about 100 bytes a
probe); here each unordered server pair has its probe counts per status, its measured loss
(sum, count, worst) and its pending probes, at a fixed place in flat arrays (about 50 bytes a
pair: 27 MB for the 523,776 pairs of 1,024 servers, whatever the number of probes). Pair ``(i,
j)`` of host numbers ``i < j`` is at ``j * (j - 1) // 2 + i``, so adding a host only appends.
``RowIndex`` finds the row of a probe key, and the rows of a server pair, in a table without a
dict entry per probe. ``ResultsView`` and ``PendingView`` are ``PingModel.results`` and
``.pending``. Pure (no textual).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from console.core.pingresults import ProbeResult, Tally
from console.core.pingstore import STATUSES
from console.core.planning.probetable import ProbeTable

if TYPE_CHECKING:
    from console.ui.models.ping_model import PingModel

Key = tuple[str, int, str, int]
Pair = tuple[str, str]

NSTAT = len(STATUSES)
NAN = float("nan")
_OK, _SKIPPED = STATUSES.index("ok"), STATUSES.index("skipped")


def pair_id(i: int, j: int) -> int:
    """Place of the unordered pair of host numbers ``i != j``."""
    if i > j:
        i, j = j, i
    return j * (j - 1) // 2 + i


def pair_of(pid: int) -> tuple[int, int]:
    """Inverse of ``pair_id``: ``(i, j)`` with ``i < j``."""
    j = (1 + math.isqrt(1 + 8 * pid)) // 2
    while j * (j - 1) // 2 > pid:
        j -= 1
    return pid - j * (j - 1) // 2, j


class PairFigures:
    """Counts per status, loss sum / count / worst and pending probes per server pair."""

    def __init__(self, hosts: int = 0) -> None:
        self.counts = array("I")
        self.loss_sum = array("d")
        self.loss_n = array("I")
        self.loss_max = array("d")
        self.pending = array("i")
        self.seen: set[int] = set()
        """Pairs with at least one result."""
        self.bad: set[int] = set()
        """Pairs with a probe that was neither ok nor skipped (the problems list)."""
        self.grow(hosts)

    def __len__(self) -> int:
        return len(self.pending)

    def grow(self, hosts: int) -> None:
        more = hosts * (hosts - 1) // 2 - len(self)
        if more > 0:
            self.counts.extend(array("I", [0]) * (more * NSTAT))
            self.loss_sum.extend(array("d", [0.0]) * more)
            self.loss_n.extend(array("I", [0]) * more)
            self.loss_max.extend(array("d", [NAN]) * more)
            self.pending.extend(array("i", [0]) * more)

    def add(self, pid: int, code: int, loss: float | None) -> None:
        self.counts[pid * NSTAT + code] += 1
        self.seen.add(pid)
        if code not in (_OK, _SKIPPED):
            self.bad.add(pid)
        if code != _SKIPPED and loss is not None:
            self.loss_sum[pid] += loss
            self.loss_n[pid] += 1
            worst = self.loss_max[pid]
            if math.isnan(worst) or loss > worst:
                self.loss_max[pid] = loss

    def remove(self, pid: int, code: int, loss: float | None) -> bool:
        """Take back one ``add(pid, code, loss)`` (a re-run replaced that result). True when
        the pair's worst loss may be lower now: the caller recounts it (``set_worst``)."""
        self.counts[pid * NSTAT + code] -= 1
        if not any(self.counts[pid * NSTAT + k] for k in range(NSTAT)):
            self.seen.discard(pid)
        if not self.bad_count(pid):
            self.bad.discard(pid)
        if code == _SKIPPED or loss is None:
            return False
        self.loss_n[pid] -= 1
        self.loss_sum[pid] = self.loss_sum[pid] - loss if self.loss_n[pid] else 0.0
        return loss >= self.loss_max[pid]

    def set_worst(self, pid: int, losses: Iterable[float]) -> None:
        """The pair's worst loss from the losses of its counted results (none: NaN)."""
        self.loss_max[pid] = max(losses, default=NAN)

    def fold(self, pid: int, tally: Tally) -> None:
        """Add pair ``pid``'s figures to ``tally`` (in status order, as ``Tally.add`` would)."""
        base = pid * NSTAT
        for k in range(NSTAT):
            n = self.counts[base + k]
            if n:
                tally.counts[STATUSES[k]] = tally.counts.get(STATUSES[k], 0) + n
        if self.loss_n[pid]:
            tally.loss_sum += self.loss_sum[pid]
            tally.loss_n += self.loss_n[pid]
            worst = self.loss_max[pid]
            if tally.loss_max is None or worst > tally.loss_max:
                tally.loss_max = worst

    def tally(self, pid: int) -> Tally:
        tally = Tally()
        self.fold(pid, tally)
        return tally

    def bad_count(self, pid: int) -> int:
        base = pid * NSTAT
        return sum(self.counts[base + k] for k in range(NSTAT) if k not in (_OK, _SKIPPED))


class RowIndex:
    """Probe key ``(src host, src device, dst host, dst device)`` -> row of a ``ProbeTable``:
    the rows sorted by (source end, destination end) in two arrays (12 bytes a probe), looked
    up by bisection; rows added later sit in a small dict."""

    def __init__(self, probes: ProbeTable) -> None:
        self.probes = probes
        self.ends: dict[tuple[str, int], int] = {}
        self.host_ends: dict[str, list[int]] = {}
        for n, end in enumerate(probes.ends):
            self.ends.setdefault((end.host, end.device), n)
            self.host_ends.setdefault(end.host, []).append(n)
        self.width = max(len(probes.ends), 1)
        src, dst, width = probes.src, probes.dst, self.width
        composite = array("q", (src[i] * width + dst[i] for i in range(len(probes))))
        self.order = array("i", sorted(range(len(composite)), key=composite.__getitem__))
        self.keys = array("q", (composite[i] for i in self.order))
        self.extra: dict[tuple[str, int, str, int], int] = {}

    def rows(self, key: tuple[str, int, str, int]) -> Iterator[int]:
        """Every row with ``key`` (a plan has it once; a merged table may have it more)."""
        found = self.extra.get(key)
        if found is not None:
            yield found
        src, dst = self.ends.get(key[:2]), self.ends.get(key[2:])
        if src is None or dst is None:
            return
        want = src * self.width + dst
        at = bisect_left(self.keys, want)
        while at < len(self.keys) and self.keys[at] == want:
            yield self.order[at]
            at += 1

    def add(self, key: tuple[str, int, str, int], row: int) -> None:
        self.extra[key] = row

    def between(self, a: str, b: str) -> Iterator[int]:
        """Every row of a probe between hosts ``a`` and ``b`` (either direction), by bisection:
        about (cards of ``a``) x (cards of ``b``) x 2 look-ups, whatever the table's size."""
        for x in self.host_ends.get(a, ()):
            for y in self.host_ends.get(b, ()):
                for want in (x * self.width + y, y * self.width + x):
                    at = bisect_left(self.keys, want)
                    while at < len(self.keys) and self.keys[at] == want:
                        yield self.order[at]
                        at += 1
        yield from (row for key, row in self.extra.items() if {key[0], key[2]} == {a, b})


class ResultsView(Mapping[Key, ProbeResult]):
    """``PingModel.results``: a read-only view; each ``ProbeResult`` is built when read."""

    def __init__(self, model: PingModel) -> None:
        self.model = model

    def __getitem__(self, key: Key) -> ProbeResult:
        row = self.model.row_of(key)
        if row is None or not self.model.table.is_set(row):
            raise KeyError(key)
        return self.model.table.result(row)

    def _set_rows(self) -> Iterator[int]:
        table = self.model.table
        return (i for i in range(len(table)) if table.is_set(i))

    def __iter__(self) -> Iterator[Key]:
        return (self.model.table.probes.key(i) for i in self._set_rows())

    def __len__(self) -> int:
        return self.model.table.filled

    def values(self) -> Any:  # rows in table order, without a key lookup each
        return [self.model.table.result(i) for i in self._set_rows()]


class PendingView(Mapping[Pair, int]):
    """``PingModel.pending``: probes still running per pair (pairs with none are absent)."""

    def __init__(self, model: PingModel) -> None:
        self.model = model

    def __getitem__(self, pair: Pair) -> int:
        pid = self.model.pair_number(*pair)
        n = 0 if pid is None else self.model.figures.pending[pid]
        if n <= 0:
            raise KeyError(pair)
        return n

    def __iter__(self) -> Iterator[Pair]:
        hosts = self.model.hosts
        for pid, n in enumerate(self.model.figures.pending):
            if n > 0:
                i, j = pair_of(pid)
                yield hosts[i], hosts[j]

    def __len__(self) -> int:
        return sum(1 for n in self.model.figures.pending if n > 0)
