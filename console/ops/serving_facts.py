"""Serving profiles: facts read from the servers before the plan (host NIC, MindIE's
config.json, the weights' permissions), for ``console.ops.serving.prepare`` and the CLI.

Paths on a server are read below ``${CLUSTER_CONSOLE_ROOT:-}`` (unset on real servers; the
simulator points it at each simulated server's root), as discovery does.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Mapping
from typing import Any

from console.core.errors import CheckFailed, RemoteError
from console.core.parsers.ip_addr import HostAddresses, parse_ip_addr
from console.core.planning.perserver import HostFacts
from console.core.serving import mindie

CONFIG_LIMIT = 4 << 20
"""Bytes of a server's config.json read at most."""
ROOT = '"${CLUSTER_CONSOLE_ROOT:-}"'


def _on_server(path: str) -> str:
    """Shell text for ``path`` below the simulator's root (nothing on real servers)."""
    return f"{ROOT}{shlex.quote(path)}"


async def host_facts(pool: Any, targets: Mapping[str, str]) -> dict[str, HostFacts]:
    """server_id -> its host IP and NIC: ``ip -o -4 addr show`` on each server (``targets``:
    server_id -> SSH host); the NIC is the one holding the server_id, else the address the
    console reached."""

    async def one(sid: str, host: str) -> tuple[str, HostFacts]:
        result = await pool.run(host, "ip -o -4 addr show")
        addrs = parse_ip_addr(result.stdout) if result.ok else None
        if not isinstance(addrs, HostAddresses):
            return sid, HostFacts()
        for address in (sid, await pool.peer_address(host)):
            nic = addrs.nic_of(address)
            if nic:
                return sid, HostFacts(host_ip=address, host_nic=nic)
        return sid, HostFacts()

    return dict(await asyncio.gather(*(one(s, h) for s, h in targets.items())))


async def read_text(pool: Any, host: str, path: str, limit: int = CONFIG_LIMIT) -> str:
    """A file on a server (below the sim root), at most ``limit`` bytes; RemoteError if absent."""
    result = await pool.run(host, f"head -c {limit + 1} -- {_on_server(path)}")
    if not result.ok:
        raise RemoteError(
            "cannot read the file",
            result.stderr.strip()[-300:] or f"exit {result.exit_status}",
            host=host,
            path=path,
            command=result.command,
        )
    if len(result.stdout.encode()) > limit:
        raise RemoteError("file too large", f"over {limit} bytes", host=host, path=path)
    return result.stdout


async def mindie_configs(
    pool: Any,
    table: Any,
    targets: Mapping[str, str],
    *,
    home: str,
    override: tuple[str, str] | None,
    tls: bool | None,
    port: int | None,
) -> dict[str, dict[str, Any]]:
    """server_id -> its derived config.json: from ``override`` (text, source) or each server's
    own ``<home>/conf/config.json``."""

    async def base(sid: str) -> dict[str, Any]:
        if override is not None:
            return mindie.parse_config(override[0], override[1])
        path = mindie.config_path(home)
        text = await read_text(pool, targets[sid], path)
        return mindie.parse_config(text, f"{targets[sid]}:{path}")

    bases = await asyncio.gather(*(base(s.server_id) for s in table.server_list))
    return {
        server.server_id: mindie.derive_config(b, mindie.container_ip(server), tls=tls, port=port)
        for server, b in zip(table.server_list, bases, strict=True)
    }


def config_bytes(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, indent=4, ensure_ascii=False) + "\n").encode()


_STAT = "stat -c '%a' -- {path} {conf} 2>&1; echo \"rc=$?\""


async def weights_problems(pool: Any, targets: Mapping[str, str], weights: str) -> list[tuple[str, str]]:
    """(host, problem) for every server where MindIE would refuse the weights folder: it must
    exist with mode 750 or stricter, its config.json 640 or stricter."""
    conf = weights.rstrip("/") + "/config.json"
    script = _STAT.format(path=_on_server(weights), conf=_on_server(conf))

    async def one(host: str) -> list[tuple[str, str]]:
        result = await pool.run(host, script)
        lines = [x.strip() for x in result.stdout.splitlines() if x.strip()]
        modes = [x for x in lines if x.isdigit()]
        if len(modes) != 2:
            why = next((x for x in lines if not x.startswith("rc=")), "missing")
            return [(host, f"weights folder {weights} (ModelDeployConfig) or its config.json: {why}")]
        out = []
        for what, mode, most in ((weights, int(modes[0], 8), 0o750), (conf, int(modes[1], 8), 0o640)):
            if mode & ~most:
                why = f"{what} has mode {mode:o}; MindIE needs {most:o} or stricter (else `Check_path: ... failed`)"
                out.append((host, why))
        return out

    found = await asyncio.gather(*(one(h) for h in dict.fromkeys(targets.values())))
    return [p for group in found for p in group]


def raise_weights(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise CheckFailed(
            f"MindIE weights check found {len(problems)} problem(s)",
            "\n  " + "\n  ".join(f"{h}: {p}" for h, p in problems),
            hint="chmod 750 the weights folder and 640 its config.json on every server",
        )
