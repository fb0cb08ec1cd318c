"""``cluster-console probe`` on Ctrl-C behaves as ``launch`` does (SIGINT to every rank, TERM
after the grace, then KILL; a second Ctrl-C TERM at once; each rank's exit code and last lines
on stderr; exit 130), on the simulated cluster.

The ranks' python is a recorder put first on PATH by a setup line: the probe command
(``python3 {upload_dir}/probe.py ...``) then runs a process that says which signal it got, so
the test sees what reached the ranks rather than how fast torch imports.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from pathlib import Path

import pytest

from console.ops.ranktable_files import save
from tests.ops.procs import VENV_SETUP
from tests.ops.test_launch_sim import free_port, none_left
from tests.ops.test_probe_sim import _table

pytestmark = pytest.mark.timeout(180)

RECORDER = """import os, signal, sys, time
if os.environ.get("IGNORE_INT"):
    signal.signal(signal.SIGINT, lambda *_: print("got SIGINT, going on", flush=True))
def on_term(*_):
    print("got SIGTERM", flush=True)
    sys.exit(5)
signal.signal(signal.SIGTERM, on_term)
print("pgid", os.getpgid(0), file=sys.stderr, flush=True)
try:
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    print("got SIGINT: saved state", flush=True)
    sys.exit(3)
"""


async def _start(sim, tmp_path: Path, *extra: str) -> asyncio.subprocess.Process:
    rt = tmp_path / "rt.json"
    save(await _table(sim), rt)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "recorder.py").write_text(RECORDER)
    wrapper = bin_dir / "python3"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(tmp_path / 'recorder.py'))}\n")
    wrapper.chmod(0o755)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "probe",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(free_port()),
        "--upload-base",
        str(tmp_path / "uploads"),
        "--setup",
        VENV_SETUP,
        "--setup",
        f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"',
        "--backend",
        "gloo",
        "-v",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stderr_pgids(proc: asyncio.subprocess.Process, count: int, timeout: float = 90) -> list[int]:
    """The ranks' ``[r] pgid N`` lines (echoed on stderr with -v) until ``count`` came."""
    pgids: list[int] = []
    seen: list[str] = []
    while len(pgids) < count:
        line = (await asyncio.wait_for(proc.stderr.readline(), timeout)).decode()
        assert line, "".join(seen)
        seen.append(line)
        if "] pgid " in line:
            pgids.append(int(line.split()[-1]))
    return pgids


async def _stderr_until(proc: asyncio.subprocess.Process, text: str, timeout: float = 60) -> None:
    seen: list[str] = []
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), timeout)).decode()
        assert line, "".join(seen)
        seen.append(line)
        if text in line:
            return


async def _finish(proc: asyncio.subprocess.Process) -> str:
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return err.decode()


async def test_ctrl_c_sends_sigint_to_the_ranks_and_prints_their_exits(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2)
    proc = await _start(sim, tmp_path)
    pgids = await _stderr_pgids(proc, 4)
    proc.send_signal(signal.SIGINT)
    err = await _finish(proc)
    assert proc.returncode == 130, err
    assert "probe: SIGINT: sending SIGINT to every rank (TERM after 5 s, then KILL)" in err
    assert "probe: interrupted (SIGINT): 4 of 4 ranks reported an exit, 4 not 0" in err
    for rank in range(4):
        assert f"probe: rank {rank} on {sim.hosts[rank // 2]}: exit 3\n" in err, err
        assert f"  [{rank}] got SIGINT: saved state" in err, err
    assert await none_left(pgids) == []


async def test_a_second_ctrl_c_sends_term_at_once(sim_factory, tmp_path) -> None:
    # the ranks ignore SIGINT; TERM comes from the second Ctrl-C (a "stop_escalated" record),
    # not from the agents' own step after the grace period
    sim = await sim_factory(servers=2, cards=2)
    proc = await _start(sim, tmp_path, "--setup", "export IGNORE_INT=1")
    pgids = await _stderr_pgids(proc, 4)
    proc.send_signal(signal.SIGINT)
    await _stderr_until(proc, "sending SIGINT to every rank")
    proc.send_signal(signal.SIGINT)
    err = await _finish(proc)
    assert proc.returncode == 130, err
    assert "probe: SIGINT: sending SIGTERM to every rank" in err
    for rank in range(4):
        assert f"  [{rank}] got SIGTERM" in err, err
    assert await none_left(pgids) == []
    run = next((tmp_path / "runs").iterdir())
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["signal"] for e in events if e["event"] == "stop_escalated"] == ["TERM"]
    assert events[-1]["event"] == "finished"
