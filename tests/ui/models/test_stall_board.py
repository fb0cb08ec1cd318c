"""The Launch pane's stall state (no textual): silence per rank and the countdown from the
arrival times of the launch events, the supervisor's stalled marks and verdict."""

from console.ops.launch_events import RankExited, RankLine, RankStalled, Stage, StallDetected
from console.ui.models.stalls import StallBoard


def _board() -> StallBoard:
    b = StallBoard({0: "a", 1: "a", 2: "b", 3: "b"}, stall_s=60, connect_timeout_s=120)
    b.apply(Stage("go", "GO sent"), 100.0)
    return b


def test_silence_and_countdown_between_events():
    b = _board()
    assert StallBoard({0: "a"}).summary(100.0) == ""  # before GO: nothing counts
    assert b.summary(100.0) == "HCCL_CONNECT_TIMEOUT in 120 s"
    b.apply(RankLine(0, "o", "hello"), 110.0)
    assert [(s.rank, s.silent_s) for s in b.silences(130.0)] == [(1, 30.0), (2, 30.0), (3, 30.0), (0, 20.0)]
    assert b.countdown(130.0) == 90.0
    assert b.summary(130.0) == "longest silence rank 1 30 s · HCCL_CONNECT_TIMEOUT in 90 s"
    assert b.summary(230.0).endswith("HCCL_CONNECT_TIMEOUT passed 10 s ago")


def test_marks_and_verdict_come_from_the_supervisor():
    b = _board()
    assert b.apply(RankStalled(2, "b", 60.0, 60.0), 160.0) and b.apply(RankStalled(3, "b", 60.0, 60.0), 160.0)
    assert b.stalled == {2, 3}
    assert b.apply(RankStalled(2, "b", 0.0, 50.0, stalled=False), 170.0) and b.stalled == {3}
    verdict = StallDetected("b", "b", [], [2, 3], [0, 1, 2, 3], 60.0, 120.0, True, "ranks 0,1 are stalled …")
    assert b.apply(verdict, 171.0) and b.verdict is verdict
    assert "stalled (silent ≥ 60 s): ranks 3" in b.summary(171.0)
    assert b.summary(171.0).endswith("STALL: ranks 0,1 are stalled … (torn down)")
    assert b.apply(RankExited(3, "b", None, 15), 172.0) and b.stalled == set()
    assert not b.apply(RankLine(1, "o", "x"), 173.0)
    b.end()
    assert b.summary(174.0) == "" and b.countdown(174.0) is None
