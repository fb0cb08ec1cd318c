"""The evidence script, run for real by a local sh on a fake $HOME: recent CANN/MindIE log files
only, matching lines with context, framed by the marker, capped; and its parser."""

from __future__ import annotations

import os
import subprocess
import time

from console.core.diagnosis.evidence import evidence_script, local_name, parse_evidence

MARK = "CCEVdeadbeef"


def _run(home, script: str) -> list[str]:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    out = subprocess.run(
        ["sh", "-c", "echo 'Welcome banner'\n" + script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return out.stdout.splitlines()


def test_recent_error_lines_with_context(tmp_path):
    plog = tmp_path / "ascend" / "log" / "debug" / "plog"
    plog.mkdir(parents=True)
    (plog / "plog-1_1.log").write_text(
        "info 1\ninfo 2\n[ERROR] HCCL(1,p):x wait socket establish timeout\nafter\n" + "noise\n" * 50
    )
    old = plog / "plog-0_0.log"
    old.write_text("[ERROR] old run\n")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    mindie = tmp_path / "mindie" / "log"
    mindie.mkdir(parents=True)
    (mindie / "mindie.log").write_text("WARNING something\n")
    since = int(time.time()) - 600
    files = parse_evidence(MARK, _run(tmp_path, evidence_script(MARK, since, 1 << 20)))
    assert set(files) == {str(plog / "plog-1_1.log"), str(mindie / "mindie.log")}
    lines = files[str(plog / "plog-1_1.log")]
    assert lines[:4] == ["info 1", "info 2", "[ERROR] HCCL(1,p):x wait socket establish timeout", "after"]
    assert len(lines) <= 14


def test_the_cap_holds_and_paths_are_quoted(tmp_path):
    logdir = tmp_path / "we ird;$(touch pwned)"
    (logdir / "debug" / "plog").mkdir(parents=True)
    (logdir / "debug" / "plog" / "p.log").write_text("[ERROR] x\n" * 10000)
    out = _run(tmp_path, evidence_script(MARK, 0, 2000, log_path=str(logdir)))
    assert sum(len(line) + 1 for line in out) < 2100
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")
    assert parse_evidence(MARK, out)


def test_local_names_are_safe():
    assert local_name("/root/ascend/log/debug/plog/plog-1_2.log", 3) == "003-plog_plog-1_2.log"
    assert "/" not in local_name("/../../etc/passwd", 0) and ".." not in local_name("/a/../..", 1)
