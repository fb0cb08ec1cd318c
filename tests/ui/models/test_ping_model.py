"""The Ping pane's model (console.ui.models.ping), without textual: built pair by pair from
``console.ops.ping`` sweep events, it must show what ``server_view`` (and so
`cluster-console ping`) shows for the same matrix."""

from __future__ import annotations

import gc
import tracemalloc

from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingview import Cell, server_view
from console.core.planning.ping import plan_ping, plan_retry
from console.ops.ping import ProbeDone, ProbeRunning, ServerLost, SweepDone, SweepStarted
from console.ui.models import ping as view
from tests.ui.ping_fixtures import LINK_DOWN_OUTPUT, LOSS_OUTPUT, built_matrix, demo_matrix, inventory, ok_output


def Done(result: ProbeResult, done: int, total: int) -> ProbeDone:
    return ProbeDone(result, done, total, None)


def Finished(matrix: PingMatrix, cancelled: bool = False) -> SweepDone:
    return SweepDone(matrix, cancelled)


def cells(state: view.PingModel) -> list[list[tuple[str, str]]]:
    return [[(c.text, c.status) for c in (state.cell(a, b)[0] for b in state.hosts)] for a in state.hosts]


def test_incremental_cells_equal_server_view():
    matrix = demo_matrix()
    expected = [[(c.text, c.status) for c in row] for row in server_view(matrix).cells]
    state = view.PingModel()
    plan = plan_ping(inventory(3), "cross")
    state.start(plan)
    assert state.cell("node01", "node02")[1] == 128  # pending, both directions
    state.apply(SweepStarted(plan))
    before = state.changes
    for n, r in enumerate(matrix.results, 1):
        state.apply(ProbeRunning(r.probe, 1))
        state.apply(Done(r, n, len(matrix.results)))
    assert state.changes == before + len(matrix.results)  # a running probe changes nothing shown
    assert ("node01", "node02") not in state.pending and state.pending.get(("node01", "node02"), 0) == 0
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
    lossy = view.heat_text(Cell(text="33% 1/2", status="loss", loss_pct=33.33, probes=2), 0, compact=True, width=4)
    assert lossy.plain == " 33 " and str(lossy.spans[0].style) == view.STYLES["bad"]


def test_rerun_updates_the_base_matrix():
    matrix = built_matrix(2, 2, bad={("node01", 1, "node02", 1): LINK_DOWN_OUTPUT})
    state = view.PingModel()
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


def test_server_lost_and_the_shared_matrix():
    matrix = demo_matrix()
    state = view.PingModel()
    state.start(plan_ping(inventory(3), "cross"))
    state.apply(ServerLost("node03", "connection lost"))
    assert state.lost == {"node03": "connection lost"}
    assert state.finished is None
    state.apply(Finished(matrix, cancelled=True))
    assert state.cancelled and state.finished is matrix and not state.running


def test_reading_a_pair_never_changes_the_model():
    state = view.PingModel()
    state.reset(["node01", "node02"])
    changes, hosts = state.changes, list(state.hosts)
    assert state.pair("node09", "node01") == ("node01", "node09")
    assert state.pair_results("node09", "node01") == []
    assert state.hosts == hosts and state.changes == changes and state.dirty is None


def test_a_sweep_that_fails_midway_ends_with_nothing_pending():
    state = view.PingModel()
    state.start(plan_ping(inventory(2), "cross"))
    assert state.running and sum(state.pending.values()) > 0
    state.end(RuntimeError("boom"), cancelled=False)
    assert not state.running and not state.pending


def test_pattern_cycle_and_estimate_in_the_status_line():
    """Cross is the next key after rail (the pane's default above 16 servers), and before a
    sweep the status line gives the probe count and the estimated time."""
    assert view.next_pattern("rail") == "cross"
    assert [view.next_pattern(p) for p in view.PANE_PATTERNS] == ["pairwise", "sample", "rail", "cross"]
    plan, text = view.plan_with_estimate(inventory(3), "rail")
    assert len(plan.probes) == 3 * 2 * 8
    assert text == "48 probes, about 6 s"  # 2 waves of ~3 s: 2 probes per card, one at a time
    state = view.PingModel()
    state.reset(["node01", "node02", "node03"])
    assert view.status_line(state, "rail", 3, text) == f"3 servers · pattern rail (p) · r runs the sweep: {text}"
    assert view.status_line(state, "rail", 3) == "3 servers · pattern rail (p) · r runs the sweep"


