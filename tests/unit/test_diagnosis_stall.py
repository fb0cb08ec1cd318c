"""Stall model: silence per rank, the HCCL_CONNECT_TIMEOUT countdown, and the verdict that
names a server when most ranks stall while that server's ranks failed or stayed silent."""

from console.core.diagnosis.stall import StallTracker, connect_timeout


def _tracker(**kw) -> StallTracker:
    servers = {r: ("a" if r < 4 else "b") for r in range(8)}
    t = StallTracker(servers, stall_s=60, connect_timeout_s=120, **kw)
    t.started(100.0)
    return t


def test_connect_timeout_from_env():
    assert connect_timeout({}) == 120 and connect_timeout({"HCCL_CONNECT_TIMEOUT": "600"}) == 600
    assert connect_timeout({"HCCL_CONNECT_TIMEOUT": "x"}) == 120


def test_silence_countdown_and_stalled():
    t = _tracker()
    t.line(0, 150.0)
    by = {r.rank: r for r in t.ranks(170.0)}
    assert by[0].silent_s == 20 and not by[0].stalled and by[0].printed
    assert by[5].silent_s == 70 and by[5].stalled and not by[5].printed
    assert by[0].countdown_s == 50


def test_verdict_names_the_server_whose_ranks_failed():
    t = _tracker()
    for r in range(8):
        t.line(r, 101.0)
    for r in (4, 5, 6, 7):
        t.exited(r, 1)
    assert t.verdict(150.0) is None  # not stalled yet
    v = t.verdict(170.0)
    assert v is not None and v.server == "b" and v.failed == [4, 5, 6, 7] and v.stalled == [0, 1, 2, 3]
    assert "on b ranks 4,5,6,7 failed" in v.describe()


def test_verdict_names_a_silent_server_and_not_a_busy_cluster():
    t = _tracker()
    for r in range(4):
        t.line(r, 101.0)
    v = t.verdict(170.0)
    assert v is not None and v.server == "b" and v.silent == [4, 5, 6, 7]
    t2 = _tracker()
    for r in range(8):
        t2.line(r, 165.0)
    assert t2.verdict(170.0) is None


def test_a_cluster_silent_everywhere_blames_nobody():
    assert _tracker().verdict(500.0) is None
