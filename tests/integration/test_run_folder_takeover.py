"""A second local user (``ccother``) cannot take the run record over, nor the evidence step.

The console runs as root from a shared folder (a fresh sticky 1777 ``/tmp`` look-alike). The
other user pre-creates ``runs/`` 0777, or plants a run folder of their own with a forged
``plan.json`` and a world-writable evidence file: the launch refuses the run base (exit 2,
naming path, owner and mode), and evidence is never written into a folder that is not root's
and private. Evidence runs the real evidence script with a local ``sh`` standing in for SSH.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from console.ops import safefiles
from console.ops.evidence import collect
from console.ops.runrecord import RunRecord
from tests.integration.conftest import _ensure_user
from tests.ops.test_runrecord import launch
from tests.system import need

OTHER = "ccother"
TOKEN = "s3cr3t-live-token-value"


@pytest.fixture(scope="module")
def other() -> int:
    need(os.geteuid() == 0, "planting folders as a second local user needs root")
    need(shutil.which("useradd") is not None, "useradd is needed to create the second user")
    return _ensure_user(OTHER).pw_uid


@pytest.fixture
def shared(other) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="cc-shared-"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_other(*argv: str) -> None:
    subprocess.run(list(argv), user=OTHER, check=True)


class LocalShPool:
    """``pool.stream`` running the script with a local ``sh`` (HOME = ``home``)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.calls = 0

    async def stream(self, host: str, script: str, timeout: float):
        self.calls += 1
        env = {"HOME": str(self.home), "PATH": os.environ["PATH"]}
        proc = await asyncio.create_subprocess_exec("sh", "-c", script, env=env, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        for line in out.decode().splitlines():
            yield SimpleNamespace(text=line, stream="stdout")


def server_logs(tmp_path: Path, line: str) -> Path:
    logdir = tmp_path / "server-logs"
    (logdir / "debug" / "plog").mkdir(parents=True)
    (logdir / "debug" / "plog" / "plog-1.log").write_text(f"info\n[ERROR] HCCL {line}\nafter\n")
    return logdir


def plan_doc(logdir: Path, **env: str) -> dict:
    return {
        "servers": [
            {"server_id": "srv1", "host": "srv1", "ranks": [{"env": {"ASCEND_PROCESS_LOG_PATH": str(logdir), **env}}]}
        ]
    }


def test_a_run_base_another_user_made_is_refused(shared) -> None:
    base = shared / "runs"
    as_other("mkdir", "-m", "0777", str(base))
    with pytest.raises(safefiles.UnsafePath) as got:
        safefiles.private_dir(base, "20260101-000000-abcd")
    assert str(base) in str(got.value) and OTHER in str(got.value)
    assert list(base.iterdir()) == []
    record = RunRecord(base)  # never fatal: recording stops with the reason
    assert record.failed is not None and "owned by another user" in record.failed


def test_a_root_owned_world_writable_run_base_is_refused(tmp_path) -> None:
    base = tmp_path / "runs"
    base.mkdir()
    base.chmod(0o777)
    with pytest.raises(safefiles.UnsafePath, match="writable by other users"):
        safefiles.private_dir(base, "x")


def test_launch_from_a_shared_folder_refuses_a_planted_runs_base(data_dir, shared) -> None:
    as_other("mkdir", "-m", "0777", str(shared / "runs"))
    out = launch(data_dir, shared, shared / "runs")
    assert out.returncode == 2, out.stderr
    assert str(shared / "runs") in out.stderr and OTHER in out.stderr
    assert list((shared / "runs").iterdir()) == []
    # a fresh base in the same shared folder is fine: created 0700 by the console
    out = launch(data_dir, shared, shared / "mine")
    assert out.returncode == 0, out.stderr
    assert (shared / "mine").stat().st_mode & 0o777 == 0o700


async def test_evidence_is_never_written_into_a_planted_run_folder(shared, tmp_path) -> None:
    run = shared / "runs" / "20260101-000000-abcd"
    as_other("mkdir", "-p", "-m", "0777", str(run / "evidence" / "srv1"))
    as_other("chmod", "0777", str(shared / "runs"), str(run), str(run / "evidence"))
    planted = run / "evidence" / "srv1" / "000-plog_plog-1.log"
    as_other("sh", "-c", f"umask 0; : > '{planted}'")
    logdir = server_logs(tmp_path, "root-only line")
    subprocess.run(
        ["sh", "-c", f"cat > '{run / 'plan.json'}'"],
        input=json.dumps(plan_doc(logdir)),
        text=True,
        user=OTHER,
        check=True,
    )
    pool = LocalShPool(tmp_path)
    for plan in (None, plan_doc(logdir)):  # read from the folder, or the launch's own
        with pytest.raises(safefiles.UnsafePath, match="owned by another user"):
            await collect(pool, run, plan, since=time.time())
    assert pool.calls == 0
    assert planted.read_text() == ""


async def test_evidence_in_own_run_folder_is_masked_and_reads_its_plan(tmp_path) -> None:
    record = RunRecord(tmp_path / "runs")
    record.close()
    logdir = server_logs(
        tmp_path,
        f"token {TOKEN} Authorization: Bearer abcdefghijklmnopqrstuvwx "
        "hf_abcdefghijklmnopqrstuvwxyz0123 HF_TOKEN=whatever",
    )
    (record.dir / "plan.json").write_text(json.dumps(plan_doc(logdir)))
    got = await collect(LocalShPool(tmp_path), record.dir, None, since=time.time(), secrets=[TOKEN])
    assert got[0].error is None and got[0].files
    text = (record.dir / "evidence" / "srv1" / got[0].files[0]).read_text()
    assert "[ERROR] HCCL token ***" in text
    for secret in (TOKEN, "abcdefghijklmnopqrstuvwx", "hf_abcdef", "whatever"):
        assert secret not in text
    evidence = record.dir / "evidence" / "srv1"
    assert evidence.stat().st_mode & 0o777 == 0o700
    assert (evidence / got[0].files[0]).stat().st_mode & 0o777 == 0o600
