"""Nodes pane: hosts in, discovery out — servers, their cards, findings, failed commands.

State: ``NodesModel`` (console.ui.models.nodes), fed by an ``EventFeed`` over
``console.ops.discovery`` events. The host list and the inventory belong to the app: this
pane posts ``HostsChanged`` / ``InventoryChanged`` and renders what the app holds.
"""

from __future__ import annotations

import time

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, OptionList, Static, TextArea

from console.core.hosts import HostTarget, fold
from console.core.inventory import Inventory, Server
from console.core.words import counted
from console.ops.hostfiles import expand_hosts
from console.ui.feed import FRAME_S, EventFeed
from console.ui.ids import safe_id, unsafe
from console.ui.messages import HostsChanged, InventoryChanged, ShowServer
from console.ui.models import nodes as view
from console.ui.models.nodes import NodesModel
from console.ui.screens.base import PaneScreen
from console.ui.screens.dialogs import InputScreen
from console.ui.sources import Sources
from console.ui.widgets.problems import ProblemList

TABLE_FRAME_S = 0.5
"""Redraw rate of the servers table while discovery runs (the status line keeps ``FRAME_S``)."""


class NodesScreen(PaneScreen):
    PANE = "nodes"
    CSS_PATH = "nodes.tcss"
    AUTO_FOCUS = "#servers"
    BINDINGS = [
        Binding(
            "h",
            "add_hosts",
            "Add hosts",
            id="nodes.add_hosts",
            tooltip="Add hosts: NodeSet (node[01-16]), user@host:port, @hostfile",
        ),
        Binding(
            "d",
            "discover",
            "Discover",
            id="nodes.discover",
            tooltip="Query every host over SSH: cards, IPs, links, health",
        ),
        Binding(
            "x",
            "clear_hosts",
            "Clear hosts",
            id="nodes.clear_hosts",
            tooltip="Forget the host list and the discovery result",
        ),
        Binding(
            "f", "focus_issues", "Findings", id="nodes.findings", tooltip="Jump to the findings and failed commands"
        ),
    ]

    def __init__(self, sources: Sources) -> None:
        super().__init__(sources)
        self.model = NodesModel()
        self.feed = EventFeed(self, self.model, self.render_model)
        self._columns: list = []
        self._shown: list[tuple[str, Server, bool, list, tuple]] | None = None
        """What the servers table shows: (row key, server, pending, cells, context key) per row."""
        self._out_of_view = False
        """Whether some rows out of view wait for an update (see ``_in_view``)."""
        self._devices_shown: tuple | None = None
        self._hosts_text: tuple[tuple[str, ...], str] = ((), "")
        self._ids: dict[str, str] = {}
        self._table_at = 0.0
        self._table_timer: Timer | None = None
        self._scroll_timer: Timer | None = None
        self._widths: list[int] = []
        """The widest cell put in each servers column so far (columns grow, never shrink)."""

    def compose_body(self) -> ComposeResult:
        yield Static(id="hosts-line", classes="status", markup=False)
        yield DataTable(id="servers", cursor_type="row", zebra_stripes=True)
        yield Static("Cards", id="devices-title", classes="status", markup=False)
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="issues-row"):
            yield ProblemList("Findings", id="issues")
            yield TextArea("", id="issue-detail", read_only=True, soft_wrap=False)

    def on_mount(self) -> None:
        self._columns = self.query_one("#servers", DataTable).add_columns(*view.SERVER_COLUMNS)
        self.query_one("#devices", DataTable).add_columns(*view.DEVICE_COLUMNS)
        self.query_one("#issues", ProblemList).border_title = "Findings"
        self.query_one("#issue-detail", TextArea).border_title = "Detail"
        self.watch(self.app, "hosts", lambda _: self.feed.redraw(), init=False)
        self.watch(self.query_one("#servers", DataTable), "scroll_y", lambda _: self._scrolled(), init=False)
        self.watch(self.app, "inventory", self._inventory, init=True)

    def _inventory(self, inventory: Inventory | None) -> None:
        self.model.show(inventory)
        self.feed.redraw()

    # -- actions -----------------------------------------------------------------------

    def action_add_hosts(self) -> None:
        self.app.push_screen(
            InputScreen("Add hosts", placeholder="node[01-04]  root@10.0.0.[1-2]:22  @hosts.txt"), self._hosts_entered
        )

    def _hosts_entered(self, text: str | None) -> None:
        if text and text.strip():
            self.parse_and_add(text, list(self.console_app.hosts))

    @work(exclusive=True, group="nodes.hosts", exit_on_error=False, name="reading hosts", thread=True)
    def parse_and_add(self, text: str, current: list[HostTarget]) -> None:
        """Thread worker: a ``@hostfile`` is read from disk, never on the UI loop."""
        added = [t for t in expand_hosts(text) if t not in current]
        self.post_message(HostsChanged(current + added))

    def action_clear_hosts(self) -> None:
        self.workers.cancel_group(self, "discovery")
        self.post_message(HostsChanged([]))
        self.post_message(InventoryChanged(None))

    def action_discover(self) -> None:
        hosts = [str(t) for t in self.console_app.hosts]
        if not hosts:
            self.notify("Add hosts first (h).", severity="warning")
            return
        self.model.start(hosts, self.console_app.inventory)
        self.feed.run(
            lambda: self.sources.discover(hosts), name="discovery", group="discovery", on_end=self._discovered
        )

    def _discovered(self, error: BaseException | None, cancelled: bool) -> None:
        inventory = self.model.final or (None if cancelled else self.model.inventory)
        if inventory is not None:
            self.post_message(InventoryChanged(inventory))
        if error is None and not cancelled:
            reachable = sum(s.reachable for s in self.model.inventory.servers)
            self.notify(
                f"{reachable}/{len(self.model.inventory.servers)} servers reachable, "
                f"{counted(len(self.model.inventory.findings), 'finding')}",
                title="Discovery done",
            )

    def action_focus_issues(self) -> None:
        self.query_one("#issues", ProblemList).focus()

    def on_show_server(self, message: ShowServer) -> None:
        """Another pane asked to show a server (e.g. a failed rank's): select its row."""
        host = self.model.host_of(message.server) or message.server
        table = self.query_one("#servers", DataTable)
        key = safe_id("server", host)
        try:
            table.move_cursor(row=table.get_row_index(key))
        except Exception:
            self.notify(f"{message.server} is not among the discovered servers.", severity="warning", markup=False)
            return
        table.focus()

    # -- render ------------------------------------------------------------------------

    def render_model(self) -> None:
        inv = self.model.inventory
        hosts = [str(t) for t in self.console_app.hosts]
        rows = self._rows()
        if self._table_waits():
            self._fill_later()
        else:
            self._table_at = time.monotonic()
            self._fill_servers(inv, rows)
        self.query_one("#issues", ProblemList).show(view.issues(inv))
        self._show_issue()
        text = f"Hosts ({len(hosts)}): {self._fold(hosts)}"
        errors = sum(f.severity == "error" for f in inv.findings)
        if inv.servers:
            text += f"   servers {len(inv.servers)}   findings {len(inv.findings)} ({counted(errors, 'error')})"
        if self.model.progress:
            text += f"   {self.model.progress}"
        # One line high (.status): no layout pass needed. A layout per redraw (Static.update's
        # default) re-rendered the whole screen, 100-500 ms each while 1,024 servers reported.
        self.query_one("#hosts-line", Static).update(text, layout=False)

    def _rows(self) -> list[Server]:
        """The servers table's rows: the discovered servers, then hosts not discovered yet."""
        inv = self.model.inventory
        known = {s.host for s in inv.servers}
        return list(inv.servers) + [Server(host=str(t)) for t in self.console_app.hosts if str(t) not in known]

    def _table_waits(self) -> bool:
        """While discovery runs, the servers table is redrawn at most every ``TABLE_FRAME_S``
        (the status line every frame): any changed cell makes DataTable re-render every visible
        cell, 30-40 ms at 1,024 servers; 20 of those a second starved the event loop."""
        return self.feed.running and time.monotonic() - self._table_at < TABLE_FRAME_S

    def _fill_later(self) -> None:
        if self._table_timer is None:
            wait = max(0.0, self._table_at + TABLE_FRAME_S - time.monotonic())
            self._table_timer = self.set_timer(wait, self._table_due, name="servers table")

    def _table_due(self) -> None:
        self._table_timer = None
        self.feed.redraw()

    def _fold(self, hosts: list[str]) -> str:
        """The host list folded (cached: folding 1,024 names on every redraw costs)."""
        if tuple(hosts) != self._hosts_text[0]:
            self._hosts_text = (tuple(hosts), fold(hosts) if hosts else "none — press h to add")
        return self._hosts_text[1]

    def _row_key(self, host: str) -> str:
        key = self._ids.get(host)
        if key is None:
            key = self._ids[host] = safe_id("server", host)
        return key

    def _fill_servers(self, inv: Inventory, rows: list[Server]) -> None:
        """Rows are updated in place, cell by cell where a cell changed; the table is rebuilt
        only when the rows themselves (hosts, order) changed. A rebuild per redraw (and
        DataTable's re-measuring of 1,024 rows after it) froze the app for seconds while
        1,024 servers reported. While discovery runs, rows out of view wait (``_in_view``)."""
        table = self.query_one("#servers", DataTable)
        context = view.RowContext(inv)
        pending = self.model.pending
        keys = [self._row_key(s.host) for s in rows]
        shown = self._shown
        if (
            shown is not None
            and len(shown) == len(rows)
            and table.row_count == len(rows)
            and all(k == old[0] for k, old in zip(keys, shown, strict=True))
        ):
            first, last = self._in_view(table)
            self._out_of_view = False
            for i, (key, server) in enumerate(zip(keys, rows, strict=True)):
                wait = server.host in pending
                _, old_server, old_wait, old_cells, old_context = shown[i]
                if old_context == context.key and old_server is server and old_wait == wait:
                    continue
                if not first <= i < last:
                    self._out_of_view = True
                    continue
                cells = view.server_row(inv, server, wait, context)
                for n, (column, cell, before) in enumerate(zip(self._columns, cells, old_cells, strict=True)):
                    if cell != before:
                        table.update_cell(key, column, cell, update_width=self._grows(n, cell))
                shown[i] = (key, server, wait, cells, context.key)
        else:
            selected = self.selected_host()
            table.clear()
            self._shown = []
            self._widths = [cell_len(str(c)) for c in view.SERVER_COLUMNS]
            for key, server in zip(keys, rows, strict=True):
                wait = server.host in pending
                cells = view.server_row(inv, server, wait, context)
                for n, cell in enumerate(cells):
                    self._grows(n, cell)
                table.add_row(*cells, key=key)
                self._shown.append((key, server, wait, cells, context.key))
            if selected and any(s.host == selected for s in rows):
                table.move_cursor(row=table.get_row_index(self._row_key(selected)))
        self._fill_devices(self.selected_host())

    def _in_view(self, table: DataTable) -> tuple[int, int]:
        """The rows to update now: while discovery runs, those in view (a changed cell makes
        DataTable re-render every visible cell, so an update of a row nobody sees cost as much
        as one of a row in view); the others when scrolled to (``_scrolled``) or at the end."""
        height = table.scrollable_content_region.height
        if not self.feed.running or height <= 0:
            return 0, table.row_count
        top = int(table.scroll_y)
        return top, top + height + 1

    def _scrolled(self) -> None:
        """Rows scrolled into view are filled at the next frame (once, however many scroll
        steps came meanwhile: a mouse wheel sends dozens), and only the table."""
        if self._out_of_view and self._scroll_timer is None:
            self._scroll_timer = self.set_timer(FRAME_S, self._fill_scrolled, name="rows scrolled to")

    def _fill_scrolled(self) -> None:
        self._scroll_timer = None
        self._fill_servers(self.model.inventory, self._rows())

    def _grows(self, column: int, cell: Text) -> bool:
        """Whether ``cell`` is wider than any cell the column held so far (noted if so).

        Only then is DataTable asked to re-measure (``update_width``): asking for a cell
        narrower than the column's width makes DataTable re-measure the whole column, so an
        update per server while 1,024 servers report ("…" -> "yes") cost O(servers) each and
        froze the pane for tens of seconds. The column keeps its widest width instead."""
        width = cell.cell_len
        if width <= self._widths[column]:
            return False
        self._widths[column] = width
        return True

    def selected_host(self) -> str | None:
        table = self.query_one("#servers", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return unsafe(str(key.value)) if key.value else None

    def _fill_devices(self, host: str | None) -> None:
        table = self.query_one("#devices", DataTable)
        inv = self.model.inventory
        server = inv.server(host) if host else None
        tls = view.tls_majority(inv) if server is not None else None
        last = self._devices_shown
        if last is not None and last[0] is server and last[1] == tls and table.row_count:
            return  # the same server, compared with the same majority: nothing to redraw
        self._devices_shown = (server, tls)
        table.clear()
        title = self.query_one("#devices-title", Static)
        if server is None:
            title.update("Cards — select a server", layout=False)
            return
        for dev in server.devices:
            table.add_row(*view.device_row(inv, server, dev, tls), key=safe_id("dev", f"{server.host}/{dev.device_id}"))
        extra = f" (error: {server.error})" if server.error else ""
        title.update(f"Cards of {server.host} ({len(server.devices)}){extra}", layout=False)

    def _show_issue(self) -> None:
        item = self.query_one("#issues", ProblemList).selected_item()
        detail = self.query_one("#issue-detail", TextArea)
        text = item.detail if item else ""
        if detail.text != text:
            detail.load_text(text)

    @on(DataTable.RowHighlighted, "#servers")
    def _server_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._fill_devices(unsafe(str(event.row_key.value)))

    @on(OptionList.OptionHighlighted, "#issues")
    def _issue_highlighted(self) -> None:
        self._show_issue()