BYTES_PER_PROBE = 200
"""The issue's 200 MB per million probes, for what the pane's model holds."""


def test_the_model_holds_results_compactly():
    """One ``ProbeResult`` object per probe (about 2 KB with its probe and raw output) was
    ~1 GB for 500k probes; the model keeps the figures in arrays instead."""
    plan = plan_ping(inventory(14), "cross")
    n = len(plan.probes)
    sample = ok_output(plan.probes[0]).split("\n", 1)[1]  # read once: the lines after the header
    state = view.PingModel()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state.start(plan)
        for i, p in enumerate(plan.probes, 1):
            text = f"device {p.src_device} PING {p.dst_ip}\n{sample}"
            state.apply(Done(ProbeResult.from_output(p, 0, text), i, n))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert n == 14 * 13 * 64 and state.summary()["ok"] == n
    assert held / n < BYTES_PER_PROBE, f"{held / n:.0f} bytes a probe"
    # and what is read is still every result, built on demand
    some = plan.probes[n // 2]
    assert state.results[some.key].raw == ok_output(some)
    assert len(state.pair_results("node01", "node02")) == 2 * 64


def test_drill_down_and_problems_after_a_rerun_recount_the_pair():
    """A re-run replaces results: the pair's worst loss must drop with them (a running maximum
    cannot be taken back, the pair is recounted from its rows)."""
    matrix = built_matrix(3, 2, bad={("node01", 1, "node02", 1): LOSS_OUTPUT})
    state = view.PingModel()
    state.show(matrix)
    assert state.problem_pairs()[0][0] == ("node01", "node02")
    plan = plan_retry(state.table, include_skipped=True)
    state.start(plan, state.matrix())
    fixed = ProbeResult.from_output(plan.probes[0], 0, ok_output(plan.probes[0]))
    state.apply(Done(fixed, 1, 1))
    assert state.cell("node01", "node02")[0].status == "ok"
    assert state.problem_pairs() == []
    assert matrix.results.status_of(0) in ("ok", "loss")  # the base matrix is not changed
    assert sum(r.status == "loss" for r in matrix.results) == 1


def test_a_rerun_reads_only_the_replaced_pairs_rows(monkeypatch):
    """Each re-run result used to mark its pair stale and the next cell() read the WHOLE table
    (3 s per million probes, up to 20 redraws a second): now the old result's figures are taken
    back and only that pair's rows are read (when its worst loss may have dropped)."""
    from console.core.pingstore import ResultTable
    from console.ui.models import ping_model

    bad = {("node01", 1, "node02", 1): LOSS_OUTPUT, ("node03", 0, "node07", 2): LOSS_OUTPUT}
    bad[("node05", 3, "node04", 3)] = LINK_DOWN_OUTPUT
    matrix = built_matrix(12, 4, bad=bad)  # 2,112 probes, 32 per server pair
    state = view.PingModel()
    state.show(matrix)
    plan = plan_retry(state.table, include_skipped=True)
    state.start(plan, state.matrix())
    calls = {"rows": 0}
    real_pair_id, real_loss_of = ping_model.pair_id, ResultTable.loss_of

    def pair_id(i: int, j: int) -> int:
        calls["rows"] += 1
        return real_pair_id(i, j)

    def loss_of(self: ResultTable, i: int) -> float | None:
        calls["rows"] += 1
        return real_loss_of(self, i)

    monkeypatch.setattr(ping_model, "pair_id", pair_id)
    monkeypatch.setattr(ResultTable, "loss_of", loss_of)
    fixed = [ProbeResult.from_output(p, 0, ok_output(p)) for p in plan.probes]
    for n, r in enumerate(fixed, 1):
        state.apply(Done(r, n, len(fixed)))
        state.cell(r.probe.src_host, r.probe.dst_host)
        state.problem_pairs()
        state.pair_fields(r.probe.src_host, r.probe.dst_host)
    assert len(fixed) == 3 and calls["rows"] <= len(fixed) * (2 * 32 + 8)  # was 3 x 2,112
    monkeypatch.undo()
    state.apply(Finished(PingMatrix.from_plan(plan, fixed)))
    fresh = view.PingModel()
    fresh.show(state.matrix())
    assert state.problem_pairs() == fresh.problem_pairs() == []
    for a in state.hosts:
        for b in state.hosts:
            assert state.cell(a, b) == fresh.cell(a, b)
            assert state.pair_fields(a, b) == fresh.pair_fields(a, b)


def test_a_rerun_keeps_figures_equal_to_a_recount():
    """Worse, equal and better results replacing lossy ones: the incremental figures equal
    the figures of the same results counted from scratch."""
    keys = [("node01", 0, "node02", 0), ("node01", 1, "node02", 1), ("node02", 0, "node03", 1)]
    matrix = built_matrix(3, 2, bad=dict.fromkeys(keys, LOSS_OUTPUT))
    state = view.PingModel()
    state.show(matrix)
    plan = plan_retry(state.table, include_skipped=True)
    outputs = {keys[0]: LINK_DOWN_OUTPUT, keys[1]: None, keys[2]: LOSS_OUTPUT}
    state.start(plan, state.matrix())
    done = []
    for n, p in enumerate(plan.probes, 1):
        out = outputs[p.key]
        done.append(ProbeResult.from_output(p, 0 if out is None or out is LOSS_OUTPUT else 1, out or ok_output(p)))
        state.apply(Done(done[-1], n, len(plan.probes)))
    fresh = view.PingModel()
    fresh.show(state.matrix())
    assert state.problem_pairs() == fresh.problem_pairs() and len(fresh.problem_pairs()) == 2
    for a in state.hosts:
        for b in state.hosts:
            assert state.cell(a, b) == fresh.cell(a, b) and state.pair_fields(a, b) == fresh.pair_fields(a, b)


def test_summary_counts_the_excluded_entries_as_the_matrix_does():
    inv = inventory(3, 2)
    inv.servers[2].reachable, inv.servers[2].error = False, "refused"
    plan = plan_ping(inv, "cross")
    assert plan.skipped
    matrix = PingMatrix.from_plan(plan, [ProbeResult.from_output(p, 0, ok_output(p)) for p in plan.probes])
    state = view.PingModel()
    state.start(plan)
    for n, r in enumerate(matrix.results, 1):
        state.apply(Done(r, n, len(matrix.results)))
    assert state.summary() == matrix.summary() and state.summary()["excluded"] == len(plan.skipped)
    state.apply(Finished(matrix))
    assert f"{len(plan.skipped)} excluded" in view.status_line(state, "cross", 3, "")
    from console.core.pingresults import summary_of  # one helper for both
    from console.core.pingstore import STATUSES

    assert summary_of([0] * len(STATUSES), 2)["excluded"] == 2


def test_pending_holds_only_pairs_with_probes_running_and_the_index_is_built_with_the_plan(monkeypatch):
    from console.ui.models import ping_model

    built = []

    class CountingIndex(ping_model.RowIndex):
        def __init__(self, probes) -> None:
            built.append(len(probes))
            super().__init__(probes)

    monkeypatch.setattr(ping_model, "RowIndex", CountingIndex)
    matrix = built_matrix(3, 2)
    state = view.PingModel()
    plan = plan_ping(inventory(3, 2), "cross")
    state.start(plan)
    assert built == [len(plan.probes)]  # at plan time, not at the first result
    assert ("node01", "node02") in state.pending and state.pending["node01", "node02"] == 8
    for n, r in enumerate(matrix.results, 1):
        state.apply(Done(r, n, len(matrix.results)))
    assert built == [len(plan.probes)]
    assert ("node01", "node02") not in state.pending and dict(state.pending) == {}
    assert state.pending.get(("node01", "node02")) is None
