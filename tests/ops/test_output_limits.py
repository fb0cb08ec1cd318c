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
from console.remote import OutputBudget, Pool, SSHOptions, StreamExit
from tests.ops.test_launch_cli import launch_args
from tests.ops.test_ping_sweep import until

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
        assert "more than 65536 bytes" in str(info.value)
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


SIZE = 200 * 1024
BUDGET = 512 * 1024


async def budget_run(pool: Pool, servers: list[str], flag: Path) -> None:
    """8 commands on ``servers`` each print 200 KiB (under the 256 KiB per-command cap) and
    hold it until every one has either all of it or was ended: 1.6 MB in all against a 512 KiB
    budget. The console never holds more than the budget; a command ended names its host, the
    budget and its share; the others get their whole output."""
    assert pool.options.output_budget == BUDGET
    command = (
        f"head -c {SIZE} /dev/zero | tr '\\0' x; "
        f"n=0; while [ ! -e {flag} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done"
    )
    budget = pool.output_budget
    hosts = [servers[i % len(servers)] for i in range(8)]
    runs = [asyncio.create_task(pool.run(host, command)) for host in hosts]
    await until(lambda: sum(s.held == SIZE for s in budget.shares) + budget.ended == len(runs), 60)
    flag.touch()
    results = await asyncio.gather(*runs, return_exceptions=True)
    assert budget.peak <= BUDGET and budget.used == 0 and not budget.shares
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [(host, r) for host, r in zip(hosts, results, strict=True) if isinstance(r, BaseException)]
    assert 1 <= len(ok) <= BUDGET // SIZE and len(failed) == 8 - len(ok) == budget.ended, results
    assert all(r.ok and r.stdout == "x" * SIZE for r in ok)
    for host, err in failed:
        assert isinstance(err, OutputTooLarge) and err.host == host and err.command == command, err
        assert f"the console's output budget ({BUDGET} bytes for all commands at once) was used up" in err.detail
        assert "more than its fair share of" in err.detail and err.detail.endswith("the command was ended")
        assert "--output-budget MIB" in (err.hint or "")  # what the operator can change


async def test_many_servers_printing_at_once_stay_within_the_pools_byte_budget(sim_cluster, tmp_path):
    async with Pool(options(sim_cluster, output_limit=256 * 1024, output_budget=BUDGET)) as pool:
        await budget_run(pool, sim_cluster.hosts[:2], tmp_path / "release")


async def test_a_streams_unread_lines_count_in_the_budget_and_a_reader_that_stops_is_ended(sim_cluster):
    """Lines ``Pool.stream`` has read but its reader has not taken yet are output the console
    holds: they count in the pool's budget. A reader that stops after the first line while the
    server prints 100 lines of 32 KiB fills the stream's queue past a 512 KiB budget: the
    command is ended and the next read says why. Lines the reader took do not count: 1 MB read
    promptly in 4 KiB lines (a full queue holds 256 KiB) comes whole."""
    host = sim_cluster.hosts[0]
    command = "for i in $(seq 100); do head -c 32767 /dev/zero | tr '\\0' x; echo; done"
    async with Pool(options(sim_cluster, output_limit=256 * 1024, output_budget=BUDGET)) as pool:
        budget = pool.output_budget
        stream = pool.stream(host, command)
        try:
            first = await anext(stream)
            assert getattr(first, "text", None) == "x" * 32767
            await until(lambda: budget.ended == 1, 60)  # the reader takes nothing meanwhile
            assert budget.peak <= BUDGET and budget.used == 0
            with pytest.raises(OutputTooLarge) as info:
                async for _ in stream:
                    pass
        finally:
            await stream.aclose()
        err = info.value
        assert err.host == host and err.command == command and "--output-budget MIB" in (err.hint or "")
        assert f"the console's output budget ({BUDGET} bytes for all commands at once) was used up" in err.detail
        assert budget.used == 0 and not budget.shares
        small = "for i in $(seq 256); do head -c 4095 /dev/zero | tr '\\0' y; echo; done"
        items = [item async for item in pool.stream(host, small)]
        assert [getattr(i, "text", None) for i in items[:-1]] == ["y" * 4095] * 256
        assert items[-1] == StreamExit(0) and budget.ended == 1 and budget.used == 0 and not budget.shares


