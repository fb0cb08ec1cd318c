"""vLLM-Ascend data parallel without Ray (ascend.md section 5): every server runs ``vllm serve``
with the same ``--data-parallel-size`` / ``--data-parallel-address`` / rpc port, its own
``--data-parallel-size-local`` and ``--data-parallel-start-rank``; all but the first add
``--headless``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from console.core.errors import InputError
from console.core.planning.layout import check_sizes

DEFAULT_HTTP_PORT = 8000
DEFAULT_RPC_PORT = 13389
READY_LINE = "Application startup complete"


class DpShare(BaseModel):
    dp_local: int
    start: int


def dp_layout(devices: Sequence[tuple[str, int]], tp: int | None) -> tuple[int, int, list[DpShare]]:
    """``devices``: (server_id, device count) in table order -> (dp, tp, each server's share).
    ``tp`` default: the first server's device count. dp x tp = world size is checked with the
    layout planner's words; each server must hold whole TP groups."""
    world = sum(n for _, n in devices)
    tp = tp if tp is not None else devices[0][1]
    dp = check_sizes(world, tp, 1, None, 1)
    shares, start = [], 0
    for sid, count in devices:
        if count % tp:
            raise InputError(
                f"server {sid} has {count} devices, not a multiple of tp = {tp}",
                hint="vLLM's data-parallel ranks hold tp devices of one server each",
            )
        shares.append(DpShare(dp_local=count // tp, start=start))
        start += count // tp
    return dp, tp, shares


def serve_args(
    model: str,
    *,
    dp: int,
    share: DpShare,
    address: str,
    rpc_port: int,
    tp: int,
    http_port: int,
    first: bool,
    extra: Sequence[str],
) -> list[str]:
    """``vllm serve`` argv for one server (the operator's flags after ours)."""
    args = [
        "vllm",
        "serve",
        model,
        "--data-parallel-size",
        str(dp),
        "--data-parallel-size-local",
        str(share.dp_local),
        "--data-parallel-start-rank",
        str(share.start),
        "--data-parallel-address",
        address,
        "--data-parallel-rpc-port",
        str(rpc_port),
        "--tensor-parallel-size",
        str(tp),
        "--port",
        str(http_port),
        *extra,
    ]
    return args if first else [*args, "--headless"]


_ENGINE = (re.compile(r"\b[Ee]ngine (\d+)\b"), re.compile(r"unexpected data parallel rank: (\d+)"))


def blamed_dp_rank(lines: Sequence[str]) -> tuple[int, str] | None:
    """(data-parallel rank, line) when vLLM's head names the engine it refused
    (``Remote engine R must use --headless ...``, ``Configuration mismatch detected for engine R``,
    ``unexpected data parallel rank: R``), newest line first."""
    for line in reversed(lines):
        if "Error" not in line:
            continue
        for pattern in _ENGINE:
            m = pattern.search(line)
            if m:
                return int(m.group(1)), line
    return None
