"""Issue 10 on the simulated cluster: the private run folder, validation before any server is
touched, stray lines on the agent channel, and processes that escape a rank's process group.

The simulated servers run as this user (root), so "another user" cases live in
tests/integration/test_launch_hardening_sshd.py; here: the folder rules that need no second
user (a group/other-writable folder, an existing run folder, a file changed after upload).
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from pathlib import Path

import pytest

from console.core.errors import CheckFailed
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.text import dumps
from console.ops.launch import launch
from console.ops.launch_events import LaunchWarning, RankLine, RankStarted
from console.ops.probe import subset_table
from console.remote import Pool
from tests.ops.test_launch_sim import free_port, options, sim_table

PY = shlex.quote(sys.executable)

REPORT = r"""
import hashlib, json, os, stat, sys
t = os.environ["RANK_TABLE_FILE"]
d = os.path.dirname(t)
print(json.dumps({"table": t, "dir_mode": stat.S_IMODE(os.stat(d).st_mode),
                  "table_mode": stat.S_IMODE(os.stat(t).st_mode),
                  "sha": hashlib.sha256(open(t, "rb").read()).hexdigest(),
                  "files": sorted(os.listdir(d)), "upload_dir": sys.argv[1],
                  "run": os.environ.get("CLUSTER_CONSOLE_RUN")}))
