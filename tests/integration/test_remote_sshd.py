"""console.remote against real OpenSSH sshd daemons on loopback (see conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess

import pytest

from console.core.errors import RemoteError
from console.remote import Pool, StreamExit, StreamLine, quote_cmd

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]


def target(inst) -> str:
    return f"{inst.host}:{inst.port}"


async def until(predicate, timeout: float = 10.0, what: str = "condition"):
    """Await a condition with a deadline (no bare sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def user_procs(pattern: str) -> list[str]:
    """The test user's processes whose command line contains ``pattern`` (server side)."""
    out = subprocess.run(["ps", "-u", "ccssh", "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if pattern in line]


async def test_run_collects_output_and_exit_status(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        ok = await pool.run(target(sshd), "echo out; echo err >&2; id -un; echo $CC_SSHD_HOST")
        bad = await pool.run(target(sshd), quote_cmd("sh", "-c", "echo 'it''s'; exit 7"))
    assert ok.exit_status == 0 and ok.ok
    assert ok.stdout.splitlines() == ["out", "ccssh", sshd.host]
    assert ok.stderr == "err\n"
    assert ok.host == target(sshd) and ok.duration_s > 0
    assert bad.exit_status == 7 and not bad.ok and bad.stdout == "its\n"


async def test_bed_puts_fake_tools_and_env_per_instance(sshd_factory, ssh_client, ssh_shared_dir):
    extra = ssh_shared_dir / "tools"
    extra.mkdir(mode=0o755)
    (extra / "npu-smi").write_text("#!/bin/sh\necho fake npu-smi $CARD_COUNT\n")
    (extra / "npu-smi").chmod(0o755)
    inst = sshd_factory("127.0.0.23", set_env={"CARD_COUNT": "8"}, path_prefix=[str(extra)])
    (inst.bin_dir / "hccn_tool").write_text('#!/bin/sh\necho fake hccn_tool "$@"\n')
    (inst.bin_dir / "hccn_tool").chmod(0o755)
    async with Pool(ssh_client.options()) as pool:
        smi = await pool.run(target(inst), "npu-smi info")
        hccn = await pool.run(target(inst), quote_cmd("hccn_tool", "-i", 3, "-ip", "-g"))
    assert smi.stdout == "fake npu-smi 8\n"
    assert hccn.stdout == "fake hccn_tool -i 3 -ip -g\n"


async def test_run_feeds_input_and_closes_stdin(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        fed = await pool.run(target(sshd), "tr a-z A-Z", input="hello\nworld\n")
        empty = await pool.run(target(sshd), "cat; echo end")  # must not hang on stdin
    assert fed.stdout == "HELLO\nWORLD\n"
    assert empty.stdout == "end\n"


async def test_quote_cmd_survives_the_remote_shell(sshd, ssh_client):
    nasty = ["a b", "$(id)", "'q'", '"dq"', "semi;colon", "*", "", "back\\slash"]
    async with Pool(ssh_client.options()) as pool:
        r = await pool.run(target(sshd), quote_cmd("printf", r"[%s]\n", *nasty))
    assert r.stdout.splitlines() == [f"[{a}]" for a in nasty]


async def test_stream_yields_lines_then_exit(sshd, ssh_client):
    events = []
    async with Pool(ssh_client.options()) as pool:
        async for ev in pool.stream(target(sshd), "for i in 1 2 3; do echo o$i; done; echo e1 >&2; exit 3"):
            events.append(ev)
    assert events[-1] == StreamExit(3)
    lines = events[:-1]
    assert [e.text for e in lines if e.stream == "stdout"] == ["o1", "o2", "o3"]
    assert [e for e in lines if e.stream == "stderr"] == [StreamLine("stderr", "e1")]


async def test_open_process_round_trip(sshd, ssh_client):
    async with (
        Pool(ssh_client.options()) as pool,
        await pool.open_process(target(sshd), "while read l; do echo got:$l; done; echo bye >&2; exit 5") as proc,
    ):
        lines = aiter(proc)
        for word in ("alpha", "beta"):
            proc.write(word + "\n")
            assert await asyncio.wait_for(anext(lines), 10) == f"got:{word}"
        proc.write_eof()
        assert [line async for line in proc.stderr] == ["bye"]
        assert await proc.wait(timeout=10) == 5


async def test_open_process_close_is_eof_then_term_then_kill(sshd, ssh_client):
    marker = "sleep 1041.5"
    work = sshd.work_dir
    async with Pool(ssh_client.options()) as pool:
        # 1. stdin EOF is enough: the command's own cleanup runs (no signal needed).
        proc = await pool.open_process(target(sshd), f"trap 'echo eof > {work}/eof' EXIT; cat > /dev/null")
        await proc.close(grace=10)
        assert (work / "eof").read_text() == "eof\n"
        # 2. deaf to EOF but handles TERM.
        proc = await pool.open_process(target(sshd), f"trap 'echo term > {work}/term; exit 0' TERM; {marker} & wait")
        await until(lambda: user_procs(marker), what="remote sleep to start")
        await proc.close(grace=0.3)
        assert (work / "term").read_text() == "term\n"
        # 3. deaf to EOF and TERM: killed.
        proc = await pool.open_process(target(sshd), f"trap '' TERM; {marker}")
        await until(lambda: user_procs(marker), what="remote sleep to start")
        await proc.close(grace=0.3)
        await until(lambda: not user_procs(marker), what="remote sleep to be killed")


async def test_open_process_unread_stderr_never_stalls_stdout(sshd, ssh_client):
    flood = "head -c 6000000 /dev/zero | tr '\\0' x | fold -w 100 >&2; echo done"
    async with Pool(ssh_client.options()) as pool, await pool.open_process(target(sshd), flood) as proc:
        proc.write_eof()

        async def stdout() -> list[str]:
            return [line async for line in proc]

        assert await asyncio.wait_for(stdout(), 20) == ["done"]
        assert await proc.wait(timeout=20) == 0


async def test_command_timeout_kills_remote_process_group(sshd, ssh_client):
    marker = "sleep 1037.5"
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(target(sshd), f"{marker}; echo not-reached", timeout=0.5)
        assert "timed out" in err.value.title and err.value.host == target(sshd)
        assert err.value.command == f"{marker}; echo not-reached"
        # The shell and its child sleep are both gone (sshd kills the process group).
        await until(lambda: not user_procs(marker), what="remote process to be killed")
        assert (await pool.run(target(sshd), "echo still-usable")).stdout == "still-usable\n"


async def test_stream_timeout_kills_and_raises(sshd, ssh_client):
    marker = "sleep 1039.5"
    got = []
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError, match="timed out"):
            async for ev in pool.stream(target(sshd), f"echo first; {marker}", timeout=0.5):
                got.append(ev)
        await until(lambda: not user_procs(marker), what="remote process to be killed")
    assert got == [StreamLine("stdout", "first")]


async def test_closing_a_stream_early_kills_the_command(sshd, ssh_client):
    marker = "sleep 1043.5"
    async with Pool(ssh_client.options(max_channels=1)) as pool:
        async with contextlib.aclosing(pool.stream(target(sshd), f"echo a; {marker}")) as events:
            async for ev in events:
                assert ev == StreamLine("stdout", "a")
                break
        await until(lambda: not user_procs(marker), what="remote process to be killed")
        # and its channel slot is free again (max_channels=1)
        assert (await asyncio.wait_for(pool.run(target(sshd), "echo b"), 10)).stdout == "b\n"


async def test_put_file_is_atomic_with_mode(sshd, ssh_client):
    dest = sshd.work_dir / "rank_table.json"
    async with Pool(ssh_client.options()) as pool:
        await pool.put_file(target(sshd), b'{"v": 1}\n', str(dest))
        await pool.put_file(target(sshd), b'{"v": 2}\n', str(dest), mode=0o600)
        mode_after_second = dest.stat().st_mode & 0o777
        ls = await pool.run(target(sshd), quote_cmd("ls", "-A", str(sshd.work_dir)))
    assert dest.read_bytes() == b'{"v": 2}\n'
    assert mode_after_second == 0o600
    assert dest.stat().st_uid != 0  # written by the test user over SFTP
    assert ls.stdout.split() == ["rank_table.json"]  # no temp file left behind


async def test_put_file_default_mode_0640(sshd, ssh_client):
    dest = sshd.work_dir / "a.txt"
    async with Pool(ssh_client.options()) as pool:
        await pool.put_file(target(sshd), b"x", str(dest))
    assert dest.stat().st_mode & 0o777 == 0o640


async def test_put_file_into_missing_folder_is_remote_error(sshd, ssh_client):
    dest = str(sshd.work_dir / "nope" / "f.txt")
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.put_file(target(sshd), b"x", dest)
    assert err.value.host == target(sshd) and err.value.path == dest


async def test_put_file_refuses_a_folder_and_symlink_another_user_planted(sshd, ssh_client):
    """ccother prepares a 0777 folder with a symlink at the destination name; the test user's
    upload neither follows nor replaces it: refused, naming host, path and why."""
    import tempfile
    from pathlib import Path

    from console.core.errors import CheckFailed
    from tests.integration.conftest import _ensure_user

    other = _ensure_user("ccother")
    folder = Path(tempfile.mkdtemp(prefix="cc-put-", dir="/tmp"))
    try:
        os.chown(folder, other.pw_uid, other.pw_gid)
        plant = f"chmod 0777 {folder} && ln -s /etc/hostname {folder}/rt.json"
        subprocess.run(
            ["runuser", "-u", "ccother", "--", "sh", "-c", plant],
            check=True,
            capture_output=True,
        )
        async with Pool(ssh_client.options()) as pool:
            with pytest.raises(CheckFailed) as info:
                await pool.put_file(target(sshd), b"{}", str(folder / "rt.json"))
        err = info.value
        assert err.host == target(sshd) and err.path == str(folder / "rt.json")
        assert err.detail.startswith(f"{folder}: is owned by uid {other.pw_uid}"), err.detail
        assert os.readlink(folder / "rt.json") == "/etc/hostname" and os.listdir(folder) == ["rt.json"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_peer_address(sshd, sshd2, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        assert await pool.peer_address(target(sshd)) == "127.0.0.21"
        assert await pool.peer_address(target(sshd2)) == "127.0.0.22"


async def test_one_connection_reused_for_many_commands(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        results = await asyncio.gather(*(pool.run(target(sshd), f"echo {i}") for i in range(20)))
        results += [await pool.run(target(sshd), "echo again")]
        await pool.put_file(target(sshd), b"x", str(sshd.work_dir / "f"))
    assert [r.stdout for r in results[:20]] == [f"{i}\n" for i in range(20)]
    assert sshd.accepted_logins() == 1, sshd.log()


async def test_channel_limit_respected(sshd_factory, ssh_client):
    inst = sshd_factory("127.0.0.23")
    d = quote_cmd(str(inst.work_dir / "running"))
    # Each command marks itself running on the server, counts the marks, holds its channel
    # a moment (workload, not a wait), unmarks. Marks <= open channels at every instant.
    script = f"mkdir -p {d}; touch {d}/$$; ls {d} | wc -l; sleep 0.2; rm {d}/$$"
    async with Pool(ssh_client.options(max_channels=3)) as pool:
        results = await asyncio.gather(*(pool.run(target(inst), script) for _ in range(12)))
    seen = [int(r.stdout) for r in results]
    assert max(seen) <= 3 and all(r.exit_status == 0 for r in results)
    assert inst.accepted_logins() == 1


async def test_channel_slots_block_until_released(sshd_factory, ssh_client):
    # sshd allows 2 sessions per connection; the pool queues (and retries while sshd
    # catches up freeing closed sessions) instead of failing.
    inst = sshd_factory("127.0.0.23", extra_config=["MaxSessions 2"])
    async with Pool(ssh_client.options(max_channels=2)) as pool:
        results = await asyncio.gather(*(pool.run(target(inst), f"echo {i}") for i in range(12)))
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(12)]
        held = [await pool.open_process(target(inst), "cat") for _ in range(2)]
        third = asyncio.create_task(pool.open_process(target(inst), "cat"))
        done, _ = await asyncio.wait([third], timeout=0.5)
        assert not done, "a third channel opened while two were held"
        await held[0].close()
        held.append(await asyncio.wait_for(third, 10))
        for proc in held[1:]:
            await proc.close()
    assert inst.accepted_logins() == 1


async def test_channel_limit_test_can_fail(sshd_factory, ssh_client):
    """Counter-check: above the server's MaxSessions, sshd really refuses channels."""
    inst = sshd_factory("127.0.0.23", extra_config=["MaxSessions 2"])
    async with Pool(ssh_client.options(max_channels=3)) as pool:
        held = [await pool.open_process(target(inst), "cat") for _ in range(2)]
        with pytest.raises(RemoteError, match="refused a new channel") as err:
            await pool.open_process(target(inst), "cat")
        assert err.value.host == target(inst)
        for proc in held:
            await proc.close()


DROPPED = "past MaxStartups"


@pytest.mark.parametrize("limit", [1, 6])
async def test_handshake_limit(sshd_factory, ssh_client, limit):
    """sshd with MaxStartups 2 drops (and logs) connections beyond two unauthenticated
    ones. With max_handshakes=1 it never has to; with 6 it does, and the pool's retry of a
    dropped connect still gets all six aliases through."""
    inst = sshd_factory("127.0.0.24", extra_config=["MaxStartups 2"])
    aliases = [f"n{i}" for i in range(6)]
    ssh_client.ssh_config.write_text(f"Host {' '.join(aliases)}\n  HostName {inst.host}\n  Port {inst.port}\n")
    async with Pool(ssh_client.options(max_handshakes=limit)) as pool:
        results = await asyncio.gather(*(pool.run(a, "echo ok") for a in aliases))
    assert [r.stdout for r in results] == ["ok\n"] * 6
    assert inst.accepted_logins() == 6
    assert (DROPPED in inst.log()) == (limit > 2), inst.log()


async def test_concurrent_callers_share_one_pending_connect(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        await asyncio.gather(*(pool.connect(target(sshd)) for _ in range(10)))
    assert sshd.accepted_logins() == 1


async def test_reconnects_after_server_restart(sshd, ssh_client):
    async with Pool(ssh_client.options(keepalive_interval=0)) as pool:
        assert (await pool.run(target(sshd), "echo 1")).stdout == "1\n"
        sshd.restart()  # also kills the open session: the pooled connection is dead
        r = await pool.run(target(sshd), "echo 2")
    assert r.stdout == "2\n"
    assert sshd.accepted_logins() == 2


async def test_death_by_signal_has_no_exit_status(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        r = await pool.run(target(sshd), "kill -TERM $$")
        events = [ev async for ev in pool.stream(target(sshd), "echo x; kill -KILL $$")]
    assert (r.exit_status, r.exit_signal, r.ok) == (None, "TERM", False)
    assert events[-1] == StreamExit(None, "KILL")


async def test_non_utf8_output_does_not_crash(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        r = await pool.run(target(sshd), r"printf 'a\377b\n'")
    assert r.stdout == "a\ufffdb\n"
