"""The simulated cluster over SSH: host keys verified, client key enforced, real shells,
streams and exit codes passed through, SFTP, the OpenSSH client, 64 servers."""

from __future__ import annotations

import asyncio
import shutil

import asyncssh
import pytest

from console.core.errors import InputError
from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec
from tests.ops.procs import alive, wait_gone
from tests.system import need


async def test_every_server_answers_with_its_own_identity(sim_cluster, sim_connect, data_dir):
    assert sim_cluster.hosts == ["127.0.0.11", "127.0.0.12"]
    for host, name in sim_cluster.names.items():
        async with sim_connect(sim_cluster, host) as conn:
            res = await conn.run(
                'hostname; cat "$CLUSTER_CONSOLE_ROOT/usr/local/Ascend/driver/'
                'version.info"; command -v hccn_tool; command -v npu-smi'
            )
            lines = res.stdout.splitlines()
            assert res.exit_status == 0
            assert lines[0] == name and lines[1] == "Version=24.1.rc3"
            root = str(sim_cluster.root(host))
            assert lines[2] == root + "/usr/local/Ascend/driver/tools/hccn_tool"
            assert lines[3] == root + "/usr/local/bin/npu-smi"
    async with sim_connect(sim_cluster, "127.0.0.11") as conn:
        loop = "for i in 0 1 2 3 4 5 6 7; do hccn_tool -i $i -ip -g; done"
        res = await conn.run(loop)
        assert res.stdout == (data_dir / "hccn_ip_loop_8dev.txt").read_text()


async def test_commands_get_a_real_sshds_environment_not_the_consoles(sim_factory, sim_connect, monkeypatch):
    # what the console's process has must not leak into what the servers run
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    monkeypatch.setenv("VIRTUAL_ENV", "/opt/console-venv")
    monkeypatch.setenv("PYTHONPATH", "/opt/console-src")
    sim_cluster = await sim_factory()
    async with sim_connect(sim_cluster, "127.0.0.11") as conn:
        res = await conn.run("env")
    env = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    assert not {"PYTHONUNBUFFERED", "VIRTUAL_ENV", "PYTHONPATH"} & set(env)
    root = str(sim_cluster.root("127.0.0.11"))
    assert env["PATH"] == (f"{root}/usr/local/bin:{root}/usr/local/Ascend/driver/tools:/usr/local/bin:/usr/bin:/bin")
    assert env["HOME"] == f"{root}/home" and env["USER"] == env["LOGNAME"] == sim_cluster.user
    assert {"SHELL", "CLUSTER_CONSOLE_ROOT"} <= set(env)
    # sh itself adds PWD (and maybe SHLVL, _, OLDPWD); nothing else comes from the sim
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == {
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PATH",
        "CLUSTER_CONSOLE_ROOT",
        "CCSIM_STATE",
        "HOSTNAME",
    }


async def test_lossy_pair_over_ssh(sim_cluster, sim_connect, data_dir):
    async with sim_connect(sim_cluster, "127.0.0.11") as conn:
        res = await conn.run("hccn_tool -i 3 -ping -g address 10.10.100.25")
        assert res.exit_status != 0
        assert res.stdout.splitlines()[1:] == (data_dir / "hccn_ping_loss_guide.txt").read_text().splitlines()
        res = await conn.run("hccn_tool -i 3 -ping -g address 10.10.100.24")
        assert res.exit_status == 0 and res.stdout.endswith(", 0.00% packet loss\n")


async def test_shell_pipes_stdin_stderr_and_exit_status(sim_cluster, sim_connect):
    async with sim_connect(sim_cluster, "127.0.0.12") as conn:
        res = await conn.run("npu-smi info -l | grep -c 'NPU ID'; echo oops >&2; exit 7")
        assert (res.stdout, res.stderr, res.exit_status) == ("8\n", "oops\n", 7)
        res = await conn.run("tr a-z A-Z", input="hello\n")
        assert res.stdout == "HELLO\n"
        res = await conn.run("kill -TERM $$")
        assert res.exit_signal is not None and res.exit_signal[0] == "TERM"


async def test_closing_the_channel_kills_the_process_group(sim_cluster, sim_connect):
    async with sim_connect(sim_cluster, "127.0.0.11") as conn:
        proc = await conn.create_process("sleep 300 & echo $!; wait")
        pid = int(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert alive(pid)
        proc.close()
        await wait_gone(pid)


async def test_wrong_client_key_is_rejected(sim_cluster, sim_connect):
    other = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with sim_connect(sim_cluster, "127.0.0.11", client_keys=[other]):
            pass


async def test_unknown_host_key_is_refused(sim_cluster, sim_connect, tmp_path):
    fake = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.11]:{sim_cluster.port} {fake}")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with sim_connect(sim_cluster, "127.0.0.11", known_hosts=str(known)):
            pass


