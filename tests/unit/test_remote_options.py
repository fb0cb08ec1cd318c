"""SSH option handling: targets, CLI options, ssh_config resolution (no network)."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
from pathlib import Path

import pytest

from console.cli._common import add_global_options
from console.core.errors import InputError
from console.remote import SSHOptions, parse_target, quote_cmd, resolve, sshconfig
from console.remote.sshconfig import Account


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home for ssh's ``~`` (the passwd entry's home, as ssh) and $HOME; no system config."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    account = Account(getpass.getuser(), str(h), os.getuid())
    monkeypatch.setattr(sshconfig, "local_account", lambda: account)
    monkeypatch.setattr(sshconfig, "SYSTEM_CONFIG", tmp_path / "etc" / "ssh_config")
    return h


def opts(**kw) -> SSHOptions:
    """SSHOptions reading the test's (missing unless written) system config."""
    kw.setdefault("system_config", sshconfig.SYSTEM_CONFIG)
    return SSHOptions(**kw)


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_global_options(parser, top_level=True)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("text, expected", [
    ("node1", (None, "node1", None)),
    ("bob@node1", ("bob", "node1", None)),
    ("bob@10.0.0.5:2222", ("bob", "10.0.0.5", 2222)),
    ("node1:22", (None, "node1", 22)),
    ("[::1]:2200", (None, "::1", 2200)),
    ("[fe80::1]", (None, "fe80::1", None)),
    ("::1", (None, "::1", None)),
    ("a@b@host", ("a@b", "host", None)),
])
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "@host", "host:0", "host:99999", "host:ab", "[::1",
                                  "[::1]x", "bob@", "a:b:c"])
def test_parse_target_rejects_bad_input_naming_it(text):
    with pytest.raises(InputError) as err:
        parse_target(text)
    assert err.value.host == text


def test_every_option_field_is_documented():
    for name, f in SSHOptions.model_fields.items():
        assert f.description, f"SSHOptions.{name} has no docstring"


def test_defaults(home):
    o = SSHOptions()
    assert o.ssh_config is None  # ssh's defaults: ~/.ssh/config then /etc/ssh/ssh_config
    assert o.system_config == Path("/etc/ssh/ssh_config")
    assert (o.connect_timeout, o.command_timeout, o.keepalive_interval) == (10, 60, 15)
    assert (o.max_handshakes, o.max_channels, o.accept_new) == (10, 8, False)
    (home / ".ssh" / "config").write_text("Host x\n  Port 2201\n")
    os.chmod(home / ".ssh" / "config", 0o600)
    assert resolve(opts(), "x").port == 2201


def test_from_args_reads_every_global_option(home, tmp_path):
    cfg, k1, k2 = tmp_path / "cfg", tmp_path / "k1", tmp_path / "k2"
    for p in (cfg, k1, k2):
        p.write_text("")
    opts = SSHOptions.from_args(cli("-F", str(cfg), "-l", "bob", "-p", "2200", "-i", str(k1),
                                    "-i", str(k2), "--accept-new", "--known-hosts", "~/kh",
                                    "--connect-timeout", "3", "--command-timeout", "7"))
    assert opts.ssh_config == cfg and opts.user == "bob" and opts.port == 2200
    assert opts.identities == [k1, k2] and opts.accept_new
    assert opts.known_hosts == home / "kh"
    assert (opts.connect_timeout, opts.command_timeout) == (3, 7)


def test_from_args_defaults(home):
    opts = SSHOptions.from_args(cli())
    assert opts == SSHOptions()


def test_from_args_accepts_a_namespace_without_ssh_options(home):
    assert SSHOptions.from_args(argparse.Namespace()) == SSHOptions()


@pytest.mark.parametrize("flag", ["-F", "-i"])
def test_missing_files_are_input_errors_naming_the_path(home, tmp_path, flag):
    missing = tmp_path / "nope"
    with pytest.raises(InputError) as err:
        SSHOptions.from_args(cli(flag, str(missing)))
    assert err.value.path == str(missing)


@pytest.mark.parametrize("flag, what", [("-F", "ssh_config"), ("-i", "identity")])
def test_a_directory_is_reported_as_a_directory(home, tmp_path, flag, what):
    with pytest.raises(InputError) as err:
        SSHOptions.from_args(cli(flag, str(tmp_path)))
    assert err.value.path == str(tmp_path)
    assert err.value.title == f"{what} path is a directory, not a file" and "not found" not in str(err.value)


def test_bad_values_are_input_errors(home):
    with pytest.raises(InputError):
        SSHOptions.from_args(cli("--connect-timeout", "0"))
    with pytest.raises(InputError):
        SSHOptions.from_args(cli("-p", "70000"))


