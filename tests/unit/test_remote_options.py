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


@pytest.mark.parametrize(
    "text, expected",
    [
        ("node1", (None, "node1", None)),
        ("bob@node1", ("bob", "node1", None)),
        ("bob@10.0.0.5:2222", ("bob", "10.0.0.5", 2222)),
        ("node1:22", (None, "node1", 22)),
        ("[::1]:2200", (None, "::1", 2200)),
        ("[fe80::1]", (None, "fe80::1", None)),
        ("::1", (None, "::1", None)),
        ("a@b@host", ("a@b", "host", None)),
    ],
)
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "@host", "host:0", "host:99999", "host:ab", "[::1", "[::1]x", "bob@", "a:b:c"])
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
    opts = SSHOptions.from_args(
        cli(
            "-F",
            str(cfg),
            "-l",
            "bob",
            "-p",
            "2200",
            "-i",
            str(k1),
            "-i",
            str(k2),
            "--accept-new",
            "--known-hosts",
            "~/kh",
            "--connect-timeout",
            "3",
            "--command-timeout",
            "7",
        )
    )
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
    assert (spec.alias, spec.hostname, spec.user, spec.port) == ("node-a", "10.1.0.node-a", "alice", 2201)
    assert spec.proxy_jump == "bastion"
    assert spec.identities == (home / ".ssh" / "id_node",)  # missing files skipped, as ssh
    assert spec.known_hosts == (home / "cluster_known_hosts",)
    assert spec.config_paths == (config,)


def test_resolve_wildcard_defaults(config, home):
    spec = resolve(opts(ssh_config=config), "other")
    assert (spec.hostname, spec.user, spec.port, spec.proxy_jump) == ("other", "everyone", 2222, None)
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

    ns = argparse.Namespace(
        ssh_config=None,
        login=None,
        port=None,
        identity=None,
        accept_new=False,
        known_hosts=None,
        connect_timeout=-1.0,
        command_timeout=60.0,
    )
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


# ---- OpenSSH fidelity (issue 15): each of these failed before the own resolver --------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_a_trailing_comment_does_not_break_the_file(home):
    cfg = write(home / "cfg", "Host lab*\n  Port 2219  # lab\n  User ma # the lab user\n")
    spec = resolve(opts(ssh_config=cfg), "lab3")
    assert (spec.port, spec.user) == (2219, "ma")


def test_tokens_in_user_known_hosts_file_are_expanded(home):
    cfg = write(
        home / "cfg",
        "Host n*\n  HostName 10.0.1.%h\n  Port 2202\n  User op\n  UserKnownHostsFile %d/kh_%u_%h_%p_%r_%n ~/kh2\n",
    )
    spec = resolve(opts(ssh_config=cfg), "n5")
    me = getpass.getuser()
    assert spec.known_hosts == (home / f"kh_{me}_10.0.1.n5_2202_op_n5", home / "kh2")


def test_an_unknown_keyword_refuses_the_file_naming_the_line(home):
    cfg = write(home / "cfg", "Host *\n  Port 22\n  Hostnmae typo.example\n")
    with pytest.raises(InputError) as err:
        resolve(opts(ssh_config=cfg), "x")
    assert err.value.path == str(cfg)
    assert "line 3" in err.value.detail and "Bad configuration option: hostnmae" in err.value.detail


def test_ignore_unknown_and_known_unused_keywords_are_accepted(home):
    cfg = write(
        home / "cfg",
        "IgnoreUnknown UseKeychain\nHost *\n  UseKeychain yes\n"
        "  ControlMaster auto\n  ServerAliveInterval 30\n  Port 2300\n",
    )
    assert resolve(opts(ssh_config=cfg), "x").port == 2300


def test_system_config_is_read_after_the_user_file_but_not_with_F(home, tmp_path):
    system = write(
        tmp_path / "etc" / "ssh_config",
        "Include /nonexistent/*.conf\nInclude " + str(tmp_path / "etc" / "d") + "/*.conf\n"
        "Host *\n  User sysuser\n  Port 2400\n",
    )
    write(tmp_path / "etc" / "d" / "10-cluster.conf", "Host node*\n  Port 2500\n")
    write(home / ".ssh" / "config", "Host node1\n  User me\n")
    spec = resolve(opts(system_config=system), "node1")
    assert (spec.user, spec.port) == ("me", 2500)
    assert spec.config_paths == (home / ".ssh" / "config", system, tmp_path / "etc" / "d" / "10-cluster.conf")
    assert resolve(opts(system_config=system), "other").user == "sysuser"
    only = write(home / "only", "Host *\n  Port 2600\n")
    spec = resolve(opts(ssh_config=only, system_config=system), "node1")  # -F: that file alone
    assert (spec.port, spec.config_paths) == (2600, (only,))


