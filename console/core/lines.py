"""Lines out of a stream of text, never buffering without bound (whatever a server prints).

``LineCutter(limit)`` is fed chunks as they arrive and returns the complete lines, without
their newline. A line longer than ``limit`` characters keeps its first ``limit``
characters; the rest is counted and dropped until its newline, and the line ends with
``cut_marker(n)``. At most ``limit`` characters are ever held.
"""

from __future__ import annotations

from typing import AnyStr, Generic

DEFAULT_LINE_LIMIT = 1 << 20


def cut_marker(dropped: int) -> str:
    return f" [cluster-console: line too long, {dropped} more characters dropped]"


class LineCutter(Generic[AnyStr]):
    """Feed ``str`` or ``bytes`` chunks; ``feed`` and ``end`` return finished lines."""

    def __init__(self, limit: int = DEFAULT_LINE_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be positive")
        self.limit = limit
        self._head: AnyStr | None = None  # the start of the current line (<= limit)
        self._dropped = 0

    def feed(self, chunk: AnyStr) -> list[AnyStr]:
        out: list[AnyStr] = []
        nl = "\n" if isinstance(chunk, str) else b"\n"
        parts = chunk.split(nl)
        for i, part in enumerate(parts):
            self._add(part)
            if i < len(parts) - 1:
                out.append(self._finish())
        return out

    def end(self) -> list[AnyStr]:
        """At end of stream: the last line if it had no newline."""
        if self._head is None:
            return []
        return [self._finish()] if (self._head or self._dropped) else self._reset()

    def _reset(self) -> list[AnyStr]:
        self._head, self._dropped = None, 0
        return []

    def _add(self, part: AnyStr) -> None:
        if self._head is None:
            self._head = part[: self.limit]
            self._dropped = len(part) - len(self._head)
            return
        room = self.limit - len(self._head)
        if room > 0:
            self._head += part[:room]
        self._dropped += max(0, len(part) - max(room, 0))

    def _finish(self) -> AnyStr:
        head, dropped = self._head, self._dropped
        self._head, self._dropped = None, 0
        assert head is not None
        if not dropped:
            return head
        marker = cut_marker(dropped)
        return head + (marker if isinstance(head, str) else marker.encode())
