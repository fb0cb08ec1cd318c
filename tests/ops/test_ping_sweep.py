"""The ping sweep engine (console.ops.ping) against the simulated cluster and its faults:
a lossy pair, a link down, a busy hccn_tool, a hung hccn_tool, a server refusing SSH, cancel,
re-running only the bad pairs, and the CLI end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from console.core.inventory import Inventory
from console.core.planning.ping import PingPlan, plan_ping
from console.ops.ping import (
    CancelToken,
    ProbeDone,
    ProbeRunning,
    ServerLost,
    SweepDone,
    SweepOptions,
    SweepStarted,
    sweep,
    sweep_retry,
)
from console.remote import Pool, SSHOptions
from console.sim.cluster import SimCluster

FAST = dict(backoff_s=0.01, backoff_max_s=0.05)


def inventory(sim: SimCluster) -> Inventory:
    """What discovery would find (taken from the spec, so these tests need no discovery)."""
    return sim.spec.inventory()


async def run(sim: SimCluster, plan: PingPlan, cancel_when=None, **options: Any) -> list:
    """Every event of one sweep; ``cancel_when(events)`` -> True cancels the sweep."""
    token = CancelToken()
    events: list = []
    async with Pool(SSHOptions(ssh_config=sim.ssh_config_path, command_timeout=20)) as pool:
        async for ev in sweep(pool, plan, SweepOptions(**{**FAST, **options}), cancel=token):
            events.append(ev)
            if cancel_when is not None and not token.cancelled and cancel_when(events):
                token.cancel()
    return events


def done(events: list) -> SweepDone:
    assert isinstance(events[0], SweepStarted) and isinstance(events[-1], SweepDone)
    return events[-1]


def by_pair(matrix) -> dict[tuple, Any]:
    return {(r.probe.src_host, r.probe.src_device, r.probe.dst_host, r.probe.dst_device): r for r in matrix.results}


def tool_pids(sim: SimCluster, arg: str = "") -> list[int]:
    """hccn_tool processes of this simulated cluster still running (with ``arg``)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(sim.workdir) in cmd and "hccn_tool" in cmd and arg in cmd:
                pids.append(int(entry.name))
    return pids


async def until(condition, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_default_sim_flags_exactly_the_lossy_pair(sim_cluster: SimCluster) -> None:
    plan = plan_ping(inventory(sim_cluster), "cross")
    events = await run(sim_cluster, plan)
    end = done(events)
    assert end.cancelled is False
    m = end.matrix
    assert m.summary() | {} == {"probes": 128, "ok": 127, "lossy": 1, "failed": 0, "skipped": 0, "excluded": 0}
    [bad] = [r for r in m.results if r.status != "ok"]
    a, b = sim_cluster.hosts
    assert (bad.probe.src_host, bad.probe.src_device, bad.probe.dst_host, bad.probe.dst_device) == (a, 3, b, 3)
    assert bad.loss_pct == pytest.approx(33.33) and (bad.transmitted, bad.received) == (3, 2)
    assert bad.command == "timeout --foreground -k 2 15 hccn_tool -i 3 -ping -g address 10.10.100.25"
    assert bad.raw.startswith("device 3 PING 10.10.100.25\nrecv time out seq=O\n")
    assert bad.raw.endswith("3 packets transmitted, 2 received, 33.33% packet loss\n")
    assert m.exit_code() == 1
    progress = [e for e in events if isinstance(e, ProbeDone)]
    assert [e.done for e in progress] == list(range(1, 129)) and progress[-1].total == 128
    assert progress[-1].eta_s == 0 and all(e.eta_s is not None for e in progress)


async def test_limits_per_card_and_per_server(sim_factory) -> None:
    sim = await sim_factory(servers=3, cards=4)
    plan = plan_ping(inventory(sim), "cross")  # each card has 8 probes to send
    events = await run(sim, plan, per_card=1, per_server=3)
    running: dict[tuple, int] = {}
    most_card, most_server = 0, 0
    for ev in events:
        if isinstance(ev, ProbeRunning) and ev.attempt == 1:
            key = (ev.probe.src_host, ev.probe.src_device)
            running[key] = running.get(key, 0) + 1
        elif isinstance(ev, ProbeDone):
            running[(ev.result.probe.src_host, ev.result.probe.src_device)] -= 1
        most_card = max(most_card, *running.values(), 0)
        for host in sim.hosts:
            most_server = max(most_server, sum(n for (h, _), n in running.items() if h == host))
    assert most_card == 1 and most_server <= 3
    assert done(events).matrix.summary()["ok"] == len(plan.probes) == 96


async def test_link_down_is_its_own_status(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "link_down", "server": 2, "device": 1}])
    m = done(await run(sim, plan_ping(inventory(sim), "rail"))).matrix
    a, b = sim.hosts
    status = {k: r.status for k, r in by_pair(m).items()}
    assert status == {(a, 0, b, 0): "ok", (b, 0, a, 0): "ok", (a, 1, b, 1): "link_down", (b, 1, a, 1): "link_down"}
    assert "Link status is down" in by_pair(m)[(a, 1, b, 1)].raw
    assert m.summary()["failed"] == 2 and m.exit_code() == 1