def test_match_final_applies_blocks_of_the_host_name(home):
    cfg = write(
        home / "cfg",
        "Host alias1\n  HostName real1.example\nHost real1.example\n  User via-final\nMatch final\n  Port 2700\n",
    )
    spec = resolve(opts(ssh_config=cfg), "alias1")
    assert (spec.hostname, spec.user, spec.port) == ("real1.example", "via-final", 2700)


def test_canonicalize_hostname_then_match_canonical(home, monkeypatch):
    from console.remote import canonical

    names = {"web.cluster.example.": "web.cluster.example"}
    monkeypatch.setattr(canonical, "_lookup", lambda name: names.get(name))
    cfg = write(
        home / "cfg",
        "CanonicalizeHostname yes\nCanonicalDomains lab.example cluster.example\n"
        "Match canonical host *.cluster.example\n  User canon\n  Port 2800\n",
    )
    spec = resolve(opts(ssh_config=cfg), "web")
    assert (spec.hostname, spec.user, spec.port) == ("web.cluster.example", "canon", 2800)
    strict = write(
        home / "cfg2", "CanonicalizeHostname yes\nCanonicalDomains lab.example\nCanonicalizeFallbackLocal no\n"
    )
    with pytest.raises(InputError, match="Could not resolve host"):
        resolve(opts(ssh_config=strict), "web")


def test_cli_login_port_identity_apply_to_the_target_not_its_jump_host(home, tmp_path):
    key = write(tmp_path / "k", "")
    cfg = write(home / "cfg", "Host gw\n  Port 2022\n  IdentityFile ~/.ssh/id_gw\nHost inner\n  ProxyJump ops@gw\n")
    write(home / ".ssh" / "id_gw", "")
    o = opts(ssh_config=cfg, user="cli", port=2400, identities=[key])
    target = resolve(o, "inner")
    assert (target.user, target.port, target.identities, target.proxy_jump) == ("cli", 2400, (key,), "ops@gw")
    hop = resolve(o, "ops@gw", jump_host=True)
    assert (hop.user, hop.port, hop.identities) == ("ops", 2022, (home / ".ssh" / "id_gw",))
    assert resolve(o, "gw", jump_host=True).user == getpass.getuser()


def test_strict_host_key_checking_and_known_hosts_files_per_host(home):
    cfg = write(
        home / "cfg",
        "Host fresh-*\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        "Host *\n  GlobalKnownHostsFile /etc/cluster_known_hosts\n  HashKnownHosts yes\n",
    )
    spec = resolve(opts(ssh_config=cfg), "fresh-17")
    assert (spec.strict, spec.known_hosts) == ("no", (Path("/dev/null"),))
    assert spec.global_known_hosts == (Path("/etc/cluster_known_hosts"),)
    assert spec.hash_known_hosts
    other = resolve(opts(ssh_config=cfg), "other")
    assert other.strict == "ask"  # OpenSSH's default; the console treats it as yes
    assert resolve(opts(ssh_config=cfg, accept_new=True), "fresh-1").strict == "accept-new"


def test_proxy_command_tokens_are_expanded(home):
    cfg = write(
        home / "cfg",
        "Host p*\n  HostName 10.0.0.%h\n  Port 2900\n  User u\n  ProxyCommand ssh -W %h:%p gw # %n %r %%\n",
    )
    spec = resolve(opts(ssh_config=cfg), "p1")
    assert spec.proxy_command == "ssh -W 10.0.0.p1:2900 gw # p1 u %"


