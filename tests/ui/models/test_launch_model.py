"""The Launch pane's model (console.ui.models.launch), without textual: per-rank states, the
stage as an enum, the run folder as a field, the log window, Stop all."""

from __future__ import annotations

import signal

from console.core.errors import InputError
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    RankExited,
    RankLine,
    RankStarted,
    RootCause,
    Stage,
    StageName,
    Teardown,
)
from console.ui.models.launch import (
    EXITED,
    FAILED,
    KILLED,
    RUNNING,
    JobStage,
    JobView,
    LaunchModel,
    fold_ranks,
)
from console.ui.models.launch_log import LogWindow
from tests.ui.launch_script import RUN_DIR, seed_failure_events


def test_fold_ranks_and_the_log_window_views():
    assert fold_ranks([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8" and fold_ranks(1 << 511) == "511"
    window = LogWindow(keep=10, keep_groups=3, show=4)
    for rank in range(6):
        window.add(rank, "loading weights")
    window.add(2, "oops")
    assert window.take() == [
        "[3] loading weights",
        "[4] loading weights",
        "[5] loading weights",
        "[2] oops",
    ]  # the last `show` only
    assert window.take() == []
    window.set_fold(True)
    assert window.rebuild() == ["[0-5] loading weights", "[2] oops"]
    window.add(9, "oops")
    assert window.folded()[-1] == "[2,9] oops"
    window.set_fold(False)
    window.rank = 2
    assert window.rebuild() == ["[2] loading weights", "[2] oops"]
    window.rank, window.needle = None, "oop"
    assert window.rebuild() == ["[2] oops", "[9] oops"]
    for n in range(20):  # the ring keeps the last 10, the screen the last 4
        window.add(0, f"oops {n}")
    assert window.rebuild() == [f"[0] oops {n}" for n in range(16, 20)]
    assert len(window.ring) == 10 and window.ring[0] == (0, "oops 10")


def test_job_view_tells_the_root_cause_from_the_killed():
    events = seed_failure_events()
    view = JobView(8)
    for event in events[:4]:
        view.apply(event)
    assert view.states[0] == RUNNING and view.run_dir == "runs/20260101-000000-demo"
    for event in events[4:]:
        view.apply(event)
    assert view.states[3] == FAILED and view.is_root(3) and view.codes[3] == 1
    assert [s for r, s in enumerate(view.states) if r != 3] == [KILLED] * 7
    assert view.finished and not view.ok and view.headline() == "FAILED"


def test_stages_are_an_enum_and_the_run_folder_a_field():
    view = JobView(2)
    view.apply(Stage(StageName.RECORD, "whatever the message says", run_dir="runs/x"))
    assert view.stage is JobStage.RECORD and view.run_dir == "runs/x"
    view.apply(Stage(StageName.AGENTS, "agents"))
    assert view.stage is JobStage.AGENTS and view.states == ["barrier", "barrier"]
    assert view.run_dir == "runs/x"  # a stage without the field keeps it


def test_model_counts_changes_lines_and_the_failed_server():
    model = LaunchModel()
    model.start(8, probe=False, servers={r: ("a" if r < 4 else "b") for r in range(8)})
    changes = model.changes
    for event in seed_failure_events():
        model.apply(event)
    assert model.changes == changes + len(seed_failure_events())
    job = model.job
    assert job.lines == 18 and job.run_dir == RUN_DIR and job.stage is JobStage.FINISHED
    assert job.failed_server() == "90.90.152.89"  # rank 3's server, from the root cause
    assert model.window.take()[-1] == "[3] RuntimeError: HCCL timeout (EI0006)"
    model.end(None, cancelled=False)
    assert not model.running and job.headline() == "FAILED"


def test_partial_lines_join_for_the_probe_report():
    model = LaunchModel()
    model.start(1, probe=True)
    model.apply(RankLine(0, "o", '{"probe": "start", "rank": 0, ', partial=True))
    model.apply(RankLine(0, "o", '"world_size": 1, "host": "h"}'))
    assert model.job.lines == 1 and model.probe_changes == 1
    assert 0 in model.report.ranks


def test_partial_lines_of_an_ordinary_job_are_not_kept():
    """A tqdm bar (``\r`` updates, no newline) in a job that is not a probe: nothing piles up."""
    model = LaunchModel()
    model.start(1, probe=False)
    for step in range(1000):
        model.apply(RankLine(0, "e", f"\r{step}/1000 [" + "#" * 50 + "]", partial=True))
    assert model._partial == {}  # the model's own buffer: empty, not 1000 bars long


def test_a_probe_partial_line_is_capped():
    model = LaunchModel()
    model.start(1, probe=True)
    for _ in range(40):
        model.apply(RankLine(0, "o", "x" * 65536, partial=True))
    assert len(model._partial[0]) <= 1 << 20
    model.apply(RankLine(0, "o", "end"))
    assert model._partial == {}


def test_stop_all_then_the_real_exits():
    model = LaunchModel()
    model.start(2, probe=True)
    model.apply(Stage(StageName.AGENTS, "agents"))
    assert not model.early
    assert model.request_stop(10) == "INT"  # as the CLI's first Ctrl-C
    assert model.job.stage is JobStage.STOPPING
    assert model.job.stage_message == (
        "sent SIGINT to every rank, as Ctrl-C (TERM after 10 s, then KILL); F8 again: TERM now"
    )
    assert model.request_stop(10) == "TERM"  # a second Stop: TERM at once, as a second Ctrl-C
    assert "F8 again: KILL now" in model.job.stage_message
    assert model.request_stop() == "KILL" and model.request_stop() is None  # nothing stronger
    root = RootCause("stopped by the user", "s", "s", kind="stopped")
    model.apply(Teardown(root))
    for rank in range(2):
        model.apply(RankStarted(rank, "s", 1.0))
        model.apply(RankExited(rank, "s", 143, signal.SIGTERM))
    model.apply(
        JobFinished(JobSummary(ok=False, world_size=2, exit_codes={0: 143, 1: 143}, run_dir="r", root_cause=root))
    )
    model.end(None, cancelled=False)
    job = model.job
    assert job.stopped and job.states == [KILLED, KILLED] and job.killed_by() == {"SIGTERM": 2}


def test_a_cancelled_or_failed_launch_ends_the_model():
    model = LaunchModel()
    model.start(2, probe=False)
    assert model.early  # nothing runs yet: Stop all may just cancel
    model.apply(RankStarted(0, "s", 1.0))
    model.end(None, cancelled=True)
    assert model.job.stopped and model.job.states == [KILLED, KILLED] and not model.running
    model.start(2, probe=False)
    model.end(InputError("preflight failed", "port taken"), cancelled=False)
    assert model.job.failed_error == "preflight failed: port taken"
    assert model.job.headline() == "LAUNCH FAILED" and model.job.states[0] not in (RUNNING, EXITED, FAILED)
