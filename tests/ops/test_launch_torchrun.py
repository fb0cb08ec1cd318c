"""Launch parity with torchrun, on the simulated cluster (whose sessions, like a real sshd's,
carry no environment of the console: a rank that needs the virtualenv's torch says so with a
setup line, ``VENV_SETUP``).

* every torchrun variable, per rank, compared with what ``python -m torch.distributed.run``
  itself sets for the same shape (2 servers x 2 ranks), run here;
* Ctrl-C: SIGINT reaches the ranks (``except KeyboardInterrupt:`` saves state), their exit
  codes and last lines are printed; a second Ctrl-C sends TERM at once; SIGHUP is a TERM
  stop that leaves a complete run record;
* ``--ranks-per-server``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.planning.launch import build_launch_plan
from console.core.planning.torchrun import NOT_SET
from console.core.profiles import Profile
from console.core.ranktable.text import dumps
from console.ops.launch_events import RankLine
from tests.ops.procs import VENV_SETUP, read_pgids
from tests.ops.test_launch_cli import cli, launch_args
from tests.ops.test_launch_sim import collect, free_port, none_left, sim_table

pytestmark = pytest.mark.timeout(180)

#: What a torchrun-launched program checks (Lightning Fabric's TorchElasticEnvironment, for
#: one, needs RANK, GROUP_RANK, LOCAL_RANK and LOCAL_WORLD_SIZE; its default environment
#: computes global rank = NODE_RANK * processes per node + LOCAL_RANK).
CHECK = """import json, os, sys
import torch.distributed as dist
env = os.environ
launched = dist.is_torchelastic_launched()
nodes = int(env["LOCAL_WORLD_SIZE"])
lightning_rank = int(env.get("NODE_RANK", "0")) * nodes + int(env["LOCAL_RANK"])
text = json.dumps({"launched": launched, "lightning_rank": lightning_rank, "env": dict(env)})
if env.get("CHECK_DIR"):  # under torchrun the workers share one stdout: lines > PIPE_BUF interleave
    with open(os.path.join(env["CHECK_DIR"], env["RANK"] + ".json"), "w") as f:
        f.write(text)
else:
    print(text)
"""


def _torchrun_envs(script: Path, master: str, port: int, run_id: str) -> dict[int, dict]:
    """Each worker's environment under torchrun, 2 nodes x 2 processes, minus torchrun's own."""
    out_dir = script.parent / "torchrun-out"
    out_dir.mkdir()
    base = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), "CHECK_DIR": str(out_dir)}
    procs = []
    for node in range(2):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--nnodes",
                    "2",
                    "--nproc-per-node",
                    "2",
                    "--node-rank",
                    str(node),
                    "--master-addr",
                    master,
                    "--master-port",
                    str(port),
                    "--rdzv-id",
                    run_id,
                    str(script),
                ],
                env=base,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    envs = {}
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for file in sorted(out_dir.glob("*.json")):
        doc = json.loads(file.read_text())
        assert doc["launched"] is True
        env = {k: v for k, v in doc["env"].items() if base.get(k) != v}
        envs[int(env["RANK"])] = env
    assert sorted(envs) == [0, 1, 2, 3]
    return envs


async def test_every_rank_has_torchruns_variables_with_torchruns_values(sim_factory, tmp_path) -> None:
    pytest.importorskip("torch")
    sim = await sim_factory(servers=2, cards=2)
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    run_id = "run-parity-1"
    table = sim_table(sim)
    plan = build_launch_plan(
        table,
        Profile(name="t", setup=[VENV_SETUP]),
        args=["python3", str(script)],
        run_id=run_id,
        remote_ranktable=str(tmp_path / "remote" / "rt.json"),
        master_port=free_port(),
    )
    data = dumps(table).encode()
    events = await collect(sim, tmp_path, plan, table, data)
    assert events[-1].summary.ok, events[-1].summary.root_cause
    ours = {ev.rank: json.loads(ev.text) for ev in events if isinstance(ev, RankLine) and ev.stream == "o"}
    theirs = _torchrun_envs(script, sim.hosts[0], plan.master_port, run_id)
    assert sorted(ours) == sorted(theirs) == [0, 1, 2, 3]
    for rank, env in theirs.items():
        doc = ours[rank]
        assert doc["launched"] is True and doc["lightning_rank"] == rank
        for key, value in env.items():
            if key in NOT_SET:
                assert key not in doc["env"], key
            else:
                assert doc["env"].get(key) == value, (rank, key)
    # what torchrun does not set but the console does, on purpose
    assert all(ours[r]["env"]["NODE_RANK"] == theirs[r]["GROUP_RANK"] for r in range(4))
    assert {ours[r]["env"]["PYTHONUNBUFFERED"] for r in range(4)} == {"1"}


SAVER = """import os, signal, sys, time
if len(sys.argv) > 2:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    def on_term(*_):
        print("got TERM", flush=True)
        sys.exit(5)
    signal.signal(signal.SIGTERM, on_term)
print("pgid", os.getpgid(0))
step = 0
try:
    while True:
        step += 1
        time.sleep(0.02)
