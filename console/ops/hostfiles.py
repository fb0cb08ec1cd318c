"""HOSTS arguments -> SSH targets, reading ``@hostfile`` items from disk.

The parsing is pure (``console.core.hosts``); this module only supplies the file reader, so
the CLI and the Nodes pane expand host lists the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.core.errors import InputError
from console.core.hosts import MAX_HOSTS, HostTarget, parse_hosts


def read_hostfile(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError("cannot read hostfile", exc.strerror or str(exc), path=path) from None


def expand_hosts(exprs: str | Iterable[str], *, max_hosts: int = MAX_HOSTS) -> list[HostTarget]:
    """NodeSet expressions, ``user@host:port`` and ``@hostfile`` items -> targets, in order."""
    return parse_hosts(exprs, read_file=read_hostfile, max_hosts=max_hosts)