async def test_busy_is_retried_with_backoff(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "busy", "server": 1, "calls": 3}])
    m = done(await run(sim, plan_ping(inventory(sim), "cross"))).matrix
    assert {r.status for r in m.results} == {"ok"}
    first = sim.hosts[0]
    assert sum(r.attempts - 1 for r in m.results if r.probe.src_host == first) == 3
    assert all(r.attempts == 1 for r in m.results if r.probe.src_host != first)


async def test_busy_beyond_the_retries_is_reported(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=1, faults=[{"kind": "busy", "server": 1, "calls": 50}])
    plan = plan_ping(inventory(sim), "cross")
    m = done(await run(sim, plan, busy_retries=2)).matrix
    r = by_pair(m)[(sim.hosts[0], 0, sim.hosts[1], 0)]
    assert r.status == "error" and r.is_busy and r.attempts == 3
    assert "hccn_tool is busy, please try again." in r.raw
    assert by_pair(m)[(sim.hosts[1], 0, sim.hosts[0], 0)].status == "ok"


async def test_hung_tool_costs_one_probe_and_is_killed(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "hang", "server": 1, "device": 0, "command": "-ping"}])
    m = done(await run(sim, plan_ping(inventory(sim), "cross"), probe_timeout=1, kill_after=1)).matrix
    a = sim.hosts[0]
    hung = [r for r in m.results if r.status != "ok"]
    assert {(r.probe.src_host, r.probe.src_device) for r in hung} == {(a, 0)} and len(hung) == 2
    assert all(r.status == "timeout" and r.exit_status == 124 for r in hung)
    assert hung[0].command.startswith("timeout --foreground -k 1 1 hccn_tool -i 0 -ping")
    assert m.summary()["ok"] == 6
    await until(lambda: not tool_pids(sim))


async def test_unreachable_server_mid_sweep(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "refuse", "server": 2}])
    events = await run(sim, plan_ping(inventory(sim), "cross"))  # inventory says reachable
    _a, b = sim.hosts
    lost = [e for e in events if isinstance(e, ServerLost)]
    assert [e.host for e in lost] == [b] and "refused" in lost[0].error
    m = done(events).matrix
    for r in m.results:
        if r.probe.src_host == b:
            assert r.status == "skipped" and r.errors[0].startswith("server lost: ")
        else:  # server 1 still pings server 2's cards (the RoCE plane is not SSH)
            assert r.status == "ok"
    assert m.summary()["skipped"] == 4


async def test_cancel_kills_running_probes_and_keeps_results(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "hang", "server": 1, "device": 0, "command": "-ping"}])
    plan = plan_ping(inventory(sim), "rail")
    finished = lambda evs: sum(isinstance(e, ProbeDone) for e in evs) == 3  # noqa: E731 - a predicate named for the wait below
    events = await run(sim, plan, cancel_when=finished, probe_timeout=60)
    end = done(events)
    assert end.cancelled is True
    statuses = {k[:2]: r.status for k, r in by_pair(end.matrix).items()}
    a, b = sim.hosts
    assert statuses == {(a, 0): "skipped", (a, 1): "ok", (b, 0): "ok", (b, 1): "ok"}
    assert by_pair(end.matrix)[(a, 0, b, 0)].errors == ["sweep cancelled"]
    await until(lambda: not tool_pids(sim))


