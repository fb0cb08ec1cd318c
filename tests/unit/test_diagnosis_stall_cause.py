"""The ``stall`` event of a run record becomes a cause that names the silent server; the
diagnosis of a record that has one puts it first (it has no log time, so a timed root cause in
the logs would still come before it)."""

import json

from console.core.diagnosis import LogSource, classify_all, diagnose
from console.core.diagnosis.stall import stall_cause
from console.ops.diagnosis_files import diagnose_path

STALL = {
    "event": "stall",
    "server": "b",
    "failed": [],
    "silent": [2, 3],
    "stalled": [0, 1, 2, 3],
    "silent_s": 60.2,
    "connect_timeout_s": 600,
    "teardown": True,
}


def test_stall_event_is_a_cause_naming_the_silent_server():
    c = stall_cause(STALL)
    assert c is not None and (c.cause, c.server, c.phase) == ("stalled_peer", "b", "connect")
    assert c.title == (
        "on b ranks 2,3 never printed a line while ranks 0,1 waited for 60 s, "
        "before HCCL_CONNECT_TIMEOUT (600 s) ran out"
    )
    assert stall_cause({"event": "stall"}) is None


def test_a_timed_root_cause_in_the_logs_comes_before_the_stall():
    ei0014 = (
        "EI0014: [PID: 1] 2024-05-10-12:00:01.123.456 [check][ip]fail, ret(129) the IP address"
        "(10.0.0.9) in the ranktable is inconsistent with the IP address(10.0.0.3) of the network "
        "adapter, please make sure they're consistent."
    )
    causes = classify_all([LogSource(name="rank-2.log", text=ei0014, server="b", rank=2)])
    diag = diagnose([*causes, stall_cause(STALL)])
    assert diag.first_cause().cause == "ranktable_ip_mismatch"


def test_run_record_with_a_stall_event_is_diagnosed_from_it(tmp_path):
    (tmp_path / "plan.json").write_text(
        json.dumps(
            {
                "servers": [
                    {"server_id": "a", "ranks": [{"rank": 0, "device_id": 0}, {"rank": 1, "device_id": 1}]},
                    {"server_id": "b", "ranks": [{"rank": 2, "device_id": 0}, {"rank": 3, "device_id": 1}]},
                ]
            }
        )
    )
    (tmp_path / "events.jsonl").write_text(
        json.dumps(STALL)
        + "\n"
        + json.dumps({"event": "teardown", "cause": "stall", "server": "b", "root_cause": "b: stalled"})
        + "\n"
    )
    (tmp_path / "rank-0.log").write_text("[INFO] waiting for peers\n")
    diag, _ = diagnose_path(tmp_path)
    assert diag.first_cause().cause == "stalled_peer"
    assert diag.headline.startswith("on b ranks 2,3 never printed a line while ranks 0,1 waited")


def test_one_waiting_rank_is_singular():
    c = stall_cause({**STALL, "stalled": [0, 2, 3]})
    assert "while rank 0 waited" in c.title