async def test_sftp_uploads_land_in_the_servers_home(sim_cluster, sim_connect, tmp_path):
    local = tmp_path / "rt.json"
    local.write_text('{"status": "completed"}')
    async with sim_connect(sim_cluster, "127.0.0.12") as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.put(str(local), "ranktable.json")
            await sftp.put(str(local), str(tmp_path / "abs.json"))
        res = await conn.run("cat ranktable.json")
        assert res.stdout == '{"status": "completed"}'
    assert (sim_cluster.root("127.0.0.12") / "home" / "ranktable.json").exists()
    assert (tmp_path / "abs.json").read_text() == '{"status": "completed"}'


async def test_openssh_client_uses_the_generated_ssh_config(sim_cluster):
    need(shutil.which("ssh") is not None, "OpenSSH client (ssh) not installed")
    proc = await asyncio.create_subprocess_exec(
        "ssh",
        "-F",
        str(sim_cluster.ssh_config_path),
        "127.0.0.12",
        "hccn_tool -i 1 -ip -g",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (out.decode(), proc.returncode) == ("ipaddr:10.10.100.23\nnetmask:255.255.255.0\n", 0), err


async def test_openssh_scp_in_sftp_mode_exits_0(sim_cluster, tmp_path):
    """OpenSSH's scp (SFTP protocol, its default) needs the subsystem's exit status, as sshd's
    sftp-server sends it."""
    need(shutil.which("scp") is not None, "OpenSSH client (scp) not installed")
    local = tmp_path / "rt.json"
    local.write_text("{}\n")
    proc = await asyncio.create_subprocess_exec(
        "scp",
        "-q",
        "-F",
        str(sim_cluster.ssh_config_path),
        str(local),
        f"127.0.0.11:{tmp_path / 'copied.json'}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert (tmp_path / "copied.json").read_text() == "{}\n"


async def test_64_servers_start_and_answer(sim_factory, sim_connect):
    sim = await sim_factory(servers=64)
    assert sim.hosts[0] == "127.0.0.11" and sim.hosts[-1] == "127.0.0.74"
    last_ip = sim.spec.servers[-1].device(7).ip
    async with sim_connect(sim, "127.0.0.74") as conn:
        res = await conn.run("hostname; hccn_tool -i 7 -ip -g")
        assert res.stdout == f"node64\nipaddr:{last_ip}\nnetmask:255.255.255.0\n"
    async with sim_connect(sim, "127.0.0.11") as conn:
        res = await conn.run(f"hccn_tool -i 0 -ping -g address {last_ip}")
        assert res.exit_status == 0 and res.stdout.startswith(f"device 0 PING {last_ip}\n")


async def test_a3_cluster_over_ssh(sim_factory, sim_connect):
    sim = await sim_factory(servers=2, product="A3")
    peer = sim.spec.servers[1].device(5)
    async with sim_connect(sim, sim.hosts[0]) as conn:
        res = await conn.run(f"hccn_tool -i 4 -vnic -g; hccn_tool -i 4 -hccs_ping -g address {peer.vnic_ip}")
        assert res.stdout.startswith("vnic link status: UP\nvnic ipaddr: 192.168.0.104\n")
        assert "This pkt ping success!" in res.stdout and res.exit_status == 0


async def test_port_in_use_is_an_input_error_naming_the_address(sim_cluster, tmp_path):
    again = SimCluster(ClusterSpec.default(), tmp_path / "again", port=sim_cluster.port)
    with pytest.raises(InputError) as err:
        await again.start()
    assert err.value.host == "127.0.0.11"
    assert f"127.0.0.11:{sim_cluster.port}" in str(err.value)


async def test_session_nice_lowers_the_priority_of_what_the_servers_run(tmp_path, sim_connect):
    """``--session-nice``: the servers' processes at niceness N (the sim itself and the
    console keep theirs); by default 0, as under a real sshd."""
    niceness = "cut -d' ' -f19 /proc/self/stat"  # field 19 of stat: nice
    # with Linux autogroup a session's weight is its group's niceness: that one too
    group = "cat /proc/self/autogroup 2>/dev/null | sed 's/.* nice //' || echo none"
    for session_nice, expected in ((0, "0"), (19, "19")):
        sim = SimCluster(ClusterSpec.default(), tmp_path / f"sim{session_nice}", port=0, session_nice=session_nice)
        await sim.start()
        try:
            async with sim_connect(sim, "127.0.0.11") as conn:
                res = await conn.run(f"{niceness}; sh -c {niceness!r}; {group}")
            words = res.stdout.split()
            assert words[:2] == [expected, expected], res
            assert words[2] in (expected, "none"), res
        finally:
            await sim.stop()
