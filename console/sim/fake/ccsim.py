"""Shared helpers of the fake tools: state, the busy counter, hangs, output."""

from __future__ import annotations

import os
import sys
import time

BUSY = "hccn_tool is busy, please try again."


class _ScanContext:
    """What json's C scanner reads from a JSONDecoder (plain JSON, no hooks)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = None
    memo: dict = {}  # noqa: RUF012 - a plain class attribute, as the C scanner reads it (no typing import: start-up)


def load(path: str) -> dict:
    """The server's state. Uses json's C scanner directly: ``import json`` pulls in ``re``
    and ``enum`` and costs a third of the tool's start-up; plain ``json`` is the fallback."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        import _json

        # the C scanner only reads the context's attributes; typeshed wants a JSONDecoder
        return _json.make_scanner(_ScanContext)(text.strip(), 0)[0]  # type: ignore[arg-type]
    except (ImportError, AttributeError):
        import json

        return json.loads(text)


_CLUSTER: dict[str, dict] = {}


def cluster(state: dict) -> dict:
    """The cluster-wide tables (``peers``: address -> [server, device, card, link];
    ``peer_tls``: address -> TLS switch), kept once per cluster, read on first use only:
    most calls never need them."""
    path = state["cluster"]
    if path not in _CLUSTER:
        _CLUSTER[path] = load(path)
    return _CLUSTER[path]


def peers(state: dict) -> dict:
    """The peer table: the state's own when it has one, else the cluster's."""
    return state["peers"] if "peers" in state else cluster(state)["peers"]


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def take_busy(state: dict) -> bool:
    """True while the server's first ``busy`` calls are not used up (counted under a lock)."""
    limit = state.get("busy", 0)
    if limit <= 0:
        return False
    import fcntl

    fd = os.open(state["busy_file"], os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 32).decode().strip()
        count = int(raw) if raw.isdigit() else 0
        if count >= limit:
            return False
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(count + 1).encode())
        return True
    finally:
        os.close(fd)


def hang_if_asked(state: dict, device: int, command: str | None) -> None:
    """Sleep until killed when a hang fault matches this device and command."""
    for dev, cmd in state.get("hang", []):
        if dev not in (None, device):
            continue
        if cmd is not None and cmd.lstrip("-") != (command or "").lstrip("-"):
            continue
        while True:
            time.sleep(3600)
