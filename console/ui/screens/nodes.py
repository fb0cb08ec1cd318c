"""Nodes pane: hosts in, discovery out — servers, their cards, findings, failed commands."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from console.core.hosts import fold
from console.ops.hostfiles import expand_hosts
from console.core.inventory import Inventory, Server
from console.ui import nodes_view as view
from console.ui.ids import safe_id, unsafe
from console.ui.screens.base import PaneScreen
from console.ui.screens.dialogs import InputScreen


class NodesScreen(PaneScreen):
    PANE = "nodes"
    CSS_PATH = "nodes.tcss"
    AUTO_FOCUS = "#servers"
    BINDINGS = [
        Binding("h", "add_hosts", "Add hosts", id="nodes.add_hosts",
                tooltip="Add hosts: NodeSet (node[01-16]), user@host:port, @hostfile"),
        Binding("d", "discover", "Discover", id="nodes.discover",
                tooltip="Query every host over SSH: cards, IPs, links, health"),
        Binding("x", "clear_hosts", "Clear hosts", id="nodes.clear_hosts",
                tooltip="Forget the host list and the discovery result"),
        Binding("f", "focus_issues", "Findings", id="nodes.findings",
                tooltip="Jump to the findings and failed commands"),
    ]

    def __init__(self, sources) -> None:
        super().__init__(sources)
        self.pending: set[str] = set()
        self.progress = ""
        self._issues: list[view.Issue] = []
        self._shown: Inventory = Inventory()

    def compose_body(self) -> ComposeResult:
        yield Static(id="hosts-line", classes="status", markup=False)
        yield DataTable(id="servers", cursor_type="row", zebra_stripes=True)
        yield Static("Cards", id="devices-title", classes="status", markup=False)
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="issues-row"):
            yield OptionList(id="issues")
            yield TextArea("", id="issue-detail", read_only=True, soft_wrap=False)

    def on_mount(self) -> None:
        self.query_one("#servers", DataTable).add_columns(*view.SERVER_COLUMNS)
        self.query_one("#devices", DataTable).add_columns(*view.DEVICE_COLUMNS)
        self.query_one("#issues", OptionList).border_title = "Findings"
        self.query_one("#issue-detail", TextArea).border_title = "Detail"
        self.watch(self.app, "hosts", self._refresh, init=False)
        self.watch(self.app, "inventory", self._on_inventory, init=False)
        self._on_inventory(self.console_app.inventory)

    # -- actions -----------------------------------------------------------------------

    def action_add_hosts(self) -> None:
        self.app.push_screen(
            InputScreen("Add hosts", placeholder="node[01-04]  root@10.0.0.[1-2]:22  @hosts.txt"),
            self._hosts_entered)

    def _hosts_entered(self, text: str | None) -> None:
        if text and text.strip():
            self.parse_and_add(text)

    @work(exclusive=True, group="nodes.hosts", exit_on_error=False, name="reading hosts",
          thread=True)
    def parse_and_add(self, text: str) -> None:
        """Thread worker: a ``@hostfile`` is read from disk, never on the UI loop."""
        targets = expand_hosts(text)
        current = list(self.console_app.hosts)
        added = [t for t in targets if t not in current]
        self.app.call_from_thread(setattr, self.app, "hosts", current + added)

    def action_clear_hosts(self) -> None:
        self.workers.cancel_group(self, "discovery")
        self.pending.clear()
        self.progress = ""
        self.console_app.hosts = []
        self.console_app.inventory = None

    def action_discover(self) -> None:
        hosts = [str(t) for t in self.console_app.hosts]
        if not hosts:
            self.notify("Add hosts first (h).", severity="warning")
            return
        self.run_discovery(hosts)

    def action_focus_issues(self) -> None:
        self.query_one("#issues", OptionList).focus()

    @work(exclusive=True, group="discovery", exit_on_error=False, name="discovery")
    async def run_discovery(self, hosts: list[str]) -> None:
        known = self.console_app.inventory or Inventory()
        working = Inventory(servers=[known.server(h) or Server(host=h) for h in hosts])
        self.pending = set(hosts)
        self.progress = f"discovering 0/{len(hosts)}"
        self._show(working)
        try:
            async for event in self.sources.discover(hosts):
                working, final = view.apply_event(working, event)
                server = getattr(event, "server", None)
                if isinstance(server, Server):
                    self.pending.discard(server.host)
                    self.progress = f"discovering {len(hosts) - len(self.pending)}/{len(hosts)}"
                if final:
                    self.pending.clear()
                    self.console_app.inventory = working
                self._show(working)
        finally:
            self.pending.clear()
            self.progress = ""
            self._show(working)
        self.console_app.inventory = working
        reachable = sum(s.reachable for s in working.servers)
        self.notify(f"{reachable}/{len(working.servers)} servers reachable, "
                    f"{len(working.findings)} findings", title="Discovery done")

    # -- display -----------------------------------------------------------------------

    def _on_inventory(self, inventory: Inventory | None) -> None:
        self._show(inventory or Inventory())

    def _refresh(self, *_: object) -> None:
        self._show(self._shown)

    def _show(self, inv: Inventory) -> None:
        self._shown = inv
        hosts = [str(t) for t in self.console_app.hosts]
        known = {s.host for s in inv.servers}
        rows = list(inv.servers) + [Server(host=h) for h in hosts if h not in known]
        self._fill_servers(inv, rows)
        self._fill_issues(inv)
        text = f"Hosts ({len(hosts)}): {fold(hosts) if hosts else 'none — press h to add'}"
        errors = sum(f.severity == "error" for f in inv.findings)
        if inv.servers:
            text += f"   servers {len(inv.servers)}   findings {len(inv.findings)} ({errors} errors)"
        if self.progress:
            text += f"   {self.progress}"
        self.query_one("#hosts-line", Static).update(text)

    def _fill_servers(self, inv: Inventory, rows: list[Server]) -> None:
        table = self.query_one("#servers", DataTable)
        selected = self.selected_host()
        table.clear()
        for server in rows:
            table.add_row(*view.server_row(inv, server, server.host in self.pending),
                          key=safe_id("server", server.host))
        if selected and any(s.host == selected for s in rows):
            table.move_cursor(row=table.get_row_index(safe_id("server", selected)))
        self._fill_devices(self.selected_host())

    def selected_host(self) -> str | None:
        table = self.query_one("#servers", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return unsafe(str(key.value)) if key.value else None

    def _fill_devices(self, host: str | None) -> None:
        table = self.query_one("#devices", DataTable)
        table.clear()
        server = self._shown.server(host) if host else None
        title = self.query_one("#devices-title", Static)
        if server is None:
            title.update("Cards — select a server")
            return
        for dev in server.devices:
            table.add_row(*view.device_row(self._shown, server, dev),
                          key=safe_id("dev", f"{server.host}/{dev.device_id}"))
        extra = f" (error: {server.error})" if server.error else ""
        title.update(f"Cards of {server.host} ({len(server.devices)}){extra}")

    def _fill_issues(self, inv: Inventory) -> None:
        self._issues = view.issues(inv)
        options = self.query_one("#issues", OptionList)
        options.clear_options()
        options.add_options([Option(view.issue_label(i)) for i in self._issues])
        options.border_title = f"Findings ({len(self._issues)})"
        if self._issues:
            options.highlighted = 0
        else:
            self.query_one("#issue-detail", TextArea).load_text("")

    @on(DataTable.RowHighlighted, "#servers")
    def _server_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._fill_devices(unsafe(str(event.row_key.value)))

    @on(OptionList.OptionHighlighted, "#issues")
    def _issue_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        index = event.option_index
        if 0 <= index < len(self._issues):
            self.query_one("#issue-detail", TextArea).load_text(self._issues[index].detail)
