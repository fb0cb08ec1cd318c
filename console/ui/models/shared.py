"""What the panes share through the app, as plain values (no textual)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from console.core.errors import ConsoleError
from console.core.ranktable import RankTable


@dataclass(frozen=True)
class RankTableFile:
    """The current rank table: its file, the exact bytes on disk (what a launch uploads),
    the table parsed from those bytes, and whether the Rank table pane holds unsaved edits."""

    path: Path | None = None
    data: bytes | None = None
    table: RankTable | None = None
    saved: bool = True
    error: str | None = None
    """Why the file could not be read (missing, not JSON, ...)."""
    generation: int = 0
    """Bumped by every load or save, so a pane can tell a new file from a changed flag."""

    def unsaved(self, saved: bool) -> RankTableFile:
        return replace(self, saved=saved)


def read_error(path: Path, error: ConsoleError) -> RankTableFile:
    return RankTableFile(path=path, error=f"{error.title} {error.detail}".strip())