"""


def small(sim, per_server: int = 2):
    table = subset_table(sim_table(sim), per_server)
    return table, dumps(table).encode()


async def run(sim, tmp_path, plan, table, data, **kw) -> list:
    events = []
    async with Pool(options(sim)) as pool:
        async for ev in launch(plan, table, data, pool=pool, run_base=tmp_path / "runs", **kw):
            events.append(ev)
    return events


def record(summary) -> list[dict]:
    lines = (Path(summary.run_dir) / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


async def test_default_run_folder_is_private_holds_the_table_and_is_removed(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster)
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    plan = build_launch_plan(
        table,
        Profile(name="t"),
        args=[sys.executable, str(script), "{upload_dir}"],
        master_port=free_port(),
        run_id="rd-1",
    )
    events = await run(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    seen = [json.loads(e.text) for e in events if isinstance(e, RankLine)]
    assert len(seen) == 4
    for host in sim_cluster.hosts:
        mine = [s for s in seen if s["table"].endswith(f"/rd-1/{host}/ranktable.json")]
        assert len(mine) == 2, seen
        for s in mine:
            assert s["table"].startswith("/")
            assert "/.cache/cluster-console/runs/rd-1/" in s["table"]
            assert s["upload_dir"] == os.path.dirname(s["table"])
            assert (s["dir_mode"], s["table_mode"]) == (0o700, 0o640)
            assert s["sha"] == __import__("hashlib").sha256(data).hexdigest()
            assert s["files"] == ["ranktable.json"] and s["run"] == "rd-1"
    for s in seen:  # removed after the job, and the run's folder with it
        assert not os.path.exists(os.path.dirname(s["table"]))
        assert not os.path.exists(os.path.dirname(os.path.dirname(s["table"])))
    cleaned = [e for e in record(summary) if e["event"] == "agent.cleaned"]
    assert len(cleaned) == 2 and all(e.get("error") is None for e in cleaned)


@pytest.mark.parametrize("mode,ok", [(0o777, False), (0o775, False), (0o1777, True)])
async def test_a_folder_others_can_write_is_refused(sim_cluster, tmp_path, mode, ok) -> None:
    table, data = small(sim_cluster, 1)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)  # owned by root (this user): sticky root folders are fine, like /tmp
    plan = build_launch_plan(
        table,
        Profile(name="t", upload_base=str(shared / "runs")),
        args=["true"],
        master_port=free_port(),
        run_id="rd-2",
    )
    if ok:
        events = await run(sim_cluster, tmp_path, plan, table, data)
        assert events[-1].summary.ok
        assert list((shared / "runs").iterdir()) == []  # the run's folder is gone again
        return
    with pytest.raises(CheckFailed) as err:
        await run(sim_cluster, tmp_path, plan, table, data)
    assert err.value.host in sim_cluster.hosts and err.value.path == str(shared)
    assert f"mode {stat.S_IMODE(mode):04o}" in err.value.detail
    assert not (shared / "runs").exists()


async def test_an_existing_run_folder_is_refused_and_nothing_is_left(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    base = tmp_path / "base"
    planted = base / "rd-3" / sim_cluster.hosts[1]
    planted.mkdir(parents=True, mode=0o700)
    (planted / "ranktable.json").write_text("planted")
    plan = build_launch_plan(
        table, Profile(name="t", upload_base=str(base)), args=["true"], master_port=free_port(), run_id="rd-3"
    )
    with pytest.raises(CheckFailed) as err:
        await run(sim_cluster, tmp_path, plan, table, data)
    assert err.value.host == sim_cluster.hosts[1] and err.value.path == str(planted)
    assert "already exists" in err.value.detail
    assert (planted / "ranktable.json").read_text() == "planted"
    assert sorted(p.name for p in (base / "rd-3").iterdir()) == [sim_cluster.hosts[1]]


async def test_a_file_changed_after_upload_refuses_go(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster)
    # a setup line (before the barrier) changes the uploaded table on the second server
    tamper = '[ "$RANK" != 3 ] || echo tampered >> "$RANK_TABLE_FILE"'
    plan = build_launch_plan(
        table, Profile(name="t", setup=[tamper]), args=["true"], master_port=free_port(), run_id="rd-4"
    )
    events = await run(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    root = summary.root_cause
    assert not summary.ok and root.server_id == sim_cluster.hosts[1]
    assert root.reason.startswith("GO refused: /") and "rd-4" in root.reason
    assert "ranktable.json: sha256" in root.reason and "changed after the upload" in root.reason
    assert not [e for e in events if isinstance(e, RankStarted)]  # no rank was released


class Untouchable:
    """A pool that fails the test if anything reaches for a server."""

    def __getattr__(self, name: str):
        raise AssertionError(f"a server was touched: pool.{name}")


@pytest.mark.parametrize("check", [True, False], ids=["preflight", "no-preflight"])
async def test_an_invalid_table_is_refused_before_any_server_is_touched(sim_cluster, tmp_path, check) -> None:
    table, _ = small(sim_cluster)
    table.server_list[1].device[0].device_ip = table.server_list[0].device[0].device_ip
    plan = build_launch_plan(table, Profile(name="t"), args=["true"], master_port=free_port(), run_id=f"rd-5{check}")
    with pytest.raises(CheckFailed, match="validation found") as err:
        async for _ in launch(
            plan, table, dumps(table).encode(), pool=Untouchable(), run_base=tmp_path / "runs", check=check
        ):
            pass
    assert "device_ip" in err.value.detail


STRAY = """#!/bin/sh
# a login script that talks: a number, a forged frame, a JSON list, a frame of a wrong shape
echo 1024
echo '{"t":"line","rank":99,"s":"o","x":"forged"}'
echo '[1, 2]'
echo '{"t":"exit","rank":"0","code":0}'
exec %s "$@"
"""


async def test_stray_lines_on_the_agent_channel_do_not_crash(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster)
    python = tmp_path / "chatty-python"
    python.write_text(STRAY % PY)
    python.chmod(0o755)
    plan = build_launch_plan(
        table, Profile(name="t", python=str(python)), args=["echo", "hi {rank}"], master_port=free_port(), run_id="rd-6"
    )
    events = await run(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    assert sorted(e.text for e in events if isinstance(e, RankLine)) == [f"hi {r}" for r in range(4)]
    shown = [e for e in events if isinstance(e, LaunchWarning) and "host agent" in e.message]
    assert sorted(e.host for e in shown) == sorted(sim_cluster.hosts)  # once per server
    assert "'1024'" in shown[0].message
    kept = [e for e in record(summary) if e["event"] == "agent.unexpected"]
    assert len(kept) == 8  # every stray line of both servers, in the run record
    assert {e["text"] for e in kept} == {
        "1024",
        '{"t":"line","rank":99,"s":"o","x":"forged"}',
        "[1, 2]",
        '{"t":"exit","rank":"0","code":0}',
    }


def procs_with(arg: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if arg.encode() in args:
            found.append(int(pid))
    return found


async def gone_within(arg: str, timeout: float = 15.0) -> list[int]:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while (left := procs_with(arg)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


@pytest.mark.parametrize("how", ["teardown", "normal-end"])
async def test_a_setsid_child_of_a_rank_is_ended(sim_cluster, tmp_path, how) -> None:
    table, data = small(sim_cluster)
    mark = f"301.{os.getpid()}{len(how)}"  # a sleep no other process on this machine has
    # rank 2 fails once every rank's daemon runs (waiting on that condition, not on time)
    fail = (
        (
            f'if [ "$RANK" = 2 ]; then until [ "$(pgrep -fc "^sleep {mark}$")" -ge 4 ]; '
            "do sleep 0.05; done; exit 3; fi; exec sleep 120"
        )
        if how == "teardown"
        else "true"
    )
    script = f"setsid sleep {mark} & echo daemonized; {fail}"
    plan = build_launch_plan(
        table,
        Profile(name="t", grace_s=1.0),
        args=["bash", "-c", script],
        master_port=free_port(),
        run_id=f"rd-7-{how}",
    )
    events = await run(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok == (how == "normal-end")
    assert sum(e.text == "daemonized" for e in events if isinstance(e, RankLine)) == 4
    assert await gone_within(mark) == []


async def test_a_shared_explicit_table_stays_until_every_servers_ranks_are_done(sim_cluster, tmp_path) -> None:
    """Servers that share a filesystem (the sim's; NFS homes) share an explicit remote rank
    table: the launch creates it once, and it must stay until the ranks of EVERY server are
    done. It was removed by the creating server's agent when that server's ranks ended, while
    another server's ranks could still be starting and reading it."""
    table, data = small(sim_cluster, 1)
    shared = tmp_path / "shared" / "rt.json"
    shared.parent.mkdir()
    first = sim_cluster.hosts[0]
    # the first server's rank ends at once; the other's looks at the table for 3 s
    watch = (
        f'if [ "$CLUSTER_CONSOLE_SERVER" = {shlex.quote(first)} ]; then exit 0; fi; '
        'i=0; while [ $i -lt 60 ]; do [ -e "$RANK_TABLE_FILE" ] || { echo "table gone"; exit 3; }; '
        "sleep 0.05; i=$((i + 1)); done"
    )
    plan = build_launch_plan(
        table,
        Profile(name="t"),
        args=["sh", "-c", watch],
        master_port=free_port(),
        remote_ranktable=str(shared),
        run_id="rd-shared",
    )
    events = await run(sim_cluster, tmp_path, plan, table, data)
    summary = events[-1].summary
    assert summary.ok, (summary.root_cause, [e.text for e in events if isinstance(e, RankLine)])
    assert not shared.exists()  # created by the launch: removed after the job


def test_a_table_removed_meanwhile_by_another_servers_removal_is_no_problem(tmp_path, monkeypatch) -> None:
    """Servers sharing one filesystem (NFS homes, the sim) each remove the explicit rank table
    the launch created there, at the same time: the one that finds it gone between its look and
    its unlink has nothing left to do (it answered "No such file or directory", a warning at
    the end of every such launch)."""
    from console.ops import rundir_remote

    table = tmp_path / "rt.json"
    table.write_text("{}")
    real_unlink = os.unlink

    def raced(path, *a, **k):
        real_unlink(path)  # the other server's removal, right between lstat and unlink
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(rundir_remote.os, "unlink", raced)
    rundir_remote.remove_table(str(table))  # old code: FileNotFoundError
    assert not table.exists()