async def test_task_cancellation_kills_remote_processes(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=1, faults=[{"kind": "hang", "server": 1, "command": "-ping"}])
    plan = plan_ping(inventory(sim), "cross")
    task = asyncio.create_task(run(sim, plan, probe_timeout=60))
    await until(lambda: bool(tool_pids(sim)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: not tool_pids(sim))


async def test_rerun_only_the_bad_pairs(sim_cluster: SimCluster) -> None:
    opts = SweepOptions(**FAST)
    async with Pool(SSHOptions(ssh_config=sim_cluster.ssh_config_path)) as pool:
        first = None
        async for ev in sweep(pool, plan_ping(inventory(sim_cluster), "rail"), opts):
            first = ev
        assert isinstance(first, SweepDone)
        events = [ev async for ev in sweep_retry(pool, first.matrix, opts)]
    started = events[0]
    assert isinstance(started, SweepStarted) and len(started.plan.probes) == 1
    assert started.plan.probes[0].src_device == 3 and started.plan.pattern == "retry"
    merged = done(events).matrix
    assert len(merged.results) == 16 and merged.pattern == "rail"
    [bad] = [r for r in merged.results if r.status != "ok"]
    assert bad.status == "loss" and bad.attempts == 2


async def _cli(sim: SimCluster, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "ping",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_json_on_the_default_sim(sim_cluster: SimCluster, tmp_path: Path) -> None:
    csv = tmp_path / "ping.csv"
    code, out, err = await _cli(sim_cluster, "127.0.0.[11-12]", "--json", "--csv", str(csv))
    assert code == 1, err
    doc = json.loads(out)
    assert doc["pattern"] == "cross" and doc["unreachable"] == []
    assert {k: doc["summary"][k] for k in ("probes", "ok", "lossy", "failed")} == {
        "probes": 128,
        "ok": 127,
        "lossy": 1,
        "failed": 0,
    }
    lossy = [p for p in doc["pairs"] if p["status"] != "ok"]
    assert [(p["src_host"], p["src_device"], p["dst_host"], p["dst_device"], p["loss_pct"]) for p in lossy] == [
        ("127.0.0.11", 3, "127.0.0.12", 3, 33.33)
    ]
    required = {
        "src_host",
        "src_device",
        "src_ip",
        "dst_host",
        "dst_device",
        "dst_ip",
        "transmitted",
        "received",
        "loss_pct",
        "status",
        "command",
        "raw",
    }
    assert all(required <= set(p) for p in doc["pairs"])
    assert len(csv.read_text().splitlines()) > 128
    assert "128 probes" in err


async def test_cli_table_and_unreachable_exit_code(sim_factory) -> None:
    sim = await sim_factory(servers=3, cards=2, faults=[{"kind": "refuse", "server": 3}])
    code, out, err = await _cli(sim, ",".join(sim.hosts), "--pattern", "rail")
    assert code == 3, err
    assert "server ↔ server" in out and "both directions" in out and "all 4 probes ok" in out
    assert f"{sim.hosts[2]}: UNREACHABLE" in err


async def test_cli_bad_input_is_exit_2(sim_cluster: SimCluster) -> None:
    code, _out, err = await _cli(sim_cluster, "127.0.0.11", "--pattern", "custom")
    assert code == 2 and "--pairs" in err
    code, _out, err = await _cli(sim_cluster, "127.0.0.11", "--per-card", "0")
    assert code == 2 and "per_card" in err


async def test_cli_ctrl_c_kills_probes_and_prints_what_finished(sim_factory) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "hang", "server": 1, "device": 0, "command": "-ping"}])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "ping",
        ",".join(sim.hosts),
        "--json",
        "--pattern",
        "rail",
        "--probe-timeout",
        "60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await until(lambda: bool(tool_pids(sim, " -ping ")), timeout=60)  # the hung probe runs
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err.decode()
    doc = json.loads(out)
    assert doc["cancelled"] is True and "(interrupted)" in err.decode()
    a, _b = sim.hosts
    hung = [p for p in doc["pairs"] if (p["src_host"], p["src_device"]) == (a, 0)]
    assert [(p["status"], p["errors"]) for p in hung] == [("skipped", ["sweep cancelled"])]
    assert {p["status"] for p in doc["pairs"]} <= {"ok", "skipped"}
    await until(lambda: not tool_pids(sim))
