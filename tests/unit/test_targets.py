"""Strict SSH targets (issue 10, item 2): addresses and RFC 1123 names only, refused text quoted."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.errors import InputError
from console.core.hosts import parse_hosts
from console.core.profiles import parse_host_items
from console.core.targets import check_target, host_problem, is_host, split_target

EVIL = "[x:1 '-oProxyCommand=touch /tmp/p' z]"


@pytest.mark.parametrize(
    "target, parts",
    [
        ("node1", (None, "node1", None)),
        ("root@node-01.cluster.local:2222", ("root", "node-01.cluster.local", 2222)),
        ("10.0.0.1", (None, "10.0.0.1", None)),
        ("svc.user@10.0.0.1:22", ("svc.user", "10.0.0.1", 22)),
        ("fe80::1", (None, "fe80::1", None)),
        ("[::1]:2200", (None, "::1", 2200)),
        ("u@[2001:db8::7]", ("u", "2001:db8::7", None)),
        ("node.", (None, "node.", None)),
    ],
)
def test_good_targets(target, parts):
    assert split_target(target) == parts


@pytest.mark.parametrize(
    "target, why",
    [
        (EVIL, "whitespace"),
        ("-oProxyCommand=touch", "starts with '-'"),
        ("node1 -v", "whitespace"),
        ("no'de", "quote"),
        ('no"de', "quote"),
        ("no`de", "quote"),
        ("node%h", "'%'"),
        ("fe80::1%eth0", "'%'"),
        ("node\x1b[31m", "control character"),
        ("node\n", "whitespace"),
        ("node;id", "neither an IP address nor a host name"),
        ("node$(id)", "neither an IP address nor a host name"),
        ("node/1", "neither an IP address nor a host name"),
        ("-node", "starts with '-'"),
        ("node-", "neither an IP address nor a host name"),
        ("a..b", "neither an IP address nor a host name"),
        ("x" * 64, "neither an IP address nor a host name"),
        (".".join(["a" * 60] * 5), "characters long"),
        ("10.0.0.256", "not a valid IPv4 address"),
        ("1:2:3", "not a valid IPv6 address"),
        ("root;x@node", "is not a user name"),
        ("-l@node", "starts with '-'"),
        ("@node", "empty user name"),
        ("node:0", "not a port number"),
        ("node:65536", "not a port number"),
        ("node:22x", "not a port number"),
        ("node:", "not a port number"),
        ("[::1]x", "[IPv6-address]"),
        ("", "empty host"),
    ],
)
def test_bad_targets_are_refused_quoting_the_text(target, why):
    with pytest.raises(InputError) as info:
        check_target(target)
    text = str(info.value)
    assert why in text
    assert repr(target) in text or any(repr(p) in text for p in re.split(r"[@:]", target) if p)
    assert "\x1b" not in text and "\n  hint" in text  # control characters never printed raw


@given(st.text(max_size=40))
def test_any_text_either_passes_strictly_or_is_refused(text):
    try:
        user, host, port = split_target(text)
    except InputError as exc:
        assert exc.exit_code == 2
        return
    for ch in text:  # what passed has none of the characters an attacker needs
        assert ch.isascii() and ch.isprintable() and ch not in " \t'\"`%$;&|<>(){}\\*?!#~"
    assert not text.startswith("-") and not host.startswith("-")
    assert user is None or re.fullmatch(r"[A-Za-z0-9._][A-Za-z0-9._-]*", user)
    assert port is None or 1 <= port <= 65535
    assert is_host(host)


@given(st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,10}[a-z0-9])?){0,3}", fullmatch=True))
def test_rfc1123_names_pass(name):
    assert host_problem(name) is None


@given(st.ip_addresses())
def test_every_ip_address_passes(addr):
    assert is_host(str(addr))
    text = f"[{addr}]:22" if isinstance(addr, ipaddress.IPv6Address) else f"{addr}:22"
    assert split_target(text) == (None, str(addr), 22)


def test_hosts_argument_refuses_evil_names_quoting_them():
    for bad in (EVIL, "node[1-2]%h", "-oProxyCommand=x", "bad\x07name", "root@[::1 ]"):
        with pytest.raises(InputError) as info:
            parse_hosts(f"good1,{bad}")
        assert "good1" not in str(info.value) and "\x07" not in str(info.value)


def test_underscores_are_accepted_as_ssh_accepts_them():
    assert [str(t) for t in parse_hosts("gpu_[01-02]")] == ["gpu_01", "gpu_02"]


def test_expanded_names_are_checked_too():
    with pytest.raises(InputError, match="'node-1-'"):
        parse_hosts("node-[1-2]-")
    with pytest.raises(InputError, match=r"'10\.0\.0\.256'"):
        parse_hosts("10.0.0.[255-256]")


def test_hostfile_evil_line_is_refused_naming_the_line():
    files = {"hosts": f"node1 slots=8\n{EVIL} slots=8\n"}
    with pytest.raises(InputError) as info:
        parse_hosts("@hosts", read_file=files.__getitem__)
    assert info.value.path == "hosts:2" and "-oProxyCommand" in str(info.value)


def test_host_mapping_target_is_checked():
    assert parse_host_items(["10.0.0.1=root@node1:2222"]) == {"10.0.0.1": "root@node1:2222"}
    for bad in ("10.0.0.1=-oProxyCommand=touch", f"10.0.0.1={EVIL}", "10.0.0.1=node%h"):
        with pytest.raises(InputError) as info:
            parse_host_items([bad])
        assert "--host" in str(info.value) and info.value.exit_code == 2
