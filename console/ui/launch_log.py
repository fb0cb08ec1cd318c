"""The rank-log window behind the Launch pane's log view. Pure Python (no textual).

The disk keeps every line (the run record); the screen keeps a window: the last ``keep``
lines in a ring, from which any view (one rank, a ``/`` filter) is rebuilt. Lines arriving
between two screen updates wait in ``pending`` and are written in one ``Log.write_lines``.

Fold mode (``clush -b``): identical text from several ranks is one line, ``[0-15] text``;
each distinct text keeps a bit mask of the ranks that printed it, in first-seen order.
"""

from __future__ import annotations

from collections import deque

from console.ui.launch_view import fold_ranks

KEEP_LINES = 20_000
"""Lines kept in memory for rebuilding a view (the run folder keeps them all)."""
KEEP_GROUPS = 2_000
"""Distinct texts remembered for folding (oldest dropped first)."""
SHOW_LINES = 5_000
"""Lines on screen at most (``Log.max_lines``)."""


def prefix(rank: int, text: str) -> str:
    return f"[{rank}] {text}"


class LogWindow:
    def __init__(self, keep: int = KEEP_LINES, keep_groups: int = KEEP_GROUPS,
                 show: int = SHOW_LINES) -> None:
        self.ring: deque[tuple[int, str]] = deque(maxlen=keep)
        self.pending: list[str] = []
        self.groups: dict[str, int] = {}
        self.keep_groups = keep_groups
        self.show = show
        self.needle = ""
        self.rank: int | None = None
        self.fold = False
        self.paused = False
        self.fold_dirty = False
        self.unseen = 0
        """Lines that arrived (and matched) while paused."""
        self._rendered: dict[str, tuple[int, str]] = {}

    # -- feeding ---------------------------------------------------------------------

    def add(self, rank: int, text: str) -> None:
        self.ring.append((rank, text))
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
        if self.fold or not self.matches(rank, text):
            return
        if self.paused:
            self.unseen += 1
        else:
            self.pending.append(f"[{rank}] {text}")

    def take(self) -> list[str]:
        """Lines to append to the screen now (not in fold mode)."""
        out, self.pending = self.pending, []
        return out[-self.show:]

    # -- views -----------------------------------------------------------------------

    def matches(self, rank: int, text: str) -> bool:
        if self.rank is not None and rank != self.rank:
            return False
        return not self.needle or self.needle in text.lower()

    def set_filter(self, needle: str) -> None:
        self.needle = needle.lower()

    def rebuild(self) -> list[str]:
        """Every line of the current view, from the window (replaces the screen's lines)."""
        self.pending = []
        self.unseen = 0
        if self.fold:
            return self.folded()
        out: deque[str] = deque(maxlen=self.show)
        rank, needle = self.rank, self.needle
        for r, text in self.ring:
            if (rank is None or r == rank) and (not needle or needle in text.lower()):
                out.append(f"[{r}] {text}")
        return list(out)

    def folded(self) -> list[str]:
        """``[ranks] text`` for each distinct text (first-seen order), the view applied."""
        self.fold_dirty = False
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
