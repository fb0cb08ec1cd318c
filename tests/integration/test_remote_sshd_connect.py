"""console.remote connection policy against real sshd: host keys, auth, ssh_config, ProxyJump."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from console.core.errors import RemoteError
from console.remote import Pool

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]


def target(inst) -> str:
    return f"{inst.host}:{inst.port}"


def ssh_fingerprint(pubkey_file) -> str:
    """The SHA256 fingerprint as OpenSSH's own ssh-keygen prints it."""
    out = subprocess.run(["ssh-keygen", "-lf", str(pubkey_file)], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def pub(inst):
    return inst.host_key.with_name(inst.host_key.name + ".pub")


# ---- host keys -----------------------------------------------------------------------------


async def test_unknown_host_key_refused_with_fingerprint(sshd_factory, ssh_client):
    inst = sshd_factory("127.0.0.21", trust=False)
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(target(inst), "true")
    e = err.value
    assert e.title == "host key unknown" and e.host == target(inst)
    assert ssh_fingerprint(pub(inst)) in e.detail
    assert "--accept-new" in e.hint
    assert ssh_client.known_hosts.read_text() == ""
    assert inst.accepted_logins() == 0


async def test_accept_new_records_key_then_connects(sshd_factory, ssh_client):
    inst = sshd_factory("127.0.0.21", trust=False)
    ssh_client.known_hosts.write_text(
        "# kept\n[127.0.0.99]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    )
    async with Pool(ssh_client.options(accept_new=True)) as pool:
        assert (await pool.run(target(inst), "echo hi")).stdout == "hi\n"
    lines = ssh_client.known_hosts.read_text().splitlines()
    assert lines[0] == "# kept" and lines[-1] == inst.known_hosts_line()
    # OpenSSH itself finds the recorded entry.
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[{inst.host}]:{inst.port}", "-f", str(ssh_client.known_hosts)],
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    # Without --accept-new the key is now known.
    async with Pool(ssh_client.options()) as pool:
        assert (await pool.run(target(inst), "echo again")).stdout == "again\n"


async def test_changed_host_key_always_refused(sshd, ssh_client):
    old_fp = ssh_fingerprint(pub(sshd))
    sshd.restart(new_host_key=True)
    new_fp = ssh_fingerprint(pub(sshd))
    before = ssh_client.known_hosts.read_text()
    async with Pool(ssh_client.options(accept_new=True)) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(target(sshd), "true")
    e = err.value
    assert "HOST KEY CHANGED" in e.title and e.host == target(sshd)
    assert old_fp in e.detail and new_fp in e.detail
    assert "ssh-keygen -R" in e.hint
    assert ssh_client.known_hosts.read_text() == before
    assert sshd.accepted_logins() == 0


async def test_known_hosts_override(sshd_factory, ssh_client, tmp_path):
    inst = sshd_factory("127.0.0.21", trust=False)
    other = tmp_path / "kh"
    other.write_text(inst.known_hosts_line() + "\n")
    async with Pool(ssh_client.options(known_hosts=other)) as pool:
        assert (await pool.run(target(inst), "echo ok")).stdout == "ok\n"


# ---- authentication and reachability -------------------------------------------------------


async def test_wrong_user_is_remote_error_naming_host(sshd, ssh_client):
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(f"root@{target(sshd)}", "true")
    assert err.value.title == "authentication failed"
    assert err.value.host == f"root@{target(sshd)}" and "root@" in err.value.detail


async def test_wrong_key_is_remote_error(sshd, ssh_client, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    async with Pool(ssh_client.options(identities=[other])) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(target(sshd), "true")
    assert err.value.title == "authentication failed" and err.value.host == target(sshd)
    assert "BEGIN" not in str(err.value)  # never any key material


async def test_connection_refused(ssh_client):
    with socket.socket() as s:
        s.bind(("127.0.0.25", 0))
        port = s.getsockname()[1]
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(f"127.0.0.25:{port}", "true")
    assert err.value.title == "connection refused" and str(port) in err.value.hint


async def test_unknown_host_name(ssh_client):
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run("no-such-host.invalid", "true")
    assert err.value.title == "cannot resolve host name"
    assert err.value.host == "no-such-host.invalid"


async def test_connect_timeout(ssh_client):
    # A listener that never speaks SSH: the kernel accepts, no banner ever comes.
    with socket.socket() as s:
        s.bind(("127.0.0.26", 0))
        s.listen(8)
        port = s.getsockname()[1]
        async with Pool(ssh_client.options(connect_timeout=0.5)) as pool:
            with pytest.raises(RemoteError) as err:
                await pool.run(f"127.0.0.26:{port}", "true")
    assert err.value.title == "connect timed out" and "0.5s" in err.value.hint


# ---- ssh_config and ProxyJump --------------------------------------------------------------


async def test_ssh_config_alias_port_user_identity_known_hosts(sshd_factory, ssh_client, tmp_path):
    inst = sshd_factory("127.0.0.21", trust=False)
    kh = tmp_path / "cfg_known_hosts"
    kh.write_text(inst.known_hosts_line() + "\n")
    ssh_client.ssh_config.write_text(
        "Host other\n  User nobody\n"
        f"Host node-a\n  HostName {inst.host}\n  Port {inst.port}\n  User ccssh\n"
        f"  IdentityFile {ssh_client.key}\n  UserKnownHostsFile {kh}\n  IdentitiesOnly yes\n"
    )
    bare = ssh_client.options(user=None, identities=[], known_hosts=None)
    async with Pool(bare) as pool:
        r = await pool.run("node-a", "id -un")
        assert r.stdout == "ccssh\n"
        assert await pool.peer_address("node-a") == inst.host
    # Without the config nothing of that is known.
    no_cfg = ssh_client.options(ssh_config=None, user=None, identities=[], known_hosts=None)
    async with Pool(no_cfg) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run("node-a", "true")
    assert err.value.host == "node-a"


async def test_proxy_jump_through_one_sshd_to_another(sshd, sshd2, ssh_client):
    # -l and -i apply to the targets only (as ssh): the jump host's user and key come from
    # ssh_config
    ssh_client.ssh_config.write_text(
        f"Host bastion\n  HostName {sshd.host}\n  Port {sshd.port}\n  User ccssh\n"
        f"  IdentityFile {ssh_client.key}\n"
        f"Host inner\n  HostName {sshd2.host}\n  Port {sshd2.port}\n  ProxyJump bastion\n"
        f"Host inner2\n  HostName {sshd2.host}\n  Port {sshd2.port}\n  ProxyJump bastion\n"
    )
    async with Pool(ssh_client.options()) as pool:
        r = await pool.run("inner", "echo $CC_SSHD_HOST")
        r2 = await pool.run("inner2", "echo $CC_SSHD_HOST")
        assert await pool.peer_address("inner") == sshd2.host
    assert r.stdout == r2.stdout == f"{sshd2.host}\n"
    assert sshd.accepted_logins() == 1  # one bastion connection shared by both targets
    assert sshd2.accepted_logins() == 2


async def test_proxy_jump_failure_names_the_jump_host(sshd_factory, ssh_client):
    jump = sshd_factory("127.0.0.21", extra_config=["AllowTcpForwarding no"])
    inner = sshd_factory("127.0.0.22")
    ssh_client.ssh_config.write_text(
        f"Host inner\n  HostName {inner.host}\n  Port {inner.port}\n"
        f"  ProxyJump {jump.host}:{jump.port}\n"
        f"Host {jump.host}\n  User ccssh\n  IdentityFile {ssh_client.key}\n"
    )
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run("inner", "true")
    assert err.value.host == "inner"
    assert f"ProxyJump {jump.host}:{jump.port}" in err.value.detail
    assert inner.accepted_logins() == 0


async def test_jump_host_key_is_checked_too(sshd_factory, ssh_client):
    jump = sshd_factory("127.0.0.21", trust=False)
    inner = sshd_factory("127.0.0.22")
    ssh_client.ssh_config.write_text(
        f"Host bastion\n  HostName {jump.host}\n  Port {jump.port}\n  User ccssh\n"
        f"  IdentityFile {ssh_client.key}\n"
        f"Host inner\n  HostName {inner.host}\n  Port {inner.port}\n  ProxyJump bastion\n"
    )
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run("inner", "true")
    assert err.value.title == "host key unknown" and err.value.host == "inner"
    assert err.value.detail.startswith("jump host bastion: ")
    assert ssh_fingerprint(pub(jump)) in err.value.detail
    assert jump.accepted_logins() == inner.accepted_logins() == 0


@pytest.fixture
def ssh_agent(ssh_client, tmp_path, monkeypatch):
    """A private ssh-agent holding the test key; SSH_AUTH_SOCK points at it."""
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent not installed")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent socket never appeared"
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(ssh_client.key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        agent.terminate()
        agent.wait(timeout=5)


async def test_ssh_agent_is_used_when_auth_sock_is_set(sshd, ssh_client, ssh_agent, monkeypatch):
    # The only copy of the accepted key the client can use is in the agent
    # (id_test is not one of ssh's default key names).
    async with Pool(ssh_client.options(identities=[])) as pool:
        assert (await pool.run(target(sshd), "echo via-agent")).stdout == "via-agent\n"
    monkeypatch.delenv("SSH_AUTH_SOCK")
    async with Pool(ssh_client.options(identities=[])) as pool:
        with pytest.raises(RemoteError, match="authentication failed"):
            await pool.run(target(sshd), "true")


async def test_missing_identity_files_still_use_the_agent(sshd, ssh_client, ssh_agent, tmp_path):
    """ssh_config names only key files that do not exist: like ssh, skip them and ask the
    agent (asyncssh would turn agent auth off if given client_keys=None)."""
    ssh_client.ssh_config.write_text(f"Host {sshd.host}\n  IdentityFile {tmp_path / 'no_such_key'}\n")
    async with Pool(ssh_client.options(identities=[])) as pool:
        assert (await pool.run(target(sshd), "echo via-agent")).stdout == "via-agent\n"
