"""The Diagnosis view of the Launch pane: the headline on top, then the causes grouped by
server (the first cause marked ``*`` in bold red, victims dimmed), each with its matched log
lines, count and next check, and under it the links (the ping of that card pair, discovery's
IP of that card, the NPU's processes, ...); the keys to open the raw evidence and to ping the
implicated pairs again at the bottom. Renders a ``DiagnosisModel``; call ``show`` after it
changed."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from console.ui.models.diagnosis import (
    CauseRow,
    DiagnosisModel,
    DiagnosisState,
    cause_label,
    cause_lines,
)

LINK_STYLES = {"ping": "yellow", "ping_untested": "yellow", "missing_peer": "bold yellow"}


class DiagnosisView(Widget):
    DEFAULT_CSS = """
    DiagnosisView { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: DiagnosisModel | None = None
        self._shown = -1

    def show(self, model: DiagnosisModel) -> None:
        if model is not self.model or model.changes != self._shown:
            self.model, self._shown = model, model.changes
            self.refresh(layout=True)

    def render(self) -> Text:
        model = self.model
        if model is None:
            return Text("No diagnosis yet: it runs when a launch fails or stalls.", style="dim")
        return render_diagnosis(model)


def render_diagnosis(model: DiagnosisModel) -> Text:
    style = {DiagnosisState.DONE: "bold", DiagnosisState.ERROR: "bold red"}.get(model.state, "dim")
    text = Text()
    text.append("DIAGNOSIS  ", style="bold reverse")
    text.append(model.headline(), style=style)
    diag = model.diagnosis
    if model.state is not DiagnosisState.DONE or diag is None:
        return text
    for note in diag.notes:
        text.append(f"\nnote: {note}", style="dim")
    for group in model.groups():
        first = any(r.first for r in group.rows)
        text.append("\n\n")
        text.append(f"{group.server}", style="bold underline" if first else "bold")
        text.append(f"  {len(group.rows)} cause{'s' if len(group.rows) != 1 else ''}", style="dim")
        for row in group.rows:
            _cause(text, row)
    pairs = model.ping_pairs()
    text.append("\n\n")
    keys = []
    if model.evidence_dir() is not None:
        keys.append("o  open the raw evidence")
    if pairs:
        keys.append(
            f"g  ping the {len(pairs)} implicated card pair{'s' if len(pairs) != 1 else ''} "
            "again (Ping pane, custom pairs)"
        )
    text.append("   ·   ".join(keys) or "no evidence folder, no card pair to ping", style="dim")
    return text


def _cause(text: Text, row: CauseRow) -> None:
    c = row.cause
    mark, style = ("*", "bold red") if row.first else (" ", "dim" if row.victim else "")
    text.append(f"\n {mark} ", style="bold red" if row.first else "")
    text.append(cause_label(c), style=style)
    if row.victim:
        text.append("  victim", style="dim italic")
    for line in cause_lines(c):
        text.append(f"\n      {line}", style="dim")
    if c.next_check and (row.first or not row.victim):
        text.append("\n      next: ", style="cyan")
        text.append(c.next_check, style="cyan")
    for link in row.links:
        text.append("\n      ↳ ", style="yellow")
        text.append(link.message, style=LINK_STYLES.get(link.kind, "green"))
        if link.command:
            text.append(f"   {link.command}", style="dim")
