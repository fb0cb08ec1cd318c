"""Launch granularity "server" and the serving profiles' plans: one process per server with
the server's view of the rank table, the vllm-ascend flags, the mindie-service env."""

from __future__ import annotations

import shlex

import pytest

from console.core.errors import CheckFailed, InputError
from console.core.planning.launch import build_launch_plan
from console.core.planning.perserver import HostFacts
from console.core.profiles import Profile
from console.core.serving.plan import mindie_setup, vllm_setup
from console.ops.profiles import load_profile
from tests.unit.test_serving_core import BASE, table


def test_per_server_env_and_placeholders():
    profile = Profile(
        name="p",
        per="server",
        command="serve --node {node_rank}/{nnodes} --local {local_world_size} "
        "--start {rank_id_start} --me {server_ip} --master {master_ip} "
        "--is-master {is_master} --nic {host_nic} --ip {host_ip}",
    )
    facts = {
        "192.168.1.10": HostFacts(host_ip="192.168.1.10", host_nic="eth0"),
        "192.168.1.11": HostFacts(host_ip="192.168.1.11", host_nic="eth0"),
    }
    plan = build_launch_plan(table(2, 4), profile, remote_ranktable="/data/rt.json", host_facts=facts)
    assert plan.per == "server" and plan.processes == 2 and plan.world_size == 8
    for k, server in enumerate(plan.servers):
        (spec,) = server.ranks
        assert spec.rank == k and spec.devices == [0, 1, 2, 3]
        env = spec.env
        assert env["WORLD_SIZE"] == "8" and env["LOCAL_WORLD_SIZE"] == "4"
        assert env["RANK_ID_START"] == str(4 * k) and env["NODE_RANK"] == str(k)
        assert env["MASTER_ADDR"] == env["MASTER_IP"] == "192.168.1.10"
        assert env["RANK_TABLE_FILE"] == env["RANKTABLEFILE"] == "/data/rt.json"
        assert env["ASCEND_RT_VISIBLE_DEVICES"] == "0,1,2,3" and "MASTER_PORT" in env
        assert "RANK" not in env and "LOCAL_RANK" not in env
        assert spec.command == (
            f"serve --node {k}/2 --local 4 --start {4 * k} --me 192.168.1.1{k} "
            f"--master 192.168.1.10 --is-master {1 - k} --nic eth0 --ip 192.168.1.1{k}"
        )


def test_per_flag_overrides_the_profile_and_per_rank_is_unchanged():
    plan = build_launch_plan(table(2, 4), Profile(name="p"), args=["x"], per="server")
    assert plan.processes == 2
    plan = build_launch_plan(table(2, 4), Profile(name="p"), args=["x"])
    assert plan.processes == 8 and plan.servers[1].ranks[0].env["RANK"] == "4"


def test_unknown_host_nic_names_the_server():
    profile = Profile(name="p", per="server", command="x", env={"GLOO_SOCKET_IFNAME": "{host_nic}"})
    facts = {"192.168.1.10": HostFacts(host_ip="192.168.1.10", host_nic="eth0")}
    with pytest.raises(InputError, match=r"host NIC of server 192\.168\.1\.11 is unknown"):
        build_launch_plan(table(2, 4), profile, host_facts=facts)


def _vllm_plan(tp=4):
    profile = load_profile("vllm-ascend")
    t = table(2, 8)
    setup = vllm_setup(t, profile, ["/data/my model", "--max-model-len", "4096"], tp=tp, http_port=None, rpc_port=None)
    facts = {s.server_id: HostFacts(host_ip=s.server_id, host_nic="enp1") for s in t.server_list}
    plan = build_launch_plan(
        t, profile, args=setup.args, parallel=setup.parallel, values=setup.values, host_facts=facts
    )
    return plan, setup


def test_vllm_ascend_flags_per_server():
    plan, setup = _vllm_plan()
    cmds = [shlex.split(s.ranks[0].command) for s in plan.servers]
    want = [
        "vllm",
        "serve",
        "/data/my model",
        "--data-parallel-size",
        "4",
        "--data-parallel-size-local",
        "2",
        "--data-parallel-start-rank",
        "0",
        "--data-parallel-address",
        "192.168.1.10",
        "--data-parallel-rpc-port",
        "13389",
        "--tensor-parallel-size",
        "4",
        "--port",
        "8000",
        "--max-model-len",
        "4096",
    ]
    assert cmds[0] == want
    assert cmds[1] == [*want[:8], "2", *want[9:17], "--headless", "--max-model-len", "4096"]
    for s in plan.servers:
        env = s.ranks[0].env
        assert env["HCCL_IF_IP"] == s.server_id
        assert env["GLOO_SOCKET_IFNAME"] == env["TP_SOCKET_IFNAME"] == env["HCCL_SOCKET_IFNAME"] == "enp1"
    assert [s.ranks[0].await_ready for s in plan.servers] == [True, False]
    assert setup.target.address == "192.168.1.10" and setup.target.port == 8000
    assert setup.target.api == "completions" and setup.target.model == "/data/my model"


def test_vllm_ascend_tp_that_does_not_divide_the_world():
    with pytest.raises(InputError, match="not divisible by tp"):
        _vllm_plan(tp=3)


def test_mindie_service_env_and_target():
    profile = load_profile("mindie-service")
    t = table(2, 8)
    configs = {
        s.server_id: {**BASE, "ServerConfig": {**BASE["ServerConfig"], "ipAddress": s.server_id}} for s in t.server_list
    }
    setup = mindie_setup(t, profile, [], configs)
    plan = build_launch_plan(t, profile, args=setup.args, values=setup.values, run_id="r1")
    for k, s in enumerate(plan.servers):
        env = s.ranks[0].env
        assert env["MIES_CONTAINER_IP"] == s.server_id and env["MASTER_IP"] == "192.168.1.10"
        assert env["MIES_CONFIG_JSON_PATH"].endswith(f"/mindie-config-{k}.json")
        assert env["RANK_TABLE_FILE"]
        assert s.ranks[0].command == "./bin/mindieservice_daemon"
        assert s.ranks[0].await_ready
    assert "unset http_proxy https_proxy" in plan.prelude
    assert plan.ready_pattern == "Daemon start success!"
    assert (setup.target.api, setup.target.model, setup.target.port) == ("chat", "qwen", 1025)


def test_mindie_service_refuses_a_table_without_container_ip():
    with pytest.raises(CheckFailed) as err:
        mindie_setup(table(2, 8, container=False), load_profile("mindie-service"), [], {})
    assert "The containerIp in the server node is empty in ranktable file." in err.value.detail
