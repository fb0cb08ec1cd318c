"""Ping matrix pane: choose a pattern, run / cancel / re-run the failed probes, watch the
server x server heatmap fill in (worst loss per pair), drill into a pair's card x card
matrix, read a probe's exact command and raw output, export JSON / CSV.

Aggregate first: the heatmap has one cell per server pair and the problem list names the
worst pairs, so 64 servers stay readable (numbered columns, 3-character cells); the card
matrix of one pair is one Enter away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, DataTable, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from console.core.errors import InputError
from console.core.pingresults import PingMatrix
from console.core.pingview import ServerGroup
from console.core.planning.ping import PingPattern, PingPlan, default_pattern, plan_ping, plan_retry
from console.core.words import counted
from console.ops import safefiles
from console.ops.ping import CancelToken, ServerLost, SweepEvent
from console.ui.feed import EventFeed
from console.ui.ids import safe_id, unsafe
from console.ui.messages import PingPairs, PingResultsChanged
from console.ui.models import ping as view
from console.ui.models.ping import PingModel
from console.ui.ping_cards import CardMatrix
from console.ui.screens.base import PaneScreen
from console.ui.screens.dialogs import InputScreen
from console.ui.sources import Sources

GROUP_WIDTH = 12
WIND_DOWN_S = 15.0
"""Quitting waits at most this long for a cancelled sweep to end on the servers."""


class PingScreen(PaneScreen):
    PANE = "ping"
    CSS_PATH = "ping.tcss"
    AUTO_FOCUS = "#heatmap"
    BINDINGS = [
        Binding("r", "run", "Run", id="ping.run", tooltip="Run the ping sweep with the chosen pattern"),
        Binding(
            "c",
            "cancel",
            "Cancel",
            id="ping.cancel",
            tooltip="Stop the sweep: running probes are killed, finished results kept",
        ),
        Binding(
            "f",
            "rerun_failed",
            "Re-run failed",
            id="ping.rerun_failed",
            tooltip="Re-run only the lossy, failed and not-run probes",
        ),
        Binding(
            "p",
            "next_pattern",
            "Pattern",
            id="ping.pattern",
            tooltip="Next probe pattern: cross, pairwise, sample, rail (the default above 16 servers)",
        ),
        Binding(
            "enter", "open_pair", "Cards", id="ping.open_pair", tooltip="Card x card matrix of the selected server pair"
        ),
        Binding("escape,backspace", "back", "Servers", id="ping.back", tooltip="Back to the server x server heatmap"),
        Binding(
            "w",
            "focus_problems",
            "Worst pairs",
            show=False,
            id="ping.problems",
            tooltip="Jump to the list of lossy / failed server pairs",
        ),
        Binding("e", "export", "Export", id="ping.export", tooltip="Write every probe result to a .json or .csv file"),
    ]

    def __init__(self, sources: Sources) -> None:
        super().__init__(sources)
        self.model = PingModel()
        self.feed = EventFeed(self, self.model, self._flush)
        self.pattern = "cross"
        self.pattern_chosen = False
        """Set once the operator picks a pattern; until then it follows the cluster size."""
        self.planned: dict[str, tuple[PingPlan, str]] = {}
        """Plan and estimate text per pattern, for the current inventory."""
        self.drill: view.Pair | None = None
        self.cancel_token: CancelToken | None = None
        self._shown_hosts: list[str] = []
        self.block: tuple[int, int] | None = None
        """The block pair shown server by server (grouped heatmap only)."""
        self._shown_block: tuple[int, int] | None = None
        self._groups_for: list[str] = []
        self._group_list: list[ServerGroup] = []
        self._by_switch = False
        self._heat_width = 4
        self._problems: list[view.Pair] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="ping-status-row"):
            yield Static(id="ping-status", classes="status", markup=False)
            yield ProgressBar(id="ping-progress", show_eta=False)
        with ContentSwitcher(initial="ping-servers", id="ping-views"):
            with Vertical(id="ping-servers"):
                with Horizontal(id="ping-top"):
                    yield DataTable(id="heatmap", cursor_type="cell", cell_padding=0)
                    yield OptionList(id="problems")
                yield Static(id="ping-legend")
                yield Static(id="pair-info", markup=False)
            yield CardMatrix(id="ping-cards")

    def on_mount(self) -> None:
        self.query_one("#heatmap", DataTable).border_title = "server x server: worst loss"
        self.query_one("#problems", OptionList).border_title = "Worst pairs"
        self.watch(self.app, "inventory", self._on_inventory, init=True)

    # -- state ---------------------------------------------------------------------------

    @property
    def servers(self) -> list[str]:
        inv = self.console_app.inventory
        return [s.host for s in inv.servers] if inv is not None else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        running = self.model.running
        if action == "cancel":
            return running
        if action in ("run", "next_pattern"):
            return not running
        if action == "rerun_failed":
            return not running and self.model.summary()["ok"] < len(self.model.results)
        if action == "back":
            return self.drill is not None or self.block is not None
        if action == "open_pair":
            return self.drill is None
        if action == "export":
            return bool(self.model.results) and not running
        return True

    def _on_inventory(self, inventory) -> None:
        self.planned = {}
        self._groups_for = []  # regroup: the switches may have changed
        if not self.pattern_chosen:
            self.pattern = default_pattern(len(self.servers))
        self.plan_next()
        if not self.model.running and not self.model.results:
            self.model.reset(self.servers, self.pattern)
        self.refresh_view()

    def show_matrix(self, matrix: PingMatrix) -> None:
        """Display ``matrix`` (a finished sweep) as if it had just been run."""
        self.workers.cancel_group(self, "ping")
        self.model.show(matrix)
        self.post_message(PingResultsChanged(matrix))
        self.refresh_view()

    # -- actions -------------------------------------------------------------------------

    def action_next_pattern(self) -> None:
        self.pattern, self.pattern_chosen = view.next_pattern(self.pattern), True
        self.plan_next()
        self.refresh_view()

    def plan_next(self) -> None:
        """Plan the chosen pattern in a thread (a million probes take a second), so the status
        line shows its probe count and estimated time before the sweep is started."""
        inventory = self.console_app.inventory
        if inventory is not None and inventory.servers and self.pattern not in self.planned:
            self._plan_worker(inventory, self.pattern)

    @work(exclusive=True, group="ping.plan", exit_on_error=False, name="ping plan", thread=True)
    def _plan_worker(self, inventory, pattern: str) -> None:
        planned = view.plan_with_estimate(inventory, pattern)
        self.app.call_from_thread(self._planned, inventory, pattern, planned)

    def _planned(self, inventory, pattern: str, planned: tuple[PingPlan, str]) -> None:
        if inventory is self.console_app.inventory:
            self.planned[pattern] = planned
            self._show_status()

    def _estimate_text(self) -> str | None:
        planned = self.planned.get(self.pattern)
        return planned[1] if planned else None

    def action_run(self) -> None:
        inventory = self.console_app.inventory
        if inventory is None or not inventory.servers:
            self.notify("Discover the servers first (Nodes pane, key 1, then d).", severity="warning")
            return
        planned = self.planned.get(self.pattern)
        # self.pattern is one of view.PANE_PATTERNS
        plan = planned[0] if planned else plan_ping(inventory, cast(PingPattern, self.pattern))
        if not plan.probes:
            reasons = "; ".join(f"{s.host}: {s.reason}" for s in plan.skipped[:3])
            self.notify(f"Nothing to probe. {reasons}", severity="warning", markup=False)
            return
        self.run_sweep(plan, None)

    def action_rerun_failed(self) -> None:
        plan = plan_retry(self.model.table, include_skipped=True)
        if not plan.probes:
            self.notify("Every probe passed: nothing to re-run.")
            return
        self.run_sweep(plan, self.model.matrix())

    async def wind_down(self) -> None:
        """A running sweep is cancelled the way ``c`` does it, and waited for (bounded), so its
        probes are killed and its lanes closed before the app closes the connections."""
        workers = [w for w in self.workers if w.group == "ping" and w.is_running]
        if not workers:
            return
        if self.cancel_token is not None:
            self.cancel_token.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(w.wait() for w in workers), return_exceptions=True), WIND_DOWN_S)

    def on_ping_pairs(self, message: PingPairs) -> None:
        """Another pane (the Launch pane's diagnosis) asks to ping these card pairs now: a
        custom-pattern sweep of just them, added to the results shown."""
        message.stop()
        inventory = self.console_app.inventory
        if self.model.running:
            self.notify("A sweep is running: cancel it (c) first.", severity="warning")
            return
        if inventory is None or not inventory.servers:
            self.notify("Discover the servers first (Nodes pane, key 1, then d).", severity="warning")
            return
        try:
            plan = plan_ping(inventory, "custom", custom_text=message.text, custom_path=message.source)
        except InputError as exc:
            self.notify(f"{exc.title}: {exc.detail}", title="Cannot ping those pairs", severity="error", markup=False)
            return
        if not plan.probes:
            reasons = "; ".join(s.reason for s in plan.skipped[:3])
            self.notify(f"Nothing to probe. {reasons}", severity="warning", markup=False)
            return
        if self.drill is not None:
            self.action_back()
        self.notify(f"Pinging {counted(len(plan.probes), 'card pair')} from {message.source}.", markup=False)
        self.run_sweep(plan, self.model.matrix() if self.model.results else None)

    def action_cancel(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.notify("Cancelling: running probes are being stopped.")

    def action_open_pair(self) -> None:
        block = self.selected_block()
        if block is not None:
            self.block = block
            self.refresh_view()
            return
        pair = self.selected_pair()
        if pair is not None:
            self.open_pair(*pair)

    def action_back(self) -> None:
        if self.drill is None and self.block is not None:
            self.block = None
            self.refresh_view()
            return
        self.drill = None
        self.query_one(ContentSwitcher).current = "ping-servers"
        self.query_one("#heatmap", DataTable).focus()
        self.refresh_bindings()

    def action_focus_problems(self) -> None:
        if self.drill is not None:
            self.action_back()
        self.query_one("#problems", OptionList).focus()

    def action_export(self) -> None:
        default = f"ping-{self.model.pattern}.json"
        self.app.push_screen(InputScreen("Export the ping results to (.json or .csv)", value=default), self._export_to)

    def _export_to(self, path: str | None) -> None:
        if path and path.strip():
            self.write_export(path.strip(), self.model.matrix())

    def open_pair(self, a: str, b: str) -> None:
        """Show the card x card matrix of server pair ``a`` <-> ``b``."""
        if a == b:
            self.notify("Pick a cell off the diagonal: a pair of two servers.", severity="warning")
            return
        self.drill = (a, b)
        self.query_one(ContentSwitcher).current = "ping-cards"
        cards = self.query_one(CardMatrix)
        cards.show(self.model.matrix((a, b)), a, b)
        cards.focus_matrix()
        self.refresh_bindings()

    # -- workers -------------------------------------------------------------------------

    def run_sweep(self, plan: PingPlan, base: PingMatrix | None) -> None:
        ping = self.sources.ping
        if ping is None:
            self.console_app.report_error(
                InputError("no ping source", hint="this console was started without SSH access"), "ping sweep"
            )
            return
        self.cancel_token = token = CancelToken()
        self.model.start(plan, base)
        self.refresh_view()
        self.feed.run(
            lambda: ping(plan, token), name="ping sweep", group="ping", on_event=self._event, on_end=self._swept
        )

    def _event(self, event: SweepEvent) -> None:
        if isinstance(event, ServerLost):
            self.notify(f"{event.host}: {event.error}", title="Server lost mid-sweep", severity="error", markup=False)

    def _swept(self, error: BaseException | None, cancelled: bool) -> None:
        self.cancel_token = None
        if self.model.finished is not None:
            self.post_message(PingResultsChanged(self.model.finished))
        if error is not None or cancelled:
            return
        s = self.model.summary()
        title = "Ping sweep cancelled" if self.model.cancelled else "Ping sweep done"
        self.notify(
            f"{s['ok']} ok, {s['lossy']} lossy, {s['failed']} failed, {s['skipped']} skipped",
            title=title,
            severity="warning" if s["lossy"] or s["failed"] else "information",
        )

    @work(exclusive=True, group="ping.export", exit_on_error=False, name="ping export", thread=True)
    def write_export(self, path: str, matrix: PingMatrix) -> None:
        """Thread worker: serialising thousands of probes and writing them stays off the UI loop."""
        target = Path(path).expanduser()
        text = (
            matrix.to_csv()
            if target.suffix.lower() == ".csv"
            else json.dumps(matrix.to_json(), indent=2, ensure_ascii=False) + "\n"
        )
        safefiles.write_atomic(target, text.encode("utf-8"), what="ping results file")
        self.app.call_from_thread(
            self.notify, f"{counted(len(matrix.results), 'probe')} written to {target}", title="Exported", markup=False
        )

    # -- display -------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Redraw everything (also after a pattern change or a new host list)."""
        self.model.dirty = None
        self._flush()

    def _flush(self) -> None:
        """Render the model: only the heatmap cells that changed since the last frame."""
        dirty = self.model.take_dirty()
        if dirty is None or self.model.hosts != self._shown_hosts or self.block != self._shown_block:
            self._build_heatmap()
        else:
            self._update_heatmap(dirty)
        self._fill_problems()
        self._show_status()
        self._show_pair_info()
        if self.drill is not None and (dirty is None or self.model.pair(*self.drill) in dirty):
            self.query_one(CardMatrix).show(self.model.matrix(self.drill), *self.drill)
        self.refresh_bindings()

    def _width(self) -> int:
        if self.model.compact:
            return 4
        texts = [self.model.cell(a, b)[0].text for a in self.model.hosts for b in self.model.hosts]
        return max([len(h) for h in self.model.hosts] + [len(t) + 2 for t in texts] + [9]) + 1

    def _groups(self) -> list[ServerGroup] | None:
        """Groups of servers (by switch, else blocks) above ``view.GROUP_OVER``, else None."""
        hosts = self.model.hosts
        if len(hosts) <= view.GROUP_OVER:
            self.block = None
            return None
        if self._groups_for != hosts:
            groups = view.heatmap_groups(list(hosts), self.console_app.inventory)
            self._group_list, self._groups_for = groups or [], list(hosts)
            self.model.set_groups(g.hosts for g in self._group_list)
            self._by_switch = view.groups_by_switch(self._group_list, self.console_app.inventory)
            self.block = None
        return self._group_list

    def _axes(self) -> tuple[list[str], list[str]] | None:
        """Row and column servers of the heatmap; None while it shows blocks of servers."""
        groups = self._groups()
        if groups is None:
            return list(self.model.hosts), list(self.model.hosts)
        if self.block is None:
            return None
        return groups[self.block[0]].hosts, groups[self.block[1]].hosts

    def _build_heatmap(self) -> None:
        table = self.query_one("#heatmap", DataTable)
        where = self.selected_pair()
        axes = self._axes()
        self._shown_hosts, self._shown_block = list(self.model.hosts), self.block
        if axes is None:
            self._build_groups(table)
            return
        rows, cols = axes
        compact = self.model.compact
        table.clear(columns=True)
        table.show_row_labels = True
        width = self._width()
        self._heat_width = width
        for n, host in enumerate(cols, 1):
            label = str(n) if compact else host
            table.add_column(
                Text(label.rjust(width - 1) if compact else label.center(width)), width=width, key=safe_id("dst", host)
            )
        for n, a in enumerate(rows, 1):
            label = f"{n:>2} {a}" if compact else a
            cells = [self._heat(a, b) for b in cols]
            table.add_row(*cells, key=safe_id("src", a), label=Text(label))
        if where is not None and where[0] in rows and where[1] in cols:
            table.move_cursor(row=rows.index(where[0]), column=cols.index(where[1]), animate=False)
        elif len(cols) > 1:
            table.move_cursor(row=0, column=1 if rows == cols else 0, animate=False)
        table.border_title = Text(  # group titles hold switch names: what servers print, never markup
            "server x server: worst loss"
            if self.block is None
            else f"{self._group_list[self.block[0]].title} x {self._group_list[self.block[1]].title} (Esc: groups)"
        )
        self.query_one("#ping-legend", Static).update(view.legend(compact))

    def _build_groups(self, table: DataTable) -> None:
        groups = self._group_list
        table.clear(columns=True)
        table.show_row_labels = True
        width = self._heat_width = max([GROUP_WIDTH] + [len(g.label) + 1 for g in groups])
        for n, g in enumerate(groups):
            table.add_column(Text(g.label.rjust(width - 1)), width=width, key=safe_id("gdst", str(n)))
        for n, g in enumerate(groups):
            table.add_row(
                *[self._group_heat(n, m) for m in range(len(groups))], key=safe_id("gsrc", str(n)), label=Text(g.title)
            )
        what = "servers by switch (LLDP)" if self._by_switch else "blocks of servers"
        table.border_title = f"{what}: worst loss ({counted(len(self.model.hosts), 'server')}; Enter opens a group)"
        self.query_one("#ping-legend", Static).update(view.legend(False))

    def _group_heat(self, n: int, m: int):
        cell, pending = self.model.group_cell(n, m)
        return view.heat_text(cell, pending, compact=False, width=self._heat_width)

    def _heat(self, a: str, b: str):
        cell, pending = self.model.cell(a, b)
        return view.heat_text(cell, pending, compact=self.model.compact, width=self._heat_width)

    def _update_heatmap(self, dirty: set[view.Pair]) -> None:
        axes = self._axes()
        table = self.query_one("#heatmap", DataTable)
        if axes is None:
            where = {h: n for n, g in enumerate(self._group_list) for h in g.hosts}
            blocks = {(where[a], where[b]) for a, b in dirty if a in where and b in where}
            for n, m in blocks | {(m, n) for n, m in blocks}:
                table.update_cell(safe_id("gsrc", str(n)), safe_id("gdst", str(m)), self._group_heat(n, m))
            return
        rows, cols = set(axes[0]), set(axes[1])
        if not self.model.compact and any(len(self.model.cell(*p)[0].text) + 3 > self._heat_width for p in dirty):
            self._build_heatmap()
            return
        for a, b in dirty:
            for src, dst in ((a, b), (b, a)):
                if src in rows and dst in cols:
                    table.update_cell(safe_id("src", src), safe_id("dst", dst), self._heat(src, dst))

    def _fill_problems(self) -> None:
        problems = self.model.problem_pairs()
        options = self.query_one("#problems", OptionList)
        keep = options.highlighted
        self._problems = [pair for pair, _ in problems]
        options.clear_options()
        options.add_options([Option(view.pair_label(pair, cell)) for pair, cell in problems])
        options.border_title = f"Worst pairs ({len(problems)})"
        if problems:
            options.highlighted = min(keep or 0, len(problems) - 1)

    def _show_status(self) -> None:
        state = self.model
        self.query_one("#ping-status", Static).update(
            view.status_line(state, self.pattern, len(self.servers), self._estimate_text())
        )
        bar = self.query_one("#ping-progress", ProgressBar)
        bar.display = state.running
        bar.update(total=max(state.total, 1), progress=state.done)

    def _show_pair_info(self) -> None:
        block = self.selected_block()
        if block is not None:
            a, b = self._group_list[block[0]], self._group_list[block[1]]
            cell, pending = self.model.group_cell(*block)
            more = f", {pending} running" if pending else ""
            self.query_one("#pair-info", Static).update(
                f"{a.title} <-> {b.title}: worst {cell.text} ({counted(cell.tested, 'probe')} tested{more})\n"
                "Enter shows the server pairs of this group, then Enter a pair's card matrix"
            )
            return
        pair = self.selected_pair()
        text = (
            ""
            if pair is None
            else view.pair_info(
                pair, self.model.pair_fields(*pair) if pair[0] != pair[1] else None, self.model.cell(*pair)[1]
            )
        )
        self.query_one("#pair-info", Static).update(text)

    def selected_pair(self) -> view.Pair | None:
        table = self.query_one("#heatmap", DataTable)
        if not table.row_count or not table.columns:
            return None
        keys = table.coordinate_to_cell_key(table.cursor_coordinate)
        if str(keys.row_key.value).startswith("gsrc-"):
            return None
        return unsafe(str(keys.row_key.value)), unsafe(str(keys.column_key.value))

    def selected_block(self) -> tuple[int, int] | None:
        """The block pair under the cursor while the heatmap shows blocks of servers."""
        table = self.query_one("#heatmap", DataTable)
        if not table.row_count or not table.columns:
            return None
        keys = table.coordinate_to_cell_key(table.cursor_coordinate)
        if not str(keys.row_key.value).startswith("gsrc-"):
            return None
        return int(unsafe(str(keys.row_key.value))), int(unsafe(str(keys.column_key.value)))

    @on(DataTable.CellHighlighted, "#heatmap")
    def _cell_highlighted(self) -> None:
        self._show_pair_info()

    @on(DataTable.CellSelected, "#heatmap")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.action_open_pair()

    @on(OptionList.OptionSelected, "#problems")
    def _problem_selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self._problems):
            self.open_pair(*self._problems[event.option_index])
