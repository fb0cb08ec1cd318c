"""``cluster-console demo --headless``: the whole flow end to end, and its verdicts.

The subprocess test is the README's smoke test: a fresh simulated cluster (the MindIE
guide's 2 x 8 with the lossy pair server 1 dev 3 -> server 2 dev 3), discovery, ping, rank
table, probe on 2 x 2 gloo ranks, exit 0, nothing left running afterwards. The in-process
tests drive ``console.ops.demo.demo_flow`` against a sim without faults.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from console.ops.demo import DemoSettings, LossyPair, demo_flow
from console.remote import Pool
from tests.ops.test_launch_sim import free_port, options

STEPS = ["sim", "discover", "ping", "ranktable", "probe"]


def _mentions(pid: str, needle: str) -> bool:
    """The process's command line, environment or working folder names ``needle``."""
    proc = Path("/proc") / pid
    try:
        blobs = [(proc / "cmdline").read_bytes(), (proc / "environ").read_bytes(), os.readlink(proc / "cwd").encode()]
    except OSError:  # gone meanwhile, or not ours to read
        return False
    return any(needle.encode() in blob for blob in blobs)


async def _left_behind(needle: str, timeout: float = 15.0) -> list[str]:
    """Poll (``ps``) until no process mentions ``needle``; those still there at the end."""
    deadline = time.monotonic() + timeout
    while True:
        ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True)
        left = [
            line.strip()
            for line in ps.stdout.splitlines()
            if line.split()[1][:1] != "Z" and _mentions(line.split()[0], needle)
        ]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.1)


async def test_headless_demo_exits_0_finds_the_lossy_pair_and_cleans_up() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "demo",
        "--headless",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 240)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err_text = err.decode()
    assert proc.returncode == 0, err_text
    summary = json.loads(out)
    steps = {s["name"]: s for s in summary["steps"]}
    assert [s["name"] for s in summary["steps"]] == STEPS and summary["ok"] is True
    assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in summary["steps"])
    for name in STEPS:  # each step and its timing on stderr as it happened
        assert f"demo: {name}: {steps[name]['status']} (" in err_text

    ping = steps["ping"]
    assert ping["status"] == "expected"
    assert "127.0.0.11 dev 3 -> 127.0.0.12 dev 3 at 33.33 %" in ping["details"]
    (pair,) = ping["data"]["lossy_pairs"]
    assert (pair["src_host"], pair["src_device"], pair["dst_host"], pair["dst_device"], pair["loss_pct"]) == (
        "127.0.0.11",
        3,
        "127.0.0.12",
        3,
        33.33,
    )
    assert ping["data"]["summary"]["probes"] == 128 and ping["data"]["summary"]["ok"] == 127
    assert steps["ranktable"]["data"]["world_size"] == 16

    probe = steps["probe"]
    assert probe["status"] == "ok"
    if importlib.util.find_spec("torch") is not None:  # CI: the real probe
        data = probe["data"]
        assert data["backend"] == "gloo" and data["world_size"] == 4
        assert {row["op"] for row in data["rows"]} == {
            "all_reduce",
            "all_gather",
            "reduce_scatter",
            "all_to_all",
            "broadcast",
        }
        assert all(row["ranks_ok"] == "4/4" for row in data["checks"])
        assert data["tp_smoke"]["ok"] and data["tp_smoke"]["logits_match"]
    else:
        assert probe["data"]["simulated"] and "SIMULATED" in probe["details"]

    sim_dir = summary["sim_dir"]
    assert not Path(sim_dir).exists()
    assert await _left_behind(sim_dir) == []


async def _steps(sim, tmp_path: Path, **kw) -> list:
    settings = DemoSettings(hosts=sim.hosts, workdir=tmp_path / "demo", master_port=free_port(), **kw)
    async with Pool(options(sim)) as pool:
        return [s async for s in demo_flow(pool, settings) if s.status != "running"]


async def test_a_missing_lossy_pair_fails_the_ping_step(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2)  # no faults: the expected loss is not there
    expect = LossyPair(src_host=sim.hosts[0], src_device=1, dst_host=sim.hosts[1], dst_device=1, percent=33.33)
    steps = await _steps(sim, tmp_path, expected_loss=[expect])
    assert [(s.name, s.status) for s in steps] == [
        ("discover", "ok"),
        ("ping", "failed"),
        ("ranktable", "skipped"),
        ("probe", "skipped"),
    ]
    assert f"expected loss not found: {sim.hosts[0]} dev 1 -> {sim.hosts[1]} dev 1" in steps[1].details


async def test_without_torch_a_simulated_workload_runs_and_says_so(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2)
    steps = await _steps(sim, tmp_path, workload="simulated")
    assert [(s.name, s.status) for s in steps] == [  # on failure: the step's details say why
        ("discover", "ok"),
        ("ping", "ok"),
        ("ranktable", "ok"),
        ("probe", "ok"),
    ], [s.details for s in steps]
    probe = steps[-1]
    assert "SIMULATED workload instead of the probe" in probe.details
    assert probe.data["simulated"] and probe.data["world_size"] == 4
    assert sorted(line.split(" (")[0] for line in probe.data["lines"]) == [f"rank {r} of 4" for r in range(4)]
    assert (tmp_path / "demo" / "ranktable.json").is_file()


async def test_scenario_lossy_launch_ends_in_the_diagnosis_of_the_planted_pair() -> None:
    """``demo --headless --scenario lossy-launch``: a newcomer's first diagnosis, end to end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "demo",
        "--headless",
        "--json",
        "--scenario",
        "lossy-launch",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 240)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["scenario"] == "lossy-launch"
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [
        ("sim", "ok"),
        ("discover", "ok"),
        ("ping", "expected"),
        ("ranktable", "ok"),
        ("launch", "expected"),
    ]
    diag = summary["steps"][-1]["data"]["diagnosis"]
    first = diag["causes"][diag["first"]["index"]]
    assert (first["cause"], first["code"], first["ranks"]) == ("socket_timeout", "EI0006", [3, 7])
    assert {first["server"], first["remote_server"]} == {"127.0.0.11", "127.0.0.12"}
    assert "33.33 % loss" in diag["headline"]
    assert await _left_behind(summary["sim_dir"]) == []


async def test_scenario_stuck_server_is_caught_as_a_stall(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "stuck", "server": 2}])
    steps = await _steps(sim, tmp_path, scenario="stuck-server", stuck_hosts=[sim.hosts[1]])
    assert [(s.name, s.status) for s in steps] == [
        ("discover", "ok"),
        ("ping", "ok"),
        ("ranktable", "ok"),
        ("launch", "expected"),
    ]
    diag = steps[-1].data["diagnosis"]
    assert diag["causes"][diag["first"]["index"]]["cause"] == "stalled_peer"
    assert diag["headline"].startswith(f"on {sim.hosts[1]} ranks 2,3 never printed a line")


async def test_scenario_fails_when_the_diagnosis_names_another_server(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "stuck", "server": 2}])
    steps = await _steps(sim, tmp_path, scenario="stuck-server", stuck_hosts=[sim.hosts[0]])
    assert (steps[-1].name, steps[-1].status) == ("launch", "failed")
    assert f"the stall names {sim.hosts[1]}, not the stuck server" in steps[-1].details
