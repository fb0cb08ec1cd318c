"""HOSTS arguments -> SSH targets, reading ``@hostfile`` items from disk.

The parsing is pure (``console.core.hosts``); this module only supplies the file reader, so
the CLI and the Nodes pane expand host lists the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.core.errors import InputError
from console.core.hosts import HostTarget, parse_hosts
from console.core.targets import MAX_HOSTS

MAX_HOSTFILE_BYTES = 16 << 20
"""A hostfile larger than this (about 16 MiB, far above 100,000 hosts) is refused unread."""


def read_hostfile(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_HOSTFILE_BYTES + 1)
    except OSError as exc:
        raise InputError("cannot read hostfile", exc.strerror or str(exc), path=path) from None
    if len(data) > MAX_HOSTFILE_BYTES:
        raise InputError("hostfile too large", f"more than {MAX_HOSTFILE_BYTES >> 20} MiB", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"hostfile is not UTF-8 text (byte {exc.start})", path=path) from None


def expand_hosts(exprs: str | Iterable[str], *, max_hosts: int = MAX_HOSTS) -> list[HostTarget]:
    """NodeSet expressions, ``user@host:port`` and ``@hostfile`` items -> targets, in order."""
    return parse_hosts(exprs, read_file=read_hostfile, max_hosts=max_hosts)
