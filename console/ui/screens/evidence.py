"""The raw evidence of a diagnosis: the files under ``runs/<id>/evidence/`` (one folder per
server) and the run folder's rank logs, one list on the left, the selected file on the right
(read-only, bounded: the first 256 KiB and last 2 MiB, read without following symbolic links,
off the UI loop). Escape closes it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, TextArea
from textual.widgets.option_list import Option

MAX_FILES = 500


def evidence_files(root: Path) -> list[Path]:
    """Regular files under ``root`` (its server folders first), sorted, not entering symbolic
    links; at most ``MAX_FILES``."""
    from console.ops.diagnosis_files import walk_files

    return [p for p in walk_files(root) if p.is_file() and not p.is_symlink()][:MAX_FILES]


def read_text(path: Path) -> str:
    from console.ops.diagnosis_files import read_bounded

    data = read_bounded(path)
    return "(not a regular file)" if data is None else data.decode("utf-8", "replace")


class EvidenceScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close", id="evidence.close")]
    DEFAULT_CSS = """
    EvidenceScreen { align: center middle; }
    EvidenceScreen > Vertical { width: 96%; height: 92%; border: round $accent; background: $surface; }
    EvidenceScreen #evidence-files { width: 40; height: 1fr; }
    EvidenceScreen #evidence-text { width: 1fr; height: 1fr; }
    EvidenceScreen Horizontal { height: 1fr; }
    """

    def __init__(self, root: Path, select: Path | None = None) -> None:
        super().__init__(id="evidence")
        self.root = root
        self.select = select
        self.files: list[Path] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Evidence: {self.root}   (Escape closes)", id="evidence-title", markup=False)
            with Horizontal():
                yield OptionList(id="evidence-files")
                yield TextArea("", id="evidence-text", read_only=True, soft_wrap=False, show_cursor=False)

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, group="evidence.list", exit_on_error=False, name="listing evidence")
    async def load(self) -> None:
        self.files = await asyncio.to_thread(evidence_files, self.root)
        options = self.query_one("#evidence-files", OptionList)
        options.clear_options()
        options.add_options([Option(str(p.relative_to(self.root)), id=str(i)) for i, p in enumerate(self.files)])
        if not self.files:
            self.query_one("#evidence-text", TextArea).load_text("(no files)")
            return
        start = next((i for i, p in enumerate(self.files) if self.select is not None and self.select in p.parents), 0)
        options.highlighted = start
        options.focus()

    @on(OptionList.OptionHighlighted, "#evidence-files")
    def _chosen(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.show_file(self.files[int(event.option.id)])

    @work(exclusive=True, group="evidence.read", exit_on_error=False, name="reading evidence")
    async def show_file(self, path: Path) -> None:
        text = await asyncio.to_thread(read_text, path)
        self.query_one("#evidence-text", TextArea).load_text(text)

    def action_close(self) -> None:
        self.dismiss(None)
