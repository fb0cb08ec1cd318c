"""Plans for the serving profiles: the per-server placeholder values, the parallel sizes and
where the first request goes (``ServingTarget``).

* ``vllm-ascend``: ``-- MODEL [vllm flags]``; dp, dp_local, start from the table and ``--tp``
  (``console.core.serving.vllm``); the first server serves HTTP on ``{http_port}``.
* ``mindie-service``: MindIE's rank-table rules are errors; each server's config.json is
  derived by ``console.core.serving.mindie`` (the ops layer reads and uploads it); the first
  server serves HTTP at its ``ServerConfig.ipAddress:port``.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from console.core.errors import CheckFailed, InputError
from console.core.profiles import Profile
from console.core.serving import mindie, vllm
from console.core.serving.openai import Api


class ServingTarget(BaseModel):
    """Where the service answers once it is ready (the first server of the table)."""

    kind: str
    server_id: str
    address: str = Field(description="The address the service listens on, on that server")
    port: int
    api: Api
    model: str
    https: bool = False


class ServingSetup(BaseModel):
    """What ``build_launch_plan`` gets for a serving profile."""

    args: list[str] = Field(description="CLI args left for the command (the operator's flags)")
    values: dict[str, dict[str, str]] = Field(description="server_id -> placeholder values")
    parallel: dict[str, int] = Field(default_factory=dict)
    target: ServingTarget


def vllm_setup(
    table: Any, profile: Profile, args: Sequence[str], *, tp: int | None, http_port: int | None, rpc_port: int | None
) -> ServingSetup:
    if not args:
        raise InputError(
            f"profile {profile.name} needs the model after --",
            hint="e.g. -- /data/Qwen2.5-7B-Instruct --max-model-len 4096",
        )
    model, rest = args[0], list(args[1:])
    servers = table.server_list
    dp, tp, shares = vllm.dp_layout([(s.server_id, len(s.device)) for s in servers], tp)
    http = http_port or profile.http_port or vllm.DEFAULT_HTTP_PORT
    rpc = rpc_port or profile.rpc_port or vllm.DEFAULT_RPC_PORT
    values = {
        s.server_id: {
            "model": shlex.quote(model),
            "dp_local": str(share.dp_local),
            "dp_start": str(share.start),
            "rpc_port": str(rpc),
            "http_port": str(http),
            "headless": "" if i == 0 else "--headless",
        }
        for i, (s, share) in enumerate(zip(servers, shares, strict=True))
    }
    first = servers[0]
    return ServingSetup(
        args=rest,
        values=values,
        parallel={"tp": tp, "dp": dp},
        target=ServingTarget(
            kind="vllm-ascend",
            server_id=first.server_id,
            address=first.server_id,
            port=http,
            api="completions",
            model=model,
        ),
    )


def check_mindie_table(table: Any) -> None:
    problems = mindie.rank_table_problems(table)
    if problems:
        raise CheckFailed(
            "the rank table breaks MindIE Service's rules",
            "\n  " + "\n  ".join(problems),
            hint="mindieservice_daemon refuses such a table; fix it (`cluster-console ranktable validate`)",
        )


def mindie_setup(table: Any, profile: Profile, args: Sequence[str], configs: dict[str, dict[str, Any]]) -> ServingSetup:
    """``configs``: server_id -> that server's derived config.json."""
    check_mindie_table(table)
    first = table.server_list[0]
    address, port, https = mindie.endpoint(configs[first.server_id])
    name, _ = mindie.model(configs[first.server_id])
    values = {s.server_id: {"http_port": str(mindie.endpoint(configs[s.server_id])[1])} for s in table.server_list}
    return ServingSetup(
        args=list(args),
        values=values,
        target=ServingTarget(
            kind="mindie-service",
            server_id=first.server_id,
            address=address,
            port=port,
            api="chat",
            model=name,
            https=https,
        ),
    )
