"""console.remote against the in-process simulated cluster (asyncssh servers on loopback)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from console.core.errors import RemoteError
from console.remote import Pool, SSHOptions, StreamExit, quote_cmd


def options(sim, **kw) -> SSHOptions:
    return SSHOptions(**{"ssh_config": sim.ssh_config_path, "connect_timeout": 10, "command_timeout": 30, **kw})


async def test_run_on_every_server_by_address_and_name(sim_cluster):
    names = sim_cluster.names
    async with Pool(options(sim_cluster)) as pool:
        for host in sim_cluster.hosts:
            for target in (host, names[host]):
                r = await pool.run(target, quote_cmd("hccn_tool", "-i", 0, "-ip", "-g"))
                assert r.exit_status == 0 and "ipaddr:" in r.stdout, r
                assert await pool.peer_address(target) == host


async def test_stream_and_put_file(sim_cluster):
    host = sim_cluster.hosts[0]
    async with Pool(options(sim_cluster)) as pool:
        await pool.put_file(host, b"line1\nline2\n", "upload.txt", mode=0o600)
        events = [ev async for ev in pool.stream(host, "cat upload.txt; stat -c %a upload.txt")]
    assert [e.text for e in events[:-1]] == ["line1", "line2", "600"]
    assert events[-1] == StreamExit(0)


async def test_many_commands_share_one_connection_per_server(sim_cluster):
    host = sim_cluster.hosts[1]
    async with Pool(options(sim_cluster, max_channels=4)) as pool:
        results = await asyncio.gather(*(pool.run(host, f"echo {i}") for i in range(16)))
        assert len(sim_cluster._hosts[host].connections) == 1
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(16)]


@pytest.mark.parametrize("mode, title", [("refuse", "connection refused"), ("close", "server dropped the connection")])
async def test_unreachable_server_is_remote_error_naming_it(sim_factory, mode, title):
    sim = await sim_factory(servers=2, cards=1, faults=[{"kind": "refuse", "server": 2, "mode": mode}])
    bad = sim.hosts[1]
    async with Pool(options(sim, connect_timeout=5)) as pool:
        assert (await pool.run(sim.hosts[0], "echo up")).stdout == "up\n"
        with pytest.raises(RemoteError) as err:
            await pool.run(bad, "true")
    assert err.value.host == bad and err.value.title == title


async def test_accept_new_announces_the_recorded_key(sim_cluster, tmp_path, caplog):
    host, known = sim_cluster.hosts[0], tmp_path / "known_hosts"
    note = f"Warning: Permanently added '[{host}]:{sim_cluster.port}' (ED25519) to the list of known hosts"
    with caplog.at_level("WARNING", logger="console.remote"):
        async with Pool(options(sim_cluster, known_hosts=known, accept_new=True)) as pool:
            await pool.run(host, "true")
    assert [r.getMessage() for r in caplog.records if "Permanently" in r.getMessage()] == [f"{note} ({known})."]
    caplog.clear()
    async with Pool(options(sim_cluster, known_hosts=known, accept_new=True)) as pool:
        await pool.run(host, "true")  # now known: nothing to announce
    assert not [r for r in caplog.records if "Permanently" in r.getMessage()]
    # the CLI shows it on stderr, once, and keeps stdout for data
    fresh = tmp_path / "fresh_known_hosts"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim_cluster.ssh_config_path),
        "--known-hosts",
        str(fresh),
        "--accept-new",
        "discover",
        host,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and err.decode().count(note) == 1 and "Permanently" not in out.decode()
