"""Strict SSH targets: ``[user@]host[:port]`` where host is an IP address or an RFC 1123 name
(``_`` allowed, as OpenSSH allows it).

Every name the console hands to SSH goes through here first: hosts on the command line and in
hostfiles, ``--host`` mappings, rank-table ``server_id``\\ s. A rank table received from someone
else is not trusted, and ssh_config expands ``%h`` into ``ProxyCommand`` lines, so a name like
``x '-oProxyCommand=touch /tmp/p'`` must never reach a connection (OpenSSH refuses such names
itself since 9.6). Whitespace, quotes, ``%``, control characters and a leading ``-`` are
refused with the offending text quoted (control characters escaped, never printed raw).

Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re

from console.core.errors import InputError

MAX_NAME = 253
MAX_HOSTS = 100_000
"""Default limit on the number of hosts in one host list (``--max-hosts`` raises it)."""
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
"""An RFC 1123 label, plus '_': OpenSSH accepts it and ssh_config aliases like ``gpu_01`` are
common; it is no shell or ssh_config metacharacter."""
_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}\Z")
"""POSIX portable user names: the portable filename characters, not starting with '-'."""
_PORT = re.compile(r"[0-9]{1,5}\Z")
_QUOTES = "'\"`"


def quoted(text: str) -> str:
    """``text`` in quotes with control characters escaped (Python's repr): safe to print."""
    return repr(text)


def forbidden(text: str) -> str | None:
    """Why ``text`` can never be part of an SSH target (None when nothing is wrong)."""
    if text.startswith("-"):
        return "starts with '-' (ssh would read it as an option)"
    for ch in text:
        if ch.isspace():
            return "contains whitespace"
        if ch in _QUOTES:
            return f"contains a quote ({ch})"
        if ch == "%":
            return "contains '%' (ssh_config expands %-tokens)"
        if ord(ch) < 32 or ord(ch) == 127 or not ch.isprintable():
            return "contains a control character"
    return None


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_problem(host: str) -> str | None:
    """None when ``host`` is an IPv4/IPv6 address or an RFC 1123 host name, else why not."""
    bad = forbidden(host)
    if bad:
        return bad
    if not host:
        return "is empty"
    if is_ip(host):
        return None
    if ":" in host:
        return "is not a valid IPv6 address"
    name = host.removesuffix(".")
    if re.fullmatch(r"[0-9.]+", name):
        return "is not a valid IPv4 address"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long: host names have at most {MAX_NAME}"
    for label in name.split("."):
        if not _LABEL.match(label):
            return (
                "is neither an IP address nor a host name (RFC 1123: letters, digits, '-' and "
                "'_', dot-separated labels of 1-63 characters not starting or ending with '-')"
            )
    return None


def is_host(text: str) -> bool:
    """An IPv4/IPv6 address or an RFC 1123 host name."""
    return host_problem(text) is None


def user_problem(user: str) -> str | None:
    bad = forbidden(user)
    if bad:
        return bad
    if not _USER.match(user):
        return "is not a user name (letters, digits, '.', '_', '-'; at most 64; not starting with '-')"
    return None


def port_problem(port: str) -> str | None:
    if not _PORT.match(port) or not 1 <= int(port) <= 65535:
        return "is not a port number 1-65535"
    return None


def _refuse(what: str, target: str, part: str, why: str) -> InputError:
    where = f"{quoted(part)} in {quoted(target)}" if part != target else quoted(target)
    return InputError(
        f"bad {what}", f"{where} {why}", hint="expected [user@]host[:port], host an IP address or a host name"
    )


def split_target(target: str, what: str = "SSH target") -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (IPv6 as ``[addr]:port`` or bare) -> (user, host, port), strictly.

    Raises InputError quoting the offending text."""
    bad = forbidden(target)
    if bad:
        raise _refuse(what, target, target, bad)
    user, at, rest = target.rpartition("@")
    if at:
        why = user_problem(user) if user else "is an empty user name"
        if why:
            raise _refuse(what, target, user, why)
    port_s: str | None = None
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")) or ":" not in host:
            raise _refuse(what, target, rest, "is not [IPv6-address] or [IPv6-address]:port")
        port_s = tail[1:] if tail else None
    elif rest.count(":") == 1:
        host, port_s = rest.split(":")
    else:
        host = rest
    why = host_problem(host)
    if why:
        raise _refuse(what, target, host or target, why if host else "has an empty host")
    if port_s is not None:
        why = port_problem(port_s)
        if why:
            raise _refuse(what, target, port_s, why)
    return (user if at else None), host, int(port_s) if port_s is not None else None


def check_target(target: str, what: str = "SSH target") -> str:
    """``target`` itself when it is a strict SSH target; InputError quoting the bad part otherwise."""
    split_target(target, what)
    return target
