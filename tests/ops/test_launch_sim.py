"""Launch over real SSH against the simulated 2 x 8 cluster (tests/ops/conftest.py).

Every "no process left" claim is checked against the process table, with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.errors import CheckFailed
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable import build
from console.core.ranktable.model import RankTable
from console.core.ranktable.text import dumps
from console.ops.launch import launch
from console.ops.launch_events import (
    JobFinished,
    RankExited,
    RankLine,
    RankReady,
    RankStarted,
    ServerLost,
    Stage,
    StageName,
    Teardown,
)
from console.remote import Pool, SSHOptions
from tests.ops.procs import read_pgids

PY = shlex.quote(sys.executable)


def sim_table(sim) -> RankTable:
    return build(sim.spec.inventory())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_plan(sim, tmp_path: Path, args: list[str], **profile):
    table = sim_table(sim)
    plan = build_launch_plan(
        table,
        Profile(name="t", **profile),
        args=args,
        remote_ranktable=str(tmp_path / "remote" / "ranktable.json"),
        master_port=free_port(),
    )
    return table, dumps(table).encode(), plan


def options(sim) -> SSHOptions:
    return SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=10, command_timeout=60)


async def collect(sim, tmp_path, plan, table, data, on_event=None, **kw) -> list:
    events = []
    async with Pool(options(sim)) as pool:
        async for ev in launch(plan, table, data, pool=pool, run_base=tmp_path / "runs", **kw):
            events.append(ev)
            if on_event:
                await on_event(ev, events)
    return events


def spawned_pgids(summary) -> list[int]:
    """Every rank's process group, from the agents' ``spawned`` reports in the run record."""
    lines = (Path(summary.run_dir) / "events.jsonl").read_text().splitlines()
    return [e["pid"] for e in map(json.loads, lines) if e["event"] == "agent.spawned"]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


async def none_left(pgids: list[int], timeout: float = 15.0) -> list[int]:
    """Poll until no process of these process groups runs; the groups still alive."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
        alive = {int(g) for g, st in (line.split() for line in out.splitlines()) if not st.startswith("Z")}
        left = [g for g in pgids if g in alive]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.05)


