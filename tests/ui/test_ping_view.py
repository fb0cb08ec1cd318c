"""The Ping pane's model (console.ui.ping_view): built pair by pair from sweep events, it
must show what ``server_view`` (and so `cluster-console ping`) shows for the same matrix."""

from __future__ import annotations

from dataclasses import dataclass

from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingview import Cell, server_view
from console.core.planning.ping import plan_ping, plan_retry
from console.ui import ping_view as view
from tests.ui.ping_fixtures import LINK_DOWN_OUTPUT, LOSS_OUTPUT, built_matrix, demo_matrix, inventory


@dataclass(frozen=True)
class Done:  # shaped like console.ops.ping.ProbeDone / SweepDone
    result: ProbeResult
    done: int
    total: int
    eta_s: float | None = None


@dataclass(frozen=True)
class Finished:
    matrix: PingMatrix
    cancelled: bool = False


def cells(state: view.PingState) -> list[list[tuple[str, str]]]:
    return [[(c.text, c.status) for c in (state.cell(a, b)[0] for b in state.hosts)] for a in state.hosts]


def test_incremental_cells_equal_server_view():
    matrix = demo_matrix()
    expected = [[(c.text, c.status) for c in row] for row in server_view(matrix).cells]
    state = view.PingState()
    plan = plan_ping(inventory(3), "cross")
    state.start(plan)
    assert state.cell("node01", "node02")[1] == 128  # pending, both directions
    for n, r in enumerate(matrix.results, 1):
        assert state.apply(Done(r, n, len(matrix.results))) == "probe"
    assert state.pending["node01", "node02"] == 0
    assert cells(state) == expected
    state.apply(Finished(matrix))
    assert not state.running and cells(state) == expected
    assert state.problem_pairs()[0][0] == ("node01", "node03")  # link down beats 33 % loss


def test_colours_follow_the_legend():
    assert view.category("ok", 0.0) == "ok"
    assert view.category("loss", 33.33) == "bad"
    assert view.category("loss", 2.0) == "partial"
    assert view.category("loss", 50.0) == "bad"
    for failed in ("link_down", "timeout", "unreachable", "error"):
        assert view.category(failed, None) == "bad"
    assert view.category("untested", None) == view.category("skipped", None) == "untested"
    running = view.heat_text(Cell(text="-", status="untested"), 3, compact=True, width=4)
    assert running.plain == "   " + view.MARKER and view.STYLES["running"] in str(running.spans[0].style)
    lossy = view.heat_text(Cell(text="33% 1/2", status="loss", loss_pct=33.33, probes=2), 0,
                           compact=True, width=4)
    assert lossy.plain == " 33 " and str(lossy.spans[0].style) == view.STYLES["bad"]


def test_rerun_updates_the_base_matrix():
    matrix = built_matrix(2, 2, bad={("node01", 1, "node02", 1): LINK_DOWN_OUTPUT})
    state = view.PingState()
    state.show(matrix)
    plan = plan_retry(state.results.values(), include_skipped=True)
    assert [p.key for p in plan.probes] == [("node01", 1, "node02", 1)]
    state.start(plan, state.matrix())
    assert state.cell("node01", "node02")[1] == 1  # old result still shown, marked running
    fixed = ProbeResult.from_output(plan.probes[0], 1, LOSS_OUTPUT)
    state.apply(Done(fixed, 1, 1))
    state.apply(Finished(PingMatrix.from_plan(plan, [fixed])))
    final = state.results[("node01", 1, "node02", 1)]
    assert final.status == "loss" and final.attempts == 2
    assert len(state.results) == len(matrix.results) and state.summary()["lossy"] == 1
