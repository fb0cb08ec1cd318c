r"""Rows x columns views of a ``PingMatrix`` that the CLI (``render_text``) and the TUI (a
DataTable styled by ``Cell.status``) both draw. Pure.

* ``server_view``: server x server, worst result of all probes between the two servers;
  cell text like ``0%``, ``33% 8/128`` (worst, then bad/tested), ``DOWN 16/128``.
* ``card_view``: device x device for one server pair; one probe (or two, one per direction).
By default a cell merges both directions (a ping is a round trip, and the pairwise pattern
probes each pair in one direction only) and the view says so (``server ↔ server``, "both
directions"); ``directed=True`` shows row -> column only (corner ``src \ dst``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .pingresults import PingMatrix, ProbeResult, ProbeStatus, loss_fields

CellStatus = ProbeStatus | Literal["untested", "self"]
LABELS = {"link_down": "DOWN", "timeout": "T/O", "error": "ERR", "unreachable": "UNR", "skipped": "skip"}


class Cell(BaseModel):
    text: str
    status: CellStatus = Field(description="Worst status in the cell: what the UI colours by")
    loss_pct: float | None = Field(None, description="Worst measured loss")
    probes: int = 0
    tested: int = 0
    bad: int = 0


class MatrixView(BaseModel):
    title: str
    corner: str = Field("", description="Header of the row-label column: names the row axis "
                                        "(and the column axis when it fits, as in `src \\ dst`)")
    col_axis: str = Field("", description="What the columns are, when the corner does not say it")
    row_labels: list[str]
    col_labels: list[str]
    cells: list[list[Cell]]


def loss_text(loss: float | None) -> str:
    if loss is None:
        return "?"
    if 0 < loss < 1:
        return "<1%"
    if 99 < loss < 100:
        return ">99%"
    return f"{loss:.0f}%"


def make_cell(results: list[ProbeResult], *, counted: bool) -> Cell:
    """The cell for ``results``; ``counted`` adds ``bad/tested`` when anything went wrong."""
    if not results:
        return Cell(text="-", status="untested")
    f = loss_fields(results)
    worst = f["worst_status"]
    base = dict(status=worst, loss_pct=f["worst_loss_pct"], probes=f["probes"], tested=f["tested"],
                bad=f["bad"])
    if worst in ("ok", "loss") or (worst == "unreachable" and f["worst_loss_pct"] == 100):
        label = loss_text(f["worst_loss_pct"])
    else:
        label = LABELS[worst]
    if counted and f["bad"]:
        label = f"{label} {f['bad']}/{f['tested']}"
    return Cell(text=label, **base)


def _left_out(matrix: PingMatrix, host: str, device: int | None = None) -> bool:
    """Whether the plan left ``host`` (or its ``device``) out: unreachable, no IP, ..."""
    return any(s.host == host and s.dst_host is None and s.device in (None, device) for s in matrix.skipped)


def _empty(matrix: PingMatrix, a: tuple[Any, ...], b: tuple[Any, ...]) -> Cell:
    if _left_out(matrix, *a) or _left_out(matrix, *b):
        return Cell(text="skip", status="skipped")
    return Cell(text="-", status="untested")


def _index(matrix: PingMatrix, directed: bool, by_device: bool) -> dict[tuple[Any, ...], list[ProbeResult]]:
    index: dict[tuple[Any, ...], list[ProbeResult]] = {}
    for r in matrix.results:
        p = r.probe
        src: tuple[Any, ...] = (p.src_host, p.src_device) if by_device else (p.src_host,)
        dst: tuple[Any, ...] = (p.dst_host, p.dst_device) if by_device else (p.dst_host,)
        index.setdefault(src + dst, []).append(r)
        if not directed and src != dst:
            index.setdefault(dst + src, []).append(r)
    return index


def server_view(matrix: PingMatrix, *, directed: bool = False) -> MatrixView:
    """Server x server: the worst of every probe between the two servers."""
    hosts = matrix.all_hosts()
    index = _index(matrix, directed, by_device=False)
    cells = [
        [
            make_cell(index[(a, b)], counted=True) if (a, b) in index
            else Cell(text="·", status="self") if a == b else _empty(matrix, (a,), (b,))
            for b in hosts
        ]
        for a in hosts
    ]
    if directed:
        title = f"{matrix.pattern}: worst loss, server -> server (row sends to column)"
        corner = "src \\ dst"
    else:
        title = f"{matrix.pattern}: worst loss between two servers, both directions"
        corner = "server ↔ server"
    return MatrixView(title=title, corner=corner, row_labels=hosts, col_labels=hosts, cells=cells)


def devices_of(matrix: PingMatrix, host: str) -> list[int]:
    """Every device of ``host`` that appears in a result or a skip entry."""
    found = {r.probe.src_device for r in matrix.results if r.probe.src_host == host}
    found |= {r.probe.dst_device for r in matrix.results if r.probe.dst_host == host}
    found |= {s.device for s in matrix.skipped if s.host == host and s.device is not None}
    found |= {s.dst_device for s in matrix.skipped if s.dst_host == host and s.dst_device is not None}
    return sorted(found)


def card_view(matrix: PingMatrix, src_host: str, dst_host: str, *, directed: bool = False) -> MatrixView:
    """Device x device between two servers (rows: ``src_host``'s devices)."""
    rows, cols = devices_of(matrix, src_host), devices_of(matrix, dst_host)
    index = _index(matrix, directed, by_device=True)
    cells = [
        [
            make_cell(index[key], counted=False) if (key := (src_host, i, dst_host, j)) in index
            else _empty(matrix, (src_host, i), (dst_host, j))
            for j in cols
        ]
        for i in rows
    ]
    row_axis, col_axis = f"{src_host} dev", f"{dst_host} dev"
    if directed:
        title = f"{src_host} -> {dst_host}: loss per device (row sends to column)"
    else:
        title = f"{src_host} ↔ {dst_host}: loss per device, both directions"
    return MatrixView(title=title, corner=row_axis,
                      col_axis=col_axis, row_labels=[str(i) for i in rows],
                      col_labels=[str(j) for j in cols], cells=cells)


def corner_lines(view: MatrixView) -> list[str]:
    """The header of the row-label column: ``[corner]``, or, when the columns are named
    apart, ``["<columns> →", "<rows> ↓"]`` (the CLI's rich table draws the same lines)."""
    if not view.col_axis:
        return [view.corner]
    return [f"{view.col_axis} →", f"{view.corner} ↓"]


def render_text(view: MatrixView) -> str:
    """Plain aligned text: title, header row(s), one line per row."""
    corner = corner_lines(view)
    first = max([*(len(c) for c in corner), *(len(label) for label in view.row_labels)])
    widths = [
        max([len(label), *(len(row[c].text) for row in view.cells)])
        for c, label in enumerate(view.col_labels)
    ]
    columns = zip(view.col_labels, widths, strict=True)
    header = [corner[-1].ljust(first), *(label.rjust(w) for label, w in columns)]
    lines = [view.title, *corner[:-1], "  ".join(header).rstrip()]
    for label, row in zip(view.row_labels, view.cells, strict=True):
        texts = [cell.text.rjust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join([label.ljust(first), *texts]).rstrip())
    return "\n".join(lines) + "\n"
