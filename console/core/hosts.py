"""Host lists: ClusterShell NodeSet expressions, ``user@host:port`` items and hostfiles.

``node[01-16]``, ``10.0.0.[1-4]``, several items separated by commas or spaces,
``root@node[1-2]:2222``, and ``@FILE`` (one host per line, ``#`` comments, DeepSpeed's
``host slots=N`` lines). Order is kept as written, duplicates are removed, and a bad
expression is an error that quotes the bad part.

Every expanded host must be a strict SSH target (``console.core.targets``: an IP address or
an RFC 1123 name, a sane user name, a port 1-65535). Ranges are counted before anything is
expanded: more than ``max_hosts`` (default 100,000) hosts in all is refused at once, naming
the expression, instead of building millions of names.

Pure: reading a hostfile is done by the ``read_file`` callable the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ClusterShell.NodeSet import NodeSet, NodeSetException
from pydantic import BaseModel

from console.core.errors import InputError
from console.core.targets import (
    MAX_HOSTS,
    forbidden,
    host_problem,
    port_problem,
    quoted,
    user_problem,
)

_PORT = re.compile(r"^(?P<host>.*?):(?P<port>[^:\]]*)$")
_SLOTS = re.compile(r"\s+slots\s*=\s*\d+\s*$")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_OPERATORS = re.compile(r"[!&^]")


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


def _bad(item: str, part: str, why: str) -> InputError:
    where = quoted(item) if part == item else f"{quoted(part)} in {quoted(item)}"
    return InputError("bad host expression", f"{where} {why}")


def _split_user_port(item: str) -> tuple[str | None, str, int | None]:
    why = forbidden(item)
    if why:
        raise _bad(item, item, why)
    original, user = item, None
    if "@" in item:
        user, _, body = item.rpartition("@")
        if not user or not body:
            raise InputError("bad host expression", f"{quoted(item)}: empty user or host")
        why = user_problem(user)
        if why:
            raise _bad(item, user, why)
        item = body
    port = None
    v6 = re.fullmatch(r"\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\](?::([^:]*))?", item)
    if v6:  # [::1]:22 — an IPv6 address, not a NodeSet range
        item, port_s = v6.group(1), v6.group(2)
    elif item.count(":") > 1:  # bare IPv6 address
        return user, item, None
    else:
        m = _PORT.match(item)
        item, port_s = (m.group("host"), m.group("port")) if m else (item, None)
    if port_s is not None:
        why = port_problem(port_s)
        if why:
            raise _bad(original, port_s, why)
        port = int(port_s)
    return user, item, port


def count_upper_bound(body: str) -> int:
    """How many names a NodeSet expression can expand to, without expanding it: the product
    of the range sizes of each ``[...]`` group, summed over ``!``/``&``/``^`` operands (an
    upper bound; exact for plain ranges). Unparsable ranges count 1: NodeSet reports them."""
    total = 0
    for operand in _OPERATORS.split(body):
        n = 1
        for group in _BRACKETS.findall(operand):
            n *= _range_size(group)
        total += n
    return total


def _range_size(group: str) -> int:
    size = 0
    for part in group.split(","):
        span, _, step_s = part.partition("/")
        lo, sep, hi = span.partition("-")
        try:
            low, high, step = int(lo), int(hi if sep else lo), int(step_s or 1)
        except ValueError:
            size += 1
            continue
        size += (high - low) // step + 1 if high >= low and step > 0 else 1
    return size


def _too_many(item: str, n: int, limit: int) -> InputError:
    what = f"{quoted(item)} names {n:,} hosts" if n > 1 else f"{quoted(item)} brings the list"
    return InputError(
        "too many hosts",
        f"{what}: more than {limit:,} in all",
        hint="raise the limit with --max-hosts N if you mean it",
    )


def _parse_item(item: str) -> tuple[str | None, str, int | None, int]:
    """(user, NodeSet body or IPv6 address, port, upper bound of the host count)."""
    user, body, port = _split_user_port(item)
    if ":" in body:
        why = host_problem(body)
        if why:
            raise _bad(item, body, why)
        return user, body, port, 1
    return user, body, port, count_upper_bound(body)


def _expand(item: str, user: str | None, body: str, port: int | None) -> list[HostTarget]:
    if ":" in body:
        return [HostTarget(host=body, user=user, port=port)]
    try:
        names = list(NodeSet(body))
    except NodeSetException as exc:
        raise InputError("bad host expression", f"{quoted(item)}: {exc}") from None
    if not names:
        raise InputError("bad host expression", f"{quoted(item)} names no host")
    for name in names:
        why = host_problem(name)
        if why:
            raise _bad(item, name, why)
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
        if len(line.split()) > 1:  # "bad host" is a typo, not two servers
            raise InputError(
                "bad hostfile line",
                f"{quoted(raw.strip())}: one host expression per line (NodeSet ranges and "
                "commas allowed; words separated by spaces are not)",
                path=f"{source}:{lineno}",
            )
        items.extend((lineno, item) for item in split_items(line))
    return items


def parse_hostfile(text: str, source: str = "hostfile") -> list[str]:
    """Hostfile lines -> host expressions. Errors name the file and line."""
    return [item for _, item in hostfile_items(text, source)]


def _located(where: str | None, exc: InputError) -> InputError:
    return InputError(exc.title, exc.detail, path=where, hint=exc.hint) if where else exc


def _items(exprs: Iterable[str], read_file: Callable[[str], str] | None) -> list[tuple[str, str | None]]:
    """Every item with where it came from (``FILE:LINE`` for hostfile lines), hostfiles read."""
    items: list[tuple[str, str | None]] = []
    for expr in exprs:
        for item in split_items(expr):
            if not item.startswith("@"):
                items.append((item, None))
                continue
            if read_file is None:
                raise InputError("hostfiles are not accepted here", quoted(item))
            source = item[1:]
            for lineno, line_item in hostfile_items(read_file(source), source):
                if line_item.startswith("@"):
                    raise InputError("hostfiles are not accepted here", quoted(line_item), path=f"{source}:{lineno}")
                items.append((line_item, f"{source}:{lineno}"))
    return items


def parse_hosts(
    exprs: str | Iterable[str],
    read_file: Callable[[str], str] | None = None,
    *,
    max_hosts: int = MAX_HOSTS,
) -> list[HostTarget]:
    """Expand host expressions into targets, in the order written, without duplicates.

    Every item is checked and counted before any is expanded: more than ``max_hosts`` hosts
    (duplicates included) is an InputError naming the expression that went over."""
    if isinstance(exprs, str):
        exprs = [exprs]
    parsed = []
    total = 0
    for item, where in _items(exprs, read_file):
        try:
            user, body, port, n = _parse_item(item)
        except InputError as exc:
            raise _located(where, exc) from None
        total += n
        if total > max_hosts:
            raise _located(where, _too_many(item, n, max_hosts))
        parsed.append((item, where, user, body, port))
    out: list[HostTarget] = []
    seen: set[HostTarget] = set()
    for item, where, user, body, port in parsed:
        try:
            targets = _expand(item, user, body, port)
        except InputError as exc:
            raise _located(where, exc) from None
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
