"""The launch plan gives every rank what torchrun gives a worker (core only; the comparison
with a real torchrun run is tests/ops/test_launch_torchrun.py)."""

from __future__ import annotations

import pytest

from console.core.errors import InputError
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile, parse_env_items
from console.core.ranktable.model import RankTable
from tests.unit.test_launch_plan import make_table


def _table(server_devices: list[list[int]], first_server_ranks_last: bool = False) -> RankTable:
    servers, rank = [], 0
    for k, devices in enumerate(server_devices):
        servers.append(
            {
                "server_id": f"192.168.1.{10 + k}",
                "device": [
                    {"device_id": str(d), "device_ip": f"10.0.{k}.{d + 1}", "rank_id": str(rank + i)}
                    for i, d in enumerate(devices)
                ],
            }
        )
        rank += len(devices)
    if first_server_ranks_last:
        servers.reverse()
    return RankTable.model_validate(
        {"status": "completed", "version": "1.0", "server_count": str(len(servers)), "server_list": servers}
    )


def test_every_rank_gets_torchruns_variables() -> None:
    plan = build_launch_plan(make_table(2, 4), Profile(name="t"), args=["x"], run_id="r-1")
    for k, server in enumerate(plan.servers):
        for local, spec in enumerate(server.ranks):
            env = spec.env
            assert {
                key: env[key]
                for key in (
                    "GROUP_RANK",
                    "GROUP_WORLD_SIZE",
                    "NODE_RANK",
                    "ROLE_RANK",
                    "ROLE_WORLD_SIZE",
                    "ROLE_NAME",
                    "TORCHELASTIC_RUN_ID",
                    "TORCHELASTIC_RESTART_COUNT",
                    "TORCHELASTIC_MAX_RESTARTS",
                    "TORCH_NCCL_ASYNC_ERROR_HANDLING",
                    "OMP_NUM_THREADS",
                    "PYTHONUNBUFFERED",
                )
            } == {
                "GROUP_RANK": str(k),
                "GROUP_WORLD_SIZE": "2",
                "NODE_RANK": str(k),
                "ROLE_RANK": str(4 * k + local),
                "ROLE_WORLD_SIZE": "8",
                "ROLE_NAME": "default",
                "TORCHELASTIC_RUN_ID": "r-1",
                "TORCHELASTIC_RESTART_COUNT": "0",
                "TORCHELASTIC_MAX_RESTARTS": "0",
                "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
                "OMP_NUM_THREADS": "1",
                "PYTHONUNBUFFERED": "1",
            }
            # rank 0 must host the TCPStore itself: no torchrun agent store here
            assert "TORCHELASTIC_USE_AGENT_STORE" not in env


def test_group_rank_follows_rank_order_not_list_order() -> None:
    plan = build_launch_plan(_table([[0, 1], [0, 1]], first_server_ranks_last=True), Profile(name="t"), args=["x"])
    # server_list[0] holds ranks 2-3: it is group 1, as torchrun's node rank would be
    first, second = plan.servers
    assert [r.rank for r in first.ranks] == [2, 3]
    assert {r.env["GROUP_RANK"] for r in first.ranks} == {"1"}
    assert {r.env["GROUP_RANK"] for r in second.ranks} == {"0"}


def test_profile_and_env_win_over_the_defaults() -> None:
    profile = Profile(name="t", env={"OMP_NUM_THREADS": "8"})
    plan = build_launch_plan(
        make_table(1, 2), profile, args=["x"], env={"PYTHONUNBUFFERED": "", "ROLE_NAME": "trainer"}
    )
    env = plan.servers[0].ranks[0].env
    assert (env["OMP_NUM_THREADS"], env["PYTHONUNBUFFERED"], env["ROLE_NAME"]) == ("8", "", "trainer")
    assert plan.servers[0].ranks[0].env["TORCHELASTIC_RUN_ID"] == "none"  # no run id: as torchrun


@pytest.mark.parametrize("key", ["GROUP_RANK", "NODE_RANK", "ROLE_RANK", "GROUP_WORLD_SIZE", "ROLE_WORLD_SIZE"])
def test_rank_derived_variables_are_reserved(key) -> None:
    with pytest.raises(InputError, match=f"{key} cannot be set"):
        parse_env_items([f"{key}=3"])


def test_local_rank_not_device_id_warns_naming_the_ranks() -> None:
    plan = build_launch_plan(_table([[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3]]), Profile(name="t"), args=["x"])
    [warning] = [w for w in plan.warnings if "LOCAL_RANK" in w]
    assert "ranks 4-7 " in warning and "rank 4: LOCAL_RANK 0, DEVICE_ID 4" in warning
    assert "set_device(LOCAL_RANK)" in warning
    plan = build_launch_plan(_table([[0, 2]]), Profile(name="t"), args=["x"])
    assert next(w for w in plan.warnings if "LOCAL_RANK" in w).startswith(
        "LOCAL_RANK differs from DEVICE_ID for rank 1 ("
    )
    plan = build_launch_plan(make_table(2, 8), Profile(name="t"), args=["x"])
    assert not [w for w in plan.warnings if "LOCAL_RANK" in w]