async def test_16_ranks_get_their_env(sim_cluster, tmp_path) -> None:
    out = tmp_path / "env"
    out.mkdir()
    dump = f"import json,os; json.dump(dict(os.environ), open('{out}/env-{{rank}}.json','w'))"
    table, data, plan = make_plan(sim_cluster, tmp_path, [sys.executable, "-c", dump])
    events = await collect(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    assert summary.exit_codes == {r: 0 for r in range(16)}
    stages = [ev for ev in events if isinstance(ev, Stage)]
    assert [s.name for s in stages] == [
        StageName.RECORD,
        StageName.VALIDATE,
        StageName.PREFLIGHT,
        StageName.PREPARE,
        StageName.AGENTS,
        StageName.GO,
    ]
    assert stages[0].run_dir == summary.run_dir  # a field: nobody parses "run record ..."
    remote = tmp_path / "remote" / "ranktable.json"
    assert not remote.exists()  # the launch created it: removed after the job (remote_ranktable tests)
    for rank in range(16):
        env = json.loads((out / f"env-{rank}.json").read_text())
        k, local = divmod(rank, 8)
        assert env["RANK"] == str(rank) and env["LOCAL_RANK"] == str(local)
        assert env["WORLD_SIZE"] == "16" and env["RANK_ID_START"] == str(8 * k)
        assert env["DEVICE_ID"] == str(local)
        assert env["MASTER_ADDR"] == sim_cluster.hosts[0]
        assert env["RANK_TABLE_FILE"] == env["RANKTABLEFILE"] == str(remote)
        assert env["BACKEND"] == "hccl" and env["MASTER_PORT"] == str(plan.master_port)
    run = Path(summary.run_dir)
    kinds = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
    for kind in ("start", "prepared", "preflight", "barrier", "go", "started", "exit", "finished"):
        assert kind in kinds
    assert kinds.index("barrier") < kinds.index("go") < kinds.index("started")
    assert json.loads((run / "plan.json").read_text())["world_size"] == 16
    assert (run / "ranktable.json").read_bytes() == data


async def test_one_failing_rank_ends_all_and_is_root_cause(sim_cluster, tmp_path) -> None:
    script = 'echo "up {rank}"; if [ {rank} = 11 ]; then echo "boom on 11" >&2; exit 1; fi; exec sleep 120'
    table, data, plan = make_plan(sim_cluster, tmp_path, ["bash", "-c", script], grace_s=3.0)
    events = await collect(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    root = summary.root_cause
    assert not summary.ok
    assert (root.rank, root.server_id, root.exit_code) == (11, sim_cluster.hosts[1], 1)
    assert root.last_lines[-1] == "boom on 11" and "up 11" in root.last_lines
    assert sum(isinstance(e, Teardown) for e in events) == 1
    assert {r: c for r, c in summary.exit_codes.items() if r != 11} == {
        r: 128 + signal.SIGTERM for r in range(16) if r != 11
    }
    assert summary.teardown_s is not None and summary.teardown_s < plan.grace_s
    pgids = spawned_pgids(events[-1].summary)
    assert len(pgids) == 16
    assert await none_left(pgids) == []


async def test_stop_event_tears_down_and_reports_every_exit(sim_cluster, tmp_path) -> None:
    table, data, plan = make_plan(sim_cluster, tmp_path, ["sleep", "120"], grace_s=3.0)
    stop = asyncio.Event()

    async def on_event(ev, seen) -> None:
        if isinstance(ev, RankStarted) and sum(isinstance(e, RankStarted) for e in seen) == 16:
            stop.set()

    events = await asyncio.wait_for(collect(sim_cluster, tmp_path, plan, table, data, on_event, stop=stop), 60)
    assert stop.is_set() and isinstance(events[-1], JobFinished)
    summary = events[-1].summary
    root = summary.root_cause
    assert not summary.ok and (root.kind, root.reason, root.rank) == ("stopped", "stopped by the user", None)
    teardowns = [e for e in events if isinstance(e, Teardown)]
    assert len(teardowns) == 1 and teardowns[0].root_cause.kind == "stopped"
    exits = {e.rank: (e.code, e.signal) for e in events if isinstance(e, RankExited)}
    assert exits == {r: (128 + signal.SIGTERM, signal.SIGTERM) for r in range(16)}
    assert summary.exit_codes == {r: 128 + signal.SIGTERM for r in range(16)}
    run = Path(summary.run_dir)
    recorded = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "exit" and e["signal"] == signal.SIGTERM for e in recorded) == 16
    assert [e.get("cause") for e in recorded if e["event"] == "teardown"] == ["stopped"]
    assert [e for e in recorded if e["event"] == "aborted"] == []  # ended normally
    pgids = spawned_pgids(summary)
    assert len(pgids) == 16
    assert await none_left(pgids) == []


async def test_stop_event_is_killed_after_grace_when_term_is_ignored(sim_cluster, tmp_path) -> None:
    script = "trap '' TERM; echo up; while :; do sleep 0.2; done"
    table, data, plan = make_plan(sim_cluster, tmp_path, ["bash", "-c", script], grace_s=1.0)
    stop = asyncio.Event()

    async def on_event(ev, seen) -> None:
        if isinstance(ev, RankLine) and sum(isinstance(e, RankLine) for e in seen) == 16:
            stop.set()

    events = await asyncio.wait_for(collect(sim_cluster, tmp_path, plan, table, data, on_event, stop=stop), 60)
    summary = events[-1].summary
    assert summary.root_cause.kind == "stopped"
    exits = {e.rank: (e.code, e.signal) for e in events if isinstance(e, RankExited)}
    assert exits == {r: (128 + signal.SIGKILL, signal.SIGKILL) for r in range(16)}
    assert await none_left(spawned_pgids(summary)) == []


async def test_cut_connection_ends_that_servers_ranks(sim_cluster, tmp_path) -> None:
    table, data, plan = make_plan(sim_cluster, tmp_path, ["bash", "-c", "echo up; exec sleep 120"], grace_s=2.0)
    cut = sim_cluster.hosts[1]

    async def on_event(ev, seen) -> None:
        ups = sum(isinstance(e, RankLine) and e.text == "up" for e in seen)
        if isinstance(ev, RankLine) and ups == 16:
            assert sim_cluster.cut(cut) >= 1

    events = await collect(sim_cluster, tmp_path, plan, table, data, on_event)
    lost = [e for e in events if isinstance(e, ServerLost)]
    assert [e.server_id for e in lost] == [cut]
    assert events[-1].summary.root_cause.server_id == cut
    assert all(events[-1].summary.exit_codes[r] is None for r in range(8, 16))
    pgids = spawned_pgids(events[-1].summary)
    assert len(pgids) == 16
    assert await none_left(pgids) == []


async def test_no_line_lost_between_rank_and_run_record(sim_cluster, tmp_path) -> None:
    n = 4000
    writer = f"import sys\nfor i in range({n}):\n    sys.stdout.write('r{{rank}} line %d %s\\n' % (i, 'z' * (i % 300)))"
    table, data, plan = make_plan(sim_cluster, tmp_path, [sys.executable, "-c", writer])
    events = await collect(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok and summary.lines == 16 * n
    run = Path(summary.run_dir)
    for rank in range(16):
        want = "".join(f"r{rank} line {i} {'z' * (i % 300)}\n" for i in range(n))
        assert (run / f"rank-{rank}.log").read_text() == want
    assert sum(isinstance(e, RankLine) for e in events) == 16 * n


async def test_preflight_refuses_busy_npu_and_bound_port(sim_factory, tmp_path) -> None:
    from console.sim.spec import ClusterSpec, NpuProcess

    spec = ClusterSpec.default()
    spec.servers[1].devices[2].processes = [NpuProcess(pid=4242, name="python3")]
    sim = await sim_factory(spec)
    table, data, plan = make_plan(sim, tmp_path, ["true"])
    with socket.socket() as busy:
        busy.bind(("", plan.master_port))
        busy.listen()
        with pytest.raises(CheckFailed) as err:
            await collect(sim, tmp_path, plan, table, data)
    text = str(err.value)
    assert "device 2 (rank 10) is in use by 4242 python3" in text
    assert f"master port {plan.master_port} is not free" in text


async def test_killing_the_console_ends_every_rank(sim_cluster, tmp_path) -> None:
    table = sim_table(sim_cluster)
    rt = tmp_path / "rt.json"
    rt.write_text(dumps(table))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim_cluster.ssh_config_path),
        "launch",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(free_port()),
        "--",
        "bash",
        "-c",
        "echo pgid $$; exec sleep 120",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    pgids: list[int] = []
    try:
        pgids = await read_pgids(proc, 16)
    finally:
        proc.kill()
        await proc.wait()
    assert await none_left(pgids) == []


async def test_every_rank_ready_in_time_is_reported(sim_cluster, tmp_path) -> None:
    table, data, plan = make_plan(
        sim_cluster, tmp_path, ["bash", "-c", "echo up; echo READY"], ready_pattern="^READY$", ready_timeout_s=60
    )
    events = await collect(sim_cluster, tmp_path, plan, table, data)
    assert events[-1].summary.ok
    assert sorted(e.rank for e in events if isinstance(e, RankReady)) == list(range(16))


async def test_probe_bundle_is_uploaded_to_a_run_folder(sim_cluster, tmp_path) -> None:
    from console.probe import ship_files

    lister = "import os,sys; print(' '.join(sorted(os.listdir(sys.argv[1]))))"
    table = sim_table(sim_cluster)
    plan = build_launch_plan(
        table,
        Profile(name="t", upload=["probe"], upload_base=str(tmp_path / "up")),
        args=[sys.executable, "-c", lister, "{upload_dir}"],
        run_id="run-1",
        remote_ranktable=str(tmp_path / "remote" / "rt.json"),
        master_port=free_port(),
        keep_remote=True,
    )
    assert plan.upload_dir == str(tmp_path / "up" / "run-1")
    events = await collect(sim_cluster, tmp_path, plan, table, dumps(table).encode())
    summary = events[-1].summary
    assert summary.ok and Path(summary.run_dir).name == "run-1"
    names = sorted(p.name for p in ship_files())
    assert {e.text for e in events if isinstance(e, RankLine)} == {" ".join(names)}
    for host in sim_cluster.hosts:  # kept: --keep-remote
        folder = tmp_path / "up" / "run-1" / host
        assert folder.stat().st_mode & 0o777 == 0o700
        for path in ship_files():
            assert (folder / path.name).read_bytes() == path.read_bytes()
            assert (folder / path.name).stat().st_mode & 0o777 == 0o644