async def test_output_is_counted_in_bytes_not_characters(sim_cluster):
    """40,000 two-byte characters are 80,000 bytes: over a 64 KiB cap (characters: under)."""
    host = sim_cluster.hosts[0]
    command = "python3 -c \"import sys; sys.stdout.buffer.write('é'.encode() * 40000)\""
    async with Pool(options(sim_cluster, output_limit=64 * 1024)) as pool:
        with pytest.raises(OutputTooLarge) as info:
            await pool.run(host, command)
        assert "more than 65536 bytes on stdout and stderr" in info.value.detail and info.value.host == host
        assert "--output-limit MIB" in (info.value.hint or "")
        under = await pool.run(host, command.replace("40000", "30000"))  # 60,000 bytes: whole
    assert under.stdout == "é" * 30000


def test_the_budget_ends_the_biggest_holder_and_never_passes_its_total():
    budget = OutputBudget(1000)
    told: list[str] = []
    small, big = budget.open(lambda: told.append("small")), budget.open(lambda: told.append("big"))
    assert small.take(100) and big.take(800)
    assert small.take(150)  # 1,050 > 1,000: the biggest holder (not the taker) is ended
    assert told == ["big"] and big.ended and big.held == 0 and not big.take(1)
    assert (budget.used, budget.peak, budget.ended) == (250, 900, 1)
    third = budget.open()
    assert third.take(700) and small.take(100)  # small would hold 350, third holds 700: third ends
    assert third.ended is not None and "700 bytes, more than its fair share of 500 bytes (2 running)" in third.ended
    assert (budget.used, budget.peak, told) == (350, 950, ["big"])
    assert not small.take(700)  # 1,050 alone: the taker holds the most, so it is the one ended
    assert small.ended is not None and "1050 bytes, more than its fair share of 1000 bytes" in small.ended
    assert told == ["big", "small"] and budget.used == 0 and budget.peak <= 1000 and budget.ended == 3
    small.release()
    assert budget.used == 0 and not budget.shares


class _Reader:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0)
        return self.chunks.pop(0) if self.chunks else b""


class _Proc:
    """Both streams end at once; ``wait_closed`` waits until the test lets it go."""

    def __init__(self) -> None:
        self.stdout, self.stderr = _Reader(b"x" * 600), _Reader()
        self.closing, self.gate = asyncio.Event(), asyncio.Event()

    async def wait_closed(self) -> None:
        self.closing.set()
        await self.gate.wait()


async def test_output_read_in_full_is_not_lost_to_a_take_while_the_channel_closes():
    """Output complete (both streams at EOF) while the channel is still closing: another
    command's take can no longer end this one and leave ``Pool.run`` with empty output."""
    from console.remote.collect import collect

    budget = OutputBudget(1000)
    proc = _Proc()
    share = budget.open()
    task = asyncio.create_task(collect(proc, 10**6, share))  # type: ignore[arg-type]
    await asyncio.wait_for(proc.closing.wait(), 10)
    other = budget.open()
    assert other.take(500)  # 1,100 > 1,000, but the finished command's bytes are no longer in play
    proc.gate.set()
    out, err = await task
    assert (out, err, share.ended) == (b"x" * 600, b"", None)
    share.release()
    other.release()
    assert budget.used == 0 and not budget.shares


def test_the_cli_sets_the_output_limit_and_budget_in_mib():
    from console.cli import build_parser
    from console.core.errors import InputError

    args = build_parser().parse_args(["--output-limit", "32", "--output-budget", "1024", "discover", "h1"])
    options = SSHOptions.from_args(args)
    assert (options.output_limit, options.output_budget) == (32 << 20, 1 << 30)
    assert SSHOptions.from_args(build_parser().parse_args(["discover", "h1"])).output_budget == 256 << 20
    too_small = ["--output-limit", "64", "--output-budget", "32", "discover", "h1"]
    with pytest.raises(InputError) as info:
        SSHOptions.from_args(build_parser().parse_args(too_small))
    assert "--output-budget" in info.value.detail and "--output-limit" in info.value.detail
