"""``--separate-pids``: every simulated server its own process table, as separate machines
have (a PID namespace per server, entered by every session of that server)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from console.core.errors import InputError
from console.sim.cluster import SimCluster
from console.sim.pidns import ProcessTable
from console.sim.spec import ClusterSpec
from tests.system import need


def _need_namespaces() -> None:
    need(
        os.geteuid() == 0 and bool(shutil.which("unshare")) and bool(shutil.which("nsenter")),
        "root and util-linux's unshare/nsenter (PID namespaces)",
    )


def _alive_with(cmdline: str) -> list[int]:
    """PIDs (this machine's) of processes whose command line is exactly ``cmdline``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            if text == cmdline:
                found.append(int(entry.name))
    return found


async def test_a_server_sees_its_own_processes_only_and_they_end_with_the_sim(tmp_path, sim_connect):
    _need_namespaces()
    marker = f"sleep {3000 + os.getpid() % 1000}"
    sim = SimCluster(ClusterSpec.generate(servers=2), tmp_path / "sim", port=0, separate_pids=True)
    await sim.start()
    try:
        a, b = sim.hosts
        async with sim_connect(sim, a) as conn:
            # left running on server a: its own session, out of the SSH session's process group
            started = await conn.run(f"setsid {marker} >/dev/null 2>&1 & echo $!", check=True)
            inside_pid = int(str(started.stdout).strip())
            seen = await conn.run(f"tr '\\0' ' ' < /proc/{inside_pid}/cmdline", check=True)
            assert str(seen.stdout).strip() == marker
            count = await conn.run("ls -d /proc/[0-9]* | wc -l", check=True)
        async with sim_connect(sim, b) as conn:
            every = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done 2>/dev/null"
            other = await conn.run(f"{every} | grep -cx '{marker} ' || true")
        assert str(other.stdout).strip() == "0", "server b sees server a's process"
        # a handful: the namespace's init, its sleep, this session's shell and ls...
        assert int(str(count.stdout)) < 12, count.stdout
        assert len(_alive_with(marker)) == 1  # the machine itself sees it
    finally:
        await sim.stop()
    assert _alive_with(marker) == []  # the namespace ended with the sim: so did what it held


async def test_exit_status_and_signal_come_through(tmp_path, sim_connect):
    _need_namespaces()
    sim = SimCluster(ClusterSpec.default(), tmp_path / "sim", port=0, separate_pids=True)
    await sim.start()
    try:
        async with sim_connect(sim, sim.hosts[0]) as conn:
            code = await conn.run("exit 3")
            killed = await conn.run("kill -TERM $$; sleep 5")
            home = await conn.run('test "$(pwd)" = "$HOME" && echo same', check=True)
    finally:
        await sim.stop()
    assert code.exit_status == 3
    assert killed.exit_signal is not None and killed.exit_signal[0] == "TERM", killed
    assert str(home.stdout).strip() == "same"  # the session starts in the home, as without


def test_without_unshare_it_says_so(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(OSError, match="unshare and nsenter"):
        ProcessTable.start("/")


async def test_a_server_that_cannot_have_one_is_an_input_error_naming_it(tmp_path, monkeypatch):
    def refuse(home, preexec=None, group=None):
        raise OSError("cannot start a PID namespace: unshare: unshare failed: Operation not permitted")

    monkeypatch.setattr(ProcessTable, "start", staticmethod(refuse))
    sim = SimCluster(ClusterSpec.default(), tmp_path / "sim", port=0, separate_pids=True)
    with pytest.raises(InputError) as err:
        await sim.start()
    assert err.value.host == sim.hosts[0]
    assert "Operation not permitted" in str(err.value)


def test_starts_when_the_sim_has_more_than_1024_files_open():
    """A sim of 1,024 servers listens on 1,024 sockets: the namespace's pipes get descriptors
    past select()'s limit (it failed with "filedescriptor out of range in select()")."""
    _need_namespaces()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need(hard >= 1200 or hard == resource.RLIM_INFINITY, "a file limit of at least 1,200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        table = ProcessTable.start("/")
        table.stop()
        assert table.holder.returncode is not None
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_sim_killed_outright_leaves_no_namespace_behind(tmp_path):
    """``cluster-console sim --separate-pids`` killed with SIGKILL (as a bench's stop does after
    its grace): every server's namespace, and what runs in it, ends with it."""
    _need_namespaces()
    import asyncio
    import json
    import signal
    import sys

    from tests.ops.procs import wait_gone

    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "console", "sim", "--servers", "2", "--base-address", "127.0.0.61"],
        *["--dir", str(tmp_path / "c"), "--port", "0", "--json", "--separate-pids"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        text = b""
        while not text.rstrip().endswith(b"}"):
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, (await proc.stderr.read()).decode()
            text += line
        json.loads(text)
        holders = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        inits = [int(c) for h in holders for c in Path(f"/proc/{h}/task/{h}/children").read_text().split()]
        assert len(holders) == 2 and len(inits) == 2, (holders, inits)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    for pid in holders + inits:
        await wait_gone(pid, timeout=20)