CONFIG = """\
Host bastion
  HostName 10.1.0.1
  User jump

Host node-*
  HostName 10.1.0.%h
  ProxyJump bastion

Host node-a
  HostName 10.2.0.1
  Port 2201
  User alice
  IdentityFile ~/.ssh/id_node
  IdentityFile ~/.ssh/id_missing
  UserKnownHostsFile ~/cluster_known_hosts

Host *
  User everyone
  Port 2222
"""


@pytest.fixture
def config(home) -> Path:
    path = home / ".ssh" / "config"
    path.write_text(CONFIG)
    (home / ".ssh" / "id_node").write_text("")
    return path


def test_resolve_applies_first_matching_host_blocks(config, home):
    spec = resolve(opts(ssh_config=config), "node-a")
    assert (spec.alias, spec.hostname, spec.user, spec.port) == ("node-a", "10.1.0.node-a",
                                                                 "alice", 2201)
    assert spec.proxy_jump == "bastion"
    assert spec.identities == (home / ".ssh" / "id_node",)  # missing files skipped, as ssh
    assert spec.known_hosts == (home / "cluster_known_hosts",)
    assert spec.config_paths == (config,)


def test_resolve_wildcard_defaults(config, home):
    spec = resolve(opts(ssh_config=config), "other")
    assert (spec.hostname, spec.user, spec.port, spec.proxy_jump) == ("other", "everyone",
                                                                      2222, None)
    assert spec.identities is None  # no -i, no IdentityFile: ssh's default keys
    assert spec.known_hosts == (home / ".ssh" / "known_hosts", home / ".ssh" / "known_hosts2")


def test_cli_beats_config_and_target_beats_cli(config, tmp_path):
    key = tmp_path / "k"
    key.write_text("")
    kh = tmp_path / "kh"
    o = opts(ssh_config=config, user="cli", port=2300, identities=[key], known_hosts=kh)
    spec = resolve(o, "node-a")
    assert (spec.user, spec.port, spec.known_hosts) == ("cli", 2300, (kh,))
    assert spec.identities[0] == key and len(spec.identities) == 2
    spec = resolve(o, "tgt@node-a:2400")
    assert (spec.user, spec.port, spec.target) == ("tgt", 2400, "tgt@node-a:2400")


def test_no_config_means_local_user_and_port_22(home):
    spec = resolve(opts(ssh_config=None), "10.0.0.7")
    assert (spec.hostname, spec.user, spec.port) == ("10.0.0.7", getpass.getuser(), 22)
    assert spec.config_paths == () and spec.proxy_jump is None


def test_ignore_jump_for_chained_hops(config):
    assert resolve(opts(ssh_config=config), "node-b", ignore_jump=True).proxy_jump is None


def test_bad_config_is_input_error_naming_file_and_line(home):
    bad = home / "bad_config"
    bad.write_text("Host x\n  Port notanumber\n")
    with pytest.raises(InputError) as err:
        resolve(opts(ssh_config=bad), "x")
    assert err.value.path == str(bad) and "line 2" in err.value.detail


def test_quote_cmd_round_trips_through_shlex():
    argv = ["hccn_tool", "-i", 0, "-ping", "-g", "address", "10.0.0.1; rm -rf /", "$(x)", "", "'"]
    assert shlex.split(quote_cmd(*argv)) == [str(a) for a in argv]
    assert quote_cmd("npu-smi", "info") == "npu-smi info"


def test_bad_numeric_option_names_the_flag_not_pydantic():
    import argparse

    from console.core.errors import InputError
    from console.remote import SSHOptions

    ns = argparse.Namespace(ssh_config=None, login=None, port=None, identity=None, accept_new=False,
                            known_hosts=None, connect_timeout=-1.0, command_timeout=60.0)
    with pytest.raises(InputError) as exc:
        SSHOptions.from_args(ns)
    text = str(exc.value)
    assert "--connect-timeout" in text and "greater than 0" in text
    assert "pydantic" not in text and "validation error" not in text


def test_missing_identity_files_keep_the_ssh_agent(home, tmp_path):
    """Every IdentityFile missing: ssh skips them and still uses the agent; so must we."""
    import asyncssh

    from console.remote.options import client_keys

    cfg = home / ".ssh" / "config"
    cfg.write_text("Host n1\n  IdentityFile ~/.ssh/id_gone\n")
    spec = resolve(opts(ssh_config=cfg), "n1")
    assert spec.identities == ()
    keys = client_keys(spec.identities)
    assert keys is not None
    agent = str(tmp_path / "agent.sock")
    prepared = asyncssh.SSHClientConnectionOptions(config=[], client_keys=keys, agent_path=agent)
    assert prepared.agent_path == agent  # None would mean: no agent, no public key auth
    assert client_keys(None) == ()
    assert client_keys((home / "k",)) == [str(home / "k")]
