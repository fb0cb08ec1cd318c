"""``cluster-console launch`` itself, as a subprocess, against the simulated 2 x 8 cluster.

Output format, summary, exit codes, root cause on stderr, ``--json``, readiness pattern,
SIGTERM to the console; leftover processes are checked with ``ps`` (``none_left``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from console.core.ranktable.text import dumps
from tests.ops.procs import read_pgids
from tests.ops.test_launch_sim import free_port, none_left, sim_table


def launch_args(sim, tmp_path: Path, *extra: str) -> list[str]:
    rt = tmp_path / "rt.json"
    rt.write_text(dumps(sim_table(sim)))
    return [
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "launch",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(free_port()),
        *extra,
    ]


async def cli(sim, tmp_path: Path, *extra: str, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *launch_args(sim, tmp_path, *extra), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_lines_are_prefixed_and_summary_says_ok(sim_cluster, tmp_path) -> None:
    rc, out, err = await cli(
        sim_cluster, tmp_path, "--", "bash", "-c", 'echo "hello $RANK of $WORLD_SIZE"; echo "err $LOCAL_RANK" >&2'
    )
    assert rc == 0, err
    assert sorted(out.splitlines()) == sorted(f"[{r}] hello {r} of 16" for r in range(16))
    for r in range(16):
        assert f"[{r}] err {r % 8}\n" in err
    assert "launch: all 16 ranks exited 0" in err and "run record" in err


async def test_failing_rank_exit_1_and_root_cause_on_stderr(sim_cluster, tmp_path) -> None:
    script = (
        'if [ "$RANK" = 5 ]; then for i in $(seq 1 30); do echo "line $i"; done; '
        'echo "bad input" >&2; exit 3; fi; exec sleep 120'
    )
    rc, out, err = await cli(sim_cluster, tmp_path, "--grace", "2", "--", "bash", "-c", script)
    assert rc == 1
    host = sim_cluster.hosts[0]
    assert f"launch: root cause: rank 5 on {host}: exited with code 3" in err
    tail = err.split("last 20 lines of rank 5:\n", 1)[1].splitlines()[:20]
    assert tail[-1] == "  [5] bad input" and tail[0] == "  [5] line 12"
    assert "[5] line 30" in out and "FAILED: rank 5 failed (exit 3); 15 ranks torn down" in err


async def test_json_lines_end_with_the_summary(sim_cluster, tmp_path) -> None:
    # rank 9 fails only once every rank has printed its line (each touches a file after
    # echoing), so the teardown it causes cannot cut another rank short of its line
    seen = tmp_path / "printed"
    seen.mkdir()
    script = (
        f'echo "r=$RANK"; touch {seen}/$RANK; [ "$RANK" != 9 ] && exit 0; '
        f"for i in $(seq 1200); do [ $(ls {seen} | wc -l) -ge 16 ] && exit 4; "
        "sleep 0.05; done; exit 5"
    )
    rc, out, err = await cli(sim_cluster, tmp_path, "--json", "--", "bash", "-c", script)
    assert rc == 1, err
    events = [json.loads(line) for line in out.splitlines()]
    kinds = {e["event"] for e in events}
    assert {"stage", "started", "line", "exited", "teardown", "finished"} <= kinds
    lines = sorted((e["rank"], e["text"]) for e in events if e["event"] == "line")
    assert lines == [(r, f"r={r}") for r in range(16)]
    assert all(e["stream"] == "o" and e["partial"] is False for e in events if e["event"] == "line")
    last = events[-1]
    assert last["event"] == "finished" and not last["summary"]["ok"]
    assert last["summary"]["exit_codes"]["9"] == 4
    root = last["summary"]["root_cause"]
    assert (root["rank"], root["exit_code"], root["server_id"]) == (9, 4, sim_cluster.hosts[1])
    assert "rank 9" in root["description"] and "root cause: rank 9" in err


async def test_rank_missing_ready_pattern_is_torn_down(sim_cluster, tmp_path) -> None:
    script = 'if [ "$RANK" != 13 ]; then echo "model READY"; fi; echo "loading"; exec sleep 120'
    rc, _out, err = await cli(
        sim_cluster,
        tmp_path,
        "--ready-pattern",
        r"READY$",
        "--ready-timeout",
        "3",
        "--grace",
        "1",
        "--",
        "bash",
        "-c",
        script,
    )
    assert rc == 1
    assert f"root cause: rank 13 on {sim_cluster.hosts[1]}: did not print /READY$/ within 3 s" in err
    assert "  [13] loading" in err
    run = next((tmp_path / "runs").iterdir())
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    ready = sorted(e["rank"] for e in events if e["event"] == "rank_ready")
    assert ready == [r for r in range(16) if r != 13]


async def test_sigterm_to_the_console_stops_every_rank(sim_cluster, tmp_path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *launch_args(sim_cluster, tmp_path, "--", "bash", "-c", "echo pgid $$; exec sleep 120"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        pgids = await read_pgids(proc, 16)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err.decode()
    err = err.decode()
    assert "launch: interrupted (SIGTERM): 16 of 16 ranks reported an exit, 16 not 0" in err
    for rank, _pgid in enumerate(pgids):  # every rank's exit code and last lines are printed
        assert f"launch: rank {rank} on {sim_cluster.hosts[rank // 8]}: exit 143 (signal 15)" in err
    assert await none_left(pgids) == []
    run = next((tmp_path / "runs").iterdir())
    events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert "teardown" in events and events.count("exit") == 16 and events[-1] == "finished"
