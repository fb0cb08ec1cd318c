"""The run record is private, holds no secrets, is capped per rank, and never stops a job.

Launches run with ``--local`` (host agents as local processes: the run record is written
the same way as over SSH) on a 2-server table, one rank per server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from console.ops.runrecord import RunRecord
from tests.system import need

SECRET = "hf_s3cr3t-Value-0451"
TABLE = {
    "version": "1.0",
    "status": "completed",
    "server_count": "2",
    "server_list": [
        {"server_id": "90.90.152.89", "device": [{"device_id": "0", "device_ip": "10.10.100.10", "rank_id": "0"}]},
        {"server_id": "90.90.152.91", "device": [{"device_id": "0", "device_ip": "10.10.100.22", "rank_id": "1"}]},
    ],
}


def launch(
    data_dir: Path, tmp_path: Path, run_dir: Path, *args: str, command: str = "echo hi"
) -> subprocess.CompletedProcess:
    table = tmp_path / "rt.json"
    table.write_text(json.dumps(TABLE))
    argv = [
        sys.executable,
        "-m",
        "console",
        "launch",
        "--local",
        "--ranktable",
        str(table),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(run_dir),
        *args,
        "--",
        "bash",
        "-c",
        command,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def run_folder(run_dir: Path) -> Path:
    (folder,) = run_dir.iterdir()
    return folder


def test_run_folder_is_0700_and_its_files_0600(data_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    out = launch(data_dir, tmp_path, runs, command='echo "rank $RANK"; echo oops >&2')
    assert out.returncode == 0, out.stderr
    folder = run_folder(runs)
    assert stat.S_IMODE(runs.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["events.jsonl", "plan.json", "rank-0.log", "rank-1.log", "ranktable.json"]
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_secret_env_reaches_the_rank_but_no_file_of_the_record(data_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    out = launch(
        data_dir,
        tmp_path,
        runs,
        "--env",
        f"HF_TOKEN={SECRET}",
        "--env",
        "DB_PASSWORD=hunter2-long",
        "--env",
        "MASTER_ADDR_NOTE=plain",
        "--setup",
        "export GREETING=hello",
        "--setup",
        "export API_KEY=k-12345",
        "--json",
        command='echo "token=$HF_TOKEN pw=$DB_PASSWORD"; echo "$HF_TOKEN" >&2',
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    printed = [e["text"] for e in lines if e.get("event") == "line"]
    assert f"token={SECRET} pw=hunter2-long" in printed  # the ranks got the real values
    folder = run_folder(runs)
    for p in folder.iterdir():
        data = p.read_bytes()
        assert SECRET.encode() not in data and b"hunter2-long" not in data, p.name
    plan = json.loads((folder / "plan.json").read_text())
    env = plan["servers"][0]["ranks"][0]["env"]
    assert env["HF_TOKEN"] == "***" and env["DB_PASSWORD"] == "***"
    assert env["MASTER_ADDR_NOTE"] == "plain" and env["MASTER_PORT"] != "***"
    assert "token=*** pw=***" in (folder / "rank-0.log").read_text()
    assert "GREETING=hello" in plan["prelude"] and "k-12345" not in plan["prelude"]


def test_rank_log_is_capped_with_one_marker_line(data_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    # 400 lines of 100 bytes each = 40,000 bytes per rank; the cap is 4 KiB
    out = launch(
        data_dir, tmp_path, runs, "--log-cap", "4K", command="for i in $(seq 1 400); do printf '%099d\\n' $i; done"
    )
    assert out.returncode == 0, out.stderr
    folder = run_folder(runs)
    for rank in (0, 1):
        text = (folder / f"rank-{rank}.log").read_text()
        lines = text.splitlines()
        assert len(text.encode()) <= 4096 + 200
        assert lines[-1].startswith("[cluster-console] log truncated: rank")
        assert sum("log truncated" in line for line in lines) == 1
        assert lines[:-1] == [f"{i:099d}" for i in range(1, len(lines))]
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    assert sorted(e["rank"] for e in events if e["event"] == "log_truncated") == [0, 1]


@contextlib.contextmanager
def tmpfs(options: str):
    need(os.geteuid() == 0 and shutil.which("mount") is not None, "mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="cc-tmpfs-"))
    ok = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True, check=False
    )
    try:
        need(ok.returncode == 0, f"cannot mount a tmpfs: {ok.stderr.strip()}")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)
        folder.rmdir()


def test_full_disk_stops_the_record_with_one_warning_not_the_job(data_dir, tmp_path) -> None:
    with tmpfs("size=128k,mode=0700") as disk:
        out = launch(
            data_dir,
            tmp_path,
            disk / "runs",
            command="for i in $(seq 1 4000); do printf '%099d\\n' $i; done; echo done",
        )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("run record stopped") == 1, out.stderr
    assert "No space left on device" in out.stderr and "disk is full" in out.stderr
    assert "[0] done" in out.stdout and "[1] done" in out.stdout
    assert "all 2 ranks exited 0" in out.stderr


def test_read_only_run_folder_stops_the_record_with_one_warning(data_dir, tmp_path) -> None:
    with tmpfs("size=128k,ro") as disk:
        out = launch(data_dir, tmp_path, disk / "runs", command="echo fine")
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("run record stopped") == 1, out.stderr
    assert "Read-only file system" in out.stderr
    assert "[0] fine" in out.stdout and "[1] fine" in out.stdout


def test_a_writer_raising_enospc_stops_recording_once(tmp_path) -> None:
    """A real ENOSPC from the kernel (/dev/full) on the rank log, in the middle of a run."""
    need(os.path.exists("/dev/full"), "needs /dev/full")

    class DiskFull(RunRecord):
        def _open(self, name: str) -> int:
            if name.startswith("rank-"):
                return os.open("/dev/full", os.O_WRONLY)
            return super()._open(name)

    record = DiskFull(tmp_path, "r1")
    record.event("start")
    record.line(3, "x" * 100)  # buffered
    record.flush()  # ENOSPC: recording stops
    warning = record.take_warning()
    assert warning is not None and "rank-3.log" in warning and "disk is full" in warning
    record.line(4, "y")
    record.event("later")
    record.flush()
    assert record.take_warning() is None  # said once
    record.close()
    assert (tmp_path / "r1" / "events.jsonl").read_text().count("\n") == 1


def test_existing_run_id_is_not_reused(tmp_path) -> None:
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "events.jsonl").symlink_to(tmp_path / "elsewhere")
    record = RunRecord(tmp_path, "r1")
    record.close()
    assert record.failed and "File exists" in record.failed
    assert not (tmp_path / "elsewhere").exists()


def test_a_secret_cut_between_two_pieces_of_a_long_line_is_masked(tmp_path) -> None:
    """The agent cuts long lines into 256 KiB pieces; a secret across a cut is still masked."""
    from tests.ops.test_supervisor import plan_for

    secret = "tok-0123456789abcdef"
    record = RunRecord(tmp_path / "runs")
    record.write_plan(plan_for(2, ["true"], env={"HF_TOKEN": secret}))
    assert record.secrets == (secret,)
    text = "x" * 1000 + secret + "y" * 1000
    for cut in (1003, 1010, 1019):
        record.line(0, text[:cut], partial=True)
        record.line(0, text[cut:], partial=True)
    record.line(0, "z" + secret[:7], partial=True)
    record.line(0, secret[7:] + " end")
    record.line(1, "a" * 10 + secret[:5], partial=True)
    record.close()
    log0 = (record.dir / "rank-0.log").read_text()
    assert "tok" not in log0 and "89ab" not in log0
    assert log0 == (("x" * 1000 + "***" + "y" * 1000) * 3) + "z*** end\n"
    assert (record.dir / "rank-1.log").read_text() == "a" * 10 + secret[:5]
