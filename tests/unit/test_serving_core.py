"""Serving stacks, pure parts: MindIE Service's rank-table rules and config.json, vLLM's
data-parallel layout, the streamed answer's pieces."""

from __future__ import annotations

import pytest

from console.core.errors import InputError
from console.core.ranktable.model import RankTable
from console.core.serving import mindie, openai, vllm


def table(servers: int = 2, cards: int = 8, *, container: bool = True, **edit) -> RankTable:
    server_list = []
    for k in range(servers):
        devices = [
            {"device_id": str(d), "device_ip": f"10.0.{k}.{d + 1}", "rank_id": str(k * cards + d)} for d in range(cards)
        ]
        entry = {"server_id": f"192.168.1.{10 + k}", "device": devices}
        if container:
            entry["container_ip"] = f"192.168.1.{10 + k}"
        server_list.append(entry)
    doc = {"status": "completed", "version": "1.0", "server_count": str(servers), "server_list": server_list, **edit}
    return RankTable.model_validate(doc)


def test_mindie_accepts_the_guide_table():
    assert mindie.rank_table_problems(table()) == []


def test_mindie_rules_in_its_own_words():
    assert mindie.rank_table_problems(table(1)) == ["Parameter server_count must be in range [2, 60], but got 1"]
    no_container = mindie.rank_table_problems(table(container=False))
    assert no_container[0] == (
        "server_list[0] (192.168.1.10): The containerIp in the server node is empty in ranktable file."
    )
    t = table()
    t.server_list[1].device.pop()
    assert any(
        "The number of devices in every server node is 7 which not equal in ranktable file, which is 8" in p
        for p in mindie.rank_table_problems(t)
    )
    t = table()
    t.server_list[1].device[0].device_id = 64
    t.server_list[1].device[1].rank_id = 600
    t.server_list[0].device[2].device_ip = "not-an-ip"
    problems = mindie.rank_table_problems(t)
    assert (
        "server_list[1] (192.168.1.11).device[0]: Parameter device_id is 64, which is out of allow "
        "range [0, 63]." in problems
    )
    assert any(
        p.endswith("Parameter rankId in ranktable is 600, which is out of allow range [0, 511].") for p in problems
    )
    assert "server_list[0] (192.168.1.10).device[2]: Parameter device_ip is invalid in ranktable file." in problems
    t = table(3, server_count="2")
    assert (
        "Parameter server_count is 2, which is not equal to server_list length in ranktable file, "
        "which is 3" in mindie.rank_table_problems(t)
    )


BASE = {
    "ServerConfig": {"ipAddress": "127.0.0.1", "port": 1025, "httpsEnabled": False, "interCommTLSEnabled": True},
    "BackendConfig": {
        "multiNodesInferEnabled": False,
        "interNodeTLSEnabled": True,
        "ModelDeployConfig": {"ModelConfig": [{"modelName": "qwen", "modelWeightPath": "/data/qwen"}]},
    },
}


def test_derived_config_switches_multi_node_and_binds_this_server():
    cfg = mindie.derive_config(BASE, "192.168.1.11")
    assert cfg["BackendConfig"]["multiNodesInferEnabled"] is True
    assert cfg["ServerConfig"]["ipAddress"] == "192.168.1.11"
    assert cfg["BackendConfig"]["interNodeTLSEnabled"] is True  # unchanged by default
    assert BASE["ServerConfig"]["ipAddress"] == "127.0.0.1"  # the base is not touched
    off = mindie.derive_config(BASE, "192.168.1.11", tls=False, port=2025)
    assert off["BackendConfig"]["interNodeTLSEnabled"] is False
    assert off["ServerConfig"]["interCommTLSEnabled"] is False
    assert mindie.endpoint(off) == ("192.168.1.11", 2025, False)
    assert mindie.model(off) == ("qwen", "/data/qwen")


def test_tls_on_without_certificates_warns():
    warnings = mindie.tls_warnings(BASE)
    assert len(warnings) == 2 and "interNodeTLSEnabled" in warnings[0]
    assert mindie.tls_warnings(mindie.derive_config(BASE, "1.2.3.4", tls=False)) == []


def test_config_that_is_not_an_object_names_the_file():
    with pytest.raises(InputError) as err:
        mindie.parse_config("[1]", "conf/config.json")
    assert err.value.path == "conf/config.json"


def test_vllm_dp_layout_from_the_table_and_tp():
    dp, tp, shares = vllm.dp_layout([("a", 8), ("b", 8)], 4)
    assert (dp, tp) == (4, 4)
    assert [(s.dp_local, s.start) for s in shares] == [(2, 0), (2, 2)]
    dp, tp, shares = vllm.dp_layout([("a", 8), ("b", 8)], None)
    assert (dp, tp) == (2, 8) and [s.start for s in shares] == [0, 1]
    with pytest.raises(InputError) as err:
        vllm.dp_layout([("a", 8), ("b", 8)], 3)
    assert "the world size 16 is not divisible by tp*pp = 3*1 = 3" in err.value.title
    with pytest.raises(InputError, match="server b has 4 devices, not a multiple of tp = 8"):
        vllm.dp_layout([("a", 8), ("b", 4), ("c", 4)], 8)


def test_vllm_args_headless_on_all_but_the_first():
    share = vllm.DpShare(dp_local=2, start=2)
    args = vllm.serve_args(
        "m",
        dp=4,
        share=share,
        address="10.0.0.1",
        rpc_port=13389,
        tp=4,
        http_port=8000,
        first=False,
        extra=["--max-model-len", "4096"],
    )
    assert args[:3] == ["vllm", "serve", "m"] and args[-1] == "--headless"
    assert "--max-model-len" in args


def test_sse_pieces():
    assert openai.sse_piece('data: {"choices":[{"text":"a"}]}') == ("a", False)
    assert openai.sse_piece('data: {"choices":[{"delta":{"content":"b"}}]}') == ("b", False)
    assert openai.sse_piece("data: [DONE]") == (None, True)
    assert openai.sse_piece(": keep-alive") == (None, False)
    assert openai.sse_piece("data: {not json") == (None, False)
