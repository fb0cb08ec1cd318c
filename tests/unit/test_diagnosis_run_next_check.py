"""A run record whose failed rank left no recognised log line: the diagnosis names that rank's
log file, not a placeholder."""

import json

from console.ops.diagnosis_files import diagnose_path


def test_next_check_names_the_failed_ranks_log(tmp_path):
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
        json.dumps(
            {
                "event": "teardown",
                "cause": "rank_failed",
                "server": "b",
                "rank": 2,
                "root_cause": "b: rank 2 exited with code 7",
            }
        )
        + "\n"
    )
    (tmp_path / "rank-2.log").write_text("x\n")
    diag, _ = diagnose_path(tmp_path)
    first = diag.first_cause()
    assert first.next_check == "read that rank's log (rank-2.log) and the server's CANN logs"
    assert "rank-N" not in diag.headline and "rank-2.log" in diag.headline
