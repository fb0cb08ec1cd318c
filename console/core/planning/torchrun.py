"""What ``torchrun`` (``python -m torch.distributed.run``) puts in a worker's environment, so
torch programs run under the launcher unchanged.

Measured against torch 2.13 (``tests/ops/test_launch_torchrun.py`` runs torchrun itself for
the same shape and compares): besides RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
MASTER_ADDR and MASTER_PORT (set by ``launch.py``), every worker gets the variables of
``torchrun_env``. Three torchrun variables are deliberately NOT set (``NOT_SET``).
``NODE_RANK`` is not set by torchrun but read by Lightning's default cluster environment and
many hand-written scripts, so it is set too (= GROUP_RANK).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Set unless the profile or ``--env`` sets them (torchrun sets OMP_NUM_THREADS=1 the same
#: way; PYTHONUNBUFFERED=1 so that a rank's prints reach the console, the ready pattern and
#: the run record when printed, not when a buffer fills or the rank exits).
DEFAULTS = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

#: torchrun variables left out on purpose, and why.
NOT_SET = {
    "TORCHELASTIC_USE_AGENT_STORE": "torchrun's agent hosts the TCPStore on MASTER_PORT and "
    "this tells rank 0 not to; there is no such agent here, so rank 0 hosts it (the "
    "variable's absence means False)",
    "TORCHELASTIC_ERROR_FILE": "a per-rank file torchrun reads after a failure (written by "
    "@record); without it @record prints the error to stderr, which the console keeps",
    "TORCHELASTIC_SIGNALS_TO_HANDLE": "read by torchrun's own agent, not by the workers",
}

#: Set per rank from the rank table; a profile or ``--env`` may not override them.
RESERVED = ("GROUP_RANK", "GROUP_WORLD_SIZE", "NODE_RANK", "ROLE_RANK", "ROLE_WORLD_SIZE")


def torchrun_env(
    group_rank: int, group_world_size: int, rank: int, world_size: int, run_id: str | None
) -> dict[str, str]:
    """torchrun's per-worker variables for a rank on server ``group_rank`` (servers counted
    in rank order) of ``group_world_size``; no restarts."""
    return {
        "GROUP_RANK": str(group_rank),
        "GROUP_WORLD_SIZE": str(group_world_size),
        "NODE_RANK": str(group_rank),
        "ROLE_RANK": str(rank),
        "ROLE_WORLD_SIZE": str(world_size),
        "ROLE_NAME": "default",
        "TORCHELASTIC_RUN_ID": run_id or "none",
        "TORCHELASTIC_RESTART_COUNT": "0",
        "TORCHELASTIC_MAX_RESTARTS": "0",
        "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
    }


def _spans(numbers: Sequence[int]) -> str:
    """``0-3,8-11`` from sorted ints."""
    out: list[str] = []
    for n in numbers:
        if out and n == int(out[-1].rsplit("-", 1)[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)


def device_mismatch_warning(ranks: Sequence[tuple[int, int, int]]) -> str | None:
    """``ranks``: (rank, local_rank, device_id). A warning naming the ranks whose LOCAL_RANK
    is not their DEVICE_ID: a program that calls ``set_device(LOCAL_RANK)`` (most torch
    programs written for torchrun) would use another card than the rank table gives it."""
    bad = sorted((r, lr, d) for r, lr, d in ranks if lr != d)
    if not bad:
        return None
    r, lr, d = bad[0]
    return (
        f"LOCAL_RANK differs from DEVICE_ID for rank{'s' if len(bad) > 1 else ''} "
        f"{_spans([b[0] for b in bad])} (e.g. rank {r}: LOCAL_RANK {lr}, DEVICE_ID {d}): a "
        "program that calls set_device(LOCAL_RANK) would use the wrong card; use DEVICE_ID"
    )
