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

from collections.abc import Hashable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from .pingresults import PingMatrix, ProbeResult, ProbeStatus, Tally, loss_fields
from .words import counted

CellStatus = ProbeStatus | Literal["untested", "self"]
MAX_GROUPS = 24
"""Most rows/columns of a grouped heatmap (what fits a terminal at 8 characters a cell)."""
MAX_SWITCHES = 64
"""Most switches the heatmap groups by; with more (N names: N x N group cells, whatever the
servers print) it shows blocks of servers."""
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
    corner: str = Field(
        "",
        description="Header of the row-label column: names the row axis "
        "(and the column axis when it fits, as in `src \\ dst`)",
    )
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
    return fields_cell(loss_fields(results), counted=counted)


def fields_cell(f: dict[str, Any], *, counted: bool) -> Cell:
    """The cell for ``loss_fields`` values (or ``Tally.fields()``) of at least one result."""
    worst = f["worst_status"]
    base = {
        "status": worst,
        "loss_pct": f["worst_loss_pct"],
        "probes": f["probes"],
        "tested": f["tested"],
        "bad": f["bad"],
    }
    if worst in ("ok", "loss") or (worst == "unreachable" and f["worst_loss_pct"] == 100):
        label = loss_text(f["worst_loss_pct"])
    else:
        label = LABELS[worst]
    if counted and f["bad"]:
        label = f"{label} {f['bad']}/{f['tested']}"
    return Cell(text=label, **base)


class _LeftOut:
    """What the plan left out (unreachable servers, devices without an IP), for lookups."""

    def __init__(self, matrix: PingMatrix) -> None:
        self.keys = {(s.host, s.device) for s in matrix.skipped if s.dst_host is None}

    def __call__(self, host: str, device: int | None = None) -> bool:
        return (host, None) in self.keys or (device is not None and (host, device) in self.keys)

    def empty(self, a: tuple[str, int] | tuple[str], b: tuple[str, int] | tuple[str]) -> Cell:
        if self(*a) or self(*b):
            return Cell(text="skip", status="skipped")
        return Cell(text="-", status="untested")


def _left_out(matrix: PingMatrix, host: str, device: int | None = None) -> bool:
    """Whether the plan left ``host`` (or its ``device``) out: unreachable, no IP, ..."""
    return _LeftOut(matrix)(host, device)


def host_tallies(
    matrix: PingMatrix, group_of: Mapping[str, Hashable], *, directed: bool
) -> dict[tuple[Hashable, Hashable], Tally]:
    """Loss tallies per (group of the source host, group of the destination host), read from
    the result table's arrays in one pass (a million probes in about a second). Hosts not in
    ``group_of`` are left out; undirected, a probe counts for both orders."""
    table = matrix.results
    probes = table.probes
    end_group = [group_of.get(e.host) for e in probes.ends]
    tallies: dict[tuple[Hashable, Hashable], Tally] = {}
    for i in range(len(table)):
        if not table.is_set(i):
            continue
        a, b = end_group[probes.src[i]], end_group[probes.dst[i]]
        if a is None or b is None:
            continue
        status, loss = table.status_of(i), table.loss_of(i)
        for key in ((a, b),) if directed or a == b else ((a, b), (b, a)):
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = Tally()
            tally.add(status, loss)
    return tallies


def server_view(
    matrix: PingMatrix, *, directed: bool = False, rows: list[str] | None = None, cols: list[str] | None = None
) -> MatrixView:
    """Server x server: the worst of every probe between the two servers (all servers, or
    ``rows`` x ``cols``: one block pair of ``group_view``)."""
    hosts = matrix.all_hosts()
    rows, cols = rows or hosts, cols or hosts
    wanted = dict.fromkeys([*rows, *cols])
    tallies = host_tallies(matrix, {h: h for h in wanted}, directed=directed)
    left_out = _LeftOut(matrix)
    cells = [
        [
            fields_cell(tallies[(a, b)].fields(), counted=True)
            if (a, b) in tallies
            else Cell(text="·", status="self")
            if a == b
            else left_out.empty((a,), (b,))
            for b in cols
        ]
        for a in rows
    ]
    if directed:
        title = f"{matrix.pattern}: worst loss, server -> server (row sends to column)"
        corner = "src \\ dst"
    else:
        title = f"{matrix.pattern}: worst loss between two servers, both directions"
        corner = "server ↔ server"
    return MatrixView(title=title, corner=corner, row_labels=list(rows), col_labels=list(cols), cells=cells)


def _pair_rows(matrix: PingMatrix, a: str, b: str) -> list[int]:
    """Rows of probes between servers ``a`` and ``b`` (either direction)."""
    table = matrix.results
    probes = table.probes
    hosts = [e.host for e in probes.ends]
    want = {(a, b), (b, a)}
    return [i for i in range(len(table)) if table.is_set(i) and (hosts[probes.src[i]], hosts[probes.dst[i]]) in want]


def devices_of(matrix: PingMatrix, host: str) -> list[int]:
    """Every device of ``host`` that appears in a result or a skip entry."""
    probes = matrix.results.probes
    used = set(probes.src) | set(probes.dst)
    found = {probes.ends[e].device for e in used if probes.ends[e].host == host}
    found |= {s.device for s in matrix.skipped if s.host == host and s.device is not None}
    found |= {s.dst_device for s in matrix.skipped if s.dst_host == host and s.dst_device is not None}
    return sorted(found)


