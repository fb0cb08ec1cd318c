"""The Launch pane's plan and checklist (the Setup tab's lower half): the plan table (ranks
per server), the preflight checklist, the side box with the selected rank's env or the
selected check's detail, and the server checks (F6) in a worker.

Mixed into ``LaunchScreen`` (console.ui.screens.launch), which owns the form and the
``LaunchSetup`` model (console.ui.models.launch_setup) this half renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.widgets import DataTable, Static, TextArea

from console.ui.ids import safe_id
from console.ui.models.launch_setup import rank_detail
from console.ui.widgets.problems import ProblemList

PLAN_COLUMNS = ("rank", "server", "local", "device", "device_ip")

if TYPE_CHECKING:  # what the mixin relies on, for the type checker only
    from console.ui.screens.base import PaneScreen as _Pane
else:
    _Pane = object


class LaunchPlanMixin(_Pane):
    """Mixed into ``LaunchScreen``; expects ``query_one``, ``sources``, ``console_app``,
    ``setup`` (the form's ``LaunchSetup``) and ``feed`` (the pane's ``EventFeed``)."""

    if TYPE_CHECKING:
        setup: Any
        feed: Any

    def init_plan(self) -> None:
        self._plan_key: Any = None
        self.detail_of = "rank"
        """What the side box shows: the selected rank of the plan, or the selected check."""

    @property
    def plan(self) -> Any:
        return self.setup.plan

    def recheck(self) -> None:
        self.setup.recheck(inventory=self.console_app.inventory, ping=self.console_app.ping_results)
        self.render_setup()

    def render_setup(self) -> None:
        self.query_one("#launch-checks", ProblemList).show(self.setup.checks)
        if self.detail_of == "check":
            self.show_check()
        self.query_one("#launch-plan-summary", Static).update(self.setup.summary())
        self._fill_plan()
        self.feed.redraw()

    def _fill_plan(self) -> None:
        table = self.query_one("#launch-plan", DataTable)
        key = (
            [(s.server_id, [(r.rank, r.device_id) for r in s.ranks]) for s in self.plan.servers] if self.plan else None
        )
        if key != self._plan_key:
            self._plan_key = key
            table.clear()
            for server in self.plan.servers if self.plan else []:
                for spec in server.ranks:
                    table.add_row(
                        str(spec.rank),
                        server.server_id,
                        str(spec.local_rank),
                        str(spec.device_id),
                        spec.device_ip or "",
                        key=safe_id("rank", f"{server.server_id}/{spec.rank}"),
                    )
        self.show_rank()

    def show_rank(self) -> None:
        if self.detail_of != "rank":
            return
        table = self.query_one("#launch-plan", DataTable)
        detail = ""
        if self.plan is not None and table.row_count:
            rank = int(table.get_row_at(table.cursor_row)[0])
            detail = rank_detail(self.plan, rank)
        box = self.query_one("#launch-rank-env", TextArea)
        box.border_title = "Selected rank"
        box.load_text(detail)

    def show_check(self) -> None:
        """The highlighted preflight check's detail (what it means, where, what to do)."""
        item = self.query_one("#launch-checks", ProblemList).selected_item()
        box = self.query_one("#launch-rank-env", TextArea)
        box.border_title = "Selected check"
        text = item.detail if item is not None else ""
        if box.text != text:
            box.load_text(text)

    @work(exclusive=True, group="launch.check", exit_on_error=False, name="server checks")
    async def run_checks(self, plan: Any, table: Any) -> None:
        self.query_one("#launch-checks", ProblemList).border_title = "Preflight: checking servers…"
        problems = await self.sources.launch.preflight(plan, table, self.console_app.inventory)
        if plan is self.plan:
            self.setup.remote = list(problems)
        self.recheck()
