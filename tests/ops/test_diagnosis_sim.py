"""The simulated cluster fails realistically, and the launch says why: planted faults make the
ranks print HCCL's own log lines (console/sim/fake/hccl_init.py); `launch` prints the diagnosis
and `diagnose` links it to the ping of the pair."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from console.core.ranktable.text import dumps
from tests.ops.test_launch_cli import launch_args
from tests.ops.test_launch_sim import sim_table

WORKLOAD = ["--grace", "1", "--", "bash", "-c", "ccsim-hccl-init && exec sleep 60"]


async def _run(*argv: str, timeout: float = 180) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_lossy_pair_fails_with_both_ranks_servers_and_the_ping_of_that_pair(sim_factory, tmp_path):
    sim = await sim_factory(
        servers=2,
        cards=4,
        faults=[{"kind": "loss", "src": 1, "src_device": 3, "dst": 2, "dst_device": 3, "percent": 33.33}],
    )
    a, b = sim.hosts
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{a}:3 {b}:3\n")
    rc, out, err = await _run(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "ping",
        a,
        b,
        "--pattern",
        "custom",
        "--pairs",
        str(pairs),
        "--json",
    )
    assert rc == 1, err
    (tmp_path / "ping.json").write_text(out)
    rc, out, err = await _run(*launch_args(sim, tmp_path, "--json", *WORKLOAD))
    assert rc == 1, err
    events = _events(out)
    assert [e["event"] for e in events[-2:]] == ["diagnosis", "finished"]
    diag = events[-2]
    first = diag["causes"][diag["first"]["index"]]
    assert first["cause"] == "socket_timeout" and first["code"] == "EI0006"
    assert first["ranks"] == [3, 7]
    assert {first["server"], first["remote_server"]} == {a, b}
    run = Path(events[-1]["summary"]["run_dir"])
    # the plog files both ends wrote on their servers were fetched into the run record
    assert (run / "evidence").is_dir(), err
    for host in (a, b):
        texts = [p.read_text() for p in (run / "evidence" / host).iterdir()]
        assert any("LINK_ERROR_INFO" in t and "wait socket establish timeout" in t for t in texts)
    assert sum(c["cause"] == "socket_timeout" for c in diag["causes"]) == 2  # one per end, deduped
    rc, out, err = await _run(
        sys.executable, "-m", "console", "diagnose", str(run), "--ping", str(tmp_path / "ping.json")
    )
    assert rc == 1, err
    headline = out.splitlines()[0]
    for want in ("rank 3", "rank 7", a, b, "33.33 % loss"):
        assert want in headline, (want, headline)


async def test_ranktable_ip_differing_from_the_card_is_ei0014(sim_factory, tmp_path):
    sim = await sim_factory(servers=2, cards=2)
    table = sim_table(sim)
    dev = table.server_list[1].device[1]
    card_ip, dev.device_ip = dev.device_ip, "10.99.0.9"
    argv = launch_args(sim, tmp_path, "--no-preflight", *WORKLOAD)
    (tmp_path / "rt.json").write_text(dumps(table))  # launch_args wrote the clean table first
    rc, _out, err = await _run(*argv)
    assert rc == 1, err
    assert f"launch: diagnosis: rank table device_ip 10.99.0.9 differs from the card's IP {card_ip}" in err
    assert f"{sim.hosts[1]} rank 3 dev 1" in err


async def test_tls_mismatch_and_busy_npu(sim_factory, tmp_path):
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "tls", "server": 2, "device": 1}])
    rc, out, err = await _run(*launch_args(sim, tmp_path, "--json", *WORKLOAD))
    assert rc == 1, err
    diag = _events(out)[-2]
    assert diag["event"] == "diagnosis"
    first = diag["causes"][diag["first"]["index"]]
    assert (first["cause"], first["code"]) == ("tls_mismatch", "EI0016")
    assert "enabled: [3]" in first["title"] and "disabled: [0,1,2]" in first["title"]


async def test_busy_npu_is_port_in_use_next_to_its_process(sim_factory, tmp_path):
    from console.sim.spec import ClusterSpec, NpuProcess

    spec = ClusterSpec.generate(servers=2, cards=2)
    spec.servers[1].devices[0].processes = [NpuProcess(pid=4242, name="python3")]
    sim = await sim_factory(spec)
    rc, out, err = await _run(
        sys.executable, "-m", "console", "-F", str(sim.ssh_config_path), "discover", *sim.hosts, "--json"
    )
    (tmp_path / "inv.json").write_text(out)
    rc, out, err = await _run(
        *launch_args(sim, tmp_path, "--no-preflight", "--inventory", str(tmp_path / "inv.json"), "--json", *WORKLOAD)
    )
    assert rc == 1, err
    diag = _events(out)[-2]
    first = diag["causes"][diag["first"]["index"]]
    assert (first["cause"], first["ports"], first["server"], first["rank"]) == ("port_in_use", [16666], sim.hosts[1], 2)
    assert any(lk["kind"] == "npu_processes" and "4242" in lk["message"] for lk in diag["links"])


STALL = [
    "--env",
    "HCCL_CONNECT_TIMEOUT=600",
    "--stall-after",
    "2",
    "--grace",
    "1",
    "--json",
    "--",
    "bash",
    "-c",
    "ccsim-hccl-init && exec sleep 60",
]


async def test_fail_fast_stall_tears_down_for_the_silent_server_before_hccl_times_out(sim_factory, tmp_path):
    """A hung NPU on server 2: its ranks never print, server 1's ranks wait for them (HCCL's
    600 s connect timeout). --fail-fast-stall ends the job on the stall verdict instead."""
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "stuck", "server": 2}])
    _a, b = sim.hosts
    rc, out, err = await _run(*launch_args(sim, tmp_path, "--fail-fast-stall", *STALL))
    assert rc == 1, err
    events = _events(out)
    kinds = [e["event"] for e in events]
    stall = events[kinds.index("stall")]
    assert (stall["server_id"], stall["silent"], stall["failed"], stall["teardown"]) == (b, [2, 3], [], True)
    assert stall["connect_timeout_s"] == 600
    # what tore the job down is the stall verdict, and it came right after the ranks stalled
    teardown = events[kinds.index("teardown")]
    assert teardown["root_cause"]["kind"] == "stall" and teardown["root_cause"]["server_id"] == b
    assert kinds.index("stalled") < kinds.index("stall") < kinds.index("teardown")
    marked = {e["rank"] for e in events[: kinds.index("stall")] if e["event"] == "stalled"}
    assert marked == set(stall["stalled"]) and {2, 3} < marked  # most, with the silent ones
    # before HCCL's own timeout: no rank got to print its timeout, every one was stopped by us
    assert not any(e["event"] == "line" and "EI0006" in e["text"] for e in events)
    assert all(e["code"] != 1 for e in events if e["event"] == "exited")
    assert [e["event"] for e in events[-2:]] == ["diagnosis", "finished"]
    diag = events[-2]
    first = diag["causes"][diag["first"]["index"]]
    assert (first["cause"], first["server"]) == ("stalled_peer", b)
    assert "ranks 2,3 never printed a line" in diag["headline"] and b in diag["headline"]
    assert "600 s" in first["title"]
    assert "launch: stall:" in err and "tearing down (--fail-fast-stall)" in err


async def test_without_fail_fast_the_stall_is_diagnosed_while_the_job_goes_on(sim_factory, tmp_path):
    """No --fail-fast-stall: the stall names the server, its diagnosis comes at once (a
    ``diagnosis`` event with ``during: stall``) while the ranks still wait; HCCL's own timeout
    ends the job later and the final diagnosis follows."""
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "stuck", "server": 2}])
    b = sim.hosts[1]
    argv = [*STALL]
    argv[argv.index("HCCL_CONNECT_TIMEOUT=600")] = "HCCL_CONNECT_TIMEOUT=25"
    rc, out, err = await _run(*launch_args(sim, tmp_path, *argv))
    assert rc == 1, err
    events = _events(out)
    kinds = [e["event"] for e in events]
    stall = events[kinds.index("stall")]
    assert stall["server_id"] == b and stall["teardown"] is False
    during = next(i for i, e in enumerate(events) if e["event"] == "diagnosis" and e.get("during") == "stall")
    first_exit = kinds.index("exited")
    assert kinds.index("stall") < during < first_exit  # diagnosed before any rank ended
    diag = events[during]
    assert diag["causes"][diag["first"]["index"]]["cause"] == "stalled_peer"
    # then HCCL's own timeout on server 1's ranks, naming the silent ranks, and the final diagnosis
    assert any(e["event"] == "line" and "EI0006" in e["text"] for e in events[during:])
    teardown = events[kinds.index("teardown")]
    assert teardown["root_cause"]["kind"] == "failure" and teardown["root_cause"]["rank"] in (0, 1)
    assert [e["event"] for e in events[-2:]] == ["diagnosis", "finished"] and "during" not in events[-2]
    final = events[-2]
    assert final["causes"][final["first"]["index"]]["cause"] == "stalled_peer"
    assert any(lk["kind"] == "missing_peer" and lk["dst_host"] == b for lk in final["links"])
    assert "launch: stall: " in err and "diagnosing now; the job goes on" in err
