"""Host name canonicalisation as OpenSSH's ssh.c resolve_canonicalize() (CanonicalizeHostname,
CanonicalDomains, CanonicalizeMaxDots, CanonicalizeFallbackLocal, CanonicalizePermittedCNAMEs).

It asks the system resolver (getaddrinfo), so it blocks; it only runs when ssh_config turns
canonicalisation on, or to normalise a numeric address (``10.1`` is ``10.0.0.1``, as in ssh).
"""

from __future__ import annotations

import socket

from .sshconfig import SSHConfigError
from .sshkeywords import match_list


def _numeric(host: str) -> str | None:
    try:
        info = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    try:
        return socket.getnameinfo(info[0][4], socket.NI_NUMERICHOST)[0]
    except (socket.gaierror, OSError):
        return None


def is_address(host: str) -> bool:
    return _numeric(host) is not None


def _lookup(name: str) -> str | None:
    """The canonical name getaddrinfo reports for ``name``, None when it does not resolve."""
    try:
        info = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)
    except (socket.gaierror, UnicodeError):
        return None
    return (info[0][3] if info else "") or ""


def _follow_cname(name: str, cname: str, opts: dict[str, object], direct: bool, mode: str) -> str:
    rules = opts.get("canonicalizepermittedcnames")
    if not cname or not isinstance(rules, list) or rules == ["none"] or name == cname:
        return name
    if not direct and mode != "always":
        return name
    for rule in rules:
        source, _, target = rule.lower().partition(":") if rule != "*" else ("*", "", "*")
        if match_list(name, source, lower=True) == 1 and match_list(cname, target, lower=True) == 1:
            return cname
    return name


def canonicalize(host: str, opts: dict[str, object], mode: str) -> str:
    """The host name ssh would use; SSHConfigError when it must not fall back (as ssh fatal)."""
    numeric = _numeric(host)
    if numeric is not None:
        return numeric if numeric.lower() != host.lower() else host
    if mode == "no":
        return host
    jump = opts.get("proxyjump")
    command = opts.get("proxycommand")
    direct = (command is None or str(command).lower() == "none") and (jump is None or jump == "none")
    if not direct and mode != "always":
        return host
    if host.endswith("."):
        if _lookup(host) is not None:
            return host[:-1]
        return _not_found(host, opts)
    max_dots = opts.get("canonicalizemaxdots", 1)
    if host.count(".") > int(str(max_dots)):
        return host
    domains = opts.get("canonicaldomains")
    for domain in domains if isinstance(domains, list) else []:
        if domain.lower() == "none":
            break
        full = f"{host}.{domain}."
        cname = _lookup(full)
        if cname is None:
            continue
        return _follow_cname(full[:-1], cname, opts, direct, mode)
    return _not_found(host, opts)


def _not_found(host: str, opts: dict[str, object]) -> str:
    if opts.get("canonicalizefallbacklocal", True) is False:
        raise SSHConfigError(f'Could not resolve host "{host}" (CanonicalizeFallbackLocal no)')
    return host
