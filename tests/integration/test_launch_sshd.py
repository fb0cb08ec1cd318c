"""Launch over real OpenSSH: two sshd daemons (127.0.0.21 / .22) as two servers x 2 ranks.

The agents run as the unprivileged test user ``ccssh`` with the system ``python3``. Every
"no process left" claim is checked in the process table (``ps``), with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.model import RankTable
from console.core.ranktable.text import dumps
from console.ops.launch import launch
from console.ops.launch_events import RankLine, RankReady, ServerLost
from console.remote import Pool
from tests.ops.test_launch_sim import free_port, none_left, spawned_pgids

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

MARK = "sleep 987.25"  # a command line no other process on this machine has


def table_for(insts) -> RankTable:
    servers = [
        {
            "server_id": inst.host,
            "device": [
                {"device_id": str(d), "device_ip": f"10.9.{k}.{d}", "rank_id": str(2 * k + d)} for d in range(2)
            ],
        }
        for k, inst in enumerate(insts)
    ]
    return RankTable.model_validate(
        {"status": "completed", "version": "1.0", "server_count": "2", "server_list": servers}
    )


def user_procs(pattern: str) -> list[str]:
    out = subprocess.run(["ps", "-u", "ccssh", "-o", "pid=,pgid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if pattern in line]


async def none_marked(timeout: float = 15.0) -> list[str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while (left := user_procs(MARK)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return left


@pytest.fixture
def servers(sshd, sshd2):
    return [sshd, sshd2]


def plan_for(servers, args, **profile):
    table = table_for(servers)
    plan = build_launch_plan(
        table,
        Profile(name="t", **profile),
        args=args,
        master_port=free_port(),
        remote_ranktable=str(servers[0].work_dir / "rt.json"),
        hosts={i.host: f"{i.host}:{i.port}" for i in servers},
    )
    return table, dumps(table).encode(), plan


async def run(ssh_client, tmp_path, plan, table, data, on_event=None) -> list:
    events = []
    async with Pool(ssh_client.options(command_timeout=60)) as pool:
        async for ev in launch(plan, table, data, pool=pool, run_base=tmp_path / "runs"):
            events.append(ev)
            if on_event:
                on_event(ev, events)
    return events


async def test_every_rank_gets_its_env(servers, ssh_client, tmp_path) -> None:
    out = servers[0].work_dir
    dump = (
        f"import json,os; e=dict(os.environ); e['TABLE']=open(e['RANK_TABLE_FILE']).read(); "
        f"json.dump(e, open('{out}/env-{{rank}}.json','w'))"
    )
    table, data, plan = plan_for(servers, ["python3", "-c", dump])
    events = await run(ssh_client, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    for rank in range(4):
        env = json.loads((out / f"env-{rank}.json").read_text())
        k, local = divmod(rank, 2)
        assert (env["RANK"], env["LOCAL_RANK"], env["DEVICE_ID"]) == (str(rank), str(local), str(local))
        assert env["WORLD_SIZE"] == "4" and env["LOCAL_WORLD_SIZE"] == "2"
        assert env["RANK_ID_START"] == str(2 * k) and env["CC_SSHD_HOST"] == servers[k].host
        assert env["MASTER_ADDR"] == env["MASTER_IP"] == servers[0].host
        assert env["RANK_TABLE_FILE"] == env["RANKTABLEFILE"] == plan.remote_ranktable
        assert env["MASTER_PORT"] == str(plan.master_port) and env["BACKEND"] == "hccl"
        assert env["TABLE"].encode() == data  # the ranks read the uploaded table ...
    assert not (servers[0].work_dir / "rt.json").exists()  # ... which the launch created and removed


async def test_one_failing_rank_tears_down_both_servers(servers, ssh_client, tmp_path) -> None:
    script = f'echo up; if [ "$RANK" = 3 ]; then echo dying >&2; exit 1; fi; exec {MARK}'
    table, data, plan = plan_for(servers, ["bash", "-c", script], grace_s=2.0)
    events = await run(ssh_client, tmp_path, plan, table, data)
    summary = events[-1].summary
    root = summary.root_cause
    assert (root.rank, root.server_id, root.exit_code) == (3, servers[1].host, 1)
    assert root.last_lines == ("up", "dying")
    assert {r: c for r, c in summary.exit_codes.items() if r != 3} == {0: 143, 1: 143, 2: 143}
    assert await none_left(spawned_pgids(summary)) == []
    assert await none_marked() == []


async def test_cut_connection_ends_that_servers_ranks(servers, ssh_client, tmp_path) -> None:
    table, data, plan = plan_for(servers, ["bash", "-c", f"echo up; exec {MARK}"], grace_s=2.0)

    def on_event(ev, seen) -> None:
        if isinstance(ev, RankLine) and sum(isinstance(e, RankLine) for e in seen) == 4:
            servers[1].drop_connections()

    events = await run(ssh_client, tmp_path, plan, table, data, on_event)
    assert [e.server_id for e in events if isinstance(e, ServerLost)] == [servers[1].host]
    assert await none_left(spawned_pgids(events[-1].summary)) == []
    assert await none_marked() == []


async def test_killed_console_leaves_no_rank(servers, ssh_client, tmp_path) -> None:
    rt = tmp_path / "rt.json"
    rt.write_text(dumps(table_for(servers)))
    args = [
        sys.executable,
        "-m",
        "console",
        "-F",
        str(ssh_client.ssh_config),
        "-l",
        "ccssh",
        "-i",
        str(ssh_client.key),
        "--known-hosts",
        str(ssh_client.known_hosts),
        "launch",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(servers[0].work_dir / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(free_port()),
        *[f"--host={i.host}={i.host}:{i.port}" for i in servers],
        "--",
        "bash",
        "-c",
        f"echo pgid $$; exec {MARK}",
    ]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    pgids: list[int] = []
    try:
        while len(pgids) < 4:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, (await proc.stderr.read()).decode()
            pgids.append(int(line.split()[-1]))
        assert len(user_procs(MARK)) == 4
    finally:
        proc.kill()
        await proc.wait()
    assert await none_left(pgids) == []
    assert await none_marked() == []


async def test_unflushed_prints_meet_the_ready_pattern(servers, ssh_client, tmp_path) -> None:
    # sshd passes none of the console's environment: without the launcher's
    # PYTHONUNBUFFERED=1 this line would sit in the rank's stdout buffer until it exits
    code = "import time\nprint('model READY')\ntime.sleep(300)"
    table, data, plan = plan_for(
        servers, ["python3", "-c", code], ready_pattern="READY$", ready_timeout_s=60.0, grace_s=2.0
    )
    stop, ready, events = asyncio.Event(), [], []
    async with Pool(ssh_client.options(command_timeout=60)) as pool:
        async for ev in launch(plan, table, data, pool=pool, run_base=tmp_path / "runs", stop=stop):
            events.append(ev)
            if isinstance(ev, RankReady):
                ready.append(ev.rank)
                if len(ready) == 4:
                    stop.set()
    summary = events[-1].summary
    assert sorted(ready) == [0, 1, 2, 3], summary.root_cause
    assert summary.root_cause.kind == "stopped"
    assert await none_left(spawned_pgids(summary)) == []