def test_connect_arguments_carry_what_ssh_config_says(home, tmp_path):
    """asyncssh reads no ssh_config of its own: every value it needs is passed explicitly."""
    from console.remote.connectargs import connect_kwargs
    from console.remote.hostkeys import HostKeyCheck

    key = write(home / ".ssh" / "id_n", "")
    cfg = write(
        home / "cfg",
        "Host n\n  HostName 10.0.0.9\n  Port 2201\n  User op\n"
        "  IdentityFile ~/.ssh/id_n\n  SetEnv A=1 B=two\n  SendEnv LANG\n"
        "  ForwardAgent yes\n  IdentityAgent none\n"
        "Host fresh\n  StrictHostKeyChecking no\n  ForwardAgent yes\n",
    )
    spec = resolve(opts(ssh_config=cfg), "n")
    check = HostKeyCheck(known=None, files=spec.known_hosts)  # type: ignore[arg-type]
    kw = connect_kwargs(spec, opts(), None, check, object, [str(key)])
    assert (kw["host"], kw["port"], kw["username"], kw["config"]) == ("10.0.0.9", 2201, "op", [])
    assert kw["env"] == {"A": "1", "B": "two"} and kw["send_env"] == ["LANG"]
    assert kw["agent_forwarding"] is True and kw["agent_path"] is None  # IdentityAgent none
    assert kw["known_hosts"] == check.trusted
    fresh = resolve(opts(ssh_config=cfg), "fresh")
    kw = connect_kwargs(fresh, opts(), None, HostKeyCheck(known=None, files=()), object, ())  # type: ignore[arg-type]
    assert (kw["agent_forwarding"], kw["password_auth"], kw["kbdint_auth"]) == (False, False, False)


def test_aes_gcm_is_preferred_unless_ssh_config_names_the_ciphers(home):
    """asyncssh's chacha20-poly1305 costs ~7x AES-GCM's CPU per packet: without a Ciphers
    line the console offers AES-GCM first (the same set as OpenSSH), with one it sends the
    operator's list unchanged."""
    from asyncssh.encryption import get_encryption_algs

    from console.remote.connectargs import connect_kwargs
    from console.remote.hostkeys import HostKeyCheck

    cfg = write(home / "cfg", "Host pinned\n  Ciphers chacha20-poly1305@openssh.com\n")
    check = HostKeyCheck(known=None, files=())  # type: ignore[arg-type]
    kw = connect_kwargs(resolve(opts(ssh_config=cfg), "n"), opts(), None, check, object, ())
    offered = kw["encryption_algs"].split(",")
    assert offered[0] == "aes128-gcm@openssh.com"
    assert {a.encode() for a in offered} <= set(get_encryption_algs())
    assert "chacha20-poly1305@openssh.com" in offered
    kw = connect_kwargs(resolve(opts(ssh_config=cfg), "pinned"), opts(), None, check, object, ())
    assert kw["encryption_algs"] == "chacha20-poly1305@openssh.com"


def test_F_none_reads_no_config_at_all(home, tmp_path):
    write(home / ".ssh" / "config", "Host *\n  Port 2201\n")
    system = write(tmp_path / "etc" / "ssh_config", "Host *\n  User sysuser\n")
    o = SSHOptions.from_args(cli("-F", "none"))
    spec = resolve(opts(ssh_config=o.ssh_config, system_config=system), "x")
    assert (spec.port, spec.user, spec.config_paths) == (22, getpass.getuser(), ())


def test_a_file_ssh_refuses_is_refused_before_any_connection(home, tmp_path):
    """Whatever the host: the CLI stops with one input error (exit 2) naming file and line."""
    inc = write(tmp_path / "inc" / "10-x.conf", "Host *\n  Port 22\n  Hostnmae typo\n")
    cfg = write(home / "cfg", f"Host nothing\n  Include {tmp_path / 'inc'}/*.conf\n")
    with pytest.raises(InputError) as err:
        SSHOptions.from_args(cli("-F", str(cfg)))
    assert err.value.path == str(inc) and "line 3: Bad configuration option: hostnmae" in err.value.detail
    ok = write(home / "ok", "IgnoreUnknown Hostnmae\n" + cfg.read_text())
    assert SSHOptions.from_args(cli("-F", str(ok))).ssh_config == ok
    with pytest.raises(InputError, match="Bad port"):
        SSHOptions.from_args(cli("-F", str(write(home / "p", "Host x\n  Port 70000\n"))))
