"""What one SSH session costs the simulator, counted: descriptors held while it runs (a sweep
of 1,024 servers keeps 8,192 probe lanes open in one sim process under a 20,000-file hard
limit) and /proc walks when sessions end."""

from __future__ import annotations

import asyncio
import os

from console.remote import Pool, SSHOptions
from console.sim.cluster import SimCluster
from tests.ops.procs import alive, wait_gone

SESSIONS = 8


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_running_session_holds_two_descriptors_in_the_sim(sim_factory) -> None:
    """stdin and stdout are one socket pair (as OpenSSH's sshd does it), stderr a pipe: two
    descriptors on the sim's side per session, not three pipes."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    host = sim.hosts[0]
    async with Pool(SSHOptions(ssh_config=sim.ssh_config_path, command_timeout=20)) as pool:
        await pool.connect(host)
        before = open_fds()
        procs = [await pool.open_process(host, "cat") for _ in range(SESSIONS)]
        for i, proc in enumerate(procs):  # every session is running and answering
            proc.write(f"line {i}\n")
            await proc.drain()
            assert await asyncio.wait_for(anext(aiter(proc)), 20) == f"line {i}"
        held = open_fds() - before  # the sim runs in this process: its side and ours
        for proc in procs:
            proc.write_eof()  # EOF reaches the command through the socket pair
            assert await proc.wait(20) == 0
            await proc.close()
    assert held <= 2 * SESSIONS, held


async def test_stdin_and_stdout_are_a_socket_and_stderr_is_separate(sim_cluster, sim_connect) -> None:
    async with sim_connect(sim_cluster, sim_cluster.hosts[0]) as conn:
        command = '[ -S /dev/stdin ] && [ -S /dev/stdout ] && echo sockets; echo err >&2; read x; echo "$x"'
        res = await conn.run(command, input="typed\n")
        assert (res.stdout, res.stderr, res.exit_status) == ("sockets\ntyped\n", "err\n", 0)


async def test_sessions_cut_off_end_without_walking_proc(sim_factory, sim_connect, monkeypatch) -> None:
    """A connection dropped while its commands run: every group is killed; the sim sees the
    groups are empty from their reaped leaders, not by reading every process's stat."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    walks = 0
    real_scandir = os.scandir

    def counting_scandir(path: str = ".") -> object:
        nonlocal walks
        walks += str(path) == "/proc"
        return real_scandir(path)

    async with sim_connect(sim, sim.hosts[0]) as conn:
        procs = [await conn.create_process("echo $$; exec sleep 300") for _ in range(SESSIONS)]
        pids = [int(await asyncio.wait_for(p.stdout.readline(), 20)) for p in procs]
        assert all(alive(pid) for pid in pids)
        monkeypatch.setattr(os, "scandir", counting_scandir)
        conn.abort()
    for pid in pids:  # the sim TERMs each group as its channel closes (the old code walked /proc then)
        await wait_gone(pid)
    assert walks == 0, walks
