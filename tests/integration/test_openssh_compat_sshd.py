"""OpenSSH-exact behaviour against real sshd: StrictHostKeyChecking no, known_hosts per port,
GlobalKnownHostsFile, -l/-p/-i for the target only, ProxyCommand (working and failing)."""

from __future__ import annotations

import logging
import shutil

import pytest

from console.core.errors import RemoteError
from console.remote import Pool

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]


def target(inst) -> str:
    return f"{inst.host}:{inst.port}"


async def test_strict_no_with_dev_null_connects_to_a_fresh_node_with_a_warning(sshd_factory, ssh_client, caplog):
    inst = sshd_factory("127.0.0.21", trust=False)
    ssh_client.ssh_config.write_text("Host 127.0.0.*\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
    options = ssh_client.options(known_hosts=None)
    with caplog.at_level(logging.WARNING, logger="console"):
        async with Pool(options) as pool:
            assert (await pool.run(target(inst), "echo fresh")).stdout == "fresh\n"
    assert "NOT VERIFIED" in caplog.text and target(inst) in caplog.text
    assert ssh_client.known_hosts.read_text() == ""  # nothing recorded outside /dev/null


async def test_strict_no_lets_a_changed_key_through_loudly(sshd_factory, ssh_client, caplog):
    inst = sshd_factory("127.0.0.21")  # trusted ...
    inst.restart(new_host_key=True)  # ... then reinstalled: the recorded key is now wrong
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError, match="HOST KEY CHANGED"):
            await pool.run(target(inst), "true")
    ssh_client.ssh_config.write_text(f"Host {inst.host}\n  StrictHostKeyChecking no\n")
    with caplog.at_level(logging.WARNING, logger="console"):
        async with Pool(ssh_client.options()) as pool:
            assert (await pool.run(target(inst), "echo through")).stdout == "through\n"
    assert "HOST KEY CHANGED" in caplog.text and "StrictHostKeyChecking is 'no'" in caplog.text


async def test_a_key_recorded_for_port_22_does_not_make_another_port_changed(sshd_factory, ssh_client):
    inst = sshd_factory("127.0.0.21", trust=False)
    other = sshd_factory("127.0.0.22", trust=False)  # a different host key
    ssh_client.known_hosts.write_text(f"{inst.host} {other.host_pubkey}\n")  # "port 22" entry
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run(target(inst), "true")
    assert err.value.title == "host key unknown", str(err.value)
    assert f"[{inst.host}]:{inst.port}" in err.value.detail
    async with Pool(ssh_client.options(accept_new=True)) as pool:  # the hint works
        assert (await pool.run(target(inst), "echo ok")).stdout == "ok\n"
    assert f"[{inst.host}]:{inst.port} {inst.host_pubkey}" in ssh_client.known_hosts.read_text()


async def test_global_known_hosts_file_vouches_for_a_host(sshd_factory, ssh_client, tmp_path):
    inst = sshd_factory("127.0.0.21", trust=False)
    system = tmp_path / "ssh_known_hosts"
    system.write_text(inst.known_hosts_line() + "\n")
    ssh_client.ssh_config.write_text(f"Host *\n  GlobalKnownHostsFile {system}\n")
    async with Pool(ssh_client.options()) as pool:
        assert (await pool.run(target(inst), "echo ok")).stdout == "ok\n"
    assert ssh_client.known_hosts.read_text() == ""


async def test_cli_port_user_and_key_are_not_applied_to_the_jump_host(sshd, sshd2, ssh_client):
    """-p is the target's port; the jump host keeps its own Port/User/IdentityFile (as ssh)."""
    ssh_client.ssh_config.write_text(
        f"Host bastion\n  HostName {sshd.host}\n  Port {sshd.port}\n  User ccssh\n"
        f"  IdentityFile {ssh_client.key}\n"
        f"Host inner\n  HostName {sshd2.host}\n  ProxyJump bastion\n"
    )
    options = ssh_client.options(port=sshd2.port)  # -p, -l and -i from the command line
    async with Pool(options) as pool:
        assert (await pool.run("inner", "echo $CC_SSHD_HOST")).stdout == f"{sshd2.host}\n"
    assert sshd.accepted_logins() == 1 and sshd2.accepted_logins() == 1


async def test_proxy_command_runs_through_the_shell(sshd, ssh_client):
    ssh = shutil.which("ssh")
    if ssh is None:
        pytest.skip("OpenSSH client not installed")
    ssh_client.ssh_config.write_text(
        f"Host via-proxy\n  HostName {sshd.host}\n  Port {sshd.port}\n"
        f"  ProxyCommand {ssh} -F /dev/null -i {ssh_client.key} -o UserKnownHostsFile={ssh_client.known_hosts}"
        f" -o StrictHostKeyChecking=yes -o BatchMode=yes -l ccssh -p %p -W %h:%p %h 2>/dev/null\n"
    )
    async with Pool(ssh_client.options()) as pool:
        assert (await pool.run("via-proxy", "echo proxied")).stdout == "proxied\n"
    assert sshd.accepted_logins() == 2  # the proxy's ssh, then the console through it


async def test_a_failing_proxy_command_is_reported_as_such(ssh_client):
    ssh_client.ssh_config.write_text(
        "Host behind\n  ProxyCommand sh -c 'echo \"bastion: no route to %h\" >&2; exit 7'\n"
    )
    async with Pool(ssh_client.options()) as pool:
        with pytest.raises(RemoteError) as err:
            await pool.run("behind", "true")
    assert err.value.title == "ProxyCommand failed"
    assert "exited with status 7" in err.value.detail
    assert "bastion: no route to behind" in err.value.detail
    assert "MaxStartups" not in str(err.value)
