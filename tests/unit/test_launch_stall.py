"""The supervisor's stall watch (console.ops.launch_stall): when it wants a look, the ranks it
marks once, the verdict once, and what the plan's env says about HCCL_CONNECT_TIMEOUT."""

from console.core.planning.launch import build_launch_plan
from console.ops.launch_events import RankStalled, StallDetected
from console.ops.launch_stall import StallOptions, StallWatch
from tests.unit.test_launch_plan import custom, make_table


def _watch(**kw) -> StallWatch:
    plan = build_launch_plan(make_table(2, 2), custom(), args=["true"], env={"HCCL_CONNECT_TIMEOUT": "300"})
    return StallWatch(plan, StallOptions(stall_s=60, **kw))


def test_due_marks_once_and_verdict_once():
    w = _watch(fail_fast=True)
    ranks = sorted(w.tracker.rank_server)
    assert w.due() is None and w.tracker.connect_timeout_s == 300  # before GO: nothing to watch
    w.started(100.0)
    assert w.due() == 160.0
    quiet = {r for r, s in w.tracker.rank_server.items() if s == w.tracker.rank_server[ranks[-1]]}
    for r in ranks:
        if r not in quiet:
            w.line(r, 110.0)
    assert w.due() == 160.0  # the silent server's ranks are due first
    events, verdict = w.check(160.0)
    assert {e.rank for e in events if isinstance(e, RankStalled)} == quiet and verdict is None
    events, verdict = w.check(170.0)
    stalled = {e.rank for e in events if isinstance(e, RankStalled)}
    assert stalled == set(ranks) - quiet  # each rank marked once
    (detected,) = [e for e in events if isinstance(e, StallDetected)]
    assert verdict is not None and detected.teardown and sorted(detected.silent) == sorted(quiet)
    assert w.due() is None and w.check(500.0) == ([], None)  # one verdict per job


def test_a_rank_that_prints_again_is_unmarked_and_an_exit_asks_for_a_look():
    w = _watch()
    w.started(0.0)
    rank = min(w.tracker.rank_server)
    w.check(61.0)
    (back,) = w.line(rank, 62.0)
    assert (back.rank, back.stalled, back.countdown_s) == (rank, False, 238.0)
    assert w.line(rank, 63.0) == []
    w.exited(rank, 1)
    assert w.due() == 0.0
