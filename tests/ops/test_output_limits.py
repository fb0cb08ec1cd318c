"""Memory stays bounded whatever a server prints (simulated cluster over real SSH).

``Pool.run`` keeps at most ``SSHOptions.output_limit`` characters and then ends the command
with ``OutputTooLarge`` (exit 3) naming host and command; every line reader cuts a line
longer than its limit with a marker. The 200 MB cases run the console side in a process of
its own (``tests.memory``) and assert on its peak resident set, not on time.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from console.core.errors import OutputTooLarge
from console.core.lines import DEFAULT_LINE_LIMIT
from console.ops.pinglane import Lane
from console.remote import Pool, SSHOptions, StreamExit
from tests.ops.test_launch_cli import launch_args

ROOT = Path(__file__).resolve().parents[2]
BIG = "head -c 200000000 /dev/zero | tr '\\0' x"  # 200 MB without a newline
LIMIT_MB = 300


def options(sim, **kw) -> SSHOptions:
    return SSHOptions(**{"ssh_config": sim.ssh_config_path, "connect_timeout": 10, "command_timeout": 120, **kw})


async def measure(*args: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.memory",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


@pytest.mark.timeout(300)
async def test_200mb_without_newline_is_output_too_large_and_memory_stays_low(sim_cluster):
    host = sim_cluster.hosts[0]
    opts = {"ssh_config": str(sim_cluster.ssh_config_path), "command_timeout": 120}
    got = await measure("run", json.dumps(opts), host, BIG)
    assert got.get("type") == "OutputTooLarge", got
    assert got["error"] == "output too large" and got["exit_code"] == 3
    assert got["host"] == host and got["command"] == BIG
    assert got["hwm_mb"] < LIMIT_MB, got


async def test_output_limit_ends_the_command_and_the_pool_goes_on(sim_cluster):
    host = sim_cluster.hosts[0]
    async with Pool(options(sim_cluster, output_limit=64 * 1024)) as pool:
        with pytest.raises(OutputTooLarge) as info:
            await pool.run(host, "seq 1 1000000")
        assert info.value.host == host and info.value.command == "seq 1 1000000"
        assert "65536 characters" in str(info.value)
        small = await pool.run(host, "seq 1 1000")  # under the limit: whole
        assert small.stdout == "".join(f"{i}\n" for i in range(1, 1001))


async def test_stream_cuts_an_over_long_line_with_a_marker(sim_cluster):
    host = sim_cluster.hosts[0]
    command = "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo after"
    async with Pool(options(sim_cluster)) as pool:
        events = [ev async for ev in pool.stream(host, command)]
    first, second, end = events
    assert first.text.startswith("x" * DEFAULT_LINE_LIMIT)
    dropped = 3000000 - DEFAULT_LINE_LIMIT
    assert first.text[DEFAULT_LINE_LIMIT:] == f" [cluster-console: line too long, {dropped} more characters dropped]"
    assert second.text == "after" and end == StreamExit(0)


async def test_ping_lane_keeps_at_most_the_output_limit(sim_cluster):
    host = sim_cluster.hosts[0]
    async with Pool(options(sim_cluster, output_limit=4096)) as pool:
        lane = await Lane.open(pool, host, timeout=30)
        try:
            out = await lane.run("seq 1 100000", 60)
            assert out.exit_status == 0
            lines = out.output.splitlines()
            assert len(out.output) <= 4096 + 100
            assert lines[:3] == ["1", "2", "3"]
            assert lines[-1].startswith("[cluster-console: output too large,")
            again = await lane.run("echo ok", 30)  # the lane is still in step
            assert again.output.strip() == "ok" and again.exit_status == 0
        finally:
            await lane.close()


@pytest.mark.timeout(300)
async def test_rank_printing_200mb_without_newline_leaves_the_console_small(sim_cluster, tmp_path):
    script = f'if [ "$RANK" = 0 ]; then {BIG}; fi; echo done'
    argv = launch_args(sim_cluster, tmp_path, "--log-cap", "1M", "--", "bash", "-c", script)
    got = await measure("exec", *argv)
    assert got["rc"] == 0, got["stderr"]
    assert got["maxrss_mb"] < LIMIT_MB, got
    (run,) = (tmp_path / "runs").iterdir()
    log = (run / "rank-0.log").read_bytes()
    assert log.startswith(b"x" * 1000) and b"log truncated" in log
