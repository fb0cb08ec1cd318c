"""The launch summary line: the root cause rank first, then what the teardown stopped."""

from __future__ import annotations

from console.cli._launch_output import failure_headline, report
from console.ops.launch_events import JobSummary, RootCause


def _summary(codes: dict[int, int | None], root: RootCause | None, world: int = 16) -> JobSummary:
    return JobSummary(ok=False, world_size=world, exit_codes=codes, run_dir="runs/x", root_cause=root)


def test_one_failed_rank_and_the_rest_torn_down(capsys):
    codes = {r: None for r in range(16)} | {5: 1}
    root = RootCause("exited with code 1", "127.0.0.11", "127.0.0.11", rank=5, exit_code=1)
    assert failure_headline(_summary(codes, root)) == "rank 5 failed (exit 1); 15 ranks torn down"
    assert report(_summary(codes, root)) == 1
    err = capsys.readouterr().err
    assert "launch: FAILED: rank 5 failed (exit 1); 15 ranks torn down; run record runs/x" in err
    assert "did not exit 0" not in err


def test_ranks_that_exited_0_are_not_counted_as_torn_down():
    codes = {0: 0, 1: None, 2: None, 3: 0}
    root = RootCause("killed by signal 9", "s1", "s1", rank=1, signal=9)
    assert failure_headline(_summary(codes, root, world=4)) == "rank 1 failed (signal 9); 1 rank torn down"


def test_rank_that_never_got_ready_and_ranks_that_never_reported():
    codes = {r: None for r in range(3)}
    root = RootCause("did not print /READY$/ within 3 s", "s2", "h2", rank=2)
    assert failure_headline(_summary(codes, root, world=4)) == (
        "rank 2 failed (did not print /READY$/ within 3 s); 2 ranks torn down; 1 rank never reported an exit"
    )


def test_lost_server_as_root_cause():
    codes = {0: None, 1: None}
    root = RootCause("server lost: connection reset", "s1", "s1")
    assert failure_headline(_summary(codes, root, world=2)) == ("s1: server lost: connection reset; 2 ranks torn down")


def _launch_parser():
    from console.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["launch"]


def test_launch_help_describes_every_option_and_lists_bundled_profiles():
    from console.ops.profiles import bundled_profile_names

    parser = _launch_parser()
    undocumented = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert undocumented == []
    helps = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}
    assert "29500" in helps["--master-port"] and "5" in helps["--grace"]
    assert {"custom", "mindie-run-pa", "probe"} <= set(bundled_profile_names())
    assert all(name in helps["--profile"] for name in bundled_profile_names())