except KeyboardInterrupt:
    with open(os.path.join(sys.argv[1], "state-" + os.environ["RANK"]), "w") as f:
        f.write(str(step))
    print("saved state at step", step)
    sys.exit(3)
"""


async def _start(sim, tmp_path: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *launch_args(sim, tmp_path, *extra), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def _stderr_until(proc, text: str, timeout: float = 60) -> list[str]:
    seen = []
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), timeout)).decode()
        assert line, "".join(seen)
        seen.append(line)
        if text in line:
            return seen


def _record(tmp_path: Path) -> list[dict]:
    run = next((tmp_path / "runs").iterdir())
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


async def test_ctrl_c_lets_ranks_save_state_and_prints_their_exit_codes(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2)
    script, state = tmp_path / "saver.py", tmp_path / "state"
    script.write_text(SAVER)
    state.mkdir()
    proc = await _start(sim, tmp_path, "--grace", "60", "--", "python3", str(script), str(state))
    try:
        pgids = await read_pgids(proc, 4)
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err = err.decode()
    assert proc.returncode == 130, err
    assert sorted(p.name for p in state.iterdir()) == [f"state-{r}" for r in range(4)]
    for rank in range(4):
        host = sim.hosts[rank // 2]
        assert f"launch: rank {rank} on {host}: exit 3\n" in err, err
        assert f"  [{rank}] saved state at step" in err
    assert "launch: SIGINT: sending SIGINT to every rank" in err
    assert await none_left(pgids) == []
    events = _record(tmp_path)
    teardown = next(e for e in events if e["event"] == "teardown")
    assert teardown["signal"] == "INT" and teardown["cause"] == "stopped"
    assert sorted(e["code"] for e in events if e["event"] == "exit") == [3, 3, 3, 3]
    assert events[-1]["event"] == "finished"


async def test_second_ctrl_c_sends_term_at_once(sim_factory, tmp_path) -> None:
    # the ranks ignore SIGINT; with a 600 s grace only the second Ctrl-C can end them in time
    sim = await sim_factory(servers=2, cards=2)
    script = tmp_path / "stubborn.py"
    script.write_text(SAVER)
    proc = await _start(sim, tmp_path, "--grace", "600", "--", "python3", str(script), str(tmp_path), "ignore-int")
    try:
        pgids = await read_pgids(proc, 4)
        proc.send_signal(signal.SIGINT)
        await _stderr_until(proc, "sending SIGINT to every rank")
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err.decode()
    err = err.decode()
    for rank in range(4):
        assert f"launch: rank {rank} on {sim.hosts[rank // 2]}: exit 5\n" in err, err
        assert f"  [{rank}] got TERM" in err
    assert await none_left(pgids) == []
    sigs = [e["sig"] for e in _record(tmp_path) if e["event"] == "agent.stopping"]
    assert sorted(sigs) == ["INT", "INT", "TERM", "TERM"]


async def test_sighup_stops_like_sigterm_and_leaves_a_complete_run_record(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2)
    proc = await _start(sim, tmp_path, "--", "bash", "-c", 'echo "pgid $$"; exec sleep 120')
    try:
        pgids = await read_pgids(proc, 4)
        proc.send_signal(signal.SIGHUP)
        _, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err = err.decode()
    assert proc.returncode == 130, err
    assert "launch: interrupted (SIGHUP)" in err
    for rank in range(4):
        assert f"launch: rank {rank} on {sim.hosts[rank // 2]}: exit 143 (signal 15)" in err
        assert f"  [{rank}] pgid " in err
    assert await none_left(pgids) == []
    events = _record(tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds.count("exit") == 4 and kinds[-1] == "finished"
    teardown = next(e for e in events if e["event"] == "teardown")
    assert (teardown["signal"], teardown["cause"]) == ("TERM", "stopped")
    assert "interrupted (SIGHUP)" in teardown["root_cause"]


async def test_ranks_per_server_launches_a_16_card_table_as_4_ranks(sim_cluster, tmp_path) -> None:
    rc, out, err = await cli(
        sim_cluster,
        tmp_path,
        "--ranks-per-server",
        "2",
        "--",
        "bash",
        "-c",
        'echo "$RANK/$WORLD_SIZE dev $DEVICE_ID group $GROUP_RANK local $LOCAL_RANK/$LOCAL_WORLD_SIZE"',
    )
    assert rc == 0, err
    assert sorted(out.splitlines()) == [
        "[0] 0/4 dev 0 group 0 local 0/2",
        "[1] 1/4 dev 1 group 0 local 1/2",
        "[2] 2/4 dev 0 group 1 local 0/2",
        "[3] 3/4 dev 1 group 1 local 1/2",
    ]
    assert (
        "launch: note: --ranks-per-server 2: the first 2 devices (by rank) of each of the 2 "
        "servers: 4 of the table's 16 ranks, renumbered 0..3"
    ) in err
    assert "launch: all 4 ranks exited 0" in err
    run = next((tmp_path / "runs").iterdir())
    uploaded = json.loads((run / "ranktable.json").read_text())
    assert [len(s["device"]) for s in uploaded["server_list"]] == [2, 2]
