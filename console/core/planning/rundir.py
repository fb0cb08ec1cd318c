"""Where a launch keeps its files on the servers: one private run folder per server.

Pure naming rules (the folders are made by ``console.ops.rundir``): every launch gets, on
every server, ``<base>/<run id>/<server>`` (``base`` default ``~/.cache/cluster-console/runs``,
``~`` = the remote user's home, resolved on the server). The rank table goes into it as
``ranktable.json`` unless an explicit remote path is given; ``{upload_dir}`` is that folder.
Every rank also carries ``CLUSTER_CONSOLE_RUN=<run id>`` and ``CLUSTER_CONSOLE_SERVER=<server_id>``
in its environment, so the host agent can find (and end) every process of the run.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from console.core.errors import InputError

DEFAULT_RUN_BASE = "~/.cache/cluster-console/runs"
RANKTABLE_NAME = "ranktable.json"
RUN_MARKER = "CLUSTER_CONSOLE_RUN"
SERVER_MARKER = "CLUSTER_CONSOLE_SERVER"
PENDING_RUN_ID = "<run-id>"
"""Shown in a plan built without a run id; ``console.ops.launch`` binds the real one."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def check_run_base(base: str, where: str) -> None:
    """An absolute folder or one under ``~/``; no ``..``, no control characters."""
    if not (base.startswith("/") or base == "~" or base.startswith("~/")):
        raise InputError(f"upload_base {base!r} must be an absolute path or start with ~/", path=where)
    if ".." in base.split("/") or any(ord(c) < 32 for c in base):
        raise InputError(f"upload_base {base!r} may not contain '..' or control characters", path=where)


def folder_names(server_ids: Iterable[str]) -> dict[str, str]:
    """server_id -> a file-name-safe, unique folder name (``10.0.0.1``, ``fe80__1``...)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for k, sid in enumerate(server_ids):
        name = _UNSAFE.sub("_", sid).lstrip(".") or f"server{k}"
        if name in used:
            name = f"{name}-{k}"
        used.add(name)
        names[sid] = name
    return names


def run_dirs(base: str, run_id: str, server_ids: Iterable[str]) -> dict[str, str]:
    """server_id -> ``<base>/<run id>/<server>`` (``~`` not yet resolved)."""
    return {sid: posixpath.join(base, run_id, name) for sid, name in folder_names(server_ids).items()}
