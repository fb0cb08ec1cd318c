"""The rank-log window behind the Launch pane's log view. Pure Python (no textual).

The disk keeps every line (the run record); the screen keeps a window: the last ``keep``
lines in a ring, from which any view (one rank, a ``/`` filter) is rebuilt. The lines that
arrived since the last screen update are the ring's newest ``new``; the pane writes them
with one ``Log.write_lines`` (only the last ``show`` of them: the screen keeps no more).

Fold mode (``clush -b``): identical text from several ranks is one line, ``[0-15] text``;
each distinct text keeps a bit mask of the ranks that printed it, in first-seen order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice


def mask_ranges(mask: int) -> list[tuple[int, int]]:
    """Runs of set bits: ``0b1110111`` -> ``[(0, 2), (4, 6)]`` (one step per run)."""
    runs = []
    while mask:
        low = (mask & -mask).bit_length() - 1
        shifted = mask >> low
        length = (~shifted & (shifted + 1)).bit_length() - 1
        runs.append((low, low + length - 1))
        mask &= ~(((1 << length) - 1) << low)
    return runs


def fold_ranks(ranks: int | Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` (or a bit mask) -> ``"0-2,5"``, ClusterShell RangeSet style."""
    if not isinstance(ranks, int):
        mask = 0
        for r in ranks:
            mask |= 1 << r
        ranks = mask
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in mask_ranges(ranks))


KEEP_LINES = 20_000
"""Lines kept in memory for rebuilding a view (the run folder keeps them all)."""
KEEP_GROUPS = 2_000
"""Distinct texts remembered for folding (oldest dropped first)."""
SHOW_LINES = 5_000
"""Lines on screen at most (``Log.max_lines``)."""


class LogWindow:
    def __init__(self, keep: int = KEEP_LINES, keep_groups: int = KEEP_GROUPS, show: int = SHOW_LINES) -> None:
        self.ring: deque[tuple[int, str]] = deque(maxlen=keep)
        self.new = 0
        """Lines added since the screen last took them (or since the pause)."""
        self.groups: dict[str, int] = {}
        self.keep_groups = keep_groups
        self.show = show
        self.needle = ""
        self.rank: int | None = None
        self.fold = False
        self.paused = False
        self.fold_dirty = False
        self._rendered: dict[str, tuple[int, str]] = {}

    # -- feeding (the hot path: 50,000 calls a second) --------------------------------

    def add(self, rank: int, text: str) -> None:
        self.ring.append((rank, text))
        self.new += 1
        if self.fold:
            self._group(rank, text)

    def _group(self, rank: int, text: str) -> None:
        groups = self.groups
        mask = groups.get(text)
        if mask is None:
            if len(groups) >= self.keep_groups:
                oldest = next(iter(groups))
                del groups[oldest]
                self._rendered.pop(oldest, None)
            groups[text] = 1 << rank
        else:
            groups[text] = mask | (1 << rank)
        self.fold_dirty = True

    def take(self) -> list[str]:
        """Lines to append to the screen now (interleaved view, not paused)."""
        count = min(self.new, len(self.ring))
        self.new = 0
        if not count:
            return []
        recent = list(islice(reversed(self.ring), count))
        recent.reverse()
        return self._format(recent)

    def _format(self, entries) -> list[str]:
        rank, needle = self.rank, self.needle
        if rank is None and not needle:
            return [f"[{r}] {t}" for r, t in entries[-self.show :]]
        out = [f"[{r}] {t}" for r, t in entries if (rank is None or r == rank) and (not needle or needle in t.lower())]
        return out[-self.show :]

    # -- views -----------------------------------------------------------------------

    @property
    def unseen(self) -> int:
        return self.new if self.paused else 0

    def set_filter(self, needle: str) -> None:
        self.needle = needle.lower()

    def set_fold(self, fold: bool) -> None:
        """Folding on: regroup what the window holds (grouping costs only while folded)."""
        self.fold = fold
        self.groups.clear()
        self._rendered.clear()
        if fold:
            for rank, text in self.ring:
                self._group(rank, text)

    def rebuild(self) -> list[str]:
        """Every line of the current view, from the window (replaces the screen's lines)."""
        self.new = 0
        if self.fold:
            return self.folded()
        return self._format(list(self.ring))

    def folded(self) -> list[str]:
        """``[ranks] text`` for each distinct text (first-seen order), the view applied."""
        self.fold_dirty = False
        self.new = 0
        out: deque[str] = deque(maxlen=self.show)
        rendered = self._rendered
        for text, mask in self.groups.items():
            if self.rank is not None and not mask >> self.rank & 1:
                continue
            if self.needle and self.needle not in text.lower():
                continue
            cached = rendered.get(text)
            if cached is None or cached[0] != mask:
                cached = rendered[text] = (mask, f"[{fold_ranks(mask)}] {text}")
            out.append(cached[1])
        return list(out)

    def describe(self) -> str:
        parts = ["folded (clush -b)" if self.fold else "interleaved"]
        parts.append(f"rank {self.rank}" if self.rank is not None else "all ranks")
        if self.needle:
            parts.append(f"filter {self.needle!r}")
        parts.append(f"PAUSED, {self.unseen} new" if self.paused else "following")
        return " · ".join(parts)
