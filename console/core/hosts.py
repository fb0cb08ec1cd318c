"""Host lists: ClusterShell NodeSet expressions, ``user@host:port`` items and hostfiles.

``node[01-16]``, ``10.0.0.[1-4]``, several items separated by commas or spaces,
``root@node[1-2]:2222``, and ``@FILE`` (one host per line, ``#`` comments, DeepSpeed's
``host slots=N`` lines). Order is kept as written, duplicates are removed, and a bad
expression is an error that quotes the bad part.

Pure: reading a hostfile is done by the ``read_file`` callable the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ClusterShell.NodeSet import NodeSet, NodeSetException
from pydantic import BaseModel

from console.core.errors import InputError

_PORT = re.compile(r"^(?P<host>.*?):(?P<port>\d+)$")
_SLOTS = re.compile(r"\s+slots\s*=\s*\d+\s*$")


class HostTarget(BaseModel, frozen=True):
    """One SSH target. ``host`` is a name or address; user and port override ssh_config."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        text = self.host if ":" not in self.host else f"[{self.host}]"
        if self.user:
            text = f"{self.user}@{text}"
        if self.port is not None or ":" in self.host:
            text = f"{text}:{self.port}" if self.port is not None else text
        return text


def split_items(expr: str) -> list[str]:
    """Split on commas and whitespace that are outside ``[...]``."""
    items: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in expr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        if depth == 0 and (ch == "," or ch.isspace()):
            if cur:
                items.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if cur:
        items.append("".join(cur))
    return items


def _split_user_port(item: str) -> tuple[str | None, str, int | None]:
    user = None
    if "@" in item:
        user, _, item = item.rpartition("@")
        if not user or not item:
            raise InputError("bad host expression", f"'{user}@{item}': empty user or host")
    port = None
    v6 = re.fullmatch(r"\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\](?::(\d+))?", item)
    if v6:  # [::1]:22 — an IPv6 address, not a NodeSet range
        return user, v6.group(1), int(v6.group(2)) if v6.group(2) else None
    if item.count(":") > 1:  # bare IPv6 address
        return user, item, None
    m = _PORT.match(item)
    if m:
        item, port = m.group("host"), int(m.group("port"))
        if not 0 < port < 65536:
            raise InputError("bad host expression", f"'{m.group(0)}': port {port} is out of range 1-65535")
    return user, item, port


def _expand(item: str) -> list[HostTarget]:
    user, body, port = _split_user_port(item)
    if ":" in body:
        return [HostTarget(host=body, user=user, port=port)]
    try:
        names = list(NodeSet(body))
    except NodeSetException as exc:
        raise InputError("bad host expression", f"'{item}': {exc}") from None
    if not names:
        raise InputError("bad host expression", f"'{item}' names no host")
    return [HostTarget(host=n, user=user, port=port) for n in names]


def hostfile_items(text: str, source: str = "hostfile") -> list[tuple[int, str]]:
    """Hostfile lines -> ``(line number, host expression)`` pairs. Errors name the file and line."""
    items: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        line = _SLOTS.sub("", line)  # DeepSpeed: "worker-1 slots=8"
        if "=" in line:
            raise InputError("bad hostfile line", f"'{raw.strip()}'", path=f"{source}:{lineno}")
        items.extend((lineno, item) for item in split_items(line))
    return items


def parse_hostfile(text: str, source: str = "hostfile") -> list[str]:
    """Hostfile lines -> host expressions. Errors name the file and line."""
    return [item for _, item in hostfile_items(text, source)]


def _hostfile_targets(text: str, source: str) -> list[HostTarget]:
    """Every target of a hostfile; a bad expression is reported as ``FILE:LINE: ...``."""
    targets: list[HostTarget] = []
    for lineno, item in hostfile_items(text, source):
        try:
            targets += parse_hosts(item)
        except InputError as exc:
            raise InputError(exc.title, exc.detail, path=f"{source}:{lineno}", hint=exc.hint) from None
    return targets


def parse_hosts(
    exprs: str | Iterable[str],
    read_file: Callable[[str], str] | None = None,
) -> list[HostTarget]:
    """Expand host expressions into targets, in the order written, without duplicates."""
    if isinstance(exprs, str):
        exprs = [exprs]
    out: list[HostTarget] = []
    seen: set[HostTarget] = set()
    for expr in exprs:
        for item in split_items(expr):
            if item.startswith("@"):
                if read_file is None:
                    raise InputError("hostfiles are not accepted here", f"'{item}'")
                targets = _hostfile_targets(read_file(item[1:]), item[1:])
            else:
                targets = _expand(item)
            for t in targets:
                if t not in seen:
                    seen.add(t)
                    out.append(t)
    if not out:
        raise InputError("no hosts given", "expected e.g. node[01-16] or 10.0.0.[1-4] or @hostfile")
    return out


def fold(hosts: Iterable[str]) -> str:
    """Fold host names into a NodeSet string, as clush -b does: 127.0.0.[11-12,14]."""
    hosts = list(hosts)
    try:
        return str(NodeSet.fromlist(hosts))
    except NodeSetException:
        return ",".join(hosts)