def card_view(matrix: PingMatrix, src_host: str, dst_host: str, *, directed: bool = False) -> MatrixView:
    """Device x device between two servers (rows: ``src_host``'s devices)."""
    rows, cols = devices_of(matrix, src_host), devices_of(matrix, dst_host)
    index: dict[tuple[str, int, str, int], list[ProbeResult]] = {}
    for i in _pair_rows(matrix, src_host, dst_host):
        r = matrix.results[i]
        p = r.probe
        src, dst = (p.src_host, p.src_device), (p.dst_host, p.dst_device)
        index.setdefault(src + dst, []).append(r)
        if not directed and src != dst:
            index.setdefault(dst + src, []).append(r)
    left_out = _LeftOut(matrix)
    cells = [
        [
            make_cell(index[key], counted=False)
            if (key := (src_host, i, dst_host, j)) in index
            else left_out.empty((src_host, i), (dst_host, j))
            for j in cols
        ]
        for i in rows
    ]
    row_axis, col_axis = f"{src_host} dev", f"{dst_host} dev"
    if directed:
        title = f"{src_host} -> {dst_host}: loss per device (row sends to column)"
    else:
        title = f"{src_host} ↔ {dst_host}: loss per device, both directions"
    return MatrixView(
        title=title,
        corner=row_axis,
        col_axis=col_axis,
        row_labels=[str(i) for i in rows],
        col_labels=[str(j) for j in cols],
        cells=cells,
    )


# -- grouped views: a readable heatmap at 1,024 servers ---------------------------------------


class ServerGroup(BaseModel):
    """Servers drawn as one row/column of the grouped heatmap."""

    label: str = Field(description="Short name: the switch, or B1, B2, ... for blocks")
    hosts: list[str]

    @property
    def title(self) -> str:
        """The label and the servers, folded (``B3 node[097-144]``)."""
        folded = fold_hosts(self.hosts)
        return folded if folded == self.label else f"{self.label} {folded}"


def fold_hosts(hosts: list[str]) -> str:
    """``node[01-16]``-style folding (ClusterShell NodeSet); the list as is if it won't fold."""
    from ClusterShell.NodeSet import NodeSet, NodeSetParseError

    try:
        return str(NodeSet.fromlist(hosts))
    except (NodeSetParseError, ValueError):
        return ",".join(hosts)


def block_size(servers: int, max_groups: int = MAX_GROUPS) -> int:
    """Servers per block so that at most ``max_groups`` blocks remain (a multiple of 8)."""
    per = -(-servers // max_groups)
    return max(8, -(-per // 8) * 8)


def group_servers(
    hosts: list[str], *, switch_of: dict[str, str] | None = None, size: int | None = None
) -> list[ServerGroup]:
    """``hosts`` in groups: by switch when ``switch_of`` names one for every host (what
    ``hccn_tool -lldp -g`` reports, where discovery has it) and there are at most
    ``MAX_SWITCHES`` of them, else blocks of ``size`` consecutive servers (default
    ``block_size``), labelled B1, B2, ..."""
    if switch_of and all(switch_of.get(h) for h in hosts):
        by_switch: dict[str, list[str]] = {}
        for h in hosts:
            by_switch.setdefault(switch_of[h], []).append(h)
        if len(by_switch) <= MAX_SWITCHES:
            return [ServerGroup(label=name, hosts=members) for name, members in by_switch.items()]
    size = size or block_size(len(hosts))
    return [
        ServerGroup(label=f"B{n + 1}", hosts=hosts[start : start + size])
        for n, start in enumerate(range(0, len(hosts), size))
    ]


def group_view(matrix: PingMatrix, groups: list[ServerGroup], *, directed: bool = False) -> MatrixView:
    """Group x group: the worst of every probe between a server of one group and a server
    of the other (the diagonal: between servers of the same group). Drill down with
    ``block_view`` (the server pairs of one cell), then ``card_view``."""
    index = {h: n for n, g in enumerate(groups) for h in g.hosts}
    tallies = host_tallies(matrix, index, directed=directed)
    cells = [
        [
            fields_cell(tallies[(a, b)].fields(), counted=True)
            if (a, b) in tallies
            else Cell(text="·", status="self")
            if a == b and len(groups[a].hosts) == 1
            else Cell(text="-", status="untested")
            for b in range(len(groups))
        ]
        for a in range(len(groups))
    ]
    sizes = sorted({len(g.hosts) for g in groups})
    each = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    arrow = "row sends to column" if directed else "both directions"
    groups_of = f"{counted(len(groups), 'group')} of {each} {'server' if sizes == [1] else 'servers'}"
    title = f"{matrix.pattern}: worst loss between groups of servers ({groups_of}), {arrow}"
    return MatrixView(
        title=title,
        corner="group ↔ group" if not directed else "src \\ dst",
        row_labels=[g.title for g in groups],
        col_labels=[g.label for g in groups],
        cells=cells,
    )


def block_view(matrix: PingMatrix, a: ServerGroup, b: ServerGroup, *, directed: bool = False) -> MatrixView:
    """The server pairs behind one ``group_view`` cell: ``a``'s servers x ``b``'s."""
    view = server_view(matrix, directed=directed, rows=a.hosts, cols=b.hosts)
    return view.model_copy(update={"title": f"{a.title} ↔ {b.title}: " + view.title.split(": ", 1)[1]})


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
    widths = [max([len(label), *(len(row[c].text) for row in view.cells)]) for c, label in enumerate(view.col_labels)]
    columns = zip(view.col_labels, widths, strict=True)
    header = [corner[-1].ljust(first), *(label.rjust(w) for label, w in columns)]
    lines = [view.title, *corner[:-1], "  ".join(header).rstrip()]
    for label, row in zip(view.row_labels, view.cells, strict=True):
        texts = [cell.text.rjust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join([label.ljust(first), *texts]).rstrip())
    return "\n".join(lines) + "\n"
